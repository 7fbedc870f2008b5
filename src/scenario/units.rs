//! Value types of the scenario format that are written as strings with a unit:
//! durations (`250ms`, `1.5s`, `1m30s`), think-time ranges (`1s..3s`),
//! percentages (`1%`) and rates (`30/s`), plus status-code sets.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// Why a value with a unit was refused; each message says what to write instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UnitError {
    #[error("an empty duration")]
    EmptyDuration,
    #[error("{0} has no unit: write {0}ms or {0}s")]
    BareTime(String),
    #[error("\"{0}\" is not a duration")]
    NotADuration(String),
    #[error("\"{0}\" has a number without a unit")]
    NoTimeUnit(String),
    #[error("\"{unit}\" is not a time unit in \"{text}\" (use us, ms, s, m or h)")]
    TimeUnit { unit: String, text: String },
    #[error("\"{text}\" is longer than a year ({hours}h), the longest duration gander takes")]
    TooLong { text: String, hours: u64 },
    #[error("{0} is not a valid duration")]
    InvalidDuration(f64),
    #[error(transparent)]
    DurationRange(#[from] std::time::TryFromFloatSecsError),
    #[error("the range \"{0}\" starts after it ends (write it as min..max)")]
    Backwards(String),
    #[error("\"{0}\" needs a % sign, e.g. \"{0}%\"")]
    NoPercentSign(String),
    #[error("\"{0}\" is not a percentage")]
    NotAPercentage(String),
    #[error("{0} is outside 0%..100%")]
    PercentRange(String),
    #[error("write percentages with a % sign, e.g. \"{0}%\"")]
    BarePercent(f64),
    #[error("\"{unit}\" is not a rate unit in \"{text}\" (use /s, /m or /h)")]
    RateUnit { unit: String, text: String },
    #[error("\"{0}\" is not a rate such as \"30/s\"")]
    NotARate(String),
    /// A rate that is negative or not finite (as written: quoted when it was text).
    #[error("{0} is not a valid rate")]
    InvalidRate(String),
    #[error("{0} is not a limit")]
    NotALimit(f64),
    #[error("\"{text}\" is a string: write the number {number} without quotes")]
    QuotedCount { text: String, number: u64 },
    #[error("\"{0}\" is not a whole number")]
    NotACount(String),
    #[error("{0} is not a whole number of 0 or more")]
    NegativeCount(f64),
    #[error("\"{0}\" needs a % sign, e.g. \"60%\" or \"60% of machine\"")]
    CpuPercentSign(String),
    #[error("\"{0}\" is not a CPU share such as \"60%\"")]
    NotACpuShare(String),
    #[error("\"{0}\" is not a CPU share")]
    InvalidCpuShare(String),
    #[error("{0}% of the machine is more than all of it")]
    MoreThanTheMachine(f64),
    #[error("write CPU with a % sign: \"{0}%\" of one core, or \"{0}% of machine\"")]
    BareCpu(f64),
    #[error("\"{0}\" is not a size (expected e.g. 512MiB)")]
    NotASize(String),
    #[error("{0} has no unit: write {0}MiB, {0}MB or {0}B")]
    BareSize(String),
    #[error("unknown size unit \"{unit}\" in \"{text}\" (use B, kB, KiB, MB, MiB, GB or GiB)")]
    SizeUnit { unit: String, text: String },
    /// As written (quoted when it was text).
    #[error(
        "{0} is not an HTTP version gander speaks: 1.1, 2 (HTTP/2 over TLS) or h2c (HTTP/2 over plain TCP)"
    )]
    HttpVersion(String),
}

