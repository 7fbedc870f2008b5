//! The scenario keys for answers that come later: a `sink` gander serves for
//! callbacks, the Telegram Bot API gander answers for a bot under test, and the
//! steps that wait for them (`await`, `telegram` with `reply`) or read a
//! server-sent event stream (`sse` with `until`). Shapes only; `compile`
//! checks them.

use schemars::JsonSchema;
use serde::Deserialize;

use super::spanned::Sp;
use super::units::{Bytes, Count, Dur, StringList};

/// A server gander listens on during the run, for a SUT that calls back
/// (webhooks, task results). `await:` steps wait for what arrives.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sink {
    /// `IP:PORT` to listen on, e.g. `127.0.0.1:9100`; the SUT is told to call back there.
    pub listen: Sp<String>,
    /// Largest callback body kept (default 64KiB); a longer one is answered 413 and counted.
    pub max_body: Option<Sp<Bytes>>,
}

/// The Telegram Bot API gander answers for the bot under test, and the bot's webhook.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Telegram {
    /// The bot's webhook: a path on `host` (e.g. `/webhook`) or a URL.
    pub webhook: Sp<String>,
    /// `HOST:PORT` where gander answers the Bot API, e.g. `127.0.0.1:8081`; start the
    /// bot with `http://HOST:PORT` as its API server (aiogram's
    /// `TelegramAPIServer.from_base`, python-telegram-bot's `base_url`).
    pub bot_api: Sp<String>,
    /// The bot's token, as the bot sends it in `/bot<TOKEN>/<method>`; other tokens are
    /// answered 401. Masked in every output.
    pub token: Sp<String>,
    /// Sent as `X-Telegram-Bot-Api-Secret-Token` with every update, when the bot checks it.
    pub secret_token: Option<Sp<String>>,
}

/// `await:` waits for a callback to the sink.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Await {
    /// The path the SUT calls back on; may use `${...}`, e.g. `/callback/${order_id}`.
    pub path: Sp<String>,
    /// How long to wait, counted from the user's previous request (default 10s).
    pub within: Option<Sp<Dur>>,
    /// Text the callback's body must contain (one string or a list).
    pub contains: Option<Sp<StringList>>,
}

/// `telegram:` posts an Update to the bot's webhook, from this user.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TelegramUpdate {
    /// A text message, e.g. `/start` (a leading command gets its `bot_command` entity).
    pub text: Option<Sp<String>>,
    /// A button press: the callback data.
    pub callback: Option<Sp<String>>,
    /// The message the button was on (default: the bot's last message to this user).
    pub message_id: Option<Sp<String>>,
}

/// `reply:` waits for the bot's answer in this user's chat.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// How long to wait, from the update's send (default 5s).
    pub within: Option<Sp<Dur>>,
    /// Text every counted message must contain (one string or a list).
    pub contains: Option<Sp<StringList>>,
    /// How many messages make the answer (default 1); the latency is to the last.
    pub count: Option<Sp<Count>>,
}

/// When an `sse:` stream is read to: a number of events, or a named event.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SseUntil {
    /// Stop after this many events.
    pub events: Option<Sp<Count>>,
    /// Stop after the first event of this type (`event: NAME`).
    pub event: Option<Sp<String>>,
    /// The most time the stream is read (default: the step's timeout).
    pub within: Option<Sp<Dur>>,
}
