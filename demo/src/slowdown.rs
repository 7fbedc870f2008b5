//! A controlled slowdown of one route, so the power of a regression gate can
//! be measured on effects users care about (+20 % on one endpoint's p95), not
//! only on the 10x of the unoptimized demo.
//!
//! `--slowdown "GET /api/bookings/{id}=2.5ms"` adds 2.5 ms to every answer of
//! that route; `=30%` adds 30 % of the time the route took; `=30%cpu` burns
//! 30 % more CPU than the route's handler used (a CPU regression: the cost
//! per request rises, the wait only as much as that CPU takes); `=0.3mscpu` burns
//! a fixed 0.3 ms of CPU (benches size it from the route's measured CPU per
//! request, so that figure rises by a known share). `?param` after the
//! path narrows it to requests whose query carries that parameter
//! (`GET /api/bookings?status=2ms`: the salon scenario's "list bookings" only).
//! A delay is waited at the end of the request's database work, on the
//! blocking thread that does it, as a slower query would (an extra hand-off
//! to another thread would add its own wake-ups: on a busy 2-core machine
//! several times the delay). A share, which needs the route's time, is waited
//! on a blocking thread after the handler; `%cpu` is burnt on the request's
//! own thread. All fall inside the time the `X-Request-Time` and
//! `Server-Timing` headers report.

use std::str::FromStr;
use std::time::Duration;

/// How much slower a route answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Extra {
    /// A fixed delay.
    Fixed(Duration),
    /// A share of the time the route took (0.3: 30 %).
    Share(f64),
    /// A share of the CPU time the route's handler used, burnt as CPU.
    CpuShare(f64),
    /// A fixed CPU time, burnt.
    CpuFixed(Duration),
}

/// One `--slowdown` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Slowdown {
    /// `GET /api/bookings/{id}`: the method and the route as the router matches it.
    pub route: String,
    /// Only requests whose query has this parameter.
    pub param: Option<String>,
    pub extra: Extra,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SlowdownError {
    #[error(
        "expected ROUTE=AMOUNT, e.g. \"GET /api/bookings/{{id}}=2ms\" or \"POST /api/bookings=30%\""
    )]
    NoEquals,
    #[error("the route must be a method and a path, e.g. \"GET /api/stats\", not {0:?}")]
    Route(String),
    #[error(
        "the amount must be a delay (\"2.5ms\", \"1s\"), a share of the route's time (\"30%\") or of its CPU (\"30%cpu\"), or CPU to burn (\"0.3mscpu\"), not {0:?}"
    )]
    Amount(String),
}

impl FromStr for Slowdown {
    type Err = SlowdownError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (target, amount) = text.rsplit_once('=').ok_or(SlowdownError::NoEquals)?;
        let (method, path) = target
            .trim()
            .split_once(' ')
            .filter(|(m, p)| !m.is_empty() && p.trim().starts_with('/'))
            .ok_or_else(|| SlowdownError::Route(target.trim().to_string()))?;
        let (path, param) = match path.trim().split_once('?') {
            Some((path, param)) => (path, Some(param.to_string())),
            None => (path.trim(), None),
        };
        Ok(Slowdown {
            route: format!("{} {path}", method.to_ascii_uppercase()),
            param,
            extra: amount.trim().parse()?,
        })
    }
}

impl FromStr for Extra {
    type Err = SlowdownError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || SlowdownError::Amount(text.to_string());
        let number = |s: &str| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| *v >= 0.0 && v.is_finite())
        };
        if let Some(share) = text.strip_suffix("%cpu") {
            return number(share)
                .map(|p| Extra::CpuShare(p / 100.0))
                .ok_or_else(bad);
        }
        if let Some(share) = text.strip_suffix('%') {
            return number(share)
                .map(|p| Extra::Share(p / 100.0))
                .ok_or_else(bad);
        }
        let (text, cpu) = match text.strip_suffix("cpu") {
            Some(time) => (time, true),
            None => (text, false),
        };
        let (digits, scale) = if let Some(ms) = text.strip_suffix("ms") {
            (ms, 1e-3)
        } else if let Some(us) = text.strip_suffix("us") {
            (us, 1e-6)
        } else if let Some(s) = text.strip_suffix('s') {
            (s, 1.0)
        } else {
            return Err(bad());
        };
        let time = number(digits)
            .map(|v| Duration::from_secs_f64(v * scale))
            .ok_or_else(bad)?;
        Ok(if cpu {
            Extra::CpuFixed(time)
        } else {
            Extra::Fixed(time)
        })
    }
}

