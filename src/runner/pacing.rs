//! A closed-model user's pace, for coordinated omission. A user sends, waits
//! for the answer, thinks, and sends again: its cadence is the usual time
//! between two of its sends, over every step of its flow. A response that
//! takes longer than its request name usually does holds the user back: the
//! excess, counted in cadences, is the requests the user would have sent in
//! that time and never did.
//!
//! Judging each response against its own request name's usual latency (not
//! against the cadence) is what keeps a flow honest whose steps differ by
//! orders of magnitude: a 300 ms report step is not a stall because the login
//! before it took 1 ms, and a zero-think hammer whose latency is its pace is
//! not "late" whenever a response is a little slower than the mean.

use std::time::{Duration, Instant};

/// Below this much beyond its usual latency, a slow response is jitter, not a
/// stall: a sub-millisecond loop would otherwise count every blip as missed sends.
pub const HELD_FLOOR: Duration = Duration::from_millis(1);

/// Observations before a pace is trusted: the user's gaps, and the request name's answers.
const MIN_SEEN: usize = 3;

/// How many recent observations a pace is the median of. The pace is re-learnt
/// as the run goes, so what the user saw during the ramp-up (a server not yet
/// loaded answers faster) is forgotten once the steady state has lasted this
/// many requests, and the late count does not depend on the ramp-up; a
/// median keeps a stall (one or a few long answers) from moving the pace.
const WINDOW: usize = 15;

/// What a response is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// The user's usual time between two sends (any request names).
    pub cadence: Duration,
    /// This request name's usual latency for this user.
    pub usual: Duration,
}

impl Pace {
    /// Requests the user's cadence called for while this response held it.
    pub fn late_sends(&self, latency: Duration) -> u64 {
        let excess = latency.saturating_sub(self.usual);
        if self.cadence.is_zero() || excess < self.cadence.max(HELD_FLOOR) {
            return 0;
        }
        (excess.as_nanos() / self.cadence.as_nanos()) as u64
    }

    /// The latencies the late sends would have seen, had they been sent on
    /// time and waited behind this one: one per cadence, from the longest down,
    /// each at least the usual latency.
    pub fn fills(&self, latency: Duration) -> impl Iterator<Item = Duration> + '_ {
        (1..=self.late_sends(latency) as u32).map(move |k| latency.saturating_sub(self.cadence * k))
    }
}

/// The median of the last `WINDOW` observations (in microseconds).
#[derive(Clone, Copy, Default)]
struct Recent {
    seen: [u32; WINDOW],
    n: usize,
}

impl Recent {
    fn add(&mut self, d: Duration) {
        let us = u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
        self.seen[self.n % WINDOW] = us;
        self.n += 1;
    }
    fn get(&self) -> Option<Duration> {
        if self.n < MIN_SEEN {
            return None;
        }
        let mut sorted = self.seen;
        let sorted = &mut sorted[..self.n.min(WINDOW)];
        let mid = sorted.len() / 2;
        let (_, median, _) = sorted.select_nth_unstable(mid);
        Some(Duration::from_micros(u64::from(*median)))
    }
}

/// The mean of the last `CADENCE_WINDOW` gaps: whole iterations of most flows,
/// so that a flow's fast and slow steps average out into its rate.
#[derive(Clone)]
struct RecentMean {
    seen: Box<[u32; CADENCE_WINDOW]>,
    n: usize,
    sum: u64,
}

const CADENCE_WINDOW: usize = 64;

impl Default for RecentMean {
    fn default() -> Self {
        RecentMean {
            seen: Box::new([0; CADENCE_WINDOW]),
            n: 0,
            sum: 0,
        }
    }
}

impl RecentMean {
    fn add(&mut self, d: Duration) {
        let us = u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
        let slot = &mut self.seen[self.n % CADENCE_WINDOW];
        if self.n >= CADENCE_WINDOW {
            self.sum -= u64::from(*slot);
        }
        *slot = us;
        self.sum += u64::from(us);
        self.n += 1;
    }
    fn get(&self) -> Option<Duration> {
        (self.n >= MIN_SEEN)
            .then(|| Duration::from_micros(self.sum / self.n.min(CADENCE_WINDOW) as u64))
    }
}

