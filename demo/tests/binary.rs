//! The `gander-demo` executable as gander starts it: it prints where it listens,
//! answers on that address, and stops cleanly on SIGTERM.
//!
//! Being an integration test of this package, it also makes
//! `cargo nextest run --workspace` (and `cargo test --workspace`) build the
//! `target/<profile>/gander-demo` executable that gander's own tests start.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the child if a check fails before it is stopped on purpose.
struct Sut(std::process::Child);

impl Drop for Sut {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("the demo accepts connections");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn the_binary_serves_on_the_address_it_prints_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gander-demo"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("gander-demo starts");
    let stdout = child.stdout.take().unwrap();
    let mut sut = Sut(child);

    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    assert!(first.contains("(optimized)"), "{first}");
    let addr = url.trim_start_matches("http://");

    let health = get(addr, "/api/v1/health/detailed");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(
        health
            .to_ascii_lowercase()
            .contains("\r\nserver-timing: db;dur=")
    );
    let missing = get(addr, "/no/such/path");
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");

    // SAFETY: kill() sends a signal to a child this test owns.
    assert_eq!(
        unsafe { libc::kill(sut.0.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = sut.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "gander-demo ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}