impl Slowdown {
    /// Whether a request to `route` with `query` is slowed by this rule.
    pub fn applies(&self, route: &str, query: Option<&str>) -> bool {
        route == self.route
            && self.param.as_deref().is_none_or(|param| {
                query.is_some_and(|q| {
                    q.split('&')
                        .any(|pair| pair.split('=').next() == Some(param))
                })
            })
    }

    /// The delay the request's database work is to wait (a fixed delay; the
    /// others are known only once the handler is done).
    pub fn wait_in_work(&self) -> Option<Duration> {
        match self.extra {
            Extra::Fixed(d) => Some(d),
            _ => None,
        }
    }

    /// Slows down a request that took `took` of wall time and `cpu` of its
    /// handler's CPU time; `unspent` is what is left of `wait_in_work` (a
    /// route that did no database work).
    pub async fn apply(&self, took: Duration, cpu: Duration, unspent: Duration) {
        match self.extra {
            Extra::Fixed(_) => wait(unspent).await,
            Extra::Share(share) => wait(took.mul_f64(share)).await,
            Extra::CpuShare(share) => crate::cputime::burn(cpu.mul_f64(share)),
            Extra::CpuFixed(amount) => crate::cputime::burn(amount),
        }
    }
}

/// Waits `extra` on a blocking thread: `std::thread::sleep` keeps to about
/// 0.1 ms where the async timer rounds up to whole milliseconds.
async fn wait(extra: Duration) {
    if !extra.is_zero() {
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(extra)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_as_written() {
        let s: Slowdown = "GET /api/bookings/{id}=2.5ms".parse().unwrap();
        assert_eq!(s.route, "GET /api/bookings/{id}");
        assert_eq!(s.extra, Extra::Fixed(Duration::from_micros(2500)));
        assert!(s.applies("GET /api/bookings/{id}", None));
        assert!(!s.applies("POST /api/bookings", None));
        let s: Slowdown = "post /api/bookings=30%".parse().unwrap();
        assert_eq!(s.route, "POST /api/bookings");
        assert_eq!(s.extra, Extra::Share(0.3));
        let s: Slowdown = "GET /api/stats=25%cpu".parse().unwrap();
        assert_eq!(s.extra, Extra::CpuShare(0.25));
        let s: Slowdown = "GET /api/stats=0.3mscpu".parse().unwrap();
        assert_eq!(s.extra, Extra::CpuFixed(Duration::from_micros(300)));
        let s: Slowdown = "GET /api/bookings?status=1s".parse().unwrap();
        assert!(s.applies("GET /api/bookings", Some("status=confirmed&page=2")));
        assert!(!s.applies("GET /api/bookings", Some("master=3&date=2026-01-10")));
        assert!(!s.applies("GET /api/bookings", None));
    }

    #[test]
    fn mistakes_say_what_was_expected() {
        assert_eq!("GET /x".parse::<Slowdown>(), Err(SlowdownError::NoEquals));
        assert!(matches!(
            "/x=2ms".parse::<Slowdown>(),
            Err(SlowdownError::Route(_))
        ));
        assert!(matches!(
            "GET /x=fast".parse::<Slowdown>(),
            Err(SlowdownError::Amount(_))
        ));
        assert!(matches!(
            "GET /x=5cpu".parse::<Slowdown>(),
            Err(SlowdownError::Amount(_))
        ));
        assert!(matches!(
            "GET /x=-2ms".parse::<Slowdown>(),
            Err(SlowdownError::Amount(_))
        ));
    }
}
