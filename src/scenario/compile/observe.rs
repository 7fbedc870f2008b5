//! Compiles the `sut:` and `profile:` blocks: what to launch, what to sample,
//! which profiler to run. Values are constants (`${env.X}` and variables only).

use std::time::Duration;

use indexmap::IndexMap;

use super::{Compiler, GlobalScope, header_name};
use crate::scenario::model;
use crate::scenario::plan::*;
use crate::scenario::spanned::{Loc, Sp};
use crate::scenario::template::Template;

const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// A profiler chosen on the command line (`--profile`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileChoice {
    None,
    /// `pprof` alone uses the file's URL, else `/debug/pprof/profile`.
    Pprof(Option<String>),
    PySpy,
    Perf,
}

/// Why `--profile`'s value names no profiler.
#[derive(Debug, thiserror::Error)]
pub enum ProfileChoiceError {
    #[error("unknown profiler \"{0}\" (expected pprof, pprof=URL, py-spy, perf or none)")]
    Unknown(String),
    #[error("expected pprof=URL, got \"{0}\"")]
    NoUrl(String),
}

impl std::str::FromStr for ProfileChoice {
    type Err = ProfileChoiceError;
    fn from_str(s: &str) -> Result<Self, ProfileChoiceError> {
        match s.split_once('=') {
            Some(("pprof", url)) if !url.is_empty() => Ok(ProfileChoice::Pprof(Some(url.into()))),
            None => match s {
                "none" | "off" => Ok(ProfileChoice::None),
                "pprof" => Ok(ProfileChoice::Pprof(None)),
                "py-spy" => Ok(ProfileChoice::PySpy),
                "perf" => Ok(ProfileChoice::Perf),
                _ => Err(ProfileChoiceError::Unknown(s.to_string())),
            },
            _ => Err(ProfileChoiceError::NoUrl(s.to_string())),
        }
    }
}

