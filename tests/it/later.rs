//! Answers that come later, against real programs: a Python service that
//! calls back, a real aiogram bot whose Bot API is gander, a FastAPI app
//! streaming server-sent events.

use std::process::Command;

use crate::common::*;

/// How long the callback service holds each order before calling back.
const HOLD_MS: u64 = 300;

#[test]
fn callbacks_are_timed_from_the_request_to_their_arrival_and_a_lost_one_fails() {
    let (_app, host) =
        start_fixture(Command::new("python3").arg(fixtures().join("callback-app/app.py")));
    let sink = free_port();
    let ws = Workspace::new();
    let scenario = format!(
        r#"host: {host}
load: {{ users: 4, iterations: 6 }}
sink: {{ listen: 127.0.0.1:{sink} }}
scenarios:
  - name: shop
    weight: 3
    steps:
      - name: order
        post: /orders
        json: {{ order_id: "o-${{user_index}}-${{iteration}}", callback: "http://127.0.0.1:{sink}/callback/o-${{user_index}}-${{iteration}}", delay_ms: {HOLD_MS} }}
        expect: {{ status: 202 }}
        capture: {{ order_id: {{ json: /order_id }} }}
      - name: order done
        await: {{ path: "/callback/${{order_id}}", within: 5s, contains: done }}
        capture: {{ held: {{ json: /held_ms }} }}
  - name: lost
    weight: 1
    steps:
      - name: lost order
        post: /orders
        json: {{ order_id: "l-${{user_index}}-${{iteration}}", callback: "http://127.0.0.1:{sink}/callback/l", lost: true }}
      - name: lost callback
        await: {{ path: "/callback/l-${{user_index}}", within: 1s }}
"#
    );
    let out = ws.run(&scenario, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let run = out.json();
    // Three users order, one loses its orders: every await is counted once.
    let done = endpoint(&run, "order done");
    assert_eq!(u(done, "/stats/all/requests"), 18);
    assert_eq!(u(done, "/stats/all/failed"), 0, "{}", run["errors"]);
    assert_eq!(done["method"], "AWAIT");
    let lost = endpoint(&run, "lost callback");
    assert_eq!(u(lost, "/stats/all/requests"), 6);
    assert_eq!(u(lost, "/stats/all/failed"), 6);
    let groups = run["errors"]["groups"].as_array().unwrap();
    assert!(
        groups.iter().any(|g| g["endpoint"] == "lost callback"
            && g["reason"] == "no callback within 1s"
            && g["count"] == 6),
        "{groups:?}"
    );
    // The latency runs from the order's send to the callback's arrival: never
    // less than the hold, and close to it (the service's own overhead and two
    // loopback requests on top).
    let min = f(done, "/stats/all/latency_ms/min");
    let p50 = f(done, "/stats/all/latency_ms/p50");
    assert!(min >= HOLD_MS as f64, "min {min} ms < hold {HOLD_MS} ms");
    eprintln!("callback latency: min {min:.1} ms, p50 {p50:.1} ms against a hold of {HOLD_MS} ms");
    assert!(
        p50 < HOLD_MS as f64 + 50.0,
        "p50 {p50} ms: far from the hold"
    );
    let sink = &run["answers"]["sink"];
    assert_eq!(u(sink, "/arrived"), 18);
    assert_eq!(u(sink, "/claimed"), 18);
    assert_eq!(u(sink, "/dropped_full") + u(sink, "/dropped_per_key"), 0);
    assert_complete_run_dir(&out.run_dir());
}

const TOKEN: &str = "123456:gander-test_TOKEN";

/// A real aiogram bot in webhook mode with gander as its Bot API server.
fn start_bot(bot_api: u16, delay_ms: u64) -> (gander::sut::child::Guarded, String) {
    start_fixture(
        Command::new("python3")
            .arg(fixtures().join("aiogram-bot/bot.py"))
            .args(["--api", &format!("http://127.0.0.1:{bot_api}")])
            .args(["--token", TOKEN, "--secret", "s3cret-hook"])
            .args(["--delay-ms", &delay_ms.to_string()]),
    )
}

#[test]
fn an_aiogram_bot_answers_fifty_students_through_gander_and_every_reply_is_timed() {
    let bot_api = free_port();
    let (_bot, host) = start_bot(bot_api, 150);
    let ws = Workspace::new();
    let scenario = format!(
        r#"host: {host}
load: {{ users: 51, iterations: 3 }}
telegram: {{ webhook: /webhook, bot_api: "127.0.0.1:{bot_api}", token: "{TOKEN}", secret_token: s3cret-hook }}
scenarios:
  - name: student
    weight: 50
    steps:
      - name: start
        telegram: {{ text: /start }}
        reply: {{ within: 5s, contains: Welcome }}
      - name: homework
        telegram: {{ text: /homework }}
        reply: {{ within: 5s, contains: homework }}
        capture: {{ hw_message: {{ json: /message_id }}, first: {{ regex: "exercises (\\d+)" }} }}
      - name: done
        telegram: {{ callback: "hw:done", message_id: "${{hw_message}}" }}
        reply: {{ within: 5s, contains: Marked done }}
  - name: lurker
    weight: 1
    steps:
      - name: silent
        telegram: {{ text: /silent }}
        reply: {{ within: 1s }}
"#
    );
    let out = ws.run(&scenario, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let run = out.json();
    // Every update reached the webhook (aiogram checked the secret) and every
    // answer came back, each timed update → answer.
    for name in ["start", "homework", "done"] {
        let reply = endpoint(&run, name);
        assert_eq!(reply["method"], "TG");
        assert_eq!(
            u(reply, "/stats/all/requests"),
            150,
            "{name}: {}",
            run["errors"]
        );
        assert_eq!(
            u(reply, "/stats/all/failed"),
            0,
            "{name}: {}",
            run["errors"]
        );
        assert!(f(reply, "/stats/all/latency_ms/p95") > 0.0);
        let hook = endpoint(&run, &format!("{name} webhook"));
        assert_eq!(u(hook, "/stats/all/requests"), 150);
        assert_eq!(u(hook, "/stats/all/failed"), 0);
    }
    // The bot works 150 ms before it answers /homework: no reply is faster.
    assert!(f(endpoint(&run, "homework"), "/stats/all/latency_ms/min") >= 150.0);
    // The command the bot never answers fails with the reason.
    let silent = endpoint(&run, "silent");
    assert_eq!(u(silent, "/stats/all/failed"), 3);
    let groups = run["errors"]["groups"].as_array().unwrap();
    assert!(
        groups
            .iter()
            .any(|g| g["endpoint"] == "silent" && g["reason"] == "no reply within 1s"),
        "{groups:?}"
    );
    // What the Bot API saw: the bot's messages all claimed, the methods listed.
    let tg = &run["answers"]["telegram"];
    assert_eq!(u(tg, "/messages/arrived"), 450);
    assert_eq!(u(tg, "/messages/claimed"), 450);
    assert_eq!(u(tg, "/unauthorized"), 0);
    let calls = |method: &str| {
        tg["methods"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["method"] == method)
            .map_or(0, |m| m["calls"].as_u64().unwrap())
    };
    assert_eq!(calls("sendMessage"), 300);
    assert_eq!(calls("editMessageText"), 150);
    assert_eq!(calls("sendChatAction"), 150);
    assert_eq!(calls("answerCallbackQuery"), 150);
    // The reply p95 is in every report.
    let dir = out.run_dir();
    for file in ["summary.md", "summary.txt", "report.html", "endpoints.csv"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(
            text.contains("homework webhook") && text.contains("p95"),
            "{file}"
        );
    }
    // The token never reaches an artifact.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if let Ok(text) = std::fs::read_to_string(&path) {
            assert!(!text.contains("gander-test_TOKEN"), "{}", path.display());
        }
    }
    assert_complete_run_dir(&dir);
}

