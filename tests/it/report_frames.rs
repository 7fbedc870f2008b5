//! The flame graphs of a real profiled run, as Chromium draws them: the
//! report's sandboxed frames and the SVG files themselves, at a desktop and a
//! phone width, with every frame's console heard (issue 27: a flame graph once
//! logged `<svg> attribute width: A negative value is not valid`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::browser::Page;
use crate::common::{RunOutput, Workspace, gander};

/// A desktop window and a phone's: the negative width came from layout.
const VIEWPORTS: [(u32, u32); 2] = [(1280, 900), (360, 740)];

/// What a flame graph's document says of its drawing, asked from inside it.
const SVG_PROBE: &str = r#"(() => {
  const svg = document.querySelector("svg");
  if (!svg) return { svg: false, url: location.href.slice(0, 40) };
  const frames = document.getElementById("frames");
  const rects = Array.from(document.querySelectorAll("rect"));
  return {
    svg: true,
    width_attr: Number(svg.getAttribute("width")),
    width: svg.width.baseVal.value,
    drawn_width: svg.getBoundingClientRect().width,
    frames_width: frames ? Number(frames.getAttribute("width")) : null,
    rects: rects.length,
    negative_rects: rects.filter((r) => r.width.baseVal.value < 0).length,
  };
})()"#;

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.canonicalize().unwrap().display())
}

/// A `gander demo` run of a short steady state, profiled (the demo profiles
/// itself); it must have produced a flame graph.
fn profiled_demo_run(out: &Path, extra: &[&str]) -> RunOutput {
    let mut args = vec!["demo", "-d", "5s", "-q", "-o", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let run = RunOutput::new(gander(&args));
    assert!(
        run.code <= 1,
        "exit {}: {}\n{}",
        run.code,
        run.stdout,
        run.stderr
    );
    let json = run.json();
    assert_eq!(json["profile"]["status"], "ok", "{}", json["profile"]);
    assert!(json["profile"]["files"]["flamegraph"].is_string());
    run
}

/// Asserts one flame graph document's drawing is there and positive.
fn assert_drawn(what: &str, probe: &Value) {
    assert_eq!(probe["svg"], true, "{what}: no <svg>: {probe}");
    for key in ["width_attr", "width", "drawn_width", "frames_width"] {
        let v = probe[key].as_f64();
        assert!(v.is_some_and(|v| v > 0.0), "{what}: {key} {probe}");
    }
    assert!(probe["rects"].as_u64().unwrap() > 1, "{what}: {probe}");
    assert_eq!(probe["negative_rects"], 0, "{what}: {probe}");
}

/// Asserts nothing in any frame logged an error or a warning.
fn assert_silent(what: &str, page: &Page) {
    let seen = page.seen();
    assert!(
        seen.console_errors.is_empty() && seen.console_warnings.is_empty(),
        "{what}: errors {:#?}\nwarnings {:#?}",
        seen.console_errors,
        seen.console_warnings
    );
    assert!(seen.dialogs.is_empty(), "{what}: {:?}", seen.dialogs);
}

/// Opens the report at `viewport` and waits (bounded) until both flame graphs
/// are unpacked and each frame holds its SVG; returns what each frame said.
fn report_frames(report: &Path, viewport: (u32, u32)) -> (Page, Vec<Value>) {
    let url = file_url(report);
    let mut page = Page::open_sized(&url, Duration::from_millis(1000), viewport)
        .expect("Chromium opens the report");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let loaded = page
            .eval("document.querySelectorAll('iframe.flame[data-loaded=yes]').length")
            .unwrap();
        let frames = page.eval_in_frames(SVG_PROBE).unwrap();
        if loaded == 2 && frames.len() == 2 && frames.iter().all(|f| f["svg"] == true) {
            // What the frames' scripts do after load comes in now.
            page.settle(Duration::from_millis(1000)).unwrap();
            return (page, frames);
        }
        assert!(
            Instant::now() < deadline,
            "{viewport:?}: {loaded} flame graphs unpacked, frames {frames:?}, attached {:?}",
            page.seen().attached
        );
        page.settle(Duration::from_millis(200)).unwrap();
    }
}

