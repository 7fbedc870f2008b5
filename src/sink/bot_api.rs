//! The Telegram Bot API as gander answers it for the bot under test. The bot
//! calls `POST /bot<TOKEN>/<method>`; a call with another token is answered
//! 401. Calls that send or edit a message are answered with a `Message` as
//! Telegram does (ids from one counter, the chat the bot named) and kept in
//! that chat for `reply:` steps; `getMe`, `getWebhookInfo`, `getUpdates` have
//! their own answers; every other method is answered `{"ok":true,"result":true}`
//! and listed in the report.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{Map, Value, json};

use super::params;
use super::server::{Arrived, Handler};
use super::store::{Arrival, Store};

/// Largest Bot API call read (a bot uploading a photo sends it whole).
const MAX_CALL: usize = 20 << 20;
/// Distinct method names counted; past them calls count as `(other)`.
const MAX_METHODS: usize = 64;
/// Chats whose last bot message is remembered (for a button press).
const MAX_CHATS: usize = 1 << 20;

/// How gander answered a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    /// A `Message` (kept in its chat as an answer).
    Message,
    /// An answer of its own kind (`getMe`, `sendChatAction`: true...).
    Modelled,
    /// `true`, without knowing the method.
    Generic,
}

/// What a method returns, by name (as Telegram, case-insensitive).
fn answered(method: &str) -> Answered {
    const MESSAGES: [&str; 20] = [
        "sendmessage",
        "sendphoto",
        "senddocument",
        "sendvideo",
        "sendaudio",
        "sendvoice",
        "sendanimation",
        "sendsticker",
        "sendvideonote",
        "sendlocation",
        "sendvenue",
        "sendcontact",
        "sendpoll",
        "senddice",
        "forwardmessage",
        "editmessagetext",
        "editmessagecaption",
        "editmessagemedia",
        "editmessagereplymarkup",
        "sendinvoice",
    ];
    const MODELLED: [&str; 10] = [
        "getme",
        "getwebhookinfo",
        "getupdates",
        "setwebhook",
        "deletewebhook",
        "sendchataction",
        "answercallbackquery",
        "deletemessage",
        "copymessage",
        "getchat",
    ];
    let lower = method.to_ascii_lowercase();
    if MESSAGES.contains(&lower.as_str()) {
        Answered::Message
    } else if MODELLED.contains(&lower.as_str()) {
        Answered::Modelled
    } else {
        Answered::Generic
    }
}

/// What the Bot API saw, for the report.
#[derive(Debug, Clone, Default)]
pub struct BotApiCounts {
    /// Calls per method, with how they were answered.
    pub methods: BTreeMap<String, (u64, Option<Answered>)>,
    pub unauthorized: u64,
    pub bad_requests: u64,
    pub too_large: u64,
}

pub struct BotApi {
    /// The bot's messages, by chat id.
    pub store: Arc<Store>,
    token: String,
    bot_id: i64,
    /// Message ids, shared with the updates gander sends: one sequence, as in a chat.
    next_message: AtomicI64,
    next_update: AtomicI64,
    last_message: Mutex<HashMap<i64, i64>>,
    counts: Mutex<BotApiCounts>,
    too_large: AtomicU64,
}

impl BotApi {
    pub fn new(token: &str, store: Arc<Store>) -> BotApi {
        let bot_id = token
            .split(':')
            .next()
            .and_then(|id| id.parse().ok())
            .unwrap_or(1);
        BotApi {
            store,
            token: token.to_string(),
            bot_id,
            next_message: AtomicI64::new(1),
            next_update: AtomicI64::new(1),
            last_message: Mutex::new(HashMap::new()),
            counts: Mutex::new(BotApiCounts::default()),
            too_large: AtomicU64::new(0),
        }
    }

    pub fn next_message_id(&self) -> i64 {
        self.next_message.fetch_add(1, Ordering::Relaxed)
    }

    pub fn next_update_id(&self) -> i64 {
        self.next_update.fetch_add(1, Ordering::Relaxed)
    }

    /// The last message the bot sent or edited in `chat`.
    pub fn last_message(&self, chat: i64) -> Option<i64> {
        self.last_message.lock().ok()?.get(&chat).copied()
    }

    pub fn counts(&self) -> BotApiCounts {
        let mut counts = self.counts.lock().map(|c| c.clone()).unwrap_or_default();
        counts.too_large = self.too_large.load(Ordering::Relaxed);
        counts
    }

    fn count(&self, f: impl FnOnce(&mut BotApiCounts)) {
        if let Ok(mut c) = self.counts.lock() {
            f(&mut c);
        }
    }

    fn count_method(&self, method: &str, how: Answered) {
        self.count(|c| {
            let key = if c.methods.contains_key(method) || c.methods.len() < MAX_METHODS {
                method.to_string()
            } else {
                "(other)".to_string()
            };
            let entry = c.methods.entry(key).or_insert((0, Some(how)));
            entry.0 += 1;
            if entry.1 != Some(how) {
                entry.1 = None;
            }
        });
    }

    pub fn bot_user(&self) -> Value {
        json!({"id": self.bot_id, "is_bot": true, "first_name": "gander", "username": "gander_test_bot"})
    }

