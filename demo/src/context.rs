//! Per-request accounting (SQL queries, cache hits, time) exposed as the
//! response headers the seeds' systems send, and the service-wide figures
//! behind `/metrics`, the admin metrics API and the health check.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counters for one request; handlers and the database add to them.
#[derive(Debug, Default)]
pub struct RequestContext {
    queries: AtomicU32,
    db_us: AtomicU64,
    cache_hits: AtomicU32,
    cache_misses: AtomicU32,
    /// CPU time of the request's work on blocking threads (ns).
    blocking_cpu_ns: AtomicU64,
    /// A `--slowdown` delay still to be spent (ns): its database work waits
    /// it, as a slower query would.
    wait_ns: AtomicU64,
}

impl RequestContext {
    pub fn count_query(&self, took: Duration) {
        self.queries.fetch_add(1, Ordering::Relaxed);
        self.db_us
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }
    pub fn cache_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }
    pub fn cache_miss(&self) {
        self.cache_misses.fetch_add(1, Ordering::Relaxed);
    }
    pub fn add_blocking_cpu(&self, used: Duration) {
        self.blocking_cpu_ns
            .fetch_add(used.as_nanos() as u64, Ordering::Relaxed);
    }
    /// CPU the request used on blocking threads (its handler's polls count apart).
    pub fn blocking_cpu(&self) -> Duration {
        Duration::from_nanos(self.blocking_cpu_ns.load(Ordering::Relaxed))
    }
    /// Sets the delay the request's database work is to wait.
    pub fn set_wait(&self, delay: Duration) {
        self.wait_ns
            .store(delay.as_nanos() as u64, Ordering::Relaxed);
    }
    /// The delay still to be spent, now taken: the first to ask waits it.
    pub fn take_wait(&self) -> Duration {
        Duration::from_nanos(self.wait_ns.swap(0, Ordering::Relaxed))
    }
    pub fn queries(&self) -> u32 {
        self.queries.load(Ordering::Relaxed)
    }
    pub fn db_time(&self) -> Duration {
        Duration::from_micros(self.db_us.load(Ordering::Relaxed))
    }
    pub fn cache(&self) -> (u32, u32) {
        (
            self.cache_hits.load(Ordering::Relaxed),
            self.cache_misses.load(Ordering::Relaxed),
        )
    }
}

/// Prometheus buckets for request durations, in seconds.
pub const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Debug, Default, Clone)]
pub struct RouteStats {
    pub count: u64,
    pub errors: u64,
    pub sum_s: f64,
    pub max_s: f64,
    pub buckets: [u64; BUCKETS.len()],
}

/// Service-wide request figures since start (or the last reset).
pub struct ServiceMetrics {
    pub started: Instant,
    inner: Mutex<Window>,
}

struct Window {
    since: Instant,
    routes: HashMap<String, RouteStats>,
}

impl Default for ServiceMetrics {
    fn default() -> Self {
        ServiceMetrics {
            started: Instant::now(),
            inner: Mutex::new(Window {
                since: Instant::now(),
                routes: HashMap::new(),
            }),
        }
    }
}

impl ServiceMetrics {
    pub fn observe(&self, route: &str, status: u16, took: Duration) {
        let seconds = took.as_secs_f64();
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let stats = inner.routes.entry(route.to_string()).or_default();
        stats.count += 1;
        if status >= 500 {
            stats.errors += 1;
        }
        stats.sum_s += seconds;
        stats.max_s = stats.max_s.max(seconds);
        for (bucket, le) in stats.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= le {
                *bucket += 1;
            }
        }
    }

    /// Per-route figures and the seconds they cover.
    pub fn snapshot(&self) -> (Vec<(String, RouteStats)>, f64) {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut routes: Vec<_> = inner
            .routes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        routes.sort_by(|a, b| a.0.cmp(&b.0));
        (routes, inner.since.elapsed().as_secs_f64())
    }

    pub fn reset(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.since = Instant::now();
        inner.routes.clear();
    }
}

/// CPU seconds and resident memory of this process, from /proc.
pub fn process_usage() -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let (hz, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some((ticks / hz.max(1) as f64, resident * page.max(1) as u64))
}

/// Total and available memory of the machine, in bytes.
pub fn machine_memory() -> Option<(u64, u64)> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| {
        info.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("MemTotal:")?, field("MemAvailable:")?))
}

/// CPU use of this process between two calls, as a percentage of one core.
#[derive(Default)]
pub struct CpuMeter {
    last: Mutex<Option<(Instant, f64)>>,
}

impl CpuMeter {
    pub fn percent(&self) -> f64 {
        let Some((cpu, _)) = process_usage() else {
            return 0.0;
        };
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let percent = match *last {
            Some((then, cpu_then)) if now > then => {
                (cpu - cpu_then) / (now - then).as_secs_f64() * 100.0
            }
            _ => 0.0,
        };
        *last = Some((now, cpu));
        percent.max(0.0)
    }
}
