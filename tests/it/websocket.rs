//! WebSocket steps against an in-test server on 127.0.0.1 that counts what it
//! receives and sends: round trips and handshakes in the histograms, message
//! counts that match the server's, sockets held in the background, and sockets
//! the server closes or breaks mid-run counted as errors with their reason.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::common::tls::{ServerTls, TestCa, serve_router};
use crate::common::*;

/// What the WebSocket server saw.
#[derive(Default)]
struct WsSeen {
    opened: AtomicU64,
    received: AtomicU64,
    sent: AtomicU64,
    http: AtomicU64,
}

impl WsSeen {
    fn get(&self, counter: &AtomicU64) -> u64 {
        counter.load(Ordering::SeqCst)
    }
}

async fn send(socket: &mut WebSocket, seen: &WsSeen, text: String) -> bool {
    let ok = socket.send(Message::Text(text.into())).await.is_ok();
    if ok {
        seen.sent.fetch_add(1, Ordering::SeqCst);
    }
    ok
}

/// Echoes every text message; `burst N` is answered with `tick 1`..`tick N`.
async fn echo(mut socket: WebSocket, seen: Arc<WsSeen>) {
    seen.opened.fetch_add(1, Ordering::SeqCst);
    while let Some(Ok(message)) = socket.recv().await {
        let Message::Text(text) = message else {
            continue;
        };
        seen.received.fetch_add(1, Ordering::SeqCst);
        let text = text.to_string();
        if let Some(n) = text.strip_prefix("burst ") {
            for i in 1..=n.parse::<u32>().unwrap_or(0) {
                if !send(&mut socket, &seen, format!("tick {i}")).await {
                    return;
                }
            }
        } else if !send(&mut socket, &seen, text).await {
            return;
        }
    }
}

/// Acknowledges a subscription, then pushes an event every 50 ms.
async fn push(mut socket: WebSocket, seen: Arc<WsSeen>) {
    seen.opened.fetch_add(1, Ordering::SeqCst);
    let mut ticks = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    seen.received.fetch_add(1, Ordering::SeqCst);
                    if !send(&mut socket, &seen, format!("{{\"type\":\"ack\",\"topic\":\"{text}\",\"id\":42}}")).await {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                _ => return,
            },
            _ = ticks.tick() => {
                if !send(&mut socket, &seen, "{\"type\":\"event\"}".into()).await {
                    return;
                }
            }
        }
    }
}

/// Acknowledges, then closes the socket after 200 ms with 1001 going away.
async fn going_away(mut socket: WebSocket, seen: Arc<WsSeen>) {
    seen.opened.fetch_add(1, Ordering::SeqCst);
    if let Some(Ok(Message::Text(_))) = socket.recv().await {
        seen.received.fetch_add(1, Ordering::SeqCst);
        send(&mut socket, &seen, "ack".into()).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: 1001,
            reason: "restarting".into(),
        })))
        .await;
}

/// Acknowledges, then drops the connection after 200 ms without a close frame.
async fn broken(mut socket: WebSocket, seen: Arc<WsSeen>) {
    seen.opened.fetch_add(1, Ordering::SeqCst);
    if let Some(Ok(Message::Text(_))) = socket.recv().await {
        seen.received.fetch_add(1, Ordering::SeqCst);
        send(&mut socket, &seen, "ack".into()).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(socket);
}

fn upgrade<F, Fut>(seen: Arc<WsSeen>, ws: WebSocketUpgrade, f: F) -> Response
where
    F: FnOnce(WebSocket, Arc<WsSeen>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    ws.on_upgrade(move |socket| f(socket, seen))
}

fn app(seen: Arc<WsSeen>) -> Router {
    Router::new()
        .route(
            "/ws/echo",
            get(|State(s): State<Arc<WsSeen>>, ws: WebSocketUpgrade| async move {
                upgrade(s, ws, echo)
            }),
        )
        .route(
            "/ws/push",
            get(|State(s): State<Arc<WsSeen>>, ws: WebSocketUpgrade| async move {
                upgrade(s, ws, push)
            }),
        )
        .route(
            "/ws/going-away",
            get(|State(s): State<Arc<WsSeen>>, ws: WebSocketUpgrade| async move {
                upgrade(s, ws, going_away)
            }),
        )
        .route(
            "/ws/broken",
            get(|State(s): State<Arc<WsSeen>>, ws: WebSocketUpgrade| async move {
                upgrade(s, ws, broken)
            }),
        )
        .route(
            "/ws/refuse",
            get(|| async { (StatusCode::FORBIDDEN, "no sockets for you").into_response() }),
        )
        .route(
            "/hello",
            get(|State(s): State<Arc<WsSeen>>| async move {
                s.http.fetch_add(1, Ordering::SeqCst);
                "hello"
            }),
        )
        .with_state(seen)
}

fn start() -> (String, Arc<WsSeen>) {
    let seen = Arc::new(WsSeen::default());
    let addr = serve_router(None, app(seen.clone()));
    (format!("http://{addr}"), seen)
}

fn socket_stats<'a>(run: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    &endpoint(run, name)["stats"]["all"]["websocket"]
}

