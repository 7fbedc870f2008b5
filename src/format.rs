//! How figures are written for people: one place, so the console, the
//! Markdown summary, JUnit messages and verdict details agree.

/// A time in milliseconds: `0.8ms`, `123ms`, `1.50s`.
pub fn ms(value: f64) -> String {
    if value >= 1000.0 {
        format!("{:.2}s", value / 1000.0)
    } else if value >= 100.0 {
        format!("{value:.0}ms")
    } else {
        format!("{value:.1}ms")
    }
}

/// A run length in whole seconds, minutes or hours: `45 s`, `4 min`, `2.5 h`.
pub fn duration_s(seconds: f64) -> String {
    if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else if seconds < 7200.0 {
        format!("{:.0} min", (seconds / 60.0).ceil())
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

/// A size in binary units.
pub fn bytes(value: f64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = value;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A figure in its unit: `ms` times, `bytes` sizes, `ratio` as a percentage,
/// `req/s`, `%`, `s`, percentage `points`; plain counts with at most two decimals.
pub fn value(value: f64, unit: &str) -> String {
    match unit {
        "ms" => ms(value),
        "bytes" => bytes(value),
        "%" => format!("{value:.1}%"),
        "ratio" => format!("{:.2}%", value * 100.0),
        "req/s" => format!("{value:.1}/s"),
        "s" => format!("{value:.1}s"),
        "points" => format!("{value:.2} points"),
        _ => {
            let text = format!("{value:.2}");
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        }
    }
}

/// `163840` as `163,840`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `<=` and `>=` as the signs a rendered page shows.
pub fn comparison_sign(text: &str) -> &str {
    match text {
        "<=" => "≤",
        ">=" => "≥",
        other => other,
    }
}

/// A CPU time per request in milliseconds, to three significant digits: `0.412ms`, `4.12ms`.
pub fn cpu_ms(value: f64) -> String {
    if value >= 100.0 {
        ms(value)
    } else if value >= 10.0 {
        format!("{value:.1}ms")
    } else if value >= 1.0 {
        format!("{value:.2}ms")
    } else {
        format!("{value:.3}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_read_naturally() {
        assert_eq!(value(0.0123, "ratio"), "1.23%");
        assert_eq!(value(20.0, ""), "20");
        assert_eq!(value(2.5, ""), "2.5");
        assert_eq!(value(1536.0, "bytes"), "1.5 KiB");
        assert_eq!(value(1500.0, "ms"), "1.50s");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(163_840), "163,840");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
        assert_eq!(duration_s(45.0), "45 s");
        assert_eq!(duration_s(200.0), "4 min");
        assert_eq!(duration_s(9000.0), "2.5 h");
    }
}
