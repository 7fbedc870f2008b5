//! A server that attacks its client: a 2 GiB body, gzip bombs as responses,
//! as a metrics page and as a pprof profile, a Set-Cookie storm and a flood of
//! Server-Timing names. gander must end every such run with its directory
//! complete, the reason named, and its memory under a stated bound.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, OnceLock};

use crate::common::*;

/// What gander may use at most while 50 users read hostile answers.
const RSS_BOUND_MIB: u64 = 300;

/// 1 GiB of zeros, gzip-compressed to about 1 MiB: built once per process.
fn bomb() -> &'static [u8] {
    static BOMB: OnceLock<Vec<u8>> = OnceLock::new();
    BOMB.get_or_init(|| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..1024 {
            encoder.write_all(&zeros).unwrap();
        }
        encoder.finish().unwrap()
    })
}

/// A raw HTTP/1.1 server on 127.0.0.1, one thread per connection.
struct Hostile {
    url: String,
}

fn start_hostile() -> Hostile {
    let bomb: Arc<[u8]> = bomb().into();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let bomb = bomb.clone();
            std::thread::spawn(move || serve(conn, &bomb));
        }
    });
    Hostile { url }
}

/// Answers requests on one connection until the client goes.
fn serve(conn: TcpStream, bomb: &[u8]) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut out = conn;
    let mut counter = 0u64;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        // Skip the request's headers (bodies are not sent to these paths).
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("/");
        let path = path.split('?').next().unwrap_or(path);
        counter += 1;
        let sent = match path {
            "/huge" => huge_body(&mut out),
            "/bomb" | "/metrics" => answer(&mut out, "Content-Encoding: gzip\r\n", bomb),
            "/pprof" => answer(&mut out, "Content-Type: application/octet-stream\r\n", bomb),
            "/cookies" => {
                let storm: String = (0..50)
                    .map(|i| format!("Set-Cookie: c{counter}x{i}={}\r\n", "v".repeat(100)))
                    .collect();
                let timings: Vec<String> =
                    (0..20).map(|i| format!("t{counter}x{i};dur=1")).collect();
                let head = format!("{storm}Server-Timing: {}\r\n", timings.join(", "));
                answer(&mut out, &head, b"ok")
            }
            _ => answer(&mut out, "", b"ok"),
        };
        if sent.is_err() {
            return;
        }
    }
}

fn answer(out: &mut TcpStream, headers: &str, body: &[u8]) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{headers}\r\n",
        body.len()
    )?;
    out.write_all(body)?;
    out.flush()
}

/// 2 GiB announced and sent until the client hangs up.
fn huge_body(out: &mut TcpStream) -> std::io::Result<()> {
    let total: u64 = 2 << 30;
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Length: {total}\r\nContent-Type: application/octet-stream\r\n\r\n"
    )?;
    let chunk = vec![b'x'; 64 << 10];
    let mut sent = 0;
    while sent < total {
        out.write_all(&chunk)?;
        sent += chunk.len() as u64;
    }
    Ok(())
}

/// The largest resident size any waited-for child of this test reached, in MiB.
fn children_peak_rss_mib() -> u64 {
    // SAFETY: getrusage writes into the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage), 0);
        usage
    };
    usage.ru_maxrss as u64 / 1024
}

fn reason_count(run: &serde_json::Value, reason: &str) -> u64 {
    run["errors"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == reason)
        .map(|e| e["count"].as_u64().unwrap())
        .sum()
}

