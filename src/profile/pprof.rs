//! Decoding `profile.proto` (Go `net/http/pprof`, pprof-rs, any compatible
//! server), gzip-compressed or raw, into folded stacks.

use std::collections::{BTreeMap, HashMap};

use prost::Message;

use super::proto::Profile;

use super::folded::Folded;

/// A decoded profile: its stacks, which value column they count, and its length.
#[derive(Debug)]
pub struct Decoded {
    pub folded: Folded,
    /// The stacks of samples labelled `gander.request`, by the label's value.
    pub by_request: BTreeMap<String, Folded>,
    /// e.g. `samples/count`.
    pub value_type: String,
    pub duration_s: Option<f64>,
}

/// The label a SUT names the request in flight with (from gander's `baggage` header).
pub const REQUEST_LABEL: &str = "gander.request";
/// At most this many distinct request labels are kept; samples of later ones
/// count in the whole profile only.
const MAX_LABELS: usize = 1000;

/// gzip streams start with these two bytes.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Why bytes are not a CPU profile gander can read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the profile is empty (0 bytes)")]
    Empty,
    #[error("the profile is {0} once decompressed (a gzip bomb?)")]
    Bomb(crate::bounded::ReadError),
    #[error("the gzip stream is damaged or truncated: {0}")]
    Gzip(crate::bounded::ReadError),
    /// `head`: the first bytes, control characters shown as dots.
    #[error("not a pprof profile.proto ({source}); it starts with {head:?}")]
    NotPprof {
        source: prost::DecodeError,
        head: String,
    },
    #[error("the profile has no sample types: not a CPU profile")]
    NoSampleTypes,
}

pub fn decode(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    let raw;
    let data = if is_gzip(bytes) {
        raw =
            crate::bounded::gunzip(bytes, crate::bounded::OBSERVED_LIMIT).map_err(|e| match e {
                crate::bounded::ReadError::TooLarge { .. } => DecodeError::Bomb(e),
                e => DecodeError::Gzip(e),
            })?;
        &raw[..]
    } else {
        bytes
    };
    let profile = Profile::decode(data).map_err(|source| DecodeError::NotPprof {
        source,
        head: String::from_utf8_lossy(&bytes[..bytes.len().min(60)])
            .chars()
            .map(|c| if c.is_control() { '.' } else { c })
            .collect(),
    })?;
    to_folded(&profile)
}

fn to_folded(p: &Profile) -> Result<Decoded, DecodeError> {
    let string = |i: i64| {
        p.string_table
            .get(i as usize)
            .map(String::as_str)
            .unwrap_or("")
    };
    if p.sample_type.is_empty() {
        return Err(DecodeError::NoSampleTypes);
    }
    let column = value_column(p, &string);
    let value_type = format!(
        "{}/{}",
        string(p.sample_type[column].ty),
        string(p.sample_type[column].unit)
    );
    let functions: HashMap<u64, &str> = p.function.iter().map(|f| (f.id, string(f.name))).collect();
    // Location ids are not dense.
    let locations: HashMap<u64, Vec<&str>> = p
        .location
        .iter()
        .map(|l| {
            let names = if l.line.is_empty() {
                vec![]
            } else {
                // line[0] is the innermost inlined function.
                l.line
                    .iter()
                    .rev()
                    .map(|line| functions.get(&line.function_id).copied().unwrap_or(""))
                    .collect()
            };
            (l.id, names)
        })
        .collect();
    let mut folded = Folded::default();
    let mut by_request: BTreeMap<String, Folded> = BTreeMap::new();
    let request_key = p.string_table.iter().position(|s| s == REQUEST_LABEL);
    let mut frames: Vec<String> = Vec::new();
    for sample in &p.sample {
        let Some(&value) = sample.value.get(column) else {
            continue;
        };
        if value <= 0 {
            continue;
        }
        frames.clear();
        // location_id[0] is the leaf: walk from the root.
        for id in sample.location_id.iter().rev() {
            match locations.get(id) {
                Some(names) if !names.is_empty() => {
                    frames.extend(names.iter().map(|n| frame_name(n, *id)))
                }
                _ => frames.push(format!("0x{id:x}")),
            }
        }
        if frames.is_empty() {
            frames.push("[unknown]".into());
        }
        let stack = frames.join(";");
        let label = sample
            .label
            .iter()
            .find(|l| Some(l.key as usize) == request_key && l.str > 0)
            .map(|l| string(l.str));
        add_labelled(&mut by_request, label, &stack, value as u64);
        folded.add(&stack, value as u64);
    }
    Ok(Decoded {
        folded,
        by_request,
        value_type,
        duration_s: (p.duration_nanos > 0).then(|| p.duration_nanos as f64 / 1e9),
    })
}

