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

/// The README's first scenario passes `gander check` as printed (placed in
/// `scenarios/`, where its CSV path points).
#[test]
fn the_readme_scenario_checks() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let start = readme
        .find("```yaml\n")
        .expect("the README shows a scenario")
        + 8;
    let len = readme[start..].find("```").unwrap();
    let dir = tempfile::tempdir_in(root.join("scenarios")).unwrap();
    let file = dir.path().join("readme.yaml");
    let yaml = readme[start..start + len].replace("data/", "../data/");
    std::fs::write(&file, yaml).unwrap();
    let out = crate::common::gander(&[std::ffi::OsStr::new("check"), file.as_os_str()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