/// Parses `250ms`, `1.5s`, `1m30s`, `2h`, `500us`. A number needs its unit:
/// a bare `100` could mean 100 ms or 100 s, and a gate must not guess.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(UnitError::EmptyDuration);
    }
    if text.parse::<f64>().is_ok() {
        return Err(UnitError::BareTime(text.into()));
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return Err(UnitError::NotADuration(text.into()));
        }
        let number: f64 = rest[..number_len]
            .parse()
            .map_err(|_| UnitError::NotADuration(text.into()))?;
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
            "" => return Err(UnitError::NoTimeUnit(text.into())),
            other => {
                return Err(UnitError::TimeUnit {
                    unit: other.into(),
                    text: text.into(),
                });
            }
        };
        total += number * scale;
    }
    let duration = seconds_to_duration(total)?;
    if duration > MAX_DURATION {
        return Err(UnitError::TooLong {
            text: text.into(),
            hours: MAX_DURATION.as_secs() / 3600,
        });
    }
    Ok(duration)
}

/// The longest duration of any kind in a scenario file or flag: longer ones are
/// mistakes, and clocks overflow on some of them.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

fn seconds_to_duration(seconds: f64) -> Result<Duration, UnitError> {
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(UnitError::InvalidDuration(seconds));
    }
    Ok(Duration::try_from_secs_f64(seconds)?)
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

/// A value written as text with a unit (`250ms`, `1%`, `30/s`, `512MiB`); what a
/// bare YAML number means, if anything, is the type's to say.
trait UnitValue: Sized {
    /// What the file should hold, for serde's "invalid type" message.
    const EXPECTING: &'static str;
    fn from_text(text: &str) -> Result<Self, UnitError>;
    fn from_number(number: f64) -> Result<Self, UnitError>;
}

/// One serde visitor for every `UnitValue`.
struct UnitVisitor<T>(std::marker::PhantomData<T>);

impl<T: UnitValue> Visitor<'_> for UnitVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::from_text(v).map_err(E::custom)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        T::from_number(v).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.visit_f64(v as f64)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        self.visit_f64(v as f64)
    }
}

/// `Deserialize` and `JsonSchema` for unit values: the schema names the type,
/// describes it and gives the pattern a string must match.
macro_rules! unit_value {
    ($ty:ty, $name:literal, $schema:tt) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(UnitVisitor::<$ty>(std::marker::PhantomData))
            }
        }

        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

/// A duration in a scenario file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Dur(pub Duration);

impl UnitValue for Dur {
    const EXPECTING: &'static str = "a duration such as \"250ms\", \"1.5s\" or \"1m30s\"";
    fn from_text(text: &str) -> Result<Self, UnitError> {
        parse_duration(text).map(Dur)
    }
    fn from_number(number: f64) -> Result<Self, UnitError> {
        Err(UnitError::BareTime(number.to_string()))
    }
}

unit_value!(Dur, "Duration", {
    "description": "A duration with its unit: \"250ms\", \"1.5s\", \"1m30s\", \"2h\" (a bare number is refused: ms or s?).",
    "type": "string",
    "pattern": "^\\s*([0-9.]+\\s*(us|µs|ms|s|sec|m|min|h)\\s*)+$"
});

impl Serialize for Dur {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

/// Think time: a fixed duration (`1s`) or a uniform range (`1s..3s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThinkTime {
    pub min: Duration,
    pub max: Duration,
}

impl UnitValue for ThinkTime {
    const EXPECTING: &'static str = "a think time such as \"1s\" or a range \"1s..3s\"";
    fn from_text(v: &str) -> Result<Self, UnitError> {
        let (min, max) = match v.split_once("..") {
            Some((a, b)) => (parse_duration(a)?, parse_duration(b)?),
            None => {
                let d = parse_duration(v)?;
                (d, d)
            }
        };
        if min > max {
            return Err(UnitError::Backwards(v.into()));
        }
        Ok(ThinkTime { min, max })
    }
    fn from_number(number: f64) -> Result<Self, UnitError> {
        Err(UnitError::BareTime(number.to_string()))
    }
}

unit_value!(ThinkTime, "ThinkTime", {
    "description": "Pause between steps: a duration (\"1s\") or a uniform range (\"1s..3s\"), with units.",
    "type": "string",
    "pattern": "^\\s*([0-9.]+\\s*(us|µs|ms|s|sec|m|min|h)\\s*)+(\\.\\.\\s*([0-9.]+\\s*(us|µs|ms|s|sec|m|min|h)\\s*)+)?$"
});

