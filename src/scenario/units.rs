//! Value types of the scenario format that are written as strings with a unit:
//! durations (`250ms`, `1.5s`, `1m30s`), think-time ranges (`1s..3s`),
//! percentages (`1%`) and rates (`30/s`), plus status-code sets.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// Parses `250ms`, `1.5s`, `1m30s`, `2h`, `500us`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("an empty duration".into());
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds_to_duration(seconds);
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return Err(format!("\"{text}\" is not a duration"));
        }
        let number: f64 = rest[..number_len]
            .parse()
            .map_err(|_| format!("\"{text}\" is not a duration"))?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = rest[..unit_len].trim();
        rest = rest[unit_len..].trim_start();
        let scale = match unit {
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" | "sec" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("\"{text}\" has a number without a unit")),
            other => {
                return Err(format!(
                    "\"{other}\" is not a time unit in \"{text}\" (use us, ms, s, m or h)"
                ));
            }
        };
        total += number * scale;
    }
    seconds_to_duration(total)
}

fn seconds_to_duration(seconds: f64) -> Result<Duration, String> {
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("{seconds} is not a valid duration"));
    }
    Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())
}

/// Formats a duration the way a person writes it: `250ms`, `1.5s`, `2m`.
pub fn format_duration(d: Duration) -> String {
    let us = d.as_micros();
    if us < 1_000 {
        format!("{us}us")
    } else if us < 1_000_000 {
        trim_float(us as f64 / 1e3, "ms")
    } else if us < 60_000_000 || !us.is_multiple_of(60_000_000) {
        trim_float(us as f64 / 1e6, "s")
    } else {
        format!("{}m", us / 60_000_000)
    }
}

fn trim_float(value: f64, unit: &str) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{unit}")
}

/// Accepts a string (`"1.5s"`) or a number of seconds.
struct DurationVisitor;

impl<'de> Visitor<'de> for DurationVisitor {
    type Value = Duration;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration such as \"250ms\", \"1.5s\" or \"1m30s\"")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_duration(v).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        u64::try_from(v)
            .map(Duration::from_secs)
            .map_err(|_| E::custom("a duration cannot be negative"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        seconds_to_duration(v).map_err(E::custom)
    }
}

/// A duration in a scenario file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurationVisitor).map(Dur)
    }
}

impl Serialize for Dur {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

impl JsonSchema for Dur {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: \"250ms\", \"1.5s\", \"1m30s\", \"2h\", or a number of seconds.",
            "anyOf": [
                { "type": "string", "pattern": "^\\s*([0-9.]+\\s*(us|µs|ms|s|sec|m|min|h)\\s*)+$" },
                { "type": "number", "minimum": 0 }
            ]
        })
    }
}

/// Think time: a fixed duration (`1s`) or a uniform range (`1s..3s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThinkTime {
    pub min: Duration,
    pub max: Duration,
}

