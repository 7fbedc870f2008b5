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

/// What the frames of `frames.html` say, from inside sandboxed `data:` iframes
/// set up as the report sets up its flame graphs, and from a same-origin one:
/// the driver must hear all of it, wherever Chromium runs the frame, and
/// evaluate inside each frame.
#[test]
fn errors_inside_sandboxed_data_iframes_are_seen() {
    let dir = tempfile::tempdir().unwrap();
    // An SVG document like inferno's: its own script runs on load, and one
    // attribute Chromium refuses (the message the report once printed).
    let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" width="300" height="40" onload="init()">
<script>function init() { console.error("svg frame error"); console.warn("svg frame warning");
document.documentElement.setAttribute("width", "-12"); }</script>
<rect id="r" width="10" height="10"/></svg>"#;
    let html = format!(
        r#"<!doctype html><html><body>
<iframe id="svg" sandbox="allow-scripts"></iframe>
<iframe id="html" sandbox="allow-scripts"></iframe>
<iframe id="inline" srcdoc="<script>console.error('same-origin frame error')</script>"></iframe>
<script>
document.getElementById("svg").src =
  "data:image/svg+xml;charset=utf-8," + encodeURIComponent({svg});
document.getElementById("html").src = "data:text/html," + encodeURIComponent(
  "<script>setTimeout(() => {{ throw new Error('html frame throws'); }}, 0)<\/script>");
</script>
</body></html>"#,
        svg = format!("{svg:?}").replace("</", "<\\/")
    );
    let url = write_page(dir.path(), "frames.html", &html);
    let mut page = Page::open(&url, Duration::from_millis(1000)).unwrap_or_else(|e| panic!("{e}"));
    let seen = page.seen().clone();
    eprintln!("attached child targets: {:?}", seen.attached);

    for (what, list) in [
        ("svg frame error", &seen.console_errors),
        ("svg frame warning", &seen.console_warnings),
        (
            "<svg> attribute width: A negative value",
            &seen.console_errors,
        ),
        ("Error: html frame throws", &seen.console_errors),
        ("same-origin frame error", &seen.console_errors),
    ] {
        assert_eq!(
            list.iter().filter(|e| e.contains(what)).count(),
            1,
            "{what}: {seen:#?}"
        );
    }
    assert!(
        !seen
            .console_errors
            .iter()
            .any(|e| e.starts_with("[driver]")),
        "{seen:#?}"
    );
    // Chromium runs the sandboxed (opaque-origin) frames in their own
    // processes, the same-origin one in the page's: only two child targets.
    assert_eq!(
        seen.attached
            .iter()
            .filter(|a| a.starts_with("iframe data:"))
            .count(),
        2,
        "{seen:#?}"
    );
    // Out of process or not, each frame is reached and answers from inside.
    let mut inside = page
        .eval_in_frames("document.documentElement.localName + ' ' + location.protocol")
        .unwrap();
    inside.sort_by_key(|v| v.to_string());
    assert_eq!(
        inside,
        vec![
            json!("html about:"),
            json!("html data:"),
            json!("svg data:")
        ]
    );
    // The top frame cannot look inside (the frames' origins are opaque).
    assert_eq!(
        page.eval("(() => { try { return document.getElementById('svg').contentDocument === null; } catch (e) { return true; } })()")
            .unwrap(),
        json!(true)
    );
}
