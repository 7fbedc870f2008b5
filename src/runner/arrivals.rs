//! The open model's iterations for one scenario. A dispatcher hands each due
//! iteration to the user that became idle last, so a small set of users stays
//! warm (few connections, few logins in use). When every user is busy the
//! iteration waits in a backlog for the next free user and counts as late;
//! its first request is still timed from the intended start, so the wait
//! shows in the latency as it would for a real client.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::oneshot;

use super::schedule::Schedule;
use crate::clock::RunClock;
use crate::result::Phase;
use crate::scenario::segment::Segment;

/// How often a waiting dispatcher or user looks for the end of the run.
const CHECK: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    pub intended: Instant,
}

pub struct Arrivals {
    schedule: Schedule,
    /// The iterations of the schedule this generator starts: every Nth.
    segment: Segment,
    clock: Arc<RunClock>,
    inner: Mutex<Inner>,
}

struct Inner {
    /// Users waiting for an iteration, the most recently idle last.
    idle: Vec<oneshot::Sender<Ticket>>,
    backlog: VecDeque<Ticket>,
    closed: bool,
    busy: usize,
    tally: Tally,
}

/// What happened to the scheduled iterations.
#[derive(Debug, Clone)]
pub struct Tally {
    pub intended: u64,
    pub started: u64,
    pub late: u64,
    pub missed: u64,
    pub steady_intended: u64,
    pub steady_started: u64,
    pub peak_busy: usize,
    /// Per second of the run, by intended start: (started, late or missed).
    pub per_second: Vec<(u64, u64)>,
    /// Intended to actual start, microseconds.
    pub lag: Histogram<u64>,
}

impl Tally {
    pub fn new() -> Self {
        Tally {
            intended: 0,
            started: 0,
            late: 0,
            missed: 0,
            steady_intended: 0,
            steady_started: 0,
            peak_busy: 0,
            per_second: Vec::new(),
            lag: crate::hist::new_histogram(),
        }
    }

    fn second(&mut self, s: usize) -> &mut (u64, u64) {
        if self.per_second.len() <= s {
            self.per_second.resize(s + 1, (0, 0));
        }
        &mut self.per_second[s]
    }

    /// Adds another scenario's tally (peak busy users add up: an upper bound).
    pub fn merge(&mut self, other: &Tally) {
        self.intended += other.intended;
        self.started += other.started;
        self.late += other.late;
        self.missed += other.missed;
        self.steady_intended += other.steady_intended;
        self.steady_started += other.steady_started;
        self.peak_busy += other.peak_busy;
        for (i, (started, late)) in other.per_second.iter().enumerate() {
            let slot = self.second(i);
            slot.0 += started;
            slot.1 += late;
        }
        let _ = self.lag.add(&other.lag);
    }
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

impl Arrivals {
    pub fn new(schedule: Schedule, segment: Segment, clock: Arc<RunClock>) -> Self {
        Arrivals {
            schedule,
            segment,
            clock,
            inner: Mutex::new(Inner {
                idle: Vec::new(),
                backlog: VecDeque::new(),
                closed: false,
                busy: 0,
                tally: Tally::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding it; recover the data if something did.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next iteration for a free user; `None` once the schedule is over.
    pub async fn next(&self) -> Option<Ticket> {
        let receiver = {
            let mut inner = self.lock();
            if let Some(ticket) = inner.backlog.pop_front() {
                self.began(&mut inner, ticket, true);
                return Some(ticket);
            }
            if inner.closed {
                return None;
            }
            let (tx, rx) = oneshot::channel();
            inner.idle.push(tx);
            rx
        };
        let ticket = receiver.await.ok()?;
        let mut inner = self.lock();
        self.began(&mut inner, ticket, false);
        Some(ticket)
    }

    fn began(&self, inner: &mut Inner, ticket: Ticket, late: bool) {
        if late {
            // Taken from the backlog; a handed-over ticket was counted busy when sent.
            inner.busy += 1;
            inner.tally.peak_busy = inner.tally.peak_busy.max(inner.busy);
            inner.tally.late += 1;
        }
        self.clock.iteration_began();
        let lag = Instant::now().saturating_duration_since(ticket.intended);
        let second = self.clock.seconds_since_start(ticket.intended) as usize;
        let tally = &mut inner.tally;
        tally.started += 1;
        let slot = tally.second(second);
        slot.0 += 1;
        slot.1 += u64::from(late);
        if self.clock.phase_of(ticket.intended) == Phase::Steady {
            tally.steady_started += 1;
        }
        crate::hist::record_latency(&mut tally.lag, lag.as_micros() as u64);
    }

    /// The user that took the last ticket is done with its iteration.
    pub fn finished_iteration(&self) {
        let mut inner = self.lock();
        inner.busy = inner.busy.saturating_sub(1);
        self.clock.iteration_ended();
    }

    pub fn idle_users(&self) -> usize {
        self.lock().idle.len()
    }

    /// Whether every due iteration has started and finished.
    pub fn drained(&self) -> bool {
        let inner = self.lock();
        inner.backlog.is_empty() && inner.busy == 0
    }

    /// Hands out iterations as they fall due, from `origin`, until the schedule
    /// ends or `stop` says the run is over.
    pub async fn dispatch(&self, origin: Instant, stop: impl Fn() -> bool) {
        let mut k = self.segment.index as u64;
        while let Some(offset) = self.schedule.due(k) {
            let at = origin + offset;
            loop {
                if stop() {
                    return;
                }
                let now = Instant::now();
                if now >= at {
                    break;
                }
                tokio::time::sleep((at - now).min(CHECK)).await;
            }
            self.hand_out(Ticket { intended: at });
            k += self.segment.count as u64;
        }
    }

    fn hand_out(&self, mut ticket: Ticket) {
        let mut inner = self.lock();
        inner.tally.intended += 1;
        if self.clock.phase_of(ticket.intended) == Phase::Steady {
            inner.tally.steady_intended += 1;
        }
        while let Some(user) = inner.idle.pop() {
            match user.send(ticket) {
                Ok(()) => {
                    inner.busy += 1;
                    inner.tally.peak_busy = inner.tally.peak_busy.max(inner.busy);
                    return;
                }
                // That user has gone (its run ended): try the next.
                Err(returned) => ticket = returned,
            }
        }
        inner.backlog.push_back(ticket);
    }

    /// Ends the schedule: iterations still waiting are missed, idle users are released.
    pub fn close(&self) -> Tally {
        let mut inner = self.lock();
        inner.closed = true;
        inner.idle.clear();
        let missed: Vec<Ticket> = inner.backlog.drain(..).collect();
        for ticket in &missed {
            let second = self.clock.seconds_since_start(ticket.intended) as usize;
            inner.tally.second(second).1 += 1;
        }
        inner.tally.missed += missed.len() as u64;
        inner.tally.clone()
    }
}
