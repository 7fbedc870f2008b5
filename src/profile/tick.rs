//! The kernel's timer tick. Linux fires the CPU timers that SIGPROF-based
//! profilers (Go's runtime/pprof, pprof-rs) rely on only at ticks, so such a
//! profile's samples land at the first tick after a thread used its 10 ms:
//! work shorter than a tick loses samples to the work that follows it on the
//! same thread (golang/go#35057, #42502 describe the tick limit).

use std::io::Read;

/// The tick in milliseconds from the running kernel's `CONFIG_HZ`
/// (`/proc/config.gz`, else `/boot/config-<release>`); `None` when neither
/// can be read.
pub fn kernel_tick_ms() -> Option<f64> {
    // Read once: the cost sweep takes a profile per request name.
    static TICK: std::sync::OnceLock<Option<f64>> = std::sync::OnceLock::new();
    *TICK.get_or_init(|| {
        let hz = config_text().and_then(|text| hz_of(&text))?;
        Some(1000.0 / hz as f64)
    })
}

fn config_text() -> Option<String> {
    let mut text = String::new();
    if let Ok(file) = std::fs::File::open("/proc/config.gz") {
        // The file is small (about 200 KiB unpacked); bound it anyway.
        let mut reader = flate2::read::GzDecoder::new(file).take(16 << 20);
        if reader.read_to_string(&mut text).is_ok() {
            return Some(text);
        }
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    std::fs::read_to_string(format!("/boot/config-{}", release.trim())).ok()
}

fn hz_of(config: &str) -> Option<u32> {
    config
        .lines()
        .find_map(|l| l.strip_prefix("CONFIG_HZ="))
        .and_then(|v| v.trim().parse().ok())
        .filter(|&hz| hz > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hz_is_read_from_its_own_line_only() {
        let config = "CONFIG_HZ_250=y\n# CONFIG_HZ_1000 is not set\nCONFIG_HZ=250\n";
        assert_eq!(hz_of(config), Some(250));
        assert_eq!(hz_of("CONFIG_HZ_1000=y\n"), None);
        assert_eq!(hz_of("CONFIG_HZ=0\n"), None);
    }

    #[test]
    fn this_machines_tick_is_read_where_the_config_is_there() {
        // x86 offers 100, 250, 300 and 1000 Hz, other architectures a few
        // more: a tick between 0.5 ms and 50 ms.
        if std::path::Path::new("/proc/config.gz").exists() {
            let ms = kernel_tick_ms().expect("CONFIG_HZ in /proc/config.gz");
            assert!((0.5..=50.0).contains(&ms), "{ms}");
        }
    }
}