#[test]
fn websocket_users_exchange_messages_and_the_counts_match_the_servers() {
    let (host, seen) = start();
    let ws = Workspace::new();
    let scenario = format!(
        r#"host: {host}
load: {{ users: 10, iterations: 3 }}
scenarios:
  - name: chat
    steps:
      - name: chat
        ws: /ws/echo
        messages:
          - name: hello
            send: "hello ${{iteration}}"
            expect: {{ contains: hello, within: 2s }}
            capture: {{ echoed: {{ regex: "hello (\\d+)" }} }}
          - send: "burst 5"
          - name: burst
            expect: {{ contains: tick 5, within: 2s }}
          - name: again
            json: {{ n: "${{echoed}}" }}
            expect: {{ json: [ {{ pointer: /n, exists: true }} ], within: 2s }}
        hold: 300ms
"#
    );
    let out = ws.run(&scenario, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/failed"), 0, "{}", run["errors"]);
    // Every handshake and every round trip is a timed request.
    for name in ["chat connect", "hello", "burst", "again"] {
        let e = endpoint(&run, name);
        assert_eq!(u(e, "/stats/all/requests"), 30, "{name}");
        assert!(f(e, "/stats/all/latency_ms/max") > 0.0, "{name}");
        assert!(e["stats"]["all"]["histogram"].is_string(), "{name}");
        assert_eq!(e["method"], "WS");
    }
    assert_eq!(
        u(
            endpoint(&run, "chat connect"),
            "/stats/all/protocols/HTTP~11.1"
        ),
        30
    );
    assert_eq!(
        u(endpoint(&run, "hello"), "/stats/all/protocols/WebSocket"),
        30
    );
    // Each socket is counted once, when it ends; its life is no latency.
    let sockets = endpoint(&run, "chat");
    assert_eq!(u(sockets, "/stats/all/requests"), 30);
    assert!(sockets["stats"]["all"]["latency_ms"].is_null());
    let w = socket_stats(&run, "chat");
    assert_eq!(u(w, "/sockets"), 30);
    assert_eq!(u(w, "/dropped"), 0);
    // What gander counted is what the server counted.
    assert_eq!(seen.get(&seen.opened), 30);
    assert_eq!(u(w, "/messages_sent"), seen.get(&seen.received));
    assert_eq!(u(w, "/messages_received"), seen.get(&seen.sent));
    assert_eq!(seen.get(&seen.received), 30 * 3);
    assert_eq!(seen.get(&seen.sent), 30 * (1 + 5 + 1));
    // The interval log holds the round trips' histograms.
    let hlog = std::fs::read_to_string(out.run_dir().join("latency.hlog")).unwrap();
    assert!(
        hlog.contains("= chat connect") && hlog.contains("= hello"),
        "{hlog}"
    );
    assert!(out.stdout.contains("WebSockets"), "{}", out.stdout);
    assert_complete_run_dir(&out.run_dir());
}

#[test]
fn websocket_background_sockets_stay_open_while_users_browse() {
    let (host, seen) = start();
    let ws = Workspace::new();
    let scenario = format!(
        r#"host: {host}
load: {{ users: 5, duration: 2s }}
scenarios:
  - name: receptionist
    think_time: 50ms
    steps:
      - name: notifications
        ws: /ws/push
        messages:
          - name: subscribe
            send: bookings
            expect: {{ json: [ {{ pointer: /type, equals: ack }} ], within: 2s }}
            capture: {{ sub: {{ json: /id }} }}
        background: true
      - name: browse
        get: /hello?sub=${{sub}}
"#
    );
    let out = ws.run(&scenario, &["--quiet"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/failed"), 0, "{}", run["errors"]);
    // One socket per user for the whole run, while the users browsed.
    assert_eq!(seen.get(&seen.opened), 5);
    assert_eq!(
        u(
            endpoint(&run, "notifications connect"),
            "/stats/all/requests"
        ),
        5
    );
    assert!(u(endpoint(&run, "browse"), "/stats/all/requests") > 20);
    let w = socket_stats(&run, "notifications");
    assert_eq!(u(w, "/sockets"), 5);
    assert_eq!(u(w, "/dropped"), 0);
    // About 20 pushes a second over 2 s to each of 5 users: all counted.
    assert!(u(w, "/messages_received") > 5 * 20, "{w}");
    assert_eq!(u(w, "/messages_received"), seen.get(&seen.sent));
    assert_eq!(u(w, "/messages_sent"), seen.get(&seen.received));
}

#[test]
fn websocket_sockets_the_server_drops_are_counted_and_explained() {
    let (host, seen) = start();
    let ws = Workspace::new();
    let scenario = |path: &str| {
        format!(
            r#"host: {host}
load: {{ users: 4, duration: 2s }}
scenarios:
  - name: receptionist
    think_time: 100ms
    steps:
      - name: notifications
        ws: {path}
        messages:
          - {{ name: subscribe, send: hi, expect: {{ contains: ack, within: 2s }} }}
        background: true
      - {{ name: browse, get: /hello }}
"#
        )
    };
    let out = ws.run(&scenario("/ws/going-away"), &["--quiet"]);
    let run = out.json();
    let w = socket_stats(&run, "notifications");
    let dropped = u(w, "/dropped");
    // Each socket lasted 200 ms; a dropped one is opened again at the step's next turn.
    assert!(dropped >= 8, "{w}");
    let opened = seen.get(&seen.opened);
    assert_eq!(
        u(
            endpoint(&run, "notifications connect"),
            "/stats/all/requests"
        ),
        opened
    );
    assert_eq!(u(w, "/sockets"), opened);
    let sockets = &endpoint(&run, "notifications")["stats"]["all"];
    assert_eq!(u(sockets, "/failed"), dropped);
    let groups: Vec<&serde_json::Value> = run["errors"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["endpoint"] == "notifications")
        .collect();
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(
        groups[0]["reason"],
        "dropped: closed by the server (1001 going away: restarting)"
    );
    assert_eq!(u(groups[0], "/count"), dropped);
    assert_eq!(u(w, "/messages_received"), seen.get(&seen.sent));

    // Broken without a close frame.
    let (host2, _) = start();
    let out = ws.run(&scenario("/ws/broken").replace(&host, &host2), &["--quiet"]);
    let run = out.json();
    let dropped = u(socket_stats(&run, "notifications"), "/dropped");
    assert!(dropped >= 8);
    let reasons: Vec<&str> = run["errors"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["endpoint"] == "notifications")
        .map(|g| g["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.iter().all(
            |r| r.starts_with("dropped: ") && r.contains("without a close frame")
                || r.contains("connection broken")
        ),
        "{reasons:?}"
    );

    // Refused outright: the handshake fails with the server's status.
    let out = ws.run(
        &scenario("/ws/refuse").replace("duration: 2s", "iterations: 2"),
        &["--quiet"],
    );
    let run = out.json();
    let connect = endpoint(&run, "notifications connect");
    assert_eq!(u(connect, "/stats/all/failed"), 8);
    assert_eq!(u(connect, "/stats/all/statuses/403"), 8);
    let reason = run["errors"]["groups"][0]["reason"].as_str().unwrap();
    assert_eq!(reason, "WebSocket refused: HTTP 403");
}

#[test]
fn websocket_over_tls_with_a_private_ca() {
    let ca = TestCa::new("gander test CA");
    let seen = Arc::new(WsSeen::default());
    let addr = serve_router(
        Some(ServerTls {
            cert: ca.sign(&["127.0.0.1"]),
            alpn: vec![b"http/1.1".to_vec()],
            client_ca: None,
        }),
        app(seen.clone()),
    );
    let ws = Workspace::new();
    ws.write("ca.pem", &ca.pem());
    let scenario = |tls: &str| {
        format!(
            "host: https://{addr}\nload: {{ users: 2, iterations: 2 }}\n{tls}\
             scenarios:\n  - name: s\n    steps:\n      - name: chat\n        ws: /ws/echo\n        \
             messages: [ {{ name: hello, send: hi, expect: {{ contains: hi, within: 2s }} }} ]\n"
        )
    };
    let out = ws.run(&scenario("tls: { ca: ca.pem }\n"), &["--quiet"]);
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/failed"), 0, "{}", run["errors"]);
    assert_eq!(u(endpoint(&run, "hello"), "/stats/all/requests"), 4);
    assert_eq!(seen.get(&seen.opened), 4);
    // Without the CA: the same actionable reason as for HTTPS.
    let out = ws.run(&scenario(""), &["--quiet"]);
    let run = out.json();
    assert_eq!(u(endpoint(&run, "chat connect"), "/stats/all/failed"), 4);
    let reason = run["errors"]["groups"][0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("certificate for 127.0.0.1 is signed by an unknown authority"),
        "{reason}"
    );
}