impl<'de> Deserialize<'de> for ThinkTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ThinkTime;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a think time such as \"1s\" or a range \"1s..3s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ThinkTime, E> {
                let (min, max) = match v.split_once("..") {
                    Some((a, b)) => (
                        parse_duration(a).map_err(E::custom)?,
                        parse_duration(b).map_err(E::custom)?,
                    ),
                    None => {
                        let d = parse_duration(v).map_err(E::custom)?;
                        (d, d)
                    }
                };
                if min > max {
                    return Err(E::custom(format!(
                        "the range \"{v}\" starts after it ends (write it as min..max)"
                    )));
                }
                Ok(ThinkTime { min, max })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ThinkTime, E> {
                DurationVisitor
                    .visit_u64(v)
                    .map(|d| ThinkTime { min: d, max: d })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ThinkTime, E> {
                DurationVisitor
                    .visit_i64(v)
                    .map(|d| ThinkTime { min: d, max: d })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ThinkTime, E> {
                DurationVisitor
                    .visit_f64(v)
                    .map(|d| ThinkTime { min: d, max: d })
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for ThinkTime {
    fn schema_name() -> Cow<'static, str> {
        "ThinkTime".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Pause after each step: a duration (\"1s\") or a uniform range (\"1s..3s\").",
            "anyOf": [{ "type": "string" }, { "type": "number", "minimum": 0 }]
        })
    }
}

/// A percentage written `1%` or `0.5%`; stored as a fraction (0.01).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Percent(pub f64);

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Percent;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a percentage such as \"1%\" or \"0.5%\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Percent, E> {
                let number = v
                    .trim()
                    .strip_suffix('%')
                    .ok_or_else(|| E::custom(format!("\"{v}\" needs a % sign, e.g. \"{v}%\"")))?;
                let value: f64 = number
                    .trim()
                    .parse()
                    .map_err(|_| E::custom(format!("\"{v}\" is not a percentage")))?;
                if !(0.0..=100.0).contains(&value) {
                    return Err(E::custom(format!("{v} is outside 0%..100%")));
                }
                Ok(Percent(value / 100.0))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Percent, E> {
                Err(E::custom(format!(
                    "write percentages with a % sign, e.g. \"{v}%\""
                )))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Percent, E> {
                self.visit_f64(v as f64)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Percent, E> {
                self.visit_f64(v as f64)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Percent {
    fn schema_name() -> Cow<'static, str> {
        "Percent".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A percentage such as \"1%\" or \"0.5%\".",
            "type": "string",
            "pattern": "^\\s*[0-9.]+\\s*%\\s*$"
        })
    }
}

/// A rate such as `30/s` or `1800/m`, stored per second; a bare number is per second.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Rate(pub f64);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Rate;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a rate such as \"30/s\" or \"1800/m\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Rate, E> {
                let (number, unit) = v.split_once('/').unwrap_or((v, "s"));
                let per_second = match unit.trim() {
                    "s" | "sec" => 1.0,
                    "m" | "min" => 1.0 / 60.0,
                    "h" => 1.0 / 3600.0,
                    other => {
                        return Err(E::custom(format!(
                            "\"{other}\" is not a rate unit in \"{v}\" (use /s, /m or /h)"
                        )));
                    }
                };
                let value: f64 = number
                    .trim()
                    .parse()
                    .map_err(|_| E::custom(format!("\"{v}\" is not a rate such as \"30/s\"")))?;
                if !value.is_finite() || value < 0.0 {
                    return Err(E::custom(format!("\"{v}\" is not a valid rate")));
                }
                Ok(Rate(value * per_second))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Rate, E> {
                if !v.is_finite() || v < 0.0 {
                    return Err(E::custom(format!("{v} is not a valid rate")));
                }
                Ok(Rate(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Rate, E> {
                Ok(Rate(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Rate, E> {
                self.visit_f64(v as f64)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Rate {
    fn schema_name() -> Cow<'static, str> {
        "Rate".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A rate: \"30/s\", \"1800/m\", or a number per second.",
            "anyOf": [{ "type": "string", "pattern": "^\\s*[0-9.]+\\s*(/\\s*(s|sec|m|min|h))?\\s*$" }, { "type": "number", "minimum": 0 }]
        })
    }
}

/// One status code or a list of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(pub Vec<u16>);

impl<'de> Deserialize<'de> for StatusSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        fn code<E: de::Error>(v: u64) -> Result<u16, E> {
            if (100..=599).contains(&v) {
                Ok(v as u16)
            } else {
                Err(E::custom(format!(
                    "{v} is not an HTTP status code (100..599)"
                )))
            }
        }
        impl<'de> Visitor<'de> for V {
            type Value = StatusSet;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a status code (200) or a list of them ([200, 201])")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StatusSet, E> {
                Ok(StatusSet(vec![code(v)?]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StatusSet, E> {
                self.visit_u64(u64::try_from(v).unwrap_or(0))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StatusSet, A::Error> {
                let mut codes = Vec::new();
                while let Some(v) = seq.next_element::<u64>()? {
                    codes.push(code(v)?);
                }
                if codes.is_empty() {
                    return Err(de::Error::custom("the list of status codes is empty"));
                }
                Ok(StatusSet(codes))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for StatusSet {
    fn schema_name() -> Cow<'static, str> {
        "StatusSet".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An HTTP status code or a list of them.",
            "anyOf": [
                { "type": "integer", "minimum": 100, "maximum": 599 },
                { "type": "array", "items": { "type": "integer", "minimum": 100, "maximum": 599 }, "minItems": 1 }
            ]
        })
    }
}

/// One string or a list of strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StringList(pub Vec<String>);

impl<'de> Deserialize<'de> for StringList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StringList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StringList, E> {
                Ok(StringList(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StringList, A::Error> {
                let mut items = Vec::new();
                while let Some(v) = seq.next_element::<String>()? {
                    items.push(v);
                }
                Ok(StringList(items))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for StringList {
    fn schema_name() -> Cow<'static, str> {
        "StringList".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }]
        })
    }
}

/// A size such as `512MiB`, `1.5GB` or `300kB`; a bare number is bytes.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Bytes(pub f64);

/// Parses `512MiB`, `512MB`, `2g`; binary (KiB) and decimal (kB) units both work.
pub fn parse_bytes(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("\"{text}\" is not a size (expected e.g. 512MiB)"))?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" | "bytes" => 1.0,
        "kb" | "k" => 1e3,
        "kib" => 1024.0,
        "mb" | "m" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "gb" | "g" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown size unit \"{other}\" in \"{text}\" (use B, kB, KiB, MB, MiB, GB or GiB)"
            ));
        }
    };
    Ok(value * factor)
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as \"512MiB\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bytes, E> {
                parse_bytes(v).map(Bytes).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Bytes, E> {
                Ok(Bytes(v as f64))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Bytes {
    fn schema_name() -> Cow<'static, str> {
        "Bytes".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A size such as \"512MiB\" or \"1GB\"; a bare number is bytes.",
            "anyOf": [{ "type": "string" }, { "type": "integer", "minimum": 0 }]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_fractions() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500us"), Ok(Duration::from_micros(500)));
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("10").is_ok());
        assert!(parse_duration("-1").is_err());
    }

    #[test]
    fn durations_format_back_to_what_parses() {
        for text in ["250ms", "1.5s", "2m", "40us", "90s"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d, "{text}");
        }
    }

    #[test]
    fn sizes_in_binary_and_decimal_units() {
        assert_eq!(parse_bytes("512MiB"), Ok(512.0 * 1024.0 * 1024.0));
        assert_eq!(parse_bytes("1.5 GB"), Ok(1.5e9));
        assert_eq!(parse_bytes("4096"), Ok(4096.0));
        assert!(
            parse_bytes("12 parsecs")
                .unwrap_err()
                .contains("unknown size unit")
        );
        assert!(parse_bytes("MiB").is_err());
    }
}
