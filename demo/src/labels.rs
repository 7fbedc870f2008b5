//! The request name in flight on each thread, for the CPU sampler: gander
//! names every request in a W3C `baggage` header (`gander.request=<name>`);
//! `track` interns the name once per request, and `cputime::Metered` sets the
//! thread's label around each poll of the handler's future, so the SIGPROF
//! handler (which may only read atomics and const thread-locals) records it
//! with the sample, and the profile carries a `gander.request` label per sample.

use std::cell::Cell;
use std::sync::Mutex;

/// The label key in the profile, as gander reads it.
pub const KEY: &str = "gander.request";
/// At most this many distinct names are kept; later ones go unlabelled
/// (a client sending endless names cannot grow the table).
const MAX_NAMES: usize = 256;
/// The longest name kept.
const MAX_NAME_LEN: usize = 200;

thread_local! {
    /// 0: no request in flight; else 1 + the index of its name.
    static IN_FLIGHT: Cell<u32> = const { Cell::new(0) };
}

static NAMES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The label of the request this thread is polling (0: none). Safe in a
/// signal handler: a const-initialised thread-local without a destructor.
pub fn current() -> u32 {
    IN_FLIGHT.with(Cell::get)
}

/// Sets this thread's label; returns the one to put back.
pub fn enter(label: u32) -> u32 {
    IN_FLIGHT.with(|c| c.replace(label))
}

pub fn leave(previous: u32) {
    IN_FLIGHT.with(|c| c.set(previous));
}

/// The name of a label (`None` for 0 or an unknown one).
pub fn name(label: u32) -> Option<String> {
    let names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    names.get((label as usize).checked_sub(1)?).cloned()
}

/// The label for a `baggage` header's `gander.request` entry (0 without one).
pub fn from_baggage(header: Option<&str>) -> u32 {
    let Some(name) = header.and_then(request_name) else {
        return 0;
    };
    let mut names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(i) = names.iter().position(|n| *n == name) {
        return i as u32 + 1;
    }
    if names.len() >= MAX_NAMES {
        return 0;
    }
    names.push(name);
    names.len() as u32
}

/// The decoded value of `gander.request` in a baggage header
/// (`key=value;properties,key=value`).
fn request_name(header: &str) -> Option<String> {
    header.split(',').find_map(|member| {
        let (key, value) = member.split_once('=')?;
        if key.trim() != KEY {
            return None;
        }
        let value = value.split(';').next()?.trim();
        let decoded = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .ok()?
            .into_owned();
        (!decoded.is_empty() && decoded.len() <= MAX_NAME_LEN).then_some(decoded)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_baggage_once_each() {
        let a = from_baggage(Some(
            "gander.scenario=x,gander.request=list%20bookings;p=1,gander.run=r",
        ));
        assert!(a > 0);
        assert_eq!(name(a).as_deref(), Some("list bookings"));
        assert_eq!(from_baggage(Some("gander.request=list%20bookings")), a);
        assert_eq!(from_baggage(Some("other=1")), 0);
        assert_eq!(from_baggage(None), 0);
        assert_eq!(name(0), None);
        let previous = enter(a);
        assert_eq!(current(), a);
        leave(previous);
        assert_eq!(current(), 0);
    }
}
