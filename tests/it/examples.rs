//! Every bundled scenario file passes `gander check`.

#[test]
fn bundled_scenarios_check() {
    let files: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    assert!(!files.is_empty());
    let mut args = vec![std::ffi::OsString::from("check")];
    args.extend(files.iter().map(|p| p.clone().into_os_string()));
    let out = crate::common::gander(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().filter(|l| l.contains(": ok (")).count(),
        files.len()
    );
}
