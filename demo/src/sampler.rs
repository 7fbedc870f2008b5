//! The CPU sampler behind the demo's pprof endpoint. `setitimer(ITIMER_PROF)`
//! sends SIGPROF every 1/frequency s of the process's CPU time; the handler
//! copies the interrupted thread's return addresses into one slot of a fixed
//! ring, and the thread that serves the profile empties the ring every few
//! milliseconds, counting each distinct stack.
//!
//! Why not pprof-rs's profiler: it holds 16,384 stacks of up to 128 frames in
//! a table of about 68 MB, allocated at the first profile, allocated again
//! whenever a profile stops and never freed, and it names frames from the
//! binary's debug information (hundreds of MB parsed). In a 20 MB service
//! that is most of what the memory figures would show. Here the ring is
//! 1,024 slots of 1 KiB in static memory that is only resident once written,
//! and the counts grow with the number of distinct stacks.

use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, TryLockError};
use std::time::{Duration, Instant};

/// Deeper stacks keep their 128 innermost frames.
pub const MAX_FRAMES: usize = 128;
/// Room for about 5 s of samples at 100 Hz on 2 cores between two drains.
const SLOTS: usize = 1024;
/// No code is mapped in the first page.
const MIN_CODE_ADDRESS: usize = 4096;
/// How often the collecting thread empties the ring.
const DRAIN_EVERY: Duration = Duration::from_millis(20);

const EMPTY: u8 = 0;
const WRITING: u8 = 1;
const FULL: u8 = 2;

struct Slot {
    state: AtomicU8,
    stack: UnsafeCell<RawStack>,
}

#[derive(Clone, Copy)]
struct RawStack {
    len: usize,
    /// The request name in flight on the sampled thread (`labels`; 0: none).
    label: u32,
    /// Leaf first: the interrupted instruction, then return addresses.
    ips: [usize; MAX_FRAMES],
}

// SAFETY: `stack` is written only by the handler that moved `state` from
// EMPTY to WRITING, and read only by the drain after it saw FULL.
unsafe impl Sync for Slot {}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_SLOT: Slot = Slot {
    state: AtomicU8::new(EMPTY),
    stack: UnsafeCell::new(RawStack {
        len: 0,
        label: 0,
        ips: [0; MAX_FRAMES],
    }),
};
static RING: [Slot; SLOTS] = [EMPTY_SLOT; SLOTS];
static NEXT: AtomicUsize = AtomicUsize::new(0);
static ACTIVE: AtomicBool = AtomicBool::new(false);
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// One profile at a time in the process (the timer and the ring are global).
static RUNNING: Mutex<()> = Mutex::new(());

#[derive(Debug, thiserror::Error)]
pub enum SamplerError {
    #[error("cpu profiling already in use")]
    Busy,
    #[error("cannot install the SIGPROF handler: {0}")]
    Handler(std::io::Error),
    #[error("cannot start the profiling timer (setitimer): {0}")]
    Timer(std::io::Error),
}

/// A request label (`labels`, 0: none) and a stack, leaf first.
pub type Labelled = (u32, Vec<usize>);

/// What a profile counted: each distinct labelled stack and its samples.
pub struct Counts {
    pub stacks: HashMap<Labelled, u64>,
    /// Samples lost because the ring was full (the collecting thread was late).
    pub dropped: u64,
    pub frequency: u32,
    pub duration: Duration,
}

/// Samples the whole process for `length` at `frequency` Hz of CPU time,
/// emptying the ring on the calling thread until then.
pub fn sample(frequency: u32, length: Duration) -> Result<Counts, SamplerError> {
    let _one = match RUNNING.try_lock() {
        Ok(guard) => guard,
        // A profile that panicked left nothing running (its Running guard stopped it).
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        Err(TryLockError::WouldBlock) => return Err(SamplerError::Busy),
    };
    install_handler()?;
    for slot in &RING {
        slot.state.store(EMPTY, Ordering::Relaxed);
    }
    DROPPED.store(0, Ordering::Relaxed);
    let mut stacks: HashMap<Labelled, u64> = HashMap::new();
    let started = Instant::now();
    let running = Running::start(frequency).map_err(SamplerError::Timer)?;
    while started.elapsed() < length {
        std::thread::sleep(DRAIN_EVERY.min(length.saturating_sub(started.elapsed())));
        drain(&mut stacks);
    }
    drop(running);
    let duration = started.elapsed();
    drain(&mut stacks);
    Ok(Counts {
        stacks,
        dropped: DROPPED.load(Ordering::Relaxed),
        frequency,
        duration,
    })
}

/// The timer armed and the handler recording, until dropped (on every path).
struct Running;

impl Running {
    fn start(frequency: u32) -> std::io::Result<Running> {
        ACTIVE.store(true, Ordering::Release);
        if let Err(e) = set_timer(frequency) {
            ACTIVE.store(false, Ordering::Release);
            return Err(e);
        }
        Ok(Running)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // The timer first: a SIGPROF already on its way then finds ACTIVE false.
        let _ = set_timer(0);
        ACTIVE.store(false, Ordering::Release);
    }
}

fn drain(stacks: &mut HashMap<Labelled, u64>) {
    for slot in &RING {
        if slot.state.load(Ordering::Acquire) != FULL {
            continue;
        }
        // SAFETY: FULL means the handler finished writing and no one else
        // touches the slot until it is EMPTY again.
        let raw = unsafe { &*slot.stack.get() };
        if raw.len > 0 {
            *stacks
                .entry((raw.label, raw.ips[..raw.len].to_vec()))
                .or_default() += 1;
        }
        slot.state.store(EMPTY, Ordering::Release);
    }
}

