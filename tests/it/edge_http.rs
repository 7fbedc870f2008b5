//! The users' HTTP at the edge of what servers do: empty gzip answers, a
//! listener that never accepts, a black-holed first address, HTTP/2 stream
//! resets and refusals, a step's own Host over HTTP/2, credentials across a
//! redirect, a server rotating cookie names, and a connection that dies under
//! a POST.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::common::edge::*;
use crate::common::tls::serve_router;
use crate::common::*;

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn empty_answers_that_say_gzip_are_not_failures() {
    // As nginx with gzip on answers: HEAD, 204 and 304 carry Content-Encoding: gzip.
    let app = Router::new()
        .route(
            "/page",
            get(|| async { ([(header::CONTENT_ENCODING, "gzip")], gzip(b"hello gzip")) }),
        )
        .route(
            "/nothing",
            get(|| async { (StatusCode::NO_CONTENT, [(header::CONTENT_ENCODING, "gzip")]) }),
        )
        .route(
            "/cached",
            get(|| async {
                (
                    StatusCode::NOT_MODIFIED,
                    [(header::CONTENT_ENCODING, "gzip"), (header::ETAG, "\"v1\"")],
                )
            }),
        );
    let addr = serve_router(None, app);
    let ws = Workspace::new();
    let out = ws.run(
        &format!(
            "host: http://{addr}\nload: {{ users: 1, iterations: 3 }}\n\
             scenarios:\n  - name: s\n    steps:\n      \
             - {{ name: page, get: /page, expect: {{ body_contains: hello gzip }} }}\n      \
             - {{ name: head, head: /page }}\n      \
             - {{ name: no content, get: /nothing, expect: {{ status: 204 }} }}\n      \
             - {{ name: not modified, get: /cached, headers: {{ If-None-Match: '\"v1\"' }}, expect: {{ status: 304 }} }}\n"
        ),
        &["--quiet"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/requests"), 12);
    assert_eq!(u(&run, "/totals/all/failed"), 0, "{}", run["errors"]);
}

#[test]
fn a_listener_that_never_accepts_fails_each_connection_at_the_connect_timeout() {
    let hole = BlackHole::on("127.0.0.1:0".parse().unwrap());
    let ws = Workspace::new();
    let out = ws.run(
        &format!(
            "host: http://{}\nload: {{ users: 2, duration: 4s }}\n\
             defaults: {{ timeout: 30s, connect_timeout: 1s }}\n\
             scenarios:\n  - name: s\n    steps:\n      - {{ name: hello, get: /hello }}\n",
            hole.addr
        ),
        &["--quiet"],
    );
    // Nothing was reached: the run is invalid.
    assert_eq!(out.code, 3, "{}", out.stderr);
    let run = out.json();
    let failed = u(&run, "/totals/all/failed");
    // Each user tried again and again within the run, instead of hanging on
    // its first connection for the step's 30 s.
    assert!(failed >= 2 * 2, "{failed} failed: {}", run["errors"]);
    assert_eq!(u(&run, "/totals/all/unreached"), failed);
    for group in run["errors"]["groups"].as_array().unwrap() {
        let reason = group["reason"].as_str().unwrap();
        assert!(
            reason.contains("no connection within 1s (defaults.connect_timeout)"),
            "{reason}"
        );
    }
}

#[test]
fn a_black_holed_first_address_does_not_stall_connections() {
    // sut.test is ::1 first (a black hole), then 127.0.0.1 (the server).
    let hole = BlackHole::on("[::1]:0".parse().unwrap());
    let hellos = Arc::new(AtomicU64::new(0));
    let counted = hellos.clone();
    let app = Router::new().route(
        "/hello",
        get(move || async move {
            counted.fetch_add(1, Ordering::SeqCst);
            "hello"
        }),
    );
    let addr = serve_at(SocketAddr::from(([127, 0, 0, 1], hole.addr.port())), app);
    let ws = Workspace::new();
    let out = ws.run(
        &format!(
            "host: http://sut.test:{}\nhosts: {{ sut.test: [\"::1\", 127.0.0.1] }}\n\
             load: {{ users: 2, iterations: 3 }}\ndefaults: {{ connect_timeout: 20s }}\n\
             scenarios:\n  - name: s\n    steps:\n      - {{ name: hello, get: /hello }}\n      \
             - {{ name: again, get: /hello, headers: {{ Connection: close }} }}\n",
            addr.port()
        ),
        &["--quiet"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/failed"), 0, "{}", run["errors"]);
    assert_eq!(hellos.load(Ordering::SeqCst), 12);
    // Every request opened a connection (Connection: close): none waited for
    // the black hole's 20 s, the run ended long before one would have.
    assert!(f(&run, "/phases/total/end_s") < 20.0, "{}", run["phases"]);
}

/// What the HTTP/2 server saw.
#[derive(Default)]
struct H2Seen {
    connections: AtomicU64,
    flaky: AtomicU64,
    authorities: Mutex<Vec<(String, String)>>,
}

/// An HTTP/2 (h2c) server from the h2 crate: `/flaky` refuses every other
/// stream (REFUSED_STREAM), `/broken` resets every stream (INTERNAL_ERROR),
/// anything else answers 200; the `:authority` of each request is kept.
fn start_h2_server() -> (SocketAddr, Arc<H2Seen>) {
    let seen = Arc::new(H2Seen::default());
    let state = seen.clone();
    let addr = spawn_on_runtime(move |tcp| async move {
        loop {
            let Ok((socket, _)) = tcp.accept().await else {
                continue;
            };
            state.connections.fetch_add(1, Ordering::SeqCst);
            let state = state.clone();
            tokio::spawn(async move {
                let Ok(mut conn) = h2::server::handshake(socket).await else {
                    return;
                };
                while let Some(Ok((request, mut respond))) = conn.accept().await {
                    let path = request.uri().path().to_string();
                    let authority = request
                        .uri()
                        .authority()
                        .map(|a| a.to_string())
                        .unwrap_or_default();
                    state
                        .authorities
                        .lock()
                        .unwrap()
                        .push((path.clone(), authority));
                    let refuse =
                        path == "/flaky" && state.flaky.fetch_add(1, Ordering::SeqCst) % 2 == 0;
                    if refuse {
                        respond.send_reset(h2::Reason::REFUSED_STREAM);
                    } else if path == "/broken" {
                        respond.send_reset(h2::Reason::INTERNAL_ERROR);
                    } else if let Ok(mut body) =
                        respond.send_response(axum::http::Response::new(()), false)
                    {
                        let _ = body.send_data(bytes::Bytes::from_static(b"ok"), true);
                    }
                }
            });
        }
    });
    (addr, seen)
}

#[test]
fn http2_retries_refused_streams_keeps_the_connection_on_a_stream_reset_and_a_steps_host() {
    let (addr, seen) = start_h2_server();
    let ws = Workspace::new();
    let out = ws.run(
        &format!(
            "host: http://{addr}\nhttp: h2c\nload: {{ users: 1, iterations: 3 }}\n\
             scenarios:\n  - name: s\n    steps:\n      \
             - {{ name: flaky, get: /flaky }}\n      \
             - {{ name: broken, get: /broken }}\n      \
             - {{ name: vhost, get: /vhost, headers: {{ Host: api.test }} }}\n"
        ),
        &["--quiet"],
    );
    let run = out.json();
    // Each refused stream was sent again and answered.
    let flaky = endpoint(&run, "flaky");
    assert_eq!(u(flaky, "/stats/all/requests"), 3);
    assert_eq!(u(flaky, "/stats/all/failed"), 0, "{}", run["errors"]);
    assert_eq!(seen.flaky.load(Ordering::SeqCst), 6);
    // A reset stream fails its request only.
    assert_eq!(u(endpoint(&run, "broken"), "/stats/all/failed"), 3);
    assert_eq!(u(endpoint(&run, "vhost"), "/stats/all/failed"), 0);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    let authorities = seen.authorities.lock().unwrap().clone();
    for (path, authority) in &authorities {
        let expected = if path == "/vhost" {
            "api.test".to_string()
        } else {
            addr.to_string()
        };
        assert_eq!(*authority, expected, "{path}: {authorities:?}");
    }
    assert_eq!(authorities.iter().filter(|(p, _)| p == "/vhost").count(), 3);
}

#[test]
fn basic_auth_from_the_url_goes_on_to_the_same_origin_after_an_absolute_redirect() {
    let seen = Arc::new(Mutex::new(Vec::<(String, Option<String>)>::new()));
    let recorded = seen.clone();
    let port = free_port();
    let app = Router::new()
        .route(
            "/start",
            get(move || async move {
                (
                    StatusCode::FOUND,
                    [(header::LOCATION, format!("http://127.0.0.1:{port}/private"))],
                )
            }),
        )
        .route(
            "/away",
            get(move || async move {
                (
                    StatusCode::FOUND,
                    [(header::LOCATION, format!("http://localhost:{port}/private"))],
                )
            }),
        )
        .route(
            "/private",
            get(move |headers: HeaderMap| async move {
                let host = headers[header::HOST].to_str().unwrap().to_string();
                let auth = headers
                    .get(header::AUTHORIZATION)
                    .map(|v| v.to_str().unwrap().to_string());
                recorded.lock().unwrap().push((host, auth.clone()));
                if auth.as_deref() == Some("Basic dXNlcjpwYXNz") {
                    StatusCode::OK.into_response()
                } else {
                    StatusCode::UNAUTHORIZED.into_response()
                }
            }),
        );
    serve_at(SocketAddr::from(([127, 0, 0, 1], port)), app);
    let ws = Workspace::new();
    let out = ws.run(
        &format!(
            "host: http://user:pass@127.0.0.1:{port}\nload: {{ users: 1, iterations: 2 }}\n\
             scenarios:\n  - name: s\n    steps:\n      \
             - {{ name: same origin, get: /start, expect: {{ status: 200 }} }}\n      \
             - {{ name: other origin, get: /away, expect: {{ status: 401 }} }}\n"
        ),
        &["--quiet"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/failed"), 0, "{}", run["errors"]);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "{seen:?}");
    for (host, auth) in &seen {
        if host.starts_with("127.0.0.1") {
            assert_eq!(auth.as_deref(), Some("Basic dXNlcjpwYXNz"));
        } else {
            assert_eq!(*auth, None, "credentials went to {host}");
        }
    }
}

#[test]
fn a_server_rotating_cookie_names_can_always_set_the_next_one() {
    // Each answer sets a new name; each request must bring the last one back.
    #[derive(Default)]
    struct Rotation {
        next: u64,
        missing: u64,
    }
    let rotation = Arc::new(Mutex::new(Rotation::default()));
    let state = rotation.clone();
    let app = Router::new().route(
        "/rotate",
        get(move |headers: HeaderMap| async move {
            let mut r = state.lock().unwrap();
            let cookies = headers
                .get(header::COOKIE)
                .map(|c| c.to_str().unwrap().to_string())
                .unwrap_or_default();
            if r.next > 0
                && !cookies
                    .split("; ")
                    .any(|c| c == format!("c{}=v", r.next - 1))
            {
                r.missing += 1;
            }
            let set = format!("c{}=v; Path=/", r.next);
            r.next += 1;
            ([(header::SET_COOKIE, set)], "ok")
        }),
    );
    let addr = serve_router(None, app);
    let ws = Workspace::new();
    let out = ws.run(
        &format!(
            "host: http://{addr}\nload: {{ users: 1, iterations: 300 }}\n\
             scenarios:\n  - name: s\n    steps:\n      - {{ name: rotate, get: /rotate }}\n"
        ),
        &["--quiet"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = rotation.lock().unwrap();
    // Past the jar's 200 cookies, new names still land.
    assert_eq!(r.next, 300);
    assert_eq!(r.missing, 0);
}

#[test]
fn a_post_is_never_sent_twice_when_its_reused_connection_dies_under_it() {
    // GETs are answered on a kept-alive connection; a POST is read whole and
    // the connection closed without an answer.
    let posts = Arc::new(AtomicU64::new(0));
    let counted = posts.clone();
    let addr = spawn_on_runtime(move |tcp| async move {
        loop {
            let Ok((socket, _)) = tcp.accept().await else {
                continue;
            };
            let posts = counted.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(socket);
                loop {
                    let mut head = Vec::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        head.push(line.to_ascii_lowercase());
                    }
                    let length: usize = head
                        .iter()
                        .find_map(|h| h.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0u8; length];
                    if reader.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    if head[0].starts_with("post") {
                        posts.fetch_add(1, Ordering::SeqCst);
                        return; // dies under the POST
                    }
                    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if reader.get_mut().write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let ws = Workspace::new();
    let out = ws.run(
        &format!(
            "host: http://{addr}\nload: {{ users: 2, iterations: 3 }}\n\
             scenarios:\n  - name: s\n    steps:\n      - {{ name: warm, get: /warm }}\n      \
             - {{ name: pay, post: /pay, body: \"amount=10\" }}\n"
        ),
        &["--quiet"],
    );
    let run = out.json();
    let pay = endpoint(&run, "pay");
    assert_eq!(u(pay, "/stats/all/requests"), 6);
    assert_eq!(u(pay, "/stats/all/failed"), 6);
    assert_eq!(u(endpoint(&run, "warm"), "/stats/all/failed"), 0);
    // One arrival per POST sent: none was repeated on a new connection.
    assert_eq!(posts.load(Ordering::SeqCst), 6);
}