#[test]
fn flame_graphs_draw_with_a_positive_width_and_no_console_word_in_any_frame() {
    let ws = Workspace::new();
    let base = profiled_demo_run(&ws.path().join("base"), &[]);
    let base_dir = base.run_dir();
    let new = profiled_demo_run(
        &ws.path().join("new"),
        &["--baseline", base_dir.to_str().unwrap()],
    );
    let dir = new.run_dir();
    let report = dir.join("report.html");

    for viewport in VIEWPORTS {
        let what = format!("report.html at {viewport:?}");
        let (mut page, frames) = report_frames(&report, viewport);
        eprintln!(
            "{what}: frames {frames:?}; child targets {:?}",
            page.seen().attached
        );
        for frame in &frames {
            assert_drawn(&what, frame);
        }
        // Each graph is drawn at its own size, not shrunk into a narrow frame
        // (which left a strip under blank space): the frame is as wide as the
        // SVG, and its box scrolls sideways inside the window.
        for frame in &frames {
            assert!(
                frame["drawn_width"].as_f64() >= frame["width"].as_f64(),
                "{what}: {frame}"
            );
        }
        let boxes = page
            .eval(
                "Array.from(document.querySelectorAll('iframe.flame')).map((f) => { \
                 const r = f.getBoundingClientRect(), p = f.parentElement.getBoundingClientRect(); \
                 return [r.width, p.left, p.right, document.documentElement.clientWidth]; })",
            )
            .unwrap();
        for (b, frame) in boxes.as_array().unwrap().iter().zip(&frames) {
            let [width, left, right, window] = [0, 1, 2, 3].map(|i| b[i].as_f64().unwrap());
            assert!(width >= frame["width"].as_f64().unwrap(), "{what}: {boxes}");
            assert!(left >= 0.0 && right <= window, "{what}: {boxes}");
        }
        // Scrolled into view, each frame paints; then nothing was said anywhere.
        page.eval(
            "new Promise((done) => { document.querySelectorAll('iframe.flame')[1].scrollIntoView(); \
             requestAnimationFrame(() => requestAnimationFrame(done)); })",
        )
        .unwrap();
        page.settle(Duration::from_millis(500)).unwrap();
        let shot = artifacts().join(format!("report-flame-{}px.png", viewport.0));
        page.screenshot_viewport(&shot).expect("screenshot");
        assert_silent(&what, &page);
    }

    // `gander compare` writes its differential flame graph as a file; it and
    // the run's own flame graph, opened as they are, draw silently too.
    let out = ws.path().join("cmp");
    let compared = gander(&[
        "compare",
        base_dir.to_str().unwrap(),
        dir.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&compared.stdout);
    assert!(
        compared.status.code().is_some_and(|c| c <= 1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&compared.stderr)
    );
    // The first per-request flame graph (the demo labels its samples by request).
    let by_request = new.json()["profile"]["by_request"][0]["flamegraph"]
        .as_str()
        .map(|f| dir.join(f));
    let svgs = [out.join("flamegraph-diff.svg"), dir.join("flamegraph.svg")];
    for svg in svgs.into_iter().chain(by_request) {
        for viewport in VIEWPORTS {
            let what = format!("{} at {viewport:?}", svg.display());
            let mut page = Page::open_sized(&file_url(&svg), Duration::from_millis(1000), viewport)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let probe = page.eval(SVG_PROBE).unwrap();
            eprintln!("{what}: {probe}");
            assert_drawn(&what, &probe);
            assert_silent(&what, &page);
        }
        assert_drawn_in_a_frame_that_opens_later(&svg, ws.path());
    }
}

/// A flame graph loaded into a sandboxed frame of no width (a section not yet
/// shown), the frame then opened: where inferno's fluid drawing set the
/// negative width the issue saw. Nothing is said, and the drawing is positive.
fn assert_drawn_in_a_frame_that_opens_later(svg: &Path, dir: &Path) {
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD.encode(std::fs::read(svg).unwrap());
    let page_file = dir.join("closed-frame.html");
    std::fs::write(
        &page_file,
        format!(
            r#"<!doctype html><html><body>
<iframe id="f" sandbox="allow-scripts" style="display:block;width:0;height:0;border:0"
  src="data:image/svg+xml;base64,{data}"></iframe></body></html>"#
        ),
    )
    .unwrap();
    let what = format!("{} in a frame opened after load", svg.display());
    let mut page = Page::open(&file_url(&page_file), Duration::from_millis(1000))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    page.eval(
        "new Promise((done) => { const f = document.getElementById('f'); \
         f.style.width = '1204px'; f.style.height = '600px'; \
         requestAnimationFrame(() => requestAnimationFrame(done)); })",
    )
    .unwrap();
    page.settle(Duration::from_millis(500)).unwrap();
    let frames = page.eval_in_frames(SVG_PROBE).unwrap();
    assert_eq!(frames.len(), 1, "{what}: {frames:?}");
    assert_silent(&what, &page);
    assert_drawn(&what, &frames[0]);
}
