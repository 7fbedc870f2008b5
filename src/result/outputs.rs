//! What `--out` delivered: per destination, the samples sent and those that
//! never arrived (a full queue, a receiver down or slow), counted apart from
//! the run's own figures, which they never touch.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct OutputReport {
    /// `prometheus` (remote write 1.0).
    pub kind: String,
    /// Where to, userinfo and query values masked.
    pub url: String,
    /// Seconds between writes.
    pub interval_s: f64,
    /// Writes the receiver accepted, and the samples (histograms count one each) in them.
    pub writes_sent: u64,
    pub samples_sent: u64,
    /// Samples that never reached the receiver: `dropped_queue_full` + `dropped_failed`.
    pub samples_dropped: u64,
    /// Dropped because the bounded queue was full (the receiver slower than the run).
    pub dropped_queue_full: u64,
    /// Dropped because their write failed (refused, timed out, or answered with an error).
    pub dropped_failed: u64,
    /// The last failure, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_error: Option<String>,
}
