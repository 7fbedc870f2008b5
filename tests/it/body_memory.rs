//! Body checks against answers far larger than anything should hold: 200
//! users, each reading a 2 GiB chunked answer, under a 3 GiB address-space
//! cap. A `body_contains` streams (gander stays small and the run ends with
//! its directory); a JSON check, which must hold each body, is refused by
//! `check` with the figure instead of killing the run.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use crate::common::*;

const USERS: u64 = 200;
const MAX_BODY_MIB: u64 = 16;
const CAP: &str = "--as=3221225472";

/// Answers every request with a 2 GiB chunked body of `x`, until the client hangs up.
fn start_chunked() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || serve(conn));
        }
    });
    url
}

fn serve(conn: TcpStream) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" {
                break;
            }
        }
        if chunked_2gib(&mut out).is_err() {
            return;
        }
    }
}

fn chunked_2gib(out: &mut TcpStream) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
    )?;
    let chunk = vec![b'x'; 64 << 10];
    let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
    frame.extend_from_slice(&chunk);
    frame.extend_from_slice(b"\r\n");
    for _ in 0..(2u64 << 30) / chunk.len() as u64 {
        out.write_all(&frame)?;
    }
    out.write_all(b"0\r\n\r\n")?;
    out.flush()
}

fn scenario(url: &str, expect: &str) -> String {
    format!(
        r#"host: {url}
load: {{ users: {USERS}, iterations: 1 }}
defaults: {{ max_body: {MAX_BODY_MIB}MiB, timeout: 60s }}
scenarios:
  - name: reader
    steps:
      - name: huge
        get: /huge
        expect: {expect}
"#
    )
}

/// `gander ARGS` under the address-space cap, bounded in time.
fn capped(args: &[&str]) -> RunOutput {
    let child = Command::new("prlimit")
        .arg(CAP)
        .arg(gander_bin())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("prlimit starts");
    RunOutput::new(wait_bounded(child, Duration::from_secs(180)))
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

#[test]
fn a_streamed_body_check_holds_no_body_under_an_address_space_cap() {
    let url = start_chunked();
    let ws = Workspace::new();
    let file = ws.write(
        "scenario.yaml",
        &scenario(&url, r#"{ body_contains: "never there" }"#),
    );
    let reports = ws.reports();
    let out = capped(&[
        "run",
        file.to_str().unwrap(),
        "-o",
        reports.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(
        [0, 1, 3].contains(&out.code),
        "exit {}: {}\n{}",
        out.code,
        out.stdout,
        out.stderr
    );
    let dir = out.run_dir();
    assert_complete_run_dir(&dir);
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/requests"), USERS);
    assert_eq!(u(&run, "/totals/all/failed"), USERS);
    let reasons = run["errors"]["groups"].to_string();
    assert!(
        reasons.contains(&format!(
            "body over {MAX_BODY_MIB}.0 MiB: raise max_body or drop the check"
        )),
        "{reasons}"
    );
    let peak = children_peak_rss_mib();
    let held = USERS * MAX_BODY_MIB;
    eprintln!("gander's peak RSS: {peak} MiB; holding every body would be {held} MiB");
    // Not users × max_body: a tenth of it is far above what a stream needs.
    assert!(peak < held / 10, "gander reached {peak} MiB");
}

#[test]
fn a_json_check_that_would_hold_users_times_max_body_is_refused_with_the_figure() {
    let url = start_chunked();
    let ws = Workspace::new();
    let file = ws.write(
        "scenario.yaml",
        &scenario(&url, r#"{ json: [{ pointer: /id, exists: true }] }"#),
    );
    let out = capped(&["check", file.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    let err = &out.stderr;
    for part in [
        "scenario.yaml:9:26:",
        "200 users may each hold a 16.0 MiB body here",
        "more than the 3.0 GiB gander may use here (its address-space limit, ulimit -v)",
        "lower this step's max_body",
    ] {
        assert!(err.contains(part), "{part:?} not in:\n{err}");
    }
    // Without the cap the same file fits this machine's memory.
    let fits = gander(&["check", file.to_str().unwrap()]);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total_mib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .map_or(0, |kb: u64| kb / 1024);
    if total_mib > 2 * USERS * MAX_BODY_MIB {
        assert_eq!(
            fits.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&fits.stderr)
        );
    }
}