impl Compiler<'_> {
    /// A value that may use `${env.X}` and variables, and nothing per-user.
    fn constant(&mut self, value: &Sp<String>) -> Option<String> {
        match Template::compile(value, &GlobalScope(self)) {
            Ok(t) => match t.as_constant() {
                Some(text) => Some(text.to_string()),
                None => {
                    self.error(
                        value.loc,
                        "only ${env.NAME} and variables can be used here, not per-request built-ins",
                    );
                    None
                }
            },
            Err(e) => {
                self.error(value.loc, e.to_string());
                None
            }
        }
    }

    /// A URL, or a path on `host`.
    fn endpoint_url(&mut self, value: &Sp<String>, host: Option<&str>) -> Option<String> {
        let text = self.constant(value)?;
        if text.starts_with('/') {
            return host.map(|h| format!("{h}{text}"));
        }
        match url::Url::parse(&text) {
            Ok(url) if url.scheme() == "http" && url.host().is_some() => Some(text),
            _ => {
                self.error_help(
                    value.loc,
                    format!(
                        "\"{}\" is neither a path on the host nor an http:// URL",
                        self.masked(crate::redact::url(&text))
                    ),
                    "write a path such as /metrics, or a URL such as http://127.0.0.1:9090/metrics",
                );
                None
            }
        }
    }

    fn http_source(
        &mut self,
        url: &Sp<String>,
        headers: &IndexMap<String, Sp<String>>,
        host: Option<&str>,
    ) -> Option<HttpSource> {
        let url = self.endpoint_url(url, host);
        let mut out = Vec::new();
        for (key, value) in headers {
            let name = match header_name(key, value.loc) {
                Ok(n) => n,
                Err(d) => {
                    self.problems.push(d);
                    continue;
                }
            };
            if let Some(v) = self.constant(value) {
                let problem = super::header_value_problem(key, [v.as_str()], value.loc);
                self.problems.extend(problem);
                self.note_credential(key, &v);
                out.push((name, v));
            }
        }
        Some(HttpSource {
            url: url?,
            headers: out,
        })
    }

    fn pointer(&mut self, p: &Sp<String>) -> Option<String> {
        if p.value.is_empty() || p.value.starts_with('/') {
            Some(p.value.clone())
        } else {
            self.problems.push(super::not_a_pointer(&p.value, p.loc));
            None
        }
    }

    pub(super) fn sut(
        &mut self,
        sut: Option<&Sp<model::Sut>>,
        host: Option<&str>,
        sut_pid: Option<u32>,
    ) -> SutPlan {
        let mut plan = SutPlan::default();
        let Some(sut) = sut else {
            plan.process = sut_pid.map(ProcessSelector::Pid);
            return plan;
        };
        if let Some(interval) = &sut.interval {
            if interval.value.0 < Duration::from_millis(100) {
                self.error(interval.loc, "the sampling interval must be at least 100ms");
            }
            plan.interval = interval.value.0.max(Duration::from_millis(100));
        }
        let chosen = [
            sut.command.as_ref().map(|c| c.loc),
            sut.pid.as_ref().map(|p| p.loc),
            sut.process.as_ref().map(|p| p.loc),
        ];
        if chosen.iter().flatten().count() > 1 {
            let loc = chosen.iter().flatten().nth(1).copied().unwrap_or(sut.loc);
            self.error(loc, "give only one of sut.command, sut.pid and sut.process");
        }
        if let Some(command) = &sut.command {
            plan.launch = self.launch(sut, command, host);
            plan.process = Some(ProcessSelector::Launched);
        } else {
            for (key, loc) in [
                ("cwd", sut.cwd.as_ref().map(|c| c.loc)),
                ("ready", sut.ready.as_ref().map(|c| c.loc)),
                ("ready_timeout", sut.ready_timeout.as_ref().map(|c| c.loc)),
                ("env", sut.env.values().next().map(|c| c.loc)),
            ] {
                if let Some(loc) = loc {
                    self.error(loc, format!("sut.{key} only applies with sut.command"));
                }
            }
        }
        if let Some(pid) = &sut.pid {
            plan.process = Some(ProcessSelector::Pid(pid.value));
        }
        if let Some(name) = &sut.process {
            plan.process = self.constant(name).map(ProcessSelector::Name);
        }
        if let Some(pid) = sut_pid {
            plan.process = Some(ProcessSelector::Pid(pid));
        }
        if let Some(p) = &sut.prometheus {
            plan.prometheus =
                self.http_source(&p.url, &p.headers, host)
                    .map(|http| PrometheusPlan {
                        http,
                        series: p.series.iter().map(|s| s.value.clone()).collect(),
                    });
        }
        if let Some(j) = &sut.json {
            plan.json = self.json_metrics(j, host);
        }
        if let Some(h) = &sut.health {
            let status = match &h.status {
                Some(p) => self.pointer(p).filter(|p| !p.is_empty()),
                None => Some("/status".to_string()),
            };
            plan.health = self
                .http_source(&h.url, &h.headers, host)
                .map(|http| HealthPlan {
                    http,
                    status_pointer: status,
                });
        }
        plan
    }

    fn launch(
        &mut self,
        sut: &model::Sut,
        command: &Sp<Vec<Sp<String>>>,
        host: Option<&str>,
    ) -> Option<LaunchPlan> {
        if command.value.is_empty() {
            self.error_help(
                command.loc,
                "sut.command is empty",
                "give the program and its arguments, e.g. [python3, app.py]",
            );
            return None;
        }
        let argv: Vec<Option<String>> = command.iter().map(|a| self.constant(a)).collect();
        for value in argv_secrets(argv.iter().flatten().map(String::as_str)) {
            let mut secrets = self.secrets.borrow_mut();
            if !secrets.contains(&value) {
                secrets.push(value);
            }
        }
        let env: Vec<Option<(String, String)>> = sut
            .env
            .iter()
            .map(|(k, v)| self.constant(v).map(|v| (k.clone(), v)))
            .collect();
        let cwd = match &sut.cwd {
            Some(c) => {
                let dir = self.dir.join(self.constant(c)?);
                if !dir.is_dir() {
                    self.error(
                        c.loc,
                        format!("sut.cwd: {} is not a directory", dir.display()),
                    );
                }
                dir
            }
            None => self.dir.to_path_buf(),
        };
        // The SUT runs in the scenario file's folder however the file was named:
        // `gander run file.yaml` has the folder "", which is no directory to chdir to.
        let cwd = if cwd.as_os_str().is_empty() {
            std::path::PathBuf::from(".")
        } else {
            cwd
        };
        let cwd = std::path::absolute(&cwd).unwrap_or(cwd);
        let ready = match &sut.ready {
            Some(r) => Some(self.endpoint_url(r, host)?),
            None => None,
        };
        Some(LaunchPlan {
            argv: argv.into_iter().collect::<Option<_>>()?,
            cwd,
            env: env.into_iter().collect::<Option<_>>()?,
            ready,
            ready_timeout: match &sut.ready_timeout {
                Some(t) if t.value.0.is_zero() => {
                    self.error_help(
                        t.loc,
                        "ready_timeout: 0s leaves the SUT no time to become ready",
                        "give it the time the SUT takes to start, e.g. ready_timeout: 30s \
                         (default 60s), or remove the key",
                    );
                    DEFAULT_READY_TIMEOUT
                }
                Some(t) => t.value.0,
                None => DEFAULT_READY_TIMEOUT,
            },
            // Set once the whole file is compiled.
            secrets: Default::default(),
        })
    }

    fn json_metrics(
        &mut self,
        j: &Sp<model::JsonSource>,
        host: Option<&str>,
    ) -> Option<JsonMetricsPlan> {
        let memory_factor = match &j.memory_unit {
            None => 1e6,
            Some(u) => match crate::scenario::units::parse_bytes(&format!("1{}", u.value)) {
                Ok(f) => f,
                Err(_) => {
                    self.error(
                        u.loc,
                        format!(
                            "unknown memory unit \"{}\" (bytes, kb, kib, mb, mib, gb, gib)",
                            u.value
                        ),
                    );
                    1.0
                }
            },
        };
        if j.cpu.is_none() && j.memory.is_none() && j.series.is_empty() {
            self.error(
                j.loc,
                "sut.json reads nothing: give cpu, memory or series pointers",
            );
        }
        let cpu = j.cpu.as_ref().and_then(|p| self.pointer(p));
        let memory = j.memory.as_ref().and_then(|p| self.pointer(p));
        let series = j
            .series
            .iter()
            .filter_map(|(name, p)| self.pointer(p).map(|p| (name.clone(), p)))
            .collect();
        let http = self.http_source(&j.url, &j.headers, host)?;
        Some(JsonMetricsPlan {
            http,
            cpu,
            memory,
            memory_factor,
            series,
        })
    }

    pub(super) fn profile(
        &mut self,
        profile: Option<&Sp<model::Profile>>,
        choice: Option<&ProfileChoice>,
        sut: &SutPlan,
        host: Option<&str>,
        load: Option<&LoadPlan>,
    ) -> Option<ProfilePlan> {
        let file_source = profile.and_then(|p| self.profile_source(p, host));
        let source = match choice {
            None => file_source?,
            Some(ProfileChoice::None) => return None,
            Some(ProfileChoice::Pprof(url)) => {
                let url = match (url, &file_source) {
                    (Some(u), _) => self.endpoint_url(&Sp::new(u.clone(), Loc::default()), host)?,
                    (None, Some(ProfileSource::Pprof { url })) => url.clone(),
                    (None, _) => format!("{}/debug/pprof/profile", host?),
                };
                ProfileSource::Pprof { url }
            }
            Some(ProfileChoice::PySpy) => ProfileSource::PySpy {
                subprocesses: true,
                native: false,
                blocking: false,
            },
            Some(ProfileChoice::Perf) => ProfileSource::Perf { dwarf: false },
        };
        let loc = profile.map_or(Loc::default(), |p| p.loc);
        if source.needs_pid() && sut.process.is_none() {
            self.error_help(
                loc,
                format!("the {} profiler needs the SUT's process", source.label()),
                "add sut: { command: [...] }, sut: { pid: N } or sut: { process: NAME }, or pass --sut-pid",
            );
        }
        let seconds = profile.and_then(|p| p.seconds.as_ref()).map(|s| {
            if s.value.0 < Duration::from_secs(1) {
                self.error(s.loc, "a profile needs at least 1s");
            }
            if let Some(d) = load.and_then(LoadPlan::steady_length)
                && s.value.0 > d
            {
                self.error(
                    s.loc,
                    format!(
                        "the profile ({}) is longer than the steady state ({})",
                        crate::scenario::units::format_duration(s.value.0),
                        crate::scenario::units::format_duration(d)
                    ),
                );
            }
            s.value.0
        });
        Some(ProfilePlan {
            source,
            seconds,
            after: Duration::ZERO,
            rate: profile
                .and_then(|p| p.rate.as_ref())
                .map(|r| r.value.clamp(1, 1000)),
            grace: profile
                .and_then(|p| p.grace.as_ref())
                .map_or(DEFAULT_GRACE, |g| g.value.0),
            required: profile.is_some_and(|p| p.required),
            // Set once the whole file is compiled.
            secrets: Default::default(),
        })
    }

    // Long on purpose: each profiler source (pprof, py-spy, perf, command) checked in turn, each with its own located message.
    fn profile_source(
        &mut self,
        p: &Sp<model::Profile>,
        host: Option<&str>,
    ) -> Option<ProfileSource> {
        let given = [
            p.pprof.as_ref().map(|v| v.loc),
            p.py_spy.as_ref().map(|v| v.loc),
            p.perf.as_ref().map(|v| v.loc),
            p.command.as_ref().map(|v| v.loc),
        ];
        match given.iter().flatten().count() {
            0 => {
                self.error_help(
                    p.loc,
                    "profile: names no profiler",
                    "give one of pprof: /debug/pprof/profile, py-spy: {}, perf: {} or command: [...]",
                );
                return None;
            }
            1 => {}
            _ => {
                let loc = given.iter().flatten().nth(1).copied().unwrap_or(p.loc);
                self.error(loc, "give only one of pprof, py-spy, perf and command");
                return None;
            }
        }
        if p.format.is_some() && p.command.is_none() {
            self.error(
                p.format.as_ref().map_or(p.loc, |f| f.loc),
                "profile.format only applies with profile.command",
            );
        }
        if let Some(url) = &p.pprof {
            return Some(ProfileSource::Pprof {
                url: self.endpoint_url(url, host)?,
            });
        }
        if let Some(o) = &p.py_spy {
            return Some(ProfileSource::PySpy {
                subprocesses: o.subprocesses.unwrap_or(true),
                native: o.native,
                blocking: o.blocking,
            });
        }
        if let Some(o) = &p.perf {
            let dwarf = match &o.call_graph {
                None => false,
                Some(cg) => match cg.value.as_str() {
                    "fp" => false,
                    "dwarf" => true,
                    other => {
                        self.error(
                            cg.loc,
                            format!("call_graph \"{other}\": expected fp or dwarf"),
                        );
                        false
                    }
                },
            };
            return Some(ProfileSource::Perf { dwarf });
        }
        let command = p.command.as_ref()?;
        let format = match p.format.as_ref().map(|f| (f.value.as_str(), f.loc)) {
            None | Some(("folded", _)) => ProfileFormat::Folded,
            Some(("pprof", _)) => ProfileFormat::Pprof,
            Some((other, loc)) => {
                self.error(loc, format!("format \"{other}\": expected folded or pprof"));
                ProfileFormat::Folded
            }
        };
        if command.value.is_empty() {
            self.error(command.loc, "profile.command is empty");
            return None;
        }
        if !command.iter().any(|a| a.value.contains("{out}")) {
            self.error_help(
                command.loc,
                "profile.command never mentions {out}",
                "gander reads the profile from the file named by {out}",
            );
        }
        let argv: Option<Vec<String>> = command.iter().map(|a| self.constant(a)).collect();
        Some(ProfileSource::Command {
            argv: argv?,
            format,
        })
    }
}

