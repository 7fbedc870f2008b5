//! The CPU time a request's handler used, summed over every poll of its
//! future on whichever worker thread ran it (`CLOCK_THREAD_CPUTIME_ID`
//! around each poll). Wall time would count the time the handler waited for
//! the database lock, a timer or a busy machine; this counts what it burnt.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// The CPU time the calling thread has used so far.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Uses `amount` of CPU on the calling thread (a busy loop on the thread's
/// own CPU clock, so a busy machine stretches the wall time, not the CPU).
pub fn burn(amount: Duration) {
    let until = thread_cpu() + amount;
    let mut x = 0u64;
    while thread_cpu() < until {
        for i in 0..256u64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
    }
}

pin_project_lite::pin_project! {
    /// A future that adds up the thread CPU time of each of its polls, with
    /// its request's label set on the thread while it is polled.
    pub struct Metered<F> {
        #[pin]
        inner: F,
        used: Duration,
        label: u32,
    }
}

impl<F> Metered<F> {
    /// `label`: the request name the sampler records (`labels::from_baggage`).
    pub fn labelled(inner: F, label: u32) -> Self {
        Metered {
            inner,
            used: Duration::ZERO,
            label,
        }
    }
}

impl<F: Future> Future for Metered<F> {
    /// The inner future's output and the CPU time its polls used.
    type Output = (F::Output, Duration);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let previous = crate::labels::enter(*this.label);
        let before = thread_cpu();
        let polled = this.inner.poll(cx);
        *this.used += thread_cpu().saturating_sub(before);
        crate::labels::leave(previous);
        polled.map(|out| (out, *this.used))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burning_uses_at_least_what_was_asked_and_metering_sees_it() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let ((), used) = runtime.block_on(Metered::labelled(
            async {
                burn(Duration::from_millis(20));
                tokio::task::yield_now().await;
                burn(Duration::from_millis(10));
            },
            0,
        ));
        assert!(used >= Duration::from_millis(30), "{used:?}");
        // A sleep is not CPU: metering a 50 ms sleep sees far less than 50 ms.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let ((), slept) = runtime.block_on(Metered::labelled(
            async { tokio::time::sleep(Duration::from_millis(50)).await },
            0,
        ));
        assert!(slept < used, "{slept:?} of CPU for a sleep");
    }
}
