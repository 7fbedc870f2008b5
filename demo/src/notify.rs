//! The notifications socket, `GET /api/ws/notifications` (a WebSocket; the
//! session's bearer token in `Authorization`): `{"type":"subscribe","topic":"bookings"}`
//! is answered with `{"type":"subscribed",...}`, `{"type":"ping"}` with
//! `{"type":"pong"}`, and every booking created is pushed to every subscribed
//! socket as `{"type":"booking.created","id":N}`.
//!
//! The unoptimized SUT keeps its sockets in a table sized for a developer's
//! laptop: past 8 open sockets it drops the oldest (close 1013, try again
//! later). Under real load its receptionists' sockets drop and reconnect in a
//! storm, the flaw seed 003's CRM had.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{broadcast, oneshot};

use super::api::App;

/// How many sockets the unoptimized SUT keeps before dropping the oldest.
pub const UNOPTIMIZED_SOCKET_LIMIT: usize = 8;

/// The open sockets and the events pushed to them.
pub struct Hub {
    events: broadcast::Sender<Arc<str>>,
    /// Open sockets, oldest first, each with the way to drop it.
    open: Mutex<VecDeque<(u64, oneshot::Sender<()>)>>,
    next_id: AtomicU64,
    /// `Some` in the unoptimized SUT.
    limit: Option<usize>,
    pub opened: AtomicU64,
    pub dropped: AtomicU64,
    pub pushed: AtomicU64,
}

impl Hub {
    pub fn new(limit: Option<usize>) -> Hub {
        Hub {
            events: broadcast::channel(1024).0,
            open: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(1),
            limit,
            opened: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            pushed: AtomicU64::new(0),
        }
    }

    /// Pushes `event` to every subscribed socket.
    pub fn publish(&self, event: Value) {
        let _ = self.events.send(event.to_string().into());
    }

    /// Registers a socket; the receiver fires when the hub drops it.
    fn register(&self) -> (u64, oneshot::Receiver<()>) {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (drop_tx, drop_rx) = oneshot::channel();
        self.opened.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut open) = self.open.lock() {
            open.push_back((id, drop_tx));
            if let Some(limit) = self.limit {
                while open.len() > limit {
                    if let Some((_, oldest)) = open.pop_front() {
                        let _ = oldest.send(());
                    }
                }
            }
        }
        (id, drop_rx)
    }

    fn unregister(&self, id: u64) {
        if let Ok(mut open) = self.open.lock() {
            open.retain(|(i, _)| *i != id);
        }
    }

    pub fn open_sockets(&self) -> usize {
        self.open.lock().map(|o| o.len()).unwrap_or(0)
    }
}

pub async fn notifications(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let token = super::api::bearer(&headers);
    if let Err(e) = super::api::authorise_token(&app, token).await {
        return e.into_response();
    }
    ws.on_upgrade(move |socket| serve(socket, app))
}

async fn serve(mut socket: WebSocket, app: Arc<App>) {
    let hub = &app.hub;
    let (id, mut dropped) = hub.register();
    let mut events = hub.events.subscribe();
    let mut subscribed = false;
    loop {
        tokio::select! {
            message = socket.recv() => {
                let Some(Ok(message)) = message else { break };
                let Message::Text(text) = message else { continue };
                let request: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                let answer = match request["type"].as_str() {
                    Some("subscribe") => {
                        subscribed = true;
                        json!({ "type": "subscribed", "topic": request["topic"], "socket": id })
                    }
                    Some("ping") => json!({ "type": "pong" }),
                    _ => json!({ "type": "error", "error": "expected {\"type\":\"subscribe\"} or {\"type\":\"ping\"}" }),
                };
                if socket.send(Message::Text(answer.to_string().into())).await.is_err() {
                    break;
                }
            }
            event = events.recv(), if subscribed => match event {
                Ok(event) => {
                    if socket.send(Message::Text(event.as_ref().into())).await.is_err() {
                        break;
                    }
                    hub.pushed.fetch_add(1, Ordering::Relaxed);
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = &mut dropped => {
                hub.dropped.fetch_add(1, Ordering::Relaxed);
                let _ = socket
                    .send(Message::Close(Some(CloseFrame {
                        code: 1013,
                        reason: "too many notification sockets".into(),
                    })))
                    .await;
                break;
            }
        }
    }
    hub.unregister(id);
}
