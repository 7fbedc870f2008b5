//! The integration tests, one binary (it links the crate once): each module
//! runs the real `gander` binary against real servers on 127.0.0.1.
//! nextest runs every test in its own process (goose keeps process-wide state).

mod common;

mod ab;
mod ab_baggage;
mod body_memory;
mod browser_smoke;
mod check;
mod cost;
mod cost_gate;
mod cost_report;
mod demo;
mod edge;
mod edge_http;
mod examples;
mod fault;
mod full_disk;
mod gate;
mod hostile;
mod import;
mod later;
mod live;
mod load_models;
mod observe;
mod one_p95;
mod pacing_ramp;
mod report;
mod report_frames;
mod run;
mod scale;
mod secrets;
mod tls;
mod trust;
mod websocket;