/// A percentage written `1%` or `0.5%`; stored as a fraction (0.01).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Percent(pub f64);

impl UnitValue for Percent {
    const EXPECTING: &'static str = "a percentage such as \"1%\" or \"0.5%\"";
    fn from_text(v: &str) -> Result<Self, UnitError> {
        let number = v
            .trim()
            .strip_suffix('%')
            .ok_or_else(|| UnitError::NoPercentSign(v.into()))?;
        let value: f64 = number
            .trim()
            .parse()
            .map_err(|_| UnitError::NotAPercentage(v.into()))?;
        if !(0.0..=100.0).contains(&value) {
            return Err(UnitError::PercentRange(v.into()));
        }
        Ok(Percent(value / 100.0))
    }
    fn from_number(number: f64) -> Result<Self, UnitError> {
        Err(UnitError::BarePercent(number))
    }
}

unit_value!(Percent, "Percent", {
    "description": "A percentage such as \"1%\" or \"0.5%\".",
    "type": "string",
    "pattern": "^\\s*[0-9.]+\\s*%\\s*$"
});

/// A rate such as `30/s` or `1800/m`, stored per second; a bare number is per second.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Rate(pub f64);

impl UnitValue for Rate {
    const EXPECTING: &'static str = "a rate such as \"30/s\" or \"1800/m\"";
    fn from_text(v: &str) -> Result<Self, UnitError> {
        let (number, unit) = v.split_once('/').unwrap_or((v, "s"));
        let per_second = match unit.trim() {
            "s" | "sec" => 1.0,
            "m" | "min" => 1.0 / 60.0,
            "h" => 1.0 / 3600.0,
            other => {
                return Err(UnitError::RateUnit {
                    unit: other.into(),
                    text: v.into(),
                });
            }
        };
        let value: f64 = number
            .trim()
            .parse()
            .map_err(|_| UnitError::NotARate(v.into()))?;
        Self::from_number(value * per_second)
            .map_err(|_| UnitError::InvalidRate(format!("\"{v}\"")))
    }
    fn from_number(number: f64) -> Result<Self, UnitError> {
        if !number.is_finite() || number < 0.0 {
            return Err(UnitError::InvalidRate(number.to_string()));
        }
        Ok(Rate(number))
    }
}

unit_value!(Rate, "Rate", {
    "description": "A rate: \"30/s\", \"1800/m\", or a number per second.",
    "anyOf": [{ "type": "string", "pattern": "^\\s*[0-9.]+\\s*(/\\s*(s|sec|m|min|h))?\\s*$" }, { "type": "number", "minimum": 0 }]
});

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

/// A limit on a server header's values: a number (a count such as
/// `X-SQL-Queries`, or a value in the header's own unit) or a duration (`50ms`),
/// compared in milliseconds, as timing headers are recorded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeaderLimit {
    pub value: f64,
    /// Written as a duration.
    pub is_time: bool,
}

impl UnitValue for HeaderLimit {
    const EXPECTING: &'static str = "a number such as 20, or a duration such as \"50ms\"";
    fn from_text(text: &str) -> Result<Self, UnitError> {
        if let Ok(number) = text.trim().parse::<f64>() {
            return Self::from_number(number);
        }
        let d = parse_duration(text)?;
        Ok(HeaderLimit {
            value: d.as_secs_f64() * 1e3,
            is_time: true,
        })
    }
    fn from_number(number: f64) -> Result<Self, UnitError> {
        if !number.is_finite() {
            return Err(UnitError::NotALimit(number));
        }
        Ok(HeaderLimit {
            value: number,
            is_time: false,
        })
    }
}

unit_value!(HeaderLimit, "HeaderLimit", {
    "description": "A number (counts such as X-SQL-Queries) or a duration with its unit (\"50ms\"; Server-Timing components are durations).",
    "anyOf": [
        { "type": "number" },
        { "type": "string", "pattern": "^\\s*([0-9.]+\\s*(us|µs|ms|s|sec|m|min|h)\\s*)+$" }
    ]
});

