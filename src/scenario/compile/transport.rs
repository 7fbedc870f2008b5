//! Compiles `http:` and `tls:`: the HTTP version users speak, and the PEM
//! files TLS trusts and presents, read and checked now (exists, parses, a key
//! that matches its certificate) so that a broken file fails `gander check`
//! with its location rather than every request of a run.

use std::path::{Path, PathBuf};

use super::Compiler;
use crate::net::tls::{self, ClientIdentity, TlsPlan};
use crate::scenario::files;
use crate::scenario::model;
use crate::scenario::spanned::{Loc, Sp};
use crate::scenario::units::HttpVersion;

/// A TLS file: where it is read from, how to show it, and where the file
/// names it (`None`: a flag).
type TlsFile = (PathBuf, String, Option<Loc>);

/// The largest PEM file gander reads: bundles of every public CA are ~250KiB.
pub const MAX_PEM_BYTES: u64 = 4 * 1024 * 1024;

/// The TLS flags of `gander run` (`--insecure`, `--ca`, `--client-cert`, `--client-key`).
#[derive(Debug, Clone, Default)]
pub struct TlsFlags {
    pub insecure: bool,
    pub ca: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// Which PEM a file should hold.
#[derive(Debug, Clone, Copy)]
pub enum PemKind {
    Ca,
    ClientCert,
    ClientKey,
}

/// The PEM items of `path`, or what is wrong with it (never its contents).
pub enum Pem {
    Certs(Vec<rustls::pki_types::CertificateDer<'static>>),
    Key(rustls::pki_types::PrivateKeyDer<'static>),
}

/// Why a PEM file cannot be used: a sentence about the path as the user
/// wrote it (never the file's contents), and `help` says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum PemError {
    #[error("cannot read \"{shown}\": {source}")]
    Read {
        shown: String,
        kind: PemKind,
        source: files::FileError,
    },
    #[error("\"{shown}\" is not usable: {source}")]
    Unusable {
        shown: String,
        kind: PemKind,
        source: tls::TlsError,
    },
}

impl PemError {
    /// What to give instead.
    pub fn help(&self) -> &'static str {
        let (PemError::Read { kind, .. } | PemError::Unusable { kind, .. }) = self;
        match kind {
            PemKind::Ca => {
                "give a PEM file of CA certificates (-----BEGIN CERTIFICATE-----), \
                        relative to the scenario file"
            }
            PemKind::ClientCert => {
                "give the client's PEM certificate (-----BEGIN CERTIFICATE-----), \
                                relative to the scenario file"
            }
            PemKind::ClientKey => {
                "give the client's PEM private key (-----BEGIN PRIVATE KEY-----), \
                               relative to the scenario file"
            }
        }
    }
}

/// Reads and checks one PEM file; `shown` is the path as the user wrote it.
pub fn read_pem(path: &Path, shown: &str, kind: PemKind) -> Result<Pem, PemError> {
    let bytes = files::open_regular(path, MAX_PEM_BYTES)
        .and_then(|mut f| {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut bytes)?;
            Ok(bytes)
        })
        .map_err(|source| PemError::Read {
            shown: shown.to_string(),
            kind,
            source,
        })?;
    let parsed = match kind {
        PemKind::Ca => tls::parse_certificates(&bytes).and_then(|certs| {
            tls::check_ca(&certs)?;
            Ok(Pem::Certs(certs))
        }),
        PemKind::ClientCert => tls::parse_certificates(&bytes).map(Pem::Certs),
        PemKind::ClientKey => tls::parse_private_key(&bytes).map(Pem::Key),
    };
    parsed.map_err(|source| PemError::Unusable {
        shown: shown.to_string(),
        kind,
        source,
    })
}