/// The value column to read. The sample count is exact; the time column is
/// derived from it and the frequency (pprof-rs under-reports time above the
/// kernel's tick rate).
fn value_column<'a>(p: &'a Profile, string: &dyn Fn(i64) -> &'a str) -> usize {
    p.sample_type
        .iter()
        .position(|t| string(t.ty) == "samples")
        .or_else(|| p.sample_type.iter().position(|t| string(t.ty) == "cpu"))
        .or_else(|| {
            (p.default_sample_type != 0).then(|| {
                p.sample_type
                    .iter()
                    .position(|t| t.ty == p.default_sample_type)
            })?
        })
        .unwrap_or(p.sample_type.len() - 1)
}

/// Adds a sample labelled `label` to its request name's stacks (at most
/// `MAX_LABELS` names: a SUT's endless labels cannot grow the map).
fn add_labelled(by: &mut BTreeMap<String, Folded>, label: Option<&str>, stack: &str, n: u64) {
    if let Some(name) = label
        && (by.len() < MAX_LABELS || by.contains_key(name))
    {
        by.entry(name.to_string()).or_default().add(stack, n);
    }
}

/// A frame name safe for the folded format (no `;`, no spaces at the ends).
fn frame_name(name: &str, id: u64) -> String {
    let name = name.trim();
    if name.is_empty() {
        format!("0x{id:x}")
    } else {
        name.replace(';', ":")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::proto::{Function, Line, Location, Sample, ValueType};

    fn profile() -> Profile {
        let strings = [
            "",
            "samples",
            "count",
            "cpu",
            "nanoseconds",
            "main",
            "handler",
            "inlined",
            "gander.request",
            "list bookings",
        ];
        Profile {
            string_table: strings.iter().map(|s| s.to_string()).collect(),
            sample_type: vec![ValueType { ty: 1, unit: 2 }, ValueType { ty: 3, unit: 4 }],
            function: vec![
                Function { id: 10, name: 5 },
                Function { id: 20, name: 6 },
                Function { id: 30, name: 7 },
            ],
            location: vec![
                Location {
                    id: 7,
                    line: vec![Line {
                        function_id: 10,
                        line: 1,
                    }],
                },
                // An inlined frame: line[0] is innermost.
                Location {
                    id: 900,
                    line: vec![
                        Line {
                            function_id: 30,
                            line: 2,
                        },
                        Line {
                            function_id: 20,
                            line: 3,
                        },
                    ],
                },
            ],
            sample: vec![
                Sample {
                    location_id: vec![900, 7],
                    value: vec![3, 30_000_000],
                    label: vec![crate::profile::proto::Label { key: 8, str: 9 }],
                },
                Sample {
                    location_id: vec![7],
                    value: vec![2, 20_000_000],
                    label: vec![],
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn decodes_gzip_and_raw_with_inlined_frames_root_first() {
        let raw = profile().encode_to_vec();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).unwrap();
        let gz = gz.finish().unwrap();
        for bytes in [&raw, &gz] {
            let d = decode(bytes).unwrap();
            assert_eq!(d.value_type, "samples/count");
            assert_eq!(d.folded.to_text(), "main 2\nmain;handler;inlined 3\n");
            // The labelled sample alone, under its request name.
            assert_eq!(d.by_request.len(), 1);
            assert_eq!(
                d.by_request["list bookings"].to_text(),
                "main;handler;inlined 3\n"
            );
        }
        let truncated = &gz[..gz.len() / 2];
        assert!(
            decode(truncated)
                .unwrap_err()
                .to_string()
                .contains("truncated")
        );
        assert!(
            decode(b"<html>404 page not found</html>")
                .unwrap_err()
                .to_string()
                .contains("not a pprof")
        );
        assert!(decode(b"").unwrap_err().to_string().contains("empty"));
    }
}
