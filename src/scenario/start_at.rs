//! `--start-at`: the common start of several generators, as written on the
//! command line (an RFC 3339 time or `+30s` from now).

use std::time::Duration;

use super::units::parse_duration;

/// A common start this far ahead is taken for a mistake.
pub const MAX_START_AHEAD: Duration = Duration::from_secs(24 * 3600);

/// Why a `--start-at` value was refused.
#[derive(Debug, thiserror::Error)]
pub enum StartAtError {
    #[error("\"{text}\": {reason}; expected e.g. +30s or +2m")]
    Offset { text: String, reason: String },
    #[error("\"{text}\": {reason}")]
    OutOfRange { text: String, reason: String },
    #[error(
        "\"{text}\" is not a time ({reason}): expected RFC 3339 with a zone, e.g. \
         2026-05-01T12:00:00Z (`date -u -d +1min +%FT%TZ` prints one), or +30s from now"
    )]
    NotATime { text: String, reason: String },
    #[error(
        "\"{text}\" is {hours} h from now, more than the {max_hours} h gander waits: is the date right?"
    )]
    TooFar {
        text: String,
        hours: u64,
        max_hours: u64,
    },
}

/// Reads `--start-at`: an RFC 3339 time (2026-05-01T12:00:00Z) or `+30s` from now.
pub fn parse_start_at(text: &str) -> Result<chrono::DateTime<chrono::Utc>, StartAtError> {
    let text = text.trim();
    let at = match text.strip_prefix('+') {
        Some(after) => {
            let d = parse_duration(after).map_err(|e| StartAtError::Offset {
                text: text.into(),
                reason: e.to_string(),
            })?;
            chrono::Utc::now()
                + chrono::TimeDelta::from_std(d).map_err(|e| StartAtError::OutOfRange {
                    text: text.into(),
                    reason: e.to_string(),
                })?
        }
        None => chrono::DateTime::parse_from_rfc3339(text)
            .map_err(|e| StartAtError::NotATime {
                text: text.into(),
                reason: e.to_string(),
            })?
            .with_timezone(&chrono::Utc),
    };
    let ahead = (at - chrono::Utc::now()).to_std().unwrap_or_default();
    if ahead > MAX_START_AHEAD {
        return Err(StartAtError::TooFar {
            text: text.into(),
            hours: ahead.as_secs() / 3600,
            max_hours: MAX_START_AHEAD.as_secs() / 3600,
        });
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_times_read_as_written_or_refused_with_an_example() {
        let far = (chrono::Utc::now() + chrono::TimeDelta::days(3)).to_rfc3339();
        assert!(
            parse_start_at(&far)
                .unwrap_err()
                .to_string()
                .contains("is the date right")
        );
        let soon = parse_start_at("+30s").unwrap();
        let ahead = (soon - chrono::Utc::now()).num_milliseconds();
        assert!((29_000..=30_000).contains(&ahead), "{ahead}");
        let past = parse_start_at("2020-01-01T00:00:00+02:00").unwrap();
        assert_eq!(past.to_rfc3339(), "2019-12-31T22:00:00+00:00");
        for bad in ["tomorrow", "12:00", "+soon", "2026-05-01 12:00:00"] {
            let e = parse_start_at(bad).unwrap_err().to_string();
            assert!(e.contains("e.g."), "{bad}: {e}");
        }
    }
}
