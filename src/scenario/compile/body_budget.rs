//! The memory body checks may hold: a JSON check or a JSON or regex capture
//! reads the whole body, so each user may hold one body of up to `max_body`
//! (a `body_contains` streams and holds nothing). Users × that body must fit
//! in what gander may use here, or the file is refused with the figure,
//! rather than the run dying of it.

use super::capacity::{BYTES_PER_USER, memory_bytes};
use super::{Compiler, Overrides};
use crate::format::{bytes, thousands};
use crate::scenario::plan::LoadPlan;
use crate::scenario::segment::Segment;
use crate::scenario::spanned::Loc;

/// What gander needs besides its users (its threads, the recorder, the
/// allocator's arenas), in address space.
pub const RESERVE: u64 = 512 << 20;

/// The soft limit on gander's address space (`ulimit -v`, `prlimit --as`).
pub fn address_space_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } == 0;
    (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

impl Compiler<'_> {
    /// Notes a step whose checks hold its body of up to `max_body` bytes.
    pub(super) fn holds_body(&mut self, max_body: u64, loc: Loc) {
        if self.body_hold.is_none_or(|(held, _)| max_body > held) {
            self.body_hold = Some((max_body, loc));
        }
    }

    /// Refuses a load whose users could hold more bodies than fit here.
    pub(super) fn check_body_budget(&mut self, load: &LoadPlan, overrides: &Overrides) {
        let Some((held, loc)) = self.body_hold else {
            return;
        };
        let users = overrides
            .segment
            .unwrap_or(Segment::WHOLE)
            .share(load.users) as u64;
        let (limit, what) = match address_space_limit() {
            Some(a) if a < memory_bytes() => (a, "its address-space limit, ulimit -v"),
            _ => (
                memory_bytes(),
                "the memory of this machine or its control group",
            ),
        };
        let need = users
            .saturating_mul(held.saturating_add(BYTES_PER_USER))
            .saturating_add(RESERVE);
        if need <= limit {
            return;
        }
        self.error_help(
            loc,
            format!(
                "{} users may each hold a {} body here (a JSON check or a JSON or regex capture \
                 reads the whole body, up to max_body): with gander's own use that is {}, more \
                 than the {} gander may use here ({what})",
                thousands(users),
                bytes(held as f64),
                bytes(need as f64),
                bytes(limit as f64),
            ),
            format!(
                "lower this step's max_body (at most about {} for {} users), check with \
                 body_contains (it streams and holds nothing), or run fewer users",
                bytes(
                    (limit.saturating_sub(RESERVE) / users.max(1)).saturating_sub(BYTES_PER_USER)
                        as f64
                ),
                thousands(users),
            ),
        );
    }
}