/// A whole number written as a number (`users: 50`). A quoted `"50"` is a
/// string to YAML and to the JSON Schema editors check against, so gander
/// refuses it too rather than read it differently from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Count(pub u64);

impl UnitValue for Count {
    const EXPECTING: &'static str = "a whole number such as 50";
    fn from_text(text: &str) -> Result<Self, UnitError> {
        Err(match text.trim().parse::<u64>() {
            Ok(n) => UnitError::QuotedCount {
                text: text.into(),
                number: n,
            },
            Err(_) => UnitError::NotACount(text.into()),
        })
    }
    fn from_number(number: f64) -> Result<Self, UnitError> {
        if number < 0.0 || number.fract() != 0.0 || number > u64::MAX as f64 {
            return Err(UnitError::NegativeCount(number));
        }
        Ok(Count(number as u64))
    }
}

unit_value!(Count, "Count", {
    "description": "A whole number, written without quotes.",
    "type": "integer",
    "minimum": 0
});

/// A CPU limit: `180%` of one core (a SUT with workers may use several), or a
/// share of the whole machine, `60% of machine` (the seeds' "CPU < 60 %").
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CpuLimit {
    /// Percent of one core.
    OfCore(f64),
    /// Percent of all the machine's cores.
    OfMachine(f64),
}

impl CpuLimit {
    /// The limit in percent of one core, on a machine with `cores` cores.
    pub fn percent_of_core(self, cores: usize) -> f64 {
        match self {
            CpuLimit::OfCore(p) => p,
            CpuLimit::OfMachine(p) => p * cores as f64,
        }
    }
}

impl UnitValue for CpuLimit {
    const EXPECTING: &'static str =
        "a CPU share such as \"60%\" (of one core) or \"60% of machine\"";
    fn from_text(text: &str) -> Result<Self, UnitError> {
        let t = text.trim();
        let (number, of_machine) = match t.strip_suffix("of machine") {
            Some(rest) => (rest.trim(), true),
            None => (t, false),
        };
        let value: f64 = number
            .strip_suffix('%')
            .ok_or_else(|| UnitError::CpuPercentSign(text.into()))?
            .trim()
            .parse()
            .map_err(|_| UnitError::NotACpuShare(text.into()))?;
        if !value.is_finite() || value < 0.0 {
            return Err(UnitError::InvalidCpuShare(text.into()));
        }
        if of_machine {
            if value > 100.0 {
                return Err(UnitError::MoreThanTheMachine(value));
            }
            return Ok(CpuLimit::OfMachine(value));
        }
        Ok(CpuLimit::OfCore(value))
    }
    fn from_number(number: f64) -> Result<Self, UnitError> {
        Err(UnitError::BareCpu(number))
    }
}

unit_value!(CpuLimit, "CpuLimit", {
    "description": "CPU in percent of one core (\"180%\" for a SUT using nearly two cores), or of the whole machine (\"60% of machine\").",
    "type": "string",
    "pattern": "^\\s*[0-9.]+\\s*%\\s*(of machine)?\\s*$"
});

/// A size such as `512MiB`, `1.5GB` or `300kB`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Bytes(pub f64);

/// Parses `512MiB`, `512MB`, `2g`, `4096B`; binary (KiB) and decimal (kB) units
/// both work. A number needs its unit: a bare `512` could mean bytes or MiB.
pub fn parse_bytes(text: &str) -> Result<f64, UnitError> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| UnitError::NotASize(text.into()))?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" => return Err(UnitError::BareSize(number.into())),
        "b" | "bytes" => 1.0,
        "kb" | "k" => 1e3,
        "kib" => 1024.0,
        "mb" | "m" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "gb" | "g" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(UnitError::SizeUnit {
                unit: other.into(),
                text: text.into(),
            });
        }
    };
    Ok(value * factor)
}

impl UnitValue for Bytes {
    const EXPECTING: &'static str = "a size such as \"512MiB\"";
    fn from_text(text: &str) -> Result<Self, UnitError> {
        parse_bytes(text).map(Bytes)
    }
    fn from_number(number: f64) -> Result<Self, UnitError> {
        Err(UnitError::BareSize(number.to_string()))
    }
}

