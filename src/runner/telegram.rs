//! What one user does for a `telegram:` step: post an Update to the bot's
//! webhook as its own Telegram user (the webhook's answer is one request
//! name), then, with `reply:`, wait for the bot's answer in its chat through
//! the Bot API gander serves (the reply is another, timed update → answer).

use std::sync::Arc;
use std::time::Instant;

use goose::goose::GooseUser;
use serde_json::{Value, json};

use super::answers::{failed, missing_reason};
use super::fail::{NotSent, Recorded};
use super::sample::{Failure, Protocol, Sample};
use super::user::{RunShared, Step, UserState, capture, send_built};
use crate::scenario::plan::{
    CaptureSource, ReplyPlan, TELEGRAM_USER_BASE, TelegramPlan, UpdatePlan,
};
use crate::scenario::template::RenderContext;
use crate::sink::bot_api::BotApi;
use crate::sink::store::Arrival;

/// A telegram step as the users run it: the webhook request prepared once.
pub struct TelegramStep {
    pub plan: Arc<TelegramPlan>,
    webhook: Step,
}

impl TelegramStep {
    pub fn prepare(plan: Arc<TelegramPlan>, base: &url::Url) -> TelegramStep {
        TelegramStep {
            // A webhook may answer with a Bot API call: it is read.
            webhook: Step::prepare(plan.webhook.clone(), base, None).keeping_body(),
            plan,
        }
    }
}

/// The Telegram user (and private chat) of a gander user.
fn user_json(id: i64) -> Value {
    let n = id - TELEGRAM_USER_BASE;
    json!({"id": id, "is_bot": false, "first_name": "Student", "last_name": n.to_string(), "language_code": "en"})
}

/// The update this user sends now, as JSON.
fn update(bot: &BotApi, plan: &TelegramPlan, state: &mut UserState) -> Result<Vec<u8>, NotSent> {
    let id = TELEGRAM_USER_BASE + state.user_index() as i64;
    let date = chrono::Utc::now().timestamp();
    let chat = json!({"id": id, "type": "private", "first_name": "Student"});
    let update = match &plan.update {
        UpdatePlan::Text(text) => {
            let text = text.render_string(state)?;
            let mut message = json!({
                "message_id": bot.next_message_id(), "date": date, "chat": chat,
                "from": user_json(id), "text": text,
            });
            if text.starts_with('/') {
                let command = text.split_whitespace().next().unwrap_or("");
                let length = command.encode_utf16().count();
                message["entities"] =
                    json!([{"type": "bot_command", "offset": 0, "length": length}]);
            }
            json!({"update_id": bot.next_update_id(), "message": message})
        }
        UpdatePlan::Callback { data, message_id } => {
            let data = data.render_string(state)?;
            let on = match message_id {
                Some(m) => {
                    let text = m.render_string(state)?;
                    match text.trim().parse::<i64>() {
                        Ok(on) => on,
                        Err(_) => return Err(NotSent::MessageId(text)),
                    }
                }
                None => bot.last_message(id).ok_or(NotSent::NoMessage)?,
            };
            let update_id = bot.next_update_id();
            json!({"update_id": update_id, "callback_query": {
                "id": update_id.to_string(), "from": user_json(id), "chat_instance": id.to_string(),
                "data": data,
                "message": {"message_id": on, "date": date, "chat": chat, "from": bot.bot_user(), "text": ""},
            }})
        }
    };
    Ok(serde_json::to_vec(&update)?)
}

pub async fn run(user: &mut GooseUser, shared: &RunShared, step: &TelegramStep) {
    let plan = &*step.plan;
    let Some(state) = user.get_session_data_mut::<UserState>() else {
        return;
    };
    let Some(bot) = shared.answers.sinks.as_ref().and_then(|s| s.bot.as_ref()) else {
        return;
    };
    let started = Instant::now();
    let sent = match update(bot, plan, state) {
        Ok(body) => send_built(shared, &step.webhook, state, body.into(), started).await,
        Err(reason) => {
            let sample = failed(
                plan.webhook.endpoint,
                plan.scenario,
                started,
                format!("not sent: {reason}"),
            );
            shared.samples.send(sample);
            Err(Recorded(reason.to_string()))
        }
    };
    // Telegram runs a method call the webhook answers with, as if the bot had called it.
    if let Ok(answer) = &sent {
        bot.webhook_answer(answer, Instant::now());
    }
    let Some(reply) = &plan.reply else {
        return;
    };
    let fail = |reason| failed(reply.endpoint, plan.scenario, started, reason);
    if let Err(reason) = sent {
        shared.samples.send(fail(format!(
            "no reply awaited: the update failed ({reason})"
        )));
        return;
    }
    let chat = (TELEGRAM_USER_BASE + state.user_index() as i64).to_string();
    let contains = &reply.contains;
    let waited = bot
        .store
        .wait(&chat, started, reply.within, reply.count, |a| {
            contains.iter().all(|c| a.text.contains(c.as_str()))
        })
        .await;
    let sample = match waited {
        Ok(got) => replied(plan, reply, started, &got, state),
        Err(missing) => {
            let needed = format!("a reply that contains \"{}\"", contains.join("\", \""));
            let reason = if missing.got > 0 && missing.instead.is_none() {
                format!(
                    "{} of {} replies within {}",
                    missing.got,
                    reply.count,
                    crate::scenario::units::format_duration(reply.within)
                )
            } else {
                missing_reason(&missing, "reply", reply.within, &needed)
            };
            fail(reason)
        }
    };
    shared.samples.send(sample);
}

/// The reply's sample: timed to the last message counted, with the captures
/// from it (JSON pointers read the message as the Bot API returned it, regexes
/// its text).
fn replied(
    plan: &TelegramPlan,
    reply: &ReplyPlan,
    started: Instant,
    got: &[Arrival],
    state: &mut UserState,
) -> Sample {
    let Some(last) = got.last() else {
        return failed(reply.endpoint, plan.scenario, started, "no reply".into());
    };
    let mut sample = Sample {
        latency: Some(last.at.saturating_duration_since(started)),
        status: 200,
        bytes: got.iter().map(|a| a.body.len() as u64).sum(),
        protocol: Protocol::Http11,
        ..Sample::blank(reply.endpoint, plan.scenario, started)
    };
    let headers = hyper::header::HeaderMap::new();
    for c in &plan.captures {
        let body: &[u8] = match c.source {
            CaptureSource::Regex(_) => last.text.as_bytes(),
            _ => &last.body,
        };
        let mut json = None;
        let one = std::slice::from_ref(c);
        if let Err(reason) = capture(one, &headers, body, None, &mut json, state) {
            sample.failure = Some(Box::new(Failure {
                reason: reason.to_string(),
                body: Some(crate::sink::store::excerpt(&last.text)),
                ..Failure::default()
            }));
            break;
        }
    }
    sample
}