impl Compiler<'_> {
    /// The HTTP version: the flag's, else the file's, checked against the host's scheme.
    pub(super) fn http_version(
        &mut self,
        http: Option<&Sp<HttpVersion>>,
        flag: Option<HttpVersion>,
        host: Option<&str>,
    ) -> HttpVersion {
        let (version, loc) = match (flag, http) {
            (Some(v), _) => (v, None),
            (None, Some(v)) => (v.value, Some(v.loc)),
            (None, None) => return HttpVersion::Http1,
        };
        let https = host.is_some_and(|h| h.starts_with("https:"));
        let problem = match version {
            HttpVersion::Http2 if host.is_some() && !https => Some((
                "http: 2 negotiates HTTP/2 by TLS (ALPN), but the host is http://",
                "use an https:// host, or http: h2c for HTTP/2 over plain TCP",
            )),
            HttpVersion::H2c if https => Some((
                "http: h2c is HTTP/2 over plain TCP, but the host is https://",
                "write http: 2 for HTTP/2 over TLS",
            )),
            _ => None,
        };
        if let Some((message, help)) = problem {
            let loc = loc.unwrap_or(Loc { line: 1, column: 1 });
            let message = if flag.is_some() {
                message.replace("http: ", "--http ")
            } else {
                message.to_string()
            };
            self.error_help(loc, message, help);
        }
        version
    }

    /// `tls:` with the flags laid over it, its files read and checked.
    pub(super) fn tls(&mut self, tls: Option<&Sp<model::Tls>>, flags: &TlsFlags) -> TlsPlan {
        let empty = model::Tls::default();
        let t = tls.map(|t| &t.value).unwrap_or(&empty);
        let mut plan = TlsPlan {
            insecure: flags.insecure || t.insecure.as_ref().is_some_and(|i| i.value),
            ..TlsPlan::default()
        };
        // A flag's path is the user's, relative to where gander runs.
        let from_flag = |p: &PathBuf| (p.clone(), p.display().to_string(), None);
        let from_file = |s: &Sp<String>| {
            (
                self.dir.join(s.value.as_str()),
                s.value.clone(),
                Some(s.loc),
            )
        };
        let ca = flags
            .ca
            .as_ref()
            .map(from_flag)
            .or_else(|| t.ca.as_ref().map(from_file));
        let cert = flags
            .client_cert
            .as_ref()
            .map(from_flag)
            .or_else(|| t.client_cert.as_ref().map(from_file));
        let key = flags
            .client_key
            .as_ref()
            .map(from_flag)
            .or_else(|| t.client_key.as_ref().map(from_file));

        if let Some((path, shown, loc)) = &ca
            && let Some(Pem::Certs(certs)) = self.pem(path, shown, *loc, "tls.ca", PemKind::Ca)
        {
            plan.ca = Some((shown.clone(), certs));
        }
        plan.client = self.client_identity(cert.as_ref(), key.as_ref());
        if let Some(name) = &t.server_name {
            match rustls::pki_types::ServerName::try_from(name.value.as_str()) {
                Ok(_) => plan.server_name = Some(name.value.clone()),
                Err(_) => self.error_help(
                    name.loc,
                    format!(
                        "tls.server_name \"{}\" is not a DNS name or an IP address",
                        name.value
                    ),
                    "give a name the server's certificate holds, e.g. staging.example.com",
                ),
            }
        }
        plan
    }

    /// The client certificate and its key, read and checked to belong together.
    fn client_identity(
        &mut self,
        cert: Option<&TlsFile>,
        key: Option<&TlsFile>,
    ) -> Option<ClientIdentity> {
        match (cert, key) {
            (Some((cert_path, cert_shown, cert_loc)), Some((key_path, key_shown, key_loc))) => {
                let chain = self.pem(
                    cert_path,
                    cert_shown,
                    *cert_loc,
                    "tls.client_cert",
                    PemKind::ClientCert,
                );
                let key = self.pem(
                    key_path,
                    key_shown,
                    *key_loc,
                    "tls.client_key",
                    PemKind::ClientKey,
                );
                if let (Some(Pem::Certs(chain)), Some(Pem::Key(key))) = (chain, key) {
                    match tls::check_identity(&chain, &key) {
                        Ok(()) => {
                            return Some(ClientIdentity {
                                cert_file: cert_shown.clone(),
                                key_file: key_shown.clone(),
                                chain,
                                key: std::sync::Arc::new(key),
                            });
                        }
                        Err(why) => self.error_help(
                            key_loc.unwrap_or(Loc { line: 1, column: 1 }),
                            format!("tls.client_key \"{key_shown}\" does not go with tls.client_cert \"{cert_shown}\": {why}"),
                            "give the private key the client certificate was issued for",
                        ),
                    }
                }
            }
            (Some((_, _, loc)), None) => self.error_help(
                loc.unwrap_or(Loc { line: 1, column: 1 }),
                "tls.client_cert needs tls.client_key",
                "add client_key: the PEM private key of the client certificate",
            ),
            (None, Some((_, _, loc))) => self.error_help(
                loc.unwrap_or(Loc { line: 1, column: 1 }),
                "tls.client_key needs tls.client_cert",
                "add client_cert: the PEM certificate the key belongs to",
            ),
            (None, None) => {}
        }
        None
    }

    /// One PEM file, its problem reported at `loc` (or against the flag).
    fn pem(
        &mut self,
        path: &Path,
        shown: &str,
        loc: Option<Loc>,
        key: &str,
        kind: PemKind,
    ) -> Option<Pem> {
        match read_pem(path, shown, kind) {
            Ok(pem) => Some(pem),
            Err(e) => {
                self.error_help(
                    loc.unwrap_or(Loc { line: 1, column: 1 }),
                    format!("{key}: {e}"),
                    e.help(),
                );
                None
            }
        }
    }
}