unit_value!(Bytes, "Bytes", {
    "description": "A size with its unit, such as \"512MiB\", \"1GB\" or \"4096B\".",
    "type": "string",
    "pattern": "^\\s*[0-9.]+\\s*([kKmMgG]i?[bB]?|[bB]|bytes)\\s*$"
});

/// The HTTP version users speak: `1.1` (the default), `2` (HTTP/2 negotiated
/// by TLS ALPN; a server that only speaks HTTP/1.1 answers in it, and the
/// report shows which it was) or `h2c` (HTTP/2 with prior knowledge over plain TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum HttpVersion {
    #[default]
    #[serde(rename = "1.1")]
    Http1,
    #[serde(rename = "2")]
    Http2,
    #[serde(rename = "h2c")]
    H2c,
}

impl HttpVersion {
    pub fn label(self) -> &'static str {
        match self {
            HttpVersion::Http1 => "1.1",
            HttpVersion::Http2 => "2",
            HttpVersion::H2c => "h2c",
        }
    }
}

impl std::str::FromStr for HttpVersion {
    type Err = UnitError;
    fn from_str(text: &str) -> Result<Self, UnitError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "1.1" | "http/1.1" => Ok(HttpVersion::Http1),
            "2" | "2.0" | "h2" | "http/2" => Ok(HttpVersion::Http2),
            "h2c" => Ok(HttpVersion::H2c),
            _ => Err(UnitError::HttpVersion(format!("\"{text}\""))),
        }
    }
}

impl UnitValue for HttpVersion {
    const EXPECTING: &'static str = "1.1, 2 or h2c";
    fn from_text(text: &str) -> Result<Self, UnitError> {
        text.parse()
    }
    fn from_number(number: f64) -> Result<Self, UnitError> {
        match number {
            1.1 => Ok(HttpVersion::Http1),
            2.0 => Ok(HttpVersion::Http2),
            _ => Err(UnitError::HttpVersion(number.to_string())),
        }
    }
}

unit_value!(HttpVersion, "HttpVersion", {
    "description": "The HTTP version users speak: 1.1 (default), 2 (HTTP/2 negotiated by TLS ALPN) or h2c (HTTP/2 with prior knowledge over plain TCP).",
    "enum": [1.1, 2, "1.1", "2", "h2c"]
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_fractions() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500us"), Ok(Duration::from_micros(500)));
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("ms").is_err());
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
        assert_eq!(parse_bytes("4096B"), Ok(4096.0));
        assert!(
            parse_bytes("12 parsecs")
                .unwrap_err()
                .to_string()
                .contains("unknown size unit")
        );
        assert!(parse_bytes("MiB").is_err());
    }

    #[test]
    fn a_number_without_its_unit_is_refused_with_the_fix() {
        let time = |yaml: &str| serde_saphyr::from_str::<Dur>(yaml).unwrap_err().to_string();
        assert!(time("100").contains("100 has no unit: write 100ms or 100s"));
        assert!(time("0.5").contains("write 0.5ms or 0.5s"));
        assert!(
            parse_duration("30")
                .unwrap_err()
                .to_string()
                .contains("write 30ms or 30s")
        );
        let think = serde_saphyr::from_str::<ThinkTime>("2")
            .unwrap_err()
            .to_string();
        assert!(think.contains("write 2ms or 2s"), "{think}");
        let size = serde_saphyr::from_str::<Bytes>("512")
            .unwrap_err()
            .to_string();
        assert!(size.contains("write 512MiB, 512MB or 512B"), "{size}");
        assert!(
            parse_bytes("512")
                .unwrap_err()
                .to_string()
                .contains("512MiB")
        );
        // Units still read as before.
        assert_eq!(
            serde_saphyr::from_str::<Dur>("250ms").unwrap().0,
            Duration::from_millis(250)
        );
        assert_eq!(serde_saphyr::from_str::<Rate>("40").unwrap().0, 40.0);
    }
}