/// Whether an option or variable name names a credential.
fn names_a_secret(name: &str) -> bool {
    let name = name.trim_start_matches('-').to_ascii_lowercase();
    [
        "token",
        "password",
        "passwd",
        "pwd",
        "secret",
        "apikey",
        "api-key",
        "api_key",
        "auth",
        "credential",
        "private-key",
        "private_key",
    ]
    .iter()
    .any(|w| name.contains(w))
        || name == "key"
        || name.ends_with("-key")
        || name.ends_with("_key")
}

/// Values written literally in a command line after a credential's name:
/// `--token=…`, `--password …` (the next argument) and `API_KEY=…`. They are
/// kept out of run.json and the console like the environment's values.
pub(super) fn argv_secrets<'a>(argv: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out = Vec::new();
    let mut next_is_secret = false;
    for arg in argv {
        if next_is_secret {
            next_is_secret = false;
            if !arg.starts_with('-') && !arg.is_empty() {
                out.push(arg.to_string());
                continue;
            }
        }
        match arg.split_once('=') {
            Some((name, value)) if names_a_secret(name) && !value.is_empty() => {
                out.push(value.to_string());
            }
            None if arg.starts_with('-') && names_a_secret(arg) => next_is_secret = true,
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod argv_tests {
    use super::argv_secrets;

    #[test]
    fn credentials_in_a_command_line_are_found() {
        let argv = [
            "app",
            "--token=t0k",
            "--password",
            "pw",
            "API_KEY=k3y",
            "--port",
            "8080",
            "--keyboard=us",
            "--verbose",
            "--secret",
            "--debug",
            "DEBUG=1",
        ];
        assert_eq!(argv_secrets(argv.into_iter()), ["t0k", "pw", "k3y"]);
    }
}