const LATER_GOOD: &str = r#"host: http://127.0.0.1:8080
load: { users: 5, duration: 5s }
sink: { listen: 127.0.0.1:9100 }
telegram: { webhook: /webhook, bot_api: 127.0.0.1:8081, token: "123:abc" }
scenarios:
  - name: s
    steps:
      - post: /orders
        capture: { order_id: { json: /id } }
      - await: { path: "/callback/${order_id}", within: 2s }
      - telegram: { text: /start }
        reply: { within: 2s, contains: Welcome }
      - sse: /events
        until: { events: 3, within: 3s }
"#;

fn check_text(text: &str) -> (i32, String) {
    let ws = Workspace::new();
    ws.write("scenario.yaml", text);
    let out = Command::new(gander_bin())
        .args(["check", "scenario.yaml"])
        .current_dir(ws.path())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn later_keys_are_checked_with_located_messages() {
    let (code, stderr) = check_text(LATER_GOOD);
    assert_eq!(code, 0, "{stderr}");
    let replace = |from: &str, to: &str| {
        assert!(LATER_GOOD.contains(from), "{from}");
        LATER_GOOD.replacen(from, to, 1)
    };
    let cases = [
        (
            replace("sink: { listen: 127.0.0.1:9100 }\n", ""),
            "scenario.yaml:9:16:",
            "await waits for a callback to the sink, and the file has no sink",
        ),
        (
            replace("listen: 127.0.0.1:9100", "listen: nine-one-hundred"),
            "scenario.yaml:3:17:",
            "listen \"nine-one-hundred\" is not an address to listen on",
        ),
        (
            replace("bot_api: 127.0.0.1:8081", "bot_api: 127.0.0.1:9100"),
            "scenario.yaml:4:41:",
            "bot_api and sink.listen are both 127.0.0.1:9100",
        ),
        (
            replace("token: \"123:abc\"", "token: \"abc\""),
            "scenario.yaml:4:64:",
            "token is not a bot token",
        ),
        (
            replace("telegram: { webhook", "telegram_: { webhook"),
            "scenario.yaml:4:1:",
            "unknown key \"telegram_\"",
        ),
        (
            replace(
                "telegram: { text: /start }",
                "telegram: { text: /start }\n        get: /x",
            ),
            "scenario.yaml:12:14:",
            "a step has both telegram and get; give one",
        ),
        (
            replace("telegram: { text: /start }", "telegram: { }"),
            "scenario.yaml:11:19:",
            "a telegram update needs one of text and callback",
        ),
        (
            replace("within: 2s, contains: Welcome", "within: 0s"),
            "scenario.yaml:12:26:",
            "within must be above 0",
        ),
        (
            replace("      - telegram: { text: /start }\n", "      - get: /x\n"),
            "scenario.yaml:12:16:",
            "reply belongs to a step that posts a Telegram update",
        ),
        (
            replace("until: { events: 3", "until: { events: 0"),
            "scenario.yaml:14:26:",
            "events must be 1 to 100000",
        ),
        (
            replace("sse: /events", "sse: ftp://x/events"),
            "scenario.yaml:13:14:",
            "sse \"ftp://x/events\" is not a path or an http(s) URL",
        ),
        (
            replace("within: 2s }", "within: 2s }\n        json: { a: 1 }"),
            "scenario.yaml:10:9:",
            "json does not go with await",
        ),
        (
            replace(
                "path: \"/callback/${order_id}\"",
                "path: \"callback/${order_id}\"",
            ),
            "scenario.yaml:10:24:",
            "the callback path \"callback/${order_id}\" does not start with /",
        ),
        (
            replace(
                "path: \"/callback/${order_id}\"",
                "path: \"/callback/${order}\"",
            ),
            "scenario.yaml:10:24:",
            "undefined variable \"order\"",
        ),
    ];
    let mut wrong = Vec::new();
    for (text, place, message) in cases {
        let (code, stderr) = check_text(&text);
        let first = stderr.lines().next().unwrap_or("");
        if code != 2 || !first.starts_with(place) || !first.contains(message) {
            wrong.push(format!(
                "expected {place} {message:?} and exit 2, got {code}: {first}"
            ));
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn sse_streams_are_timed_to_their_first_event_and_their_events_counted() {
    let (_app, host) =
        start_fixture(Command::new("python3").arg(fixtures().join("sse-app/app.py")));
    // The first event 200 ms after the request, then 4 more 100 ms apart, then done.
    let ws = Workspace::new();
    let scenario = format!(
        r#"host: {host}
load: {{ users: 4, iterations: 3 }}
scenarios:
  - name: watch
    steps:
      - name: progress
        sse: /progress?n=4&first_ms=200&every_ms=100
        until: {{ event: done, within: 3s }}
        capture: {{ result: {{ json: /result }} }}
      - name: first two
        sse: /progress?n=4&first_ms=200&every_ms=100
        until: {{ events: 2, within: 3s }}
      - name: too few
        sse: /progress?n=1&first_ms=0&every_ms=50
        until: {{ events: 5, within: 2s }}
"#
    );
    let out = ws.run(&scenario, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let run = out.json();
    let progress = endpoint(&run, "progress");
    assert_eq!(progress["method"], "SSE");
    assert_eq!(u(progress, "/stats/all/requests"), 12);
    assert_eq!(u(progress, "/stats/all/failed"), 0, "{}", run["errors"]);
    // Time to first event: never before the server's 200 ms, and close to it.
    let min = f(progress, "/stats/all/latency_ms/min");
    let p50 = f(progress, "/stats/all/latency_ms/p50");
    eprintln!("time to first event: min {min:.1} ms, p50 {p50:.1} ms against 200 ms");
    assert!(min >= 200.0, "{min}");
    assert!(p50 < 300.0, "{p50}");
    let streams = run["answers"]["streams"].as_array().unwrap();
    let stream = |name: &str| streams.iter().find(|s| s["name"] == name).unwrap();
    // Four progress events and done, per stream; the gaps are the server's 100 ms.
    assert_eq!(u(stream("progress"), "/streams"), 12);
    assert_eq!(u(stream("progress"), "/events"), 12 * 5);
    let gap = f(stream("progress"), "/gap_p50_ms");
    assert!((100.0..200.0).contains(&gap), "gap p50 {gap} ms");
    assert_eq!(u(stream("first two"), "/events"), 12 * 2);
    // A stream that ends before its count fails with what it got.
    let too_few = endpoint(&run, "too few");
    assert_eq!(u(too_few, "/stats/all/failed"), 12);
    let groups = run["errors"]["groups"].as_array().unwrap();
    assert!(
        groups.iter().any(|g| g["endpoint"] == "too few"
            && g["reason"] == "2 of 5 events within 2s (the stream ended)"),
        "{groups:?}"
    );
    assert_complete_run_dir(&out.run_dir());
}

/// Sends `n` sendMessage calls to one chat on one kept-alive connection.
fn flood(bot_api: u16, n: usize) -> usize {
    use std::io::{BufRead, BufReader, Read, Write};
    let stream = std::net::TcpStream::connect(("127.0.0.1", bot_api)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let text = "spam ".repeat(200);
    let body = format!("chat_id=-100&text={text}");
    let mut answered = 0;
    for _ in 0..n {
        let request = format!(
            "POST /bot123456:demo-homework-bot/sendMessage HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if writer.write_all(request.as_bytes()).is_err() {
            break;
        }
        let mut length = 0;
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut answer = vec![0; length];
        reader.read_exact(&mut answer).unwrap();
        answered += usize::from(status.contains(" 200 "));
    }
    answered
}

#[test]
fn the_demo_bot_answers_through_gander_and_a_flood_of_answers_is_bounded() {
    let bot_api = free_port();
    let sut = gander::DemoSut::start_with(
        &demo_program(),
        false,
        &["--bot-api".into(), format!("http://127.0.0.1:{bot_api}")],
    )
    .expect("the demo starts in bot mode");
    let file = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/homework-bot.yaml"
    ))
    .unwrap()
    .replace("127.0.0.1:8081", &format!("127.0.0.1:{bot_api}"));
    let ws = Workspace::new();
    // A bot gone wrong: thousands of answers to a chat no one waits in, while
    // the students' answers are timed.
    let flooder = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        flood(bot_api, 3000)
    });
    let out = ws.run(
        &file,
        &[
            "--host",
            &sut.url,
            "--users",
            "10",
            "--duration",
            "4s",
            "--ramp-up",
            "1s",
        ],
    );
    let flooded = flooder.join().unwrap();
    assert!(
        out.code == 0 || out.code == 1,
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/failed"), 0, "{}", run["errors"]);
    let replies: u64 = ["start", "send homework", "list homework"]
        .iter()
        .map(|name| u(endpoint(&run, name), "/stats/all/requests"))
        .sum();
    let webhooks: u64 = ["start", "send homework", "list homework"]
        .iter()
        .map(|name| {
            u(
                endpoint(&run, &format!("{name} webhook")),
                "/stats/all/requests",
            )
        })
        .sum();
    assert!(replies > 0);
    assert_eq!(replies, webhooks);
    let tg = &run["answers"]["telegram"];
    let messages = &tg["messages"];
    // Every flood call was answered; 32 are kept for the chat, the rest pushed
    // out and counted; the students' answers are all claimed.
    assert_eq!(flooded, 3000);
    assert_eq!(u(messages, "/arrived"), replies + 3000);
    assert_eq!(u(messages, "/claimed"), replies);
    assert_eq!(u(messages, "/dropped_per_key"), 3000 - 32);
    assert_eq!(u(messages, "/unclaimed"), 32);
    let notes = run["verdict"]["notes"].as_array().unwrap();
    assert!(
        notes.iter().any(|n| n
            .as_str()
            .unwrap()
            .contains("2968 dropped (2968 pushed out of a full chat")),
        "{notes:?}"
    );
    // The flood's 3 MB did not stay in gander's memory.
    let gander = run["resources"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "load_generator")
        .unwrap();
    let rss = gander["series"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == "rss_bytes")
        .flat_map(|s| {
            s["points"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p[1].as_f64().unwrap())
        })
        .fold(0.0, f64::max);
    assert!(rss > 0.0);
    assert!(rss < 200.0 * 1024.0 * 1024.0, "gander rss {rss}");
}

#[test]
fn a_python_telegram_bot_answers_through_gander_too() {
    let bot_api = free_port();
    let (_bot, host) = start_fixture(
        Command::new("python3")
            .arg(fixtures().join("ptb-bot/bot.py"))
            .args(["--api", &format!("http://127.0.0.1:{bot_api}")])
            .args(["--token", TOKEN]),
    );
    let ws = Workspace::new();
    let scenario = format!(
        r#"host: {host}
load: {{ users: 10, iterations: 3 }}
telegram: {{ webhook: /webhook, bot_api: "127.0.0.1:{bot_api}", token: "{TOKEN}" }}
scenarios:
  - name: student
    steps:
      - name: start
        telegram: {{ text: /start }}
        reply: {{ within: 5s, contains: Welcome }}
"#
    );
    let out = ws.run(&scenario, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let run = out.json();
    let reply = endpoint(&run, "start");
    assert_eq!(u(reply, "/stats/all/requests"), 30);
    assert_eq!(u(reply, "/stats/all/failed"), 0, "{}", run["errors"]);
    let methods = run["answers"]["telegram"]["methods"].as_array().unwrap();
    assert!(
        methods.iter().any(|m| m["method"] == "getMe"),
        "{methods:?}"
    );
}
