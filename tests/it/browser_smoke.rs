//! Proves the headless-Chromium driver in `common/browser.rs` works against
//! real pages loaded from file:// URLs.

use std::path::Path;
use std::time::Duration;

use crate::common::browser::Page;
use serde_json::json;

const SETTLE: Duration = Duration::from_millis(300);

fn write_page(dir: &Path, name: &str, html: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, html).unwrap();
    format!("file://{}", path.display())
}

#[test]
fn inline_script_eval_and_screenshot() {
    let dir = tempfile::tempdir().unwrap();
    let url = write_page(
        dir.path(),
        "ok.html",
        r#"<!doctype html><html><body><h1>ok</h1>
<script>document.body.dataset.ok = "yes";</script>
</body></html>"#,
    );
    let mut page = Page::open(&url, SETTLE).unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(page.eval("document.body.dataset.ok").unwrap(), json!("yes"));
    assert_eq!(page.eval("Promise.resolve(41 + 1)").unwrap(), json!(42));
    assert_eq!(page.eval("undefined").unwrap(), json!(null));
    let err = page.eval("nope()").unwrap_err();
    assert!(err.contains("ReferenceError"), "{err}");

    let seen = page.seen();
    assert_eq!(seen.requests, vec![url.clone()], "{seen:#?}");
    assert!(seen.console_errors.is_empty(), "{seen:#?}");
    assert!(seen.dialogs.is_empty(), "{seen:#?}");

    let png = dir.path().join("shot.png");
    page.screenshot(&png).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
}

#[test]
fn external_request_errors_and_dialogs_are_seen() {
    let dir = tempfile::tempdir().unwrap();
    let url = write_page(
        dir.path(),
        "bad.html",
        r#"<!doctype html><html><body>
<img src="http://example.invalid/x.png">
<script>console.error("boom");</script>
<script>alert("hi");</script>
<script>throw new Error("bad");</script>
</body></html>"#,
    );
    let page = Page::open(&url, SETTLE).unwrap_or_else(|e| panic!("{e}"));
    let seen = page.seen();

    assert_eq!(seen.requests.first(), Some(&url), "{seen:#?}");
    assert!(
        seen.requests
            .iter()
            .any(|r| r == "http://example.invalid/x.png"),
        "{seen:#?}"
    );
    assert!(
        seen.console_errors.iter().any(|e| e.contains("boom")),
        "{seen:#?}"
    );
    assert!(
        seen.console_errors.iter().any(|e| e.contains("Error: bad")),
        "{seen:#?}"
    );
    assert_eq!(seen.dialogs, vec!["hi".to_string()], "{seen:#?}");
}

#[test]
fn missing_file_is_an_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}/missing.html", dir.path().display());
    let err = Page::open(&url, SETTLE)
        .err()
        .expect("opening a missing file must fail");
    assert!(err.contains("ERR_FILE_NOT_FOUND"), "{err}");
}