    /// A message the bot sent (or edited) in the chat the call names.
    fn message(&self, method: &str, p: &Map<String, Value>, at: std::time::Instant) -> Value {
        let lower = method.to_ascii_lowercase();
        let chat = params::int(p, "chat_id").unwrap_or(0);
        let id = match params::int(p, "message_id") {
            Some(id) if lower.starts_with("edit") => id,
            _ => self.next_message_id(),
        };
        let date = chrono::Utc::now().timestamp();
        let mut m = json!({
            "message_id": id,
            "date": date,
            "chat": {"id": chat, "type": if chat < 0 { "group" } else { "private" }},
            "from": self.bot_user(),
        });
        let text = params::text(p, "text")
            .or_else(|| params::text(p, "caption"))
            .unwrap_or("");
        let file = |unique: &str| json!({"file_id": format!("gander-{id}"), "file_unique_id": format!("{unique}{id}")});
        match lower.as_str() {
            "sendphoto" => {
                m["photo"] = json!([{"file_id": format!("gander-{id}"), "file_unique_id": format!("p{id}"), "width": 1, "height": 1}])
            }
            "senddocument" => m["document"] = file("d"),
            "sendaudio" => {
                m["audio"] = json!({"file_id": format!("gander-{id}"), "file_unique_id": format!("a{id}"), "duration": 1})
            }
            "sendvoice" => {
                m["voice"] = json!({"file_id": format!("gander-{id}"), "file_unique_id": format!("v{id}"), "duration": 1})
            }
            "senddice" => m["dice"] = json!({"emoji": "🎲", "value": 1}),
            _ => {}
        }
        if !text.is_empty() {
            let key = if params::text(p, "text").is_some() {
                "text"
            } else {
                "caption"
            };
            m[key] = Value::String(text.to_string());
        }
        if let Some(markup) =
            params::json(p, "reply_markup").filter(|v| v.get("inline_keyboard").is_some())
        {
            m["reply_markup"] = markup;
        }
        if let Ok(mut last) = self.last_message.lock()
            && (last.len() < MAX_CHATS || last.contains_key(&chat))
        {
            last.insert(chat, id);
        }
        let key = params::text(p, "chat_id").map_or_else(|| chat.to_string(), str::to_string);
        self.store.push(
            &key,
            Arrival {
                at,
                kind: method.into(),
                text: text.into(),
                body: Bytes::from(m.to_string()),
            },
        );
        m
    }

    async fn result(&self, method: &str, p: &Map<String, Value>, at: std::time::Instant) -> Value {
        match method.to_ascii_lowercase().as_str() {
            "getme" => self.bot_user(),
            "getwebhookinfo" => {
                json!({"url": "", "has_custom_certificate": false, "pending_update_count": 0})
            }
            "getupdates" => {
                // A bot polling for updates: gander drives bots through their webhook.
                let wait = params::int(p, "timeout").unwrap_or(0).clamp(0, 1) as u64;
                tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
                json!([])
            }
            "copymessage" => json!({"message_id": self.next_message_id()}),
            "getchat" => json!({"id": params::int(p, "chat_id").unwrap_or(0), "type": "private"}),
            _ if answered(method) == Answered::Message
                && !(method.to_ascii_lowercase().starts_with("edit")
                    && p.contains_key("inline_message_id")) =>
            {
                self.message(method, p, at)
            }
            _ => Value::Bool(true),
        }
    }
}

impl BotApi {
    /// A webhook's answer `{"method": "sendMessage", "chat_id": …, …}`, which
    /// Telegram runs as a call of the bot (its result goes nowhere).
    pub fn webhook_answer(&self, body: &[u8], at: std::time::Instant) {
        let Ok(Value::Object(p)) = serde_json::from_slice::<Value>(body) else {
            return;
        };
        let Some(method) = p.get("method").and_then(Value::as_str) else {
            return;
        };
        let method = method.to_string();
        self.count_method(&method, answered(&method));
        if answered(&method) == Answered::Message {
            self.message(&method, &p, at);
        }
    }
}

fn telegram_error(status: StatusCode, description: &str) -> Response<Full<Bytes>> {
    let body = json!({"ok": false, "error_code": status.as_u16(), "description": description});
    super::server::json(status, body.to_string())
}

impl Handler for BotApi {
    fn max_body(&self) -> usize {
        MAX_CALL
    }

    async fn handle(&self, request: Arrived) -> Response<Full<Bytes>> {
        let path = request.head.uri.path();
        let Some((token, method)) = path
            .strip_prefix("/bot")
            .and_then(|rest| rest.split_once('/'))
        else {
            self.count(|c| c.bad_requests += 1);
            return telegram_error(StatusCode::NOT_FOUND, "Not Found");
        };
        if token != self.token {
            self.count(|c| c.unauthorized += 1);
            return telegram_error(StatusCode::UNAUTHORIZED, "Unauthorized");
        }
        let content_type = request
            .head
            .headers
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let p = match params::parse(request.head.uri.query(), content_type, &request.body) {
            Ok(p) => p,
            Err(e) => {
                self.count(|c| c.bad_requests += 1);
                return telegram_error(StatusCode::BAD_REQUEST, &format!("Bad Request: {e}"));
            }
        };
        self.count_method(method, answered(method));
        let result = self.result(method, &p, request.at).await;
        super::server::json(
            StatusCode::OK,
            json!({"ok": true, "result": result}).to_string(),
        )
    }

    fn refused(&self) {
        self.too_large.fetch_add(1, Ordering::Relaxed);
    }
}
