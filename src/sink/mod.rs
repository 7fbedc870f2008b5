//! The servers gander serves during a run, for answers that come later: a
//! callback sink (`sink:`) and the Telegram Bot API (`telegram:`). What arrives
//! is kept, bounded, in a store the users' steps wait on (`await:`, `reply:`).
//! This box knows nothing of the users; the runner starts it and waits on it.

pub mod bot_api;
pub mod callback;
pub mod params;
pub mod server;
pub mod store;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::result::answers::{AnswersReport, ArrivalCounts, BotApiReport, MethodCount};
use crate::scenario::plan::AnswersPlan;
pub use server::BindError;
use store::{Limits, Store};

/// The run's servers, serving until dropped.
pub struct Sinks {
    pub callbacks: Option<Arc<callback::Callbacks>>,
    pub bot: Option<Arc<bot_api::BotApi>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Sinks {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Sinks {
    /// Binds and starts the servers the plan asks for (inside a tokio runtime).
    pub fn start(plan: &AnswersPlan) -> Result<Sinks, BindError> {
        let mut sinks = Sinks {
            callbacks: None,
            bot: None,
            tasks: Vec::new(),
        };
        if let Some(sink) = &plan.sink {
            let handler = Arc::new(callback::Callbacks {
                store: Arc::new(Store::new(Limits::default())),
                max_body: sink.max_body,
                too_large: Default::default(),
            });
            sinks
                .tasks
                .push(server::serve(sink.listen, "sink", handler.clone())?);
            sinks.callbacks = Some(handler);
        }
        if let Some(bot) = &plan.telegram {
            let handler = Arc::new(bot_api::BotApi::new(
                &bot.token,
                Arc::new(Store::new(Limits::default())),
            ));
            sinks.tasks.push(server::serve(
                bot.listen,
                "telegram bot_api",
                handler.clone(),
            )?);
            sinks.bot = Some(handler);
        }
        Ok(sinks)
    }

    /// What the servers saw, for run.json.
    pub fn report(&self) -> AnswersReport {
        let counts = |s: &Store, too_large: u64| {
            let c = s.counts();
            ArrivalCounts {
                arrived: c.arrived,
                claimed: c.claimed,
                unclaimed: c.unclaimed,
                dropped_per_key: c.dropped_per_key,
                dropped_full: c.dropped_full,
                too_large,
            }
        };
        AnswersReport {
            sink: self
                .callbacks
                .as_ref()
                .map(|c| counts(&c.store, c.too_large.load(Ordering::Relaxed))),
            telegram: self.bot.as_ref().map(|b| {
                let seen = b.counts();
                BotApiReport {
                    messages: counts(&b.store, seen.too_large),
                    methods: seen
                        .methods
                        .into_iter()
                        .map(|(method, (calls, how))| MethodCount {
                            method,
                            calls,
                            answered: match how {
                                Some(bot_api::Answered::Message) => "message",
                                Some(bot_api::Answered::Modelled) => "modelled",
                                _ => "generic",
                            }
                            .to_string(),
                        })
                        .collect(),
                    unauthorized: seen.unauthorized,
                    bad_requests: seen.bad_requests,
                }
            }),
            streams: Vec::new(),
            connections_turned_away: server::TURNED_AWAY.load(Ordering::Relaxed),
        }
    }
}
