//! A disk that fills during the run (a small tmpfs, filled by the test while
//! the load goes): what fits is kept, the console summary is printed
//! whatever fails, what could not be written is said, and no `.tmp` file is
//! left behind.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(status.success(), "mount -t tmpfs needs root");
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Writes `path` until the disk refuses another byte.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![7u8; 64 << 10];
    while file.write_all(&block).is_ok() {}
    let _ = file.write_all(&block[..4096]);
    while file.write_all(&[7u8]).is_ok() {}
}

/// Starts a 6 s run writing under `out` and returns once its load has begun,
/// with the run directory.
fn start(server: &TestServer, ws: &Workspace, out: &Path) -> (std::process::Child, PathBuf) {
    let file = ws.write(
        "scenario.yaml",
        &format!(
            "host: {}\nload: {{ users: 4, duration: 6s }}\nscenarios:\n  - name: s\n    think_time: 5ms\n    steps:\n      - get: /fast\n",
            server.url()
        ),
    );
    let child = Command::new(gander_bin())
        .args(["run", file.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.seen.count("/fast") == 0 {
        assert!(Instant::now() < deadline, "no request sent");
        std::thread::sleep(Duration::from_millis(20));
    }
    let dir = std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .next()
        .expect("the run directory exists before the load")
        .path();
    (child, dir)
}

fn tmp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn a_disk_filled_mid_run_still_gets_the_final_run_json_and_the_summary() {
    let server = start_server();
    let ws = Workspace::new();
    let disk = SmallDisk::mount("16m");
    let (child, dir) = start(&server, &ws, disk.path());
    std::thread::sleep(Duration::from_millis(300));
    fill(&disk.path().join("filler"));
    let out = RunOutput::new(wait_bounded(child, Duration::from_secs(120)));
    // The space gander held for its last files took them: the run is complete.
    assert!(
        [0, 3].contains(&out.code),
        "exit {}\n{}\n{}",
        out.code,
        out.stdout,
        out.stderr
    );
    assert!(
        out.stdout.contains("requests"),
        "no summary:\n{}",
        out.stdout
    );
    assert_eq!(out.run_dir(), std::path::absolute(&dir).unwrap());
    assert_complete_run_dir(&dir);
    let run = out.json();
    assert_ne!(run["outcome"]["status"], "running", "{}", run["outcome"]);
    assert!(u(&run, "/totals/all/requests") > 0);
    assert_eq!(tmp_files(&dir), Vec::<String>::new());
    assert!(!dir.join(".gander.reserve").exists());
}

#[test]
fn a_disk_left_with_no_room_at_the_end_still_prints_the_summary_and_names_what_was_lost() {
    let server = start_server();
    let ws = Workspace::new();
    let disk = SmallDisk::mount("16m");
    let (child, dir) = start(&server, &ws, disk.path());
    std::thread::sleep(Duration::from_millis(300));
    // Another process takes every byte, the space gander held included.
    let _ = std::fs::remove_file(dir.join(".gander.reserve"));
    fill(&disk.path().join("filler"));
    let out = RunOutput::new(wait_bounded(child, Duration::from_secs(120)));
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    // The summary, whatever failed.
    assert!(
        out.stdout.contains("requests"),
        "no summary:\n{}",
        out.stdout
    );
    assert!(out.stdout.contains("run directory: "), "{}", out.stdout);
    for part in [
        "No space left on device",
        "report.html",
        "could not be written",
        "gander report DIR",
    ] {
        assert!(
            out.stderr.contains(part),
            "{part:?} not in:\n{}",
            out.stderr
        );
    }
    assert_eq!(tmp_files(&dir), Vec::<String>::new());
    // What fitted is kept: the run directory, its first checkpoint and log.
    assert!(dir.join("run.json").exists());
    assert!(dir.join("latency.hlog").exists());
}