/// One user's pace, learnt as it goes and re-learnt all along: a request
/// name's usual latency is the median of its recent answers (all of them, so
/// a server that slows as users arrive is followed), the cadence the mean of
/// the recent gaps between sends, leaving out the gaps after an answer that
/// held the user.
#[derive(Clone, Default)]
pub struct Pacing {
    /// When the user last sent, and whether that response held it.
    last: Option<(Instant, bool)>,
    cadence: RecentMean,
    /// Per request name.
    usual: Vec<Recent>,
}

impl Pacing {
    /// Request `endpoint` is being sent now: the pace its answer is judged against, once known.
    pub fn sent(&mut self, endpoint: usize, now: Instant) -> Option<Pace> {
        if let Some((at, false)) = self.last {
            self.cadence.add(now.saturating_duration_since(at));
        }
        self.last = Some((now, false));
        Some(Pace {
            cadence: self.cadence.get()?,
            usual: self.usual.get(endpoint)?.get()?,
        })
    }

    /// The answer to request `endpoint` took `latency` (`None`: not sent).
    pub fn answered(&mut self, endpoint: usize, latency: Option<Duration>, pace: Option<Pace>) {
        let Some(latency) = latency else { return };
        if let Some(last) = self.last.as_mut() {
            last.1 = pace.is_some_and(|p| p.late_sends(latency) > 0);
        }
        if self.usual.len() <= endpoint {
            self.usual.resize(endpoint + 1, Recent::default());
        }
        self.usual[endpoint].add(latency);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Runs one user through `latencies` (request name, latency) with `think`
    /// between sends; returns the late sends counted for each answer.
    fn run(latencies: &[(usize, Duration)], think: Duration) -> Vec<u64> {
        let mut pacing = Pacing::default();
        let mut now = Instant::now();
        latencies
            .iter()
            .map(|&(endpoint, latency)| {
                let pace = pacing.sent(endpoint, now);
                pacing.answered(endpoint, Some(latency), pace);
                now += latency + think;
                pace.map_or(0, |p| p.late_sends(latency))
            })
            .collect()
    }

    #[test]
    fn a_flow_of_fast_and_slow_steps_is_never_late() {
        // 0, 0, 300 and 20 ms steps, no think time: the 300 ms step is its usual self.
        let flow = [(0, MS / 10), (1, MS / 10), (2, 300 * MS), (3, 20 * MS)];
        let seq: Vec<_> = flow.iter().cycle().take(400).copied().collect();
        assert_eq!(run(&seq, Duration::ZERO).iter().sum::<u64>(), 0);
    }

    #[test]
    fn a_hammer_with_jitter_is_never_late() {
        // One request name, no think time, latencies 2..6 ms.
        let seq: Vec<_> = (0..1000).map(|i| (0, (2 + i % 5) * MS)).collect();
        assert_eq!(run(&seq, Duration::ZERO).iter().sum::<u64>(), 0);
    }

    #[test]
    fn a_server_that_slows_as_users_arrive_is_not_late_once_steady() {
        // A ramp-up: answers take 1 ms at first, then 20 ms once every user
        // is in, and stay there. The pace follows; only the switch counts.
        let mut seq: Vec<_> = (0..20).map(|_| (0, MS)).collect();
        seq.extend((0..1000).map(|i| (0, (20 + i % 3) * MS)));
        let late = run(&seq, Duration::ZERO);
        let steady: u64 = late[20 + WINDOW..].iter().sum();
        assert_eq!(steady, 0, "{late:?}");
    }

    #[test]
    fn a_stall_counts_the_sends_the_cadence_called_for() {
        // 1 ms answers and 19 ms think: a 20 ms cadence; one answer takes 1001 ms.
        let mut seq: Vec<_> = (0..50).map(|_| (0, MS)).collect();
        seq.push((0, 1001 * MS));
        seq.extend((0..50).map(|_| (0, MS)));
        let late = run(&seq, 19 * MS);
        assert_eq!(late.iter().filter(|&&n| n > 0).count(), 1);
        assert_eq!(
            late.iter().sum::<u64>(),
            50,
            "1000 ms of excess over a 20 ms cadence"
        );
    }
}
