//! gander: load-testing and profiling harness for web services, on goose.
//!
//! The run is a pipeline, each box a module, data moving forward only:
//! `import` (an OpenAPI document or a HAR recording → a scenario file) →
//! `scenario` (file → `RunPlan`) → `runner` (goose users) and the observers
//! (`profile`, `sut`) → `record` (samples → figures) → `result` (the saved
//! run, plain data) → `merge` (N segments' runs → one run, exactly) →
//! `verdict` (with `compare`) → `report` (exporters) → exit code. `clock`, `signals`, `hist`, `store`, `format` and `redact` are the
//! shared pieces the boxes meet on; `commands` and `cli` drive the pipeline.

#[cfg(not(target_os = "linux"))]
compile_error!(
    "gander runs on Linux only: it samples processes from /proc, ties launched SUTs to its \
     life with prctl, and reads its own CPU from procfs"
);

pub mod bounded;
pub mod cli;
pub mod clock;
mod commands;
pub mod compare;
mod exit;
pub mod format;
pub mod hist;
mod import;
pub mod live;
pub mod merge;
pub mod net;
pub mod out;
pub mod profile;
pub mod record;
pub mod redact;
pub mod report;
pub mod result;
pub mod rlimit;
pub mod runner;
pub mod scenario;
pub mod signals;
pub mod sink;
pub mod store;
pub mod sut;
pub mod verdict;

pub use commands::demo::{DemoProgram, DemoSut};
pub use commands::run::{DEFAULT_BASELINE_LAST, RunRequest, Watch};
pub use exit::Exit;

/// Runs one scenario file as `request` says: load and check it, drive the
/// users while observing the SUT, judge the result, and write the run
/// directory. The CLI, `gander demo` and the tests all come through here.
pub fn run(request: &RunRequest) -> anyhow::Result<Exit> {
    commands::run::run(request)
}
