//! What the servers gander served during the run saw (a callback sink, the
//! Telegram Bot API), and the server-sent event streams users read: counts of
//! what arrived, what steps claimed, what was dropped at the caps, and the
//! Bot API methods called.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct AnswersReport {
    /// The callback sink (`sink:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sink: Option<ArrivalCounts>,
    /// The Bot API gander answered (`telegram:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram: Option<BotApiReport>,
    /// Per `sse:` request name, the events read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<StreamReport>,
    /// Connections to gander's servers closed at once: too many were open.
    #[serde(default)]
    pub connections_turned_away: u64,
}

impl AnswersReport {
    pub fn is_empty(&self) -> bool {
        self.sink.is_none() && self.telegram.is_none() && self.streams.is_empty()
    }
}

/// What arrived, by what became of it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ArrivalCounts {
    pub arrived: u64,
    /// Taken by the step that waited for it.
    pub claimed: u64,
    /// Never taken: it came before its step began, after the step stopped
    /// waiting, or beyond the count a step waited for.
    pub unclaimed: u64,
    /// Pushed out of a full queue (one path or chat) by newer arrivals.
    pub dropped_per_key: u64,
    /// Dropped: the store held as many paths or chats, or bytes, as it takes.
    pub dropped_full: u64,
    /// Bodies over the size cap, answered 413.
    pub too_large: u64,
}

/// The Bot API's side of a Telegram run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct BotApiReport {
    /// The bot's messages (sent or edited), by what became of them.
    pub messages: ArrivalCounts,
    /// Every method the bot called.
    pub methods: Vec<MethodCount>,
    /// Calls with another token, answered 401.
    pub unauthorized: u64,
    /// Calls that were not `/bot<TOKEN>/<method>` or whose parameters could not be read.
    pub bad_requests: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MethodCount {
    pub method: String,
    pub calls: u64,
    /// `message` (answered with a Message, kept as a reply), `modelled` (an answer of
    /// its own kind), `generic` (`true`, without knowing the method).
    pub answered: String,
}

/// The events of one `sse:` request name.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct StreamReport {
    pub name: String,
    pub streams: u64,
    pub events: u64,
    /// Gaps between consecutive events of a stream, in ms.
    pub gap_p50_ms: f64,
    pub gap_p95_ms: f64,
    pub gap_max_ms: f64,
    /// Events over the size cap or past the count cap: the stream was cut.
    #[serde(default)]
    pub cut: u64,
}
