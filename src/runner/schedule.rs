//! When each iteration of an open model is due. The planned rate moves
//! linearly through the stages; iteration k (from 0) is due when the rate's
//! integral since the origin reaches k + 1/2, so a flat 40/s puts one
//! iteration in the middle of every 25 ms.

use std::time::Duration;

use crate::scenario::plan::Stage;

#[derive(Debug, Clone)]
pub struct Schedule {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone)]
struct Segment {
    start: f64,
    len: f64,
    from: f64,
    to: f64,
    /// Arrivals due before the segment starts.
    before: f64,
}

impl Segment {
    fn area(&self) -> f64 {
        (self.from + self.to) / 2.0 * self.len
    }
}

impl Schedule {
    /// The stages' rates times `share` (a scenario's part of the whole).
    pub fn new(stages: &[Stage], share: f64) -> Self {
        let mut segments = Vec::with_capacity(stages.len());
        let (mut start, mut from, mut before) = (0.0, 0.0, 0.0);
        for stage in stages {
            let segment = Segment {
                start,
                len: stage.duration.as_secs_f64(),
                from,
                to: stage.target * share,
                before,
            };
            start += segment.len;
            before += segment.area();
            from = segment.to;
            segments.push(segment);
        }
        Schedule { segments }
    }

    /// Arrivals due over the whole schedule.
    pub fn total(&self) -> f64 {
        self.segments.last().map_or(0.0, |s| s.before + s.area())
    }

    /// Arrivals due in the first `t` seconds (the rate's integral).
    #[cfg(test)]
    fn due_by(&self, t: f64) -> f64 {
        let mut due = 0.0;
        for s in &self.segments {
            if t <= s.start {
                break;
            }
            let x = (t - s.start).min(s.len);
            let slope = if s.len > 0.0 {
                (s.to - s.from) / s.len
            } else {
                0.0
            };
            due = s.before + s.from * x + slope * x * x / 2.0;
        }
        due
    }

    /// When iteration `k` is due, from the origin; `None` past the end.
    pub fn due(&self, k: u64) -> Option<Duration> {
        let x = k as f64 + 0.5;
        let s = self
            .segments
            .iter()
            .find(|s| s.len > 0.0 && x < s.before + s.area())?;
        let m = x - s.before;
        let (a, b) = (s.from, (s.to - s.from) / s.len);
        // Solves a·t + b·t²/2 = m in the form that stays exact as b goes to 0.
        let root = (a * a + 2.0 * b * m).max(0.0).sqrt();
        let t = if a + root > 0.0 {
            2.0 * m / (a + root)
        } else {
            0.0
        };
        Some(Duration::from_secs_f64(s.start + t.clamp(0.0, s.len)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(secs: f64, target: f64) -> Stage {
        Stage {
            name: String::new(),
            duration: Duration::from_secs_f64(secs),
            written: Duration::from_secs_f64(secs),
            target,
        }
    }

    fn all_due(s: &Schedule) -> Vec<f64> {
        (0..)
            .map_while(|k| s.due(k))
            .map(|d| d.as_secs_f64())
            .collect()
    }

    #[test]
    fn a_flat_rate_is_evenly_spaced() {
        let s = Schedule::new(&[stage(0.0, 40.0), stage(10.0, 40.0)], 1.0);
        let due = all_due(&s);
        assert_eq!(due.len(), 400);
        assert_eq!(s.total(), 400.0);
        assert!((due[0] - 0.0125).abs() < 1e-9);
        for pair in due.windows(2) {
            assert!((pair[1] - pair[0] - 0.025).abs() < 1e-9);
        }
    }

    #[test]
    fn a_ramp_follows_the_rate_integral() {
        // 0 -> 100/s over 10 s, then 100/s for 5 s, then down to 0 over 5 s.
        let stages = [stage(10.0, 100.0), stage(5.0, 100.0), stage(5.0, 0.0)];
        let s = Schedule::new(&stages, 0.5);
        let due = all_due(&s);
        assert_eq!(s.total(), 0.5 * (500.0 + 500.0 + 250.0));
        assert_eq!(due.len() as f64, s.total());
        assert!(due.windows(2).all(|p| p[1] > p[0]), "in order");
        // The count due by any time matches the integral, whole second by second.
        for t in 1..=20 {
            let by = due.iter().filter(|d| **d < t as f64).count() as f64;
            assert!(
                (by - s.due_by(t as f64)).abs() <= 0.5,
                "t={t}: {by} vs {}",
                s.due_by(t as f64)
            );
        }
        // The ramp is sparse early and dense late.
        let first_second = due.iter().filter(|d| **d < 1.0).count();
        let tenth_second = due.iter().filter(|d| (9.0..10.0).contains(*d)).count();
        assert!(
            first_second < tenth_second / 5,
            "{first_second} vs {tenth_second}"
        );
    }

    #[test]
    fn zero_length_stages_jump() {
        let s = Schedule::new(
            &[
                stage(0.0, 10.0),
                stage(2.0, 10.0),
                stage(0.0, 50.0),
                stage(1.0, 50.0),
            ],
            1.0,
        );
        let due = all_due(&s);
        assert_eq!(due.len(), 70);
        assert_eq!(due.iter().filter(|d| **d >= 2.0).count(), 50);
    }
}
