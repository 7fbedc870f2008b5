//! The compiled form of the keys for answers that come later: the servers
//! gander serves during the run (a callback sink, the Telegram Bot API) and the
//! steps that wait for them or read a stream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::header::HeaderName;

use super::plan::{CapturePlan, RequestPlan};
use super::template::Template;

/// The most events one `sse:` step reads.
pub const MAX_SSE_EVENTS: u64 = 100_000;

/// A Telegram user's (and private chat's) id is this plus the gander user's index.
pub const TELEGRAM_USER_BASE: i64 = 1_000_000;

/// The servers gander serves for the run.
#[derive(Debug, Default, Clone)]
pub struct AnswersPlan {
    pub sink: Option<SinkPlan>,
    pub telegram: Option<BotApiPlan>,
}

impl AnswersPlan {
    pub fn is_empty(&self) -> bool {
        self.sink.is_none() && self.telegram.is_none()
    }
}

/// A callback sink.
#[derive(Debug, Clone)]
pub struct SinkPlan {
    pub listen: SocketAddr,
    /// Largest callback body kept; a longer one is answered 413.
    pub max_body: usize,
}

/// The Bot API gander answers.
#[derive(Debug, Clone)]
pub struct BotApiPlan {
    pub listen: SocketAddr,
    pub token: String,
}

/// `await:` a callback on a path of the sink.
#[derive(Debug)]
pub struct AwaitPlan {
    pub scenario: usize,
    pub endpoint: usize,
    pub path: Template,
    pub within: Duration,
    pub contains: Vec<String>,
    pub captures: Vec<CapturePlan>,
}

/// What a `telegram:` step sends.
#[derive(Debug)]
pub enum UpdatePlan {
    Text(Template),
    Callback {
        data: Template,
        message_id: Option<Template>,
    },
}

/// `telegram:` an update to the bot's webhook, and perhaps `reply:`.
#[derive(Debug)]
pub struct TelegramPlan {
    pub scenario: usize,
    /// The webhook's own answer: a POST with a JSON body gander builds per user.
    pub webhook: Arc<RequestPlan>,
    pub update: UpdatePlan,
    pub reply: Option<ReplyPlan>,
    pub captures: Vec<CapturePlan>,
}

/// Waits for the bot's answer in the user's chat.
#[derive(Debug)]
pub struct ReplyPlan {
    pub endpoint: usize,
    pub within: Duration,
    pub contains: Vec<String>,
    pub count: usize,
}

/// `sse:` a server-sent event stream.
#[derive(Debug)]
pub struct SsePlan {
    pub scenario: usize,
    pub endpoint: usize,
    /// A URL or a path on the host.
    pub url: Template,
    pub headers: Vec<(HeaderName, Template)>,
    /// Time to the response's head.
    pub timeout: Duration,
    pub until_events: Option<u64>,
    pub until_event: Option<String>,
    /// The most time the stream is read.
    pub within: Duration,
    /// Largest event read; a longer one fails the stream.
    pub max_event: usize,
    pub captures: Vec<CapturePlan>,
}
