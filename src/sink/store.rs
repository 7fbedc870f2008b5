//! What arrived at the servers gander serves, kept by key (a callback's path,
//! a Telegram chat) until a user's step claims it. Bounded whatever the
//! service sends: so many arrivals per key (the oldest give way), so many keys
//! and so many bytes in all (past them new arrivals are dropped); every drop
//! is counted.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The store's caps.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Arrivals kept per key; a new one pushes the oldest out.
    pub per_key: usize,
    /// Keys with arrivals or waiters.
    pub keys: usize,
    /// Bytes of bodies kept in all.
    pub bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_key: 32,
            keys: 200_000,
            bytes: 256 << 20,
        }
    }
}

/// One thing that arrived: a callback, or a message a bot sent.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: Instant,
    /// What it was: `POST`, `sendMessage`...
    pub kind: Box<str>,
    /// The text checks look at: a callback's body, a message's text or caption.
    pub text: Box<str>,
    /// What captures read: a callback's body, a message as JSON.
    pub body: bytes::Bytes,
}

impl Arrival {
    fn size(&self) -> usize {
        self.text.len() + self.body.len() + self.kind.len()
    }
}

/// What the store did, for the run's report.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub arrived: u64,
    pub claimed: u64,
    /// Arrivals no step claimed: before their step began, or past the count it waited for.
    pub unclaimed: u64,
    /// Pushed out by newer arrivals on a full key.
    pub dropped_per_key: u64,
    /// Dropped because the store held too many keys or bytes.
    pub dropped_full: u64,
}

#[derive(Default)]
struct Slot {
    queue: VecDeque<Arrival>,
    notify: Arc<Notify>,
    waiters: usize,
}

#[derive(Default)]
struct Inner {
    slots: HashMap<Box<str>, Slot>,
    bytes: usize,
    counts: Counts,
}

#[derive(Default)]
pub struct Store {
    inner: Mutex<Inner>,
    limits: Limits,
}

/// Why a wait ended without what it waited for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// Matching arrivals seen (fewer than asked).
    pub got: usize,
    /// The first arrival that did not match, as `kind: text`.
    pub instead: Option<String>,
}

impl Store {
    pub fn new(limits: Limits) -> Store {
        Store {
            inner: Mutex::new(Inner::default()),
            limits,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `arrival` under `key`, and wakes whoever waits there.
    pub fn push(&self, key: &str, arrival: Arrival) {
        let size = arrival.size();
        let mut inner = self.lock();
        let inner = &mut *inner;
        inner.counts.arrived += 1;
        if inner.bytes + size > self.limits.bytes
            || (!inner.slots.contains_key(key) && inner.slots.len() >= self.limits.keys)
        {
            inner.counts.dropped_full += 1;
            return;
        }
        let slot = inner.slots.entry(key.into()).or_default();
        if slot.queue.len() >= self.limits.per_key
            && let Some(old) = slot.queue.pop_front()
        {
            inner.bytes -= old.size();
            inner.counts.dropped_per_key += 1;
        }
        inner.bytes += size;
        slot.queue.push_back(arrival);
        slot.notify.notify_waiters();
    }

    /// Waits until `count` arrivals under `key` since `since` that `matches`
    /// accepts, for at most `within` after `since`. Arrivals from before `since`
    /// are passed over (and counted unclaimed); one that does not match ends the wait.
    pub async fn wait(
        &self,
        key: &str,
        since: Instant,
        within: Duration,
        count: usize,
        matches: impl Fn(&Arrival) -> bool,
    ) -> Result<Vec<Arrival>, Missing> {
        let end = since + within;
        let deadline = tokio::time::Instant::from_std(end);
        let mut got = Vec::with_capacity(count);
        let mut expired = false;
        let outcome = loop {
            let notify = {
                let mut inner = self.lock();
                let inner = &mut *inner;
                let Some(slot) = Self::slot(&mut inner.slots, key, self.limits.keys) else {
                    break Err(None);
                };
                let mut wrong = None;
                // What came after the wait's end is left for whoever waits next.
                while got.len() < count
                    && slot.queue.front().is_some_and(|a| a.at <= end)
                    && let Some(arrival) = slot.queue.pop_front()
                {
                    inner.bytes -= arrival.size();
                    if arrival.at < since {
                        inner.counts.unclaimed += 1;
                    } else if matches(&arrival) {
                        inner.counts.claimed += 1;
                        got.push(arrival);
                    } else {
                        inner.counts.claimed += 1;
                        wrong = Some(format!("{}: {}", arrival.kind, excerpt(&arrival.text)));
                        break;
                    }
                }
                if wrong.is_some() {
                    break Err(wrong);
                }
                if got.len() >= count {
                    break Ok(());
                }
                if expired {
                    break Err(None);
                }
                slot.waiters += 1;
                slot.notify.clone()
            };
            let notified = notify.notified();
            tokio::pin!(notified);
            // Registered before the queue is looked at again: no arrival is missed.
            notified.as_mut().enable();
            let queued = self.recheck(key);
            if !queued && tokio::time::timeout_at(deadline, notified).await.is_err() {
                // One last look: what arrived by the end still counts.
                expired = true;
            }
            self.leave(key);
        };
        self.tidy(key);
        match outcome {
            Ok(()) => Ok(got),
            Err(instead) => Err(Missing {
                got: got.len(),
                instead,
            }),
        }
    }

    /// The slot of `key`, made when there is room.
    fn slot<'a>(
        slots: &'a mut HashMap<Box<str>, Slot>,
        key: &str,
        keys: usize,
    ) -> Option<&'a mut Slot> {
        if !slots.contains_key(key) && slots.len() >= keys {
            return None;
        }
        Some(slots.entry(key.into()).or_default())
    }

