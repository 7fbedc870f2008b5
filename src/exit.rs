//! Process exit codes, as documented in the README and DESIGN.md.

use crate::result::VerdictStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Every target met (or there were none).
    Pass = 0,
    /// At least one target failed.
    TargetFailed = 1,
    /// Usage, configuration or IO error.
    Usage = 2,
    /// The run is invalid: interrupted, or the load generator fell short.
    Invalid = 3,
}

impl Exit {
    pub fn from_verdict(status: VerdictStatus) -> Self {
        match status {
            VerdictStatus::Pass | VerdictStatus::NoTargets => Exit::Pass,
            VerdictStatus::Fail => Exit::TargetFailed,
            VerdictStatus::Invalid => Exit::Invalid,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}
