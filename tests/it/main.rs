//! The integration tests, one binary (it links the crate once): each module
//! runs the real `gander` binary against real servers on 127.0.0.1.
//! nextest runs every test in its own process (goose keeps process-wide state).

mod common;

mod browser_smoke;
mod check;
mod cost;
mod demo;
mod examples;
mod gate;
mod hostile;
mod import;
mod load_models;
mod observe;
mod report;
mod run;
mod scale;
mod secrets;
mod tls;
mod trust;
mod websocket;
