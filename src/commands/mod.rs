//! The subcommands that do more than one step: `run` and `compare`.

pub mod compare;
pub mod run;