/// The handler stays installed once installed: a SIGPROF that arrives after
/// the timer stopped must find it (the default action ends the process).
fn install_handler() -> Result<(), SamplerError> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            // SAFETY: a zeroed sigaction with our handler, SA_SIGINFO and SA_RESTART.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_sigprof as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                if libc::sigaction(libc::SIGPROF, &action, std::ptr::null_mut()) != 0 {
                    return Err(std::io::Error::last_os_error().to_string());
                }
            }
            Ok(())
        })
        .clone()
        .map_err(|e| SamplerError::Handler(std::io::Error::other(e)))
}

/// `frequency` 0 stops the timer.
fn set_timer(frequency: u32) -> std::io::Result<()> {
    let period_us = if frequency == 0 {
        0
    } else {
        1_000_000 / i64::from(frequency)
    };
    let tv = libc::timeval {
        tv_sec: period_us / 1_000_000,
        tv_usec: period_us % 1_000_000,
    };
    let timer = libc::itimerval {
        it_interval: tv,
        it_value: tv,
    };
    // SAFETY: a valid itimerval; the old value is not asked for.
    if unsafe { libc::setitimer(libc::ITIMER_PROF, &timer, std::ptr::null_mut()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The instruction the thread was interrupted at.
fn interrupted_at(ucontext: *mut libc::c_void) -> usize {
    if ucontext.is_null() {
        return 0;
    }
    let uc = ucontext as *const libc::ucontext_t;
    // SAFETY: the kernel passes a valid ucontext_t to an SA_SIGINFO handler.
    #[cfg(target_arch = "x86_64")]
    let pc = unsafe { (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] as usize };
    #[cfg(target_arch = "aarch64")]
    let pc = unsafe { (*uc).uc_mcontext.pc as usize };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let pc = {
        let _ = uc;
        0
    };
    pc
}

/// Runs on whichever thread was using the CPU. Only atomics, the ring slot it
/// claimed, and the unwinder (pprof-rs and gperftools unwind here the same
/// way) are touched; errno is kept for the interrupted code.
extern "C" fn on_sigprof(_: libc::c_int, _: *mut libc::siginfo_t, ucontext: *mut libc::c_void) {
    if !ACTIVE.load(Ordering::Acquire) {
        return;
    }
    // SAFETY: errno is thread-local; it is restored before returning.
    let errno = unsafe { *libc::__errno_location() };
    let slot = &RING[NEXT.fetch_add(1, Ordering::Relaxed) % SLOTS];
    if slot
        .state
        .compare_exchange(EMPTY, WRITING, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
    {
        // SAFETY: this handler owns the slot while it is WRITING.
        let stack = unsafe { &mut *slot.stack.get() };
        capture(stack, interrupted_at(ucontext));
        slot.state.store(FULL, Ordering::Release);
    } else {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// The stack from the interrupted instruction outwards: the unwinder starts in
/// this handler, so the frames before the interrupted one (the handler, the
/// kernel's signal trampoline) are skipped.
fn capture(stack: &mut RawStack, pc: usize) {
    stack.len = 0;
    stack.label = crate::labels::current();
    let mut reached = pc == 0;
    // SAFETY: the unwinder only reads this thread's stack; the closure does not allocate.
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            let ip = frame.ip() as usize;
            if !reached {
                reached = ip == pc;
                if !reached {
                    return true;
                }
            }
            // Past the outermost frame the unwinder may report a null address.
            if ip < MIN_CODE_ADDRESS {
                return false;
            }
            stack.ips[stack.len] = ip;
            stack.len += 1;
            stack.len < MAX_FRAMES
        });
    }
    if !reached {
        // The unwinder could not get past the trampoline: keep where it was.
        stack.ips[0] = pc;
        stack.len = 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn spin_for_the_sampler(until: Instant) -> u64 {
        let mut x = 0u64;
        while Instant::now() < until {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        x
    }

    #[test]
    fn the_samples_name_the_function_that_uses_the_cpu() {
        let until = Instant::now() + Duration::from_millis(1500);
        let spinner = std::thread::spawn(move || spin_for_the_sampler(until));
        let counts = sample(100, Duration::from_secs(1)).unwrap();
        spinner.join().unwrap();
        let total: u64 = counts.stacks.values().sum();
        // One busy thread for 1 s at 100 Hz of CPU time: about 100, fewer on a busy machine.
        assert!(total >= 10, "{total} samples");
        assert_eq!(counts.dropped, 0);
        let mut ips: Vec<usize> = counts.stacks.keys().flat_map(|(_, s)| s).copied().collect();
        ips.sort_unstable();
        ips.dedup();
        let names = crate::symbols::names(&ips).unwrap();
        let in_spin: u64 = counts
            .stacks
            .iter()
            .filter(|((_, stack), _)| {
                stack.iter().any(|ip| {
                    names
                        .get(ip)
                        .is_some_and(|n| n.ends_with("spin_for_the_sampler"))
                })
            })
            .map(|(_, n)| n)
            .sum();
        assert!(
            in_spin * 2 > total,
            "{in_spin} of {total} samples in the spinner"
        );
        // No stack starts inside the signal handler: it is skipped.
        assert!(
            !names.values().any(|n| n.contains("on_sigprof")),
            "the handler's own frames are in the profile"
        );
    }
}