    /// Whether something waits in `key`'s queue now.
    fn recheck(&self, key: &str) -> bool {
        self.lock()
            .slots
            .get(key)
            .is_some_and(|s| !s.queue.is_empty())
    }

    fn leave(&self, key: &str) {
        if let Some(slot) = self.lock().slots.get_mut(key) {
            slot.waiters = slot.waiters.saturating_sub(1);
        }
    }

    /// Drops `key`'s slot when nothing is in it and nobody waits.
    fn tidy(&self, key: &str) {
        let mut inner = self.lock();
        if inner
            .slots
            .get(key)
            .is_some_and(|s| s.queue.is_empty() && s.waiters == 0)
        {
            inner.slots.remove(key);
        }
    }

    /// The counts so far; what is still kept counts as unclaimed.
    pub fn counts(&self) -> Counts {
        let inner = self.lock();
        let kept: usize = inner.slots.values().map(|s| s.queue.len()).sum();
        Counts {
            unclaimed: inner.counts.unclaimed + kept as u64,
            ..inner.counts
        }
    }
}

/// The start of a text, for a failure's reason.
pub fn excerpt(text: &str) -> String {
    const MAX: usize = 80;
    if text.len() <= MAX {
        return format!("\"{text}\"");
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("\"{}…\"", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(text: &str) -> Arrival {
        Arrival {
            at: Instant::now(),
            kind: "POST".into(),
            text: text.into(),
            body: bytes::Bytes::copy_from_slice(text.as_bytes()),
        }
    }

    #[tokio::test]
    async fn a_waiter_gets_an_arrival_that_came_first_or_later() {
        let store = Arc::new(Store::new(Limits::default()));
        let since = Instant::now();
        store.push("/a", arrival("one"));
        let got = store
            .wait("/a", since, Duration::from_secs(1), 1, |_| true)
            .await;
        assert_eq!(&*got.unwrap()[0].text, "one");
        let s = store.clone();
        let later = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            s.push("/b", arrival("two"));
        });
        let got = store
            .wait("/b", Instant::now(), Duration::from_secs(5), 1, |_| true)
            .await;
        later.await.unwrap();
        assert_eq!(&*got.unwrap()[0].text, "two");
        assert_eq!(store.counts().claimed, 2);
        // Both slots were tidied away.
        assert!(store.lock().slots.is_empty());
    }

    #[tokio::test]
    async fn stale_wrong_and_missing_arrivals_are_told_apart() {
        let store = Store::new(Limits::default());
        store.push("/a", arrival("before"));
        let since = Instant::now();
        let missing = store
            .wait("/a", since, Duration::from_millis(30), 1, |_| true)
            .await
            .unwrap_err();
        assert_eq!(
            missing,
            Missing {
                got: 0,
                instead: None
            }
        );
        store.push("/a", arrival("wrong answer"));
        let missing = store
            .wait("/a", since, Duration::from_secs(1), 1, |a| {
                a.text.contains("right")
            })
            .await
            .unwrap_err();
        assert_eq!(missing.instead.as_deref(), Some("POST: \"wrong answer\""));
        let c = store.counts();
        assert_eq!((c.arrived, c.unclaimed, c.claimed), (2, 1, 1));
    }

    #[test]
    fn a_flood_is_bounded_and_counted() {
        let store = Store::new(Limits {
            per_key: 4,
            keys: 3,
            bytes: 1 << 20,
        });
        for i in 0..100 {
            store.push("/flood", arrival(&format!("{i}")));
        }
        for key in ["/x", "/y", "/z"] {
            store.push(key, arrival("k"));
        }
        let c = store.counts();
        assert_eq!(c.arrived, 103);
        assert_eq!(c.dropped_per_key, 96);
        // Three keys at most: /flood, /x, /y; /z dropped.
        assert_eq!(c.dropped_full, 1);
        assert_eq!(c.unclaimed, 4 + 2);
        let big = Store::new(Limits {
            per_key: 1000,
            keys: 10,
            bytes: 1000,
        });
        for _ in 0..100 {
            big.push("/b", arrival(&"x".repeat(100)));
        }
        assert!(big.lock().bytes <= 1000);
        assert_eq!(big.counts().dropped_full, 100 - 4);
    }
}
