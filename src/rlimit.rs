//! The load generator's own limits on open files and local ports: raised where
//! the process may (the soft file limit up to the hard one), and read so a
//! load that cannot fit is refused before it starts, not blamed on the SUT.

/// File descriptors gander needs besides the users' connections: the run
/// directory's files, the monitor's and profiler's reads of /proc and pipes,
/// the runtime's own, standard streams. Generous: each costs nothing.
pub const RESERVE_FILES: u64 = 128;

/// The process's (soft, hard) limit on open files.
pub fn nofile() -> (u64, u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return (1024, 1024);
    }
    (lim.rlim_cur, lim.rlim_max)
}

/// Raises the soft limit on open files to the hard one, as any process may;
/// returns the (soft, hard) limits now in force.
pub fn raise_nofile() -> (u64, u64) {
    let (soft, hard) = nofile();
    if soft < hard {
        let lim = libc::rlimit {
            rlim_cur: hard,
            rlim_max: hard,
        };
        // SAFETY: setrlimit reads the struct it is given; raising the soft
        // limit up to the hard one needs no privilege.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    }
    nofile()
}

/// The local (ephemeral) port range connections are given ports from, as
/// `(first, last)`: one source address has `last - first + 1` ports per destination.
pub fn port_range() -> Option<(u32, u32)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = text.split_whitespace().map(|p| p.parse::<u32>().ok());
    let (lo, hi) = (it.next()??, it.next()??);
    (hi >= lo).then_some((lo, hi))
}