#[test]
fn huge_bodies_and_gzip_bombs_fail_their_requests_and_gander_stays_small() {
    let server = start_hostile();
    let ws = Workspace::new();
    let me = std::process::id();
    let scenario = format!(
        r#"host: {url}
load: {{ users: 50, iterations: 2 }}
sut:
  pid: {me}
  prometheus: {{ url: /metrics }}
profile: {{ pprof: /pprof }}
scenarios:
  - name: reader
    steps:
      - {{ name: huge, get: /huge }}
      - name: bomb
        get: /bomb
        expect: {{ body_contains: "never there" }}
"#,
        url = server.url
    );
    let out = ws.run(&scenario, &["--quiet"]);
    let dir = out.run_dir();
    assert_complete_run_dir(&dir);
    let run = out.json();
    // PASS/FAIL, or INVALID when the machine starved the generator: never a crash.
    assert!(
        [0, 1, 3].contains(&out.code),
        "exit {}: {}",
        out.code,
        run["verdict"]
    );
    assert_eq!(u(&run, "/totals/all/requests"), 200);
    assert_eq!(u(&run, "/totals/all/failed"), 200);
    assert_eq!(
        reason_count(&run, "body over 8.0 MiB: raise max_body"),
        100,
        "{}",
        run["errors"]
    );
    assert_eq!(
        reason_count(&run, "body over 8.0 MiB: raise max_body or drop the check"),
        100,
        "{}",
        run["errors"]
    );
    let profile = &run["profile"];
    assert_eq!(profile["status"], "missing", "{profile}");
    assert!(
        profile["reason"]
            .as_str()
            .unwrap()
            .contains("once decompressed (a gzip bomb?)"),
        "{profile}"
    );
    let resources = run["resources"].to_string();
    assert!(
        resources.contains("/metrics: the answer is over 64.0 MiB, decoded"),
        "{resources}"
    );
    let peak = children_peak_rss_mib();
    eprintln!("gander's peak RSS: {peak} MiB");
    assert!(peak < RSS_BOUND_MIB, "gander reached {peak} MiB");
}

#[test]
fn set_cookie_storms_and_server_timing_floods_are_bounded() {
    let server = start_hostile();
    let ws = Workspace::new();
    let scenario = format!(
        r#"host: {url}
load: {{ users: 5, iterations: 100 }}
server_headers: [Server-Timing]
scenarios:
  - name: storm
    steps:
      - {{ name: cookies, get: /cookies }}
"#,
        url = server.url
    );
    let out = ws.run(&scenario, &["--quiet"]);
    assert_complete_run_dir(&out.run_dir());
    let run = out.json();
    assert!(
        [0, 3].contains(&out.code),
        "exit {}: {}",
        out.code,
        run["verdict"]
    );
    assert_eq!(u(&run, "/totals/all/requests"), 500);
    // 2,000 distinct Server-Timing names were sent: the first 32 are kept, the
    // rest counted as one "other".
    let headers = endpoint(&run, "cookies")["stats"]["all"]["server_headers"]
        .as_object()
        .unwrap_or_else(|| panic!("{}", endpoint(&run, "cookies")));
    let names: Vec<&String> = headers.keys().collect();
    assert_eq!(
        names.len(),
        gander::record::MAX_TIMING_NAMES + 1,
        "{names:?}"
    );
    assert!(headers.contains_key("Server-Timing other"), "{names:?}");
    let peak = children_peak_rss_mib();
    eprintln!("gander's peak RSS: {peak} MiB");
    assert!(peak < RSS_BOUND_MIB, "gander reached {peak} MiB");
}

/// A FIFO or `/dev/zero` where a file is read (an OpenAPI document, a `$ref`
/// it names, a HAR, a run's run.json) is refused at once with what it is:
/// never a hang waiting for a writer, never a read that fills the memory.
#[test]
fn a_fifo_or_dev_zero_where_a_file_is_read_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo reads a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let doc = dir.path().join("api.yaml");
    std::fs::write(
        &doc,
        "openapi: 3.0.0\ninfo: { title: t, version: '1' }\npaths:\n  /a:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: { $ref: 'fifo#/Thing' }\n",
    )
    .unwrap();
    let run_dir = dir.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    std::os::unix::fs::symlink("/dev/zero", run_dir.join("run.json")).unwrap();
    let fifo = fifo.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["import", "openapi", "/dev/zero"], "character device"),
        (&["import", "openapi", fifo], "FIFO"),
        (&["import", "openapi", doc.to_str().unwrap()], "FIFO"),
        (&["import", "har", fifo], "FIFO"),
        (&["report", run_dir.to_str().unwrap()], "character device"),
    ];
    for (args, said) in cases {
        let started = std::time::Instant::now();
        let out = crate::common::gander(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{args:?} took {:?}",
            started.elapsed()
        );
    }
}
