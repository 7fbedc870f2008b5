//! TLS as gander speaks it: one rustls configuration per run (the system's
//! trust store, `tls.ca`, a client certificate, or no verification at all),
//! shared by every connection of the run (`net::Edge`), and the
//! reasons a TLS failure is reported with: one a user can act on ("certificate
//! for 127.0.0.1 is signed by an unknown authority: add its CA with tls.ca…"),
//! the same for every connection so that failures group, never the raw
//! library text (`invalid peer certificate: UnknownIssuer`).
//!
//! rustls runs on aws-lc, the provider goose's reqwest builds anyway: one TLS
//! stack in the binary. PEM contents are never printed, only file names.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError, DigitallySignedStruct, SignatureScheme};

/// What the scenario file (or the flags) say about TLS, with the PEM files read.
#[derive(Clone, Default)]
pub struct TlsPlan {
    /// Skip certificate verification (the report warns).
    pub insecure: bool,
    /// `tls.ca` as written, and the certificates it holds.
    pub ca: Option<(String, Vec<CertificateDer<'static>>)>,
    /// Mutual TLS.
    pub client: Option<ClientIdentity>,
    /// The name certificates are checked against instead of the URL's host.
    pub server_name: Option<String>,
}

/// A client certificate chain and its key.
#[derive(Clone)]
pub struct ClientIdentity {
    pub cert_file: String,
    pub key_file: String,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: Arc<PrivateKeyDer<'static>>,
}

impl std::fmt::Debug for TlsPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // File names only: the contents stay out of every text gander writes.
        f.debug_struct("TlsPlan")
            .field("insecure", &self.insecure)
            .field("ca", &self.ca.as_ref().map(|(file, _)| file))
            .field(
                "client",
                &self
                    .client
                    .as_ref()
                    .map(|c| (c.cert_file.as_str(), c.key_file.as_str())),
            )
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl TlsPlan {
    /// Whether the file or the flags set anything.
    pub fn is_default(&self) -> bool {
        !self.insecure && self.ca.is_none() && self.client.is_none() && self.server_name.is_none()
    }
}

/// Why a PEM file, a client identity or the run's TLS configuration is not usable.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("it is not valid PEM ({0})")]
    NotPem(String),
    #[error("a CERTIFICATE block in it is not an X.509 certificate")]
    NotX509,
    #[error("it holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate,
    #[error(
        "it holds no PEM private key (-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC \
         PRIVATE KEY)"
    )]
    NoPrivateKey,
    #[error("a certificate in it cannot be a trusted CA ({0})")]
    NotCa(rustls::Error),
    #[error("the key is not the one of the client certificate")]
    KeyMismatch,
    #[error("the key cannot sign ({0})")]
    CannotSign(rustls::Error),
    #[error("{0}")]
    Versions(rustls::Error),
    #[error("tls.client_cert: {0}")]
    ClientCert(rustls::Error),
}

/// The crypto provider: aws-lc, as reqwest's default.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The certificates of a PEM file's text; `Err` says why there are none.
pub fn parse_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let mut certs = Vec::new();
    for item in CertificateDer::pem_slice_iter(pem) {
        let cert = item.map_err(|e| TlsError::NotPem(pem_error(&e)))?;
        if cert_info(&cert).is_none() {
            return Err(TlsError::NotX509);
        }
        certs.push(cert);
    }
    if certs.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    Ok(certs)
}

/// The private key of a PEM file's text (PKCS#8, PKCS#1 or SEC1).
pub fn parse_private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey,
        e => TlsError::NotPem(pem_error(&e)),
    })
}

/// A PEM error without the file's bytes.
fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::MissingSectionEnd { .. } => "a section has no END line".into(),
        Error::IllegalSectionStart { .. } => "a BEGIN line is malformed".into(),
        Error::Base64Decode(_) => "a section is not base64".into(),
        Error::NoItemsFound => "nothing in it".into(),
        _ => "unreadable".into(),
    }
}

/// Checks that CA certificates can be trust anchors.
pub fn check_ca(certs: &[CertificateDer<'static>]) -> Result<(), TlsError> {
    let mut store = rustls::RootCertStore::empty();
    for cert in certs {
        store.add(cert.clone()).map_err(TlsError::NotCa)?;
    }
    Ok(())
}

/// Checks that a client key belongs to its certificate.
pub fn check_identity(
    chain: &[CertificateDer<'static>],
    key: &PrivateKeyDer<'static>,
) -> Result<(), TlsError> {
    match rustls::sign::CertifiedKey::from_der(chain.to_vec(), key.clone_key(), &provider()) {
        Ok(_) => Ok(()),
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::KeyMismatch),
        Err(e) => Err(TlsError::CannotSign(e)),
    }
}

/// The run's TLS: one verifier (the system's roots are loaded once, not per
/// user) and the client identity, from which each protocol's config is made.
pub struct Tls {
    provider: Arc<CryptoProvider>,
    verifier: Arc<Verifier>,
    client: Option<ClientIdentity>,
}

impl Tls {
    pub fn new(plan: &TlsPlan) -> Tls {
        let provider = provider();
        let check = if plan.insecure {
            Check::Nothing
        } else {
            let extra = plan
                .ca
                .as_ref()
                .map(|(_, certs)| certs.clone())
                .unwrap_or_default();
            match rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
            {
                Ok(v) => Check::Roots(Arc::new(v)),
                Err(e) => Check::NoRoots(e.to_string()),
            }
        };
        Tls {
            verifier: Arc::new(Verifier {
                check,
                provider: provider.clone(),
                ca_file: plan.ca.as_ref().map(|(file, _)| file.clone()),
            }),
            provider,
            client: plan.client.clone(),
        }
    }

    /// A client config offering `alpn` (e.g. `h2`, `http/1.1`).
    pub fn config(&self, alpn: &[&str]) -> Result<rustls::ClientConfig, TlsError> {
        let builder = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Versions)?
            .dangerous()
            .with_custom_certificate_verifier(self.verifier.clone());
        let mut config = match &self.client {
            Some(c) => builder
                .with_client_auth_cert(c.chain.clone(), c.key.clone_key())
                .map_err(TlsError::ClientCert)?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        Ok(config)
    }
}

enum Check {
    /// `tls.insecure`: any certificate (its signatures are still checked).
    Nothing,
    Roots(Arc<rustls_platform_verifier::Verifier>),
    /// The system has no CA certificates and the file gives none.
    NoRoots(String),
}

#[derive(Debug)]
struct Verifier {
    check: Check,
    provider: Arc<CryptoProvider>,
    ca_file: Option<String>,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Check::Nothing => "Nothing",
            Check::Roots(_) => "Roots",
            Check::NoRoots(_) => "NoRoots",
        })
    }
}

/// A certificate failure, explained: carried inside rustls's error up to the
/// request's reason.
#[derive(Debug)]
struct Explained(String);

impl std::fmt::Display for Explained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Explained {}

fn explained(text: String) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(
        Explained(text),
    ))))
}

const INSECURE_HINT: &str = "tls.insecure: true for a throwaway test";

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // `tls.server_name`, when set, is the name the connection asked for (SNI).
        let name = server_name;
        match &self.check {
            Check::Nothing => Ok(ServerCertVerified::assertion()),
            Check::NoRoots(why) => Err(explained(format!(
                "this machine has no CA certificates to check the certificate for {} with \
                 ({why}): add its CA with tls.ca, or {INSECURE_HINT}",
                name.to_str()
            ))),
            Check::Roots(inner) => inner
                .verify_server_cert(end_entity, intermediates, name, ocsp_response, now)
                .map_err(|e| {
                    explained(explain_certificate(
                        &e,
                        &name.to_str(),
                        end_entity,
                        self.ca_file.as_deref(),
                    ))
                }),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Why the certificate for `name` was refused, and what to do about it.
fn explain_certificate(
    e: &rustls::Error,
    name: &str,
    cert: &CertificateDer<'_>,
    ca_file: Option<&str>,
) -> String {
    let info = cert_info(cert);
    let signer = || match &info {
        Some(i) if i.self_signed() => format!(" (self-signed by {})", i.subject),
        Some(i) => format!(" (issuer {})", i.issuer),
        None => String::new(),
    };
    let add_ca = match ca_file {
        Some(file) => format!("{file} (tls.ca) does not hold its CA: add it there"),
        None => "add its CA with tls.ca".to_string(),
    };
    let rustls::Error::InvalidCertificate(kind) = e else {
        return format!("certificate for {name} refused ({e}): {INSECURE_HINT}");
    };
    match kind {
        CertificateError::UnknownIssuer => format!(
            "certificate for {name} is signed by an unknown authority{}: {add_ca}, or {INSECURE_HINT}",
            signer()
        ),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => format!(
            "certificate for {name} expired{}{}: renew it, or {INSECURE_HINT}",
            info.as_ref()
                .map(|i| format!(" on {}", i.not_after))
                .unwrap_or_default(),
            signer()
        ),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => format!(
            "certificate for {name} is not valid yet{}: check the clocks, or {INSECURE_HINT}",
            info.as_ref()
                .map(|i| format!(" (from {})", i.not_before))
                .unwrap_or_default()
        ),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            let presented = match kind {
                CertificateError::NotValidForNameContext { presented, .. }
                    if !presented.is_empty() =>
                {
                    let names: Vec<&str> = presented.iter().map(|n| presented_name(n)).collect();
                    format!(" (it names {})", names.join(", "))
                }
                _ => String::new(),
            };
            format!(
                "certificate is not valid for {name}{presented}: set tls.server_name to a name \
                 it holds, or reach the server by one"
            )
        }
        CertificateError::Revoked => format!("certificate for {name} is revoked{}", signer()),
        CertificateError::Other(other) if format!("{other:?}").contains("CaUsedAsEndEntity") => {
            format!(
                "certificate for {name} is a CA certificate used as the server's own{}: serve a \
                 leaf certificate signed by it, or {INSECURE_HINT}",
                signer()
            )
        }
        other => format!("certificate for {name} refused ({other:?}): {INSECURE_HINT}"),
    }
}

/// A name a certificate holds, as a user writes it: rustls gives them in
/// Rust's debug form (`DnsName("other.test")`, `IpAddress(10.0.0.1)`).
fn presented_name(debug: &str) -> &str {
    match debug.split_once('(') {
        Some((kind, rest)) if kind.chars().all(|c| c.is_ascii_alphabetic()) => rest
            .strip_suffix(')')
            .map(|inner| inner.trim_matches('"'))
            .unwrap_or(debug),
        _ => debug,
    }
}

/// The reason of a TLS failure found anywhere in `e`'s chain (including the
/// I/O errors that carry rustls's), or `None` when TLS is not the cause.
/// `offered` names the protocols offered by ALPN, for a server that takes none.
pub fn failure_reason(
    e: &(dyn std::error::Error + 'static),
    offered: &str,
    client_cert: bool,
) -> Option<String> {
    let tls = find_rustls_error(e)?;
    Some(match tls {
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
            match other.0.downcast_ref::<Explained>() {
                Some(text) => text.0.clone(),
                None => format!("TLS: the server's certificate was refused ({other})"),
            }
        }
        rustls::Error::InvalidCertificate(kind) => {
            format!("TLS: the server's certificate was refused ({kind:?})")
        }
        rustls::Error::AlertReceived(alert) => alert_reason(*alert, offered, client_cert),
        rustls::Error::NoApplicationProtocol => format!(
            "the server accepted none of the protocols offered by ALPN ({offered}): set http: to \
             one it speaks"
        ),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "TLS handshake failed: the server does not speak TLS there (is the host http://?)"
                .into()
        }
        other => format!("TLS error: {other}"),
    })
}

fn alert_reason(alert: AlertDescription, offered: &str, client_cert: bool) -> String {
    use AlertDescription as A;
    match alert {
        A::NoApplicationProtocol => format!(
            "the server accepted none of the protocols offered by ALPN ({offered}): it may speak \
             HTTP/2 only (set http: 2)"
        ),
        A::CertificateRequired => {
            "the server asks for a client certificate: give tls.client_cert and tls.client_key"
                .into()
        }
        A::BadCertificate
        | A::UnknownCA
        | A::CertificateUnknown
        | A::UnsupportedCertificate
        | A::CertificateExpired
        | A::CertificateRevoked
        | A::AccessDenied
        | A::HandshakeFailure
            if client_cert =>
        {
            format!(
                "the server refused the client certificate (TLS alert {alert:?}): is \
                 tls.client_cert signed by a CA the server trusts, and still valid?"
            )
        }
        A::BadCertificate | A::UnknownCA | A::CertificateUnknown | A::AccessDenied => format!(
            "the server refused the connection (TLS alert {alert:?}): it may ask for a client \
             certificate (tls.client_cert and tls.client_key)"
        ),
        other => format!("the server ended the TLS handshake (TLS alert {other:?})"),
    }
}

/// The rustls error in `e`'s chain. `std::io::Error::source` skips the error
/// it wraps, so the I/O errors rustls's travel in are opened by hand.
fn find_rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
        {
            let inner: &(dyn std::error::Error + 'static) = inner;
            if let Some(found) = find_rustls_error(inner) {
                return Some(found);
            }
        }
        next = err.source();
    }
    None
}

/// What a report says about a certificate: whom it is for, who signed it, when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub not_before: String,
    pub not_after: String,
}

impl CertInfo {
    fn self_signed(&self) -> bool {
        self.subject == self.issuer
    }
}

/// Reads the subject, issuer and validity of an X.509 certificate (DER):
/// just enough of the structure for a message, without a parser crate.
pub fn cert_info(der: &[u8]) -> Option<CertInfo> {
    let (cert, _) = der::read(der, 0x30)?;
    let (mut tbs, _) = der::read(cert, 0x30)?;
    if tbs.first() == Some(&0xA0) {
        tbs = der::skip(tbs)?; // version
    }
    tbs = der::skip(tbs)?; // serial number
    tbs = der::skip(tbs)?; // signature algorithm
    let (issuer, rest) = der::read(tbs, 0x30)?;
    let (validity, rest) = der::read(rest, 0x30)?;
    let (subject, _) = der::read(rest, 0x30)?;
    let (not_before, rest) = der::any(validity)?;
    let (not_after, _) = der::any(rest)?;
    Some(CertInfo {
        subject: der::name(subject),
        issuer: der::name(issuer),
        not_before: der::time(not_before)?,
        not_after: der::time(not_after)?,
    })
}

/// The few DER readers `cert_info` needs.
mod der {
    /// An element's tag and content, and what follows it.
    type Element<'a> = ((u8, &'a [u8]), &'a [u8]);

    /// The content of the element at the start of `data` if its tag is `tag`, and what follows.
    pub fn read(data: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let ((t, content), rest) = element(data)?;
        (t == tag).then_some((content, rest))
    }

    /// The element at the start of `data`, whatever its tag.
    pub fn any(data: &[u8]) -> Option<Element<'_>> {
        element(data)
    }

    /// What follows the element at the start of `data`.
    pub fn skip(data: &[u8]) -> Option<&[u8]> {
        element(data).map(|(_, rest)| rest)
    }

    fn element(data: &[u8]) -> Option<Element<'_>> {
        let tag = *data.first()?;
        let first = *data.get(1)?;
        let (len, header) = if first < 0x80 {
            (first as usize, 2)
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 {
                return None;
            }
            let mut len = 0usize;
            for b in data.get(2..2 + n)? {
                len = (len << 8) | *b as usize;
            }
            (len, 2 + n)
        };
        let end = header.checked_add(len)?;
        Some(((tag, data.get(header..end)?), data.get(end..)?))
    }

    /// A distinguished name as `CN=…` (or `O=…`), its most telling part.
    pub fn name(mut seq: &[u8]) -> String {
        let (mut cn, mut org) = (None, None);
        while let Some(((_, set), rest)) = element(seq) {
            seq = rest;
            let Some((attr, _)) = read(set, 0x30) else {
                continue;
            };
            let Some((oid, value)) = read(attr, 0x06) else {
                continue;
            };
            let Some(((_, text), _)) = element(value) else {
                continue;
            };
            let text = String::from_utf8_lossy(text).into_owned();
            match oid {
                [0x55, 0x04, 0x03] => cn = Some(format!("CN={text}")),
                [0x55, 0x04, 0x0A] => org = Some(format!("O={text}")),
                _ => {}
            }
        }
        cn.or(org).unwrap_or_else(|| "an unnamed subject".into())
    }

    /// A UTCTime or GeneralizedTime as `2026-01-31 23:59 UTC`.
    pub fn time((tag, text): (u8, &[u8])) -> Option<String> {
        let text = std::str::from_utf8(text).ok()?;
        let (year, rest) = match tag {
            0x17 => {
                let yy: u32 = text.get(..2)?.parse().ok()?;
                (if yy >= 50 { 1900 + yy } else { 2000 + yy }, text.get(2..)?)
            }
            0x18 => (text.get(..4)?.parse().ok()?, text.get(4..)?),
            _ => return None,
        };
        let part = |range: std::ops::Range<usize>| rest.get(range);
        Some(format!(
            "{year}-{}-{} {}:{} UTC",
            part(0..2)?,
            part(2..4)?,
            part(4..6)?,
            part(6..8)?
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed() -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    #[test]
    fn pem_files_are_read_and_refused_with_reasons() {
        let (cert, key) = self_signed();
        let certs = parse_certificates(cert.as_bytes()).unwrap();
        assert_eq!(certs.len(), 1);
        let key = parse_private_key(key.as_bytes()).unwrap();
        check_identity(&certs, &key).unwrap();
        let (_, other_key) = self_signed();
        let other_key = parse_private_key(other_key.as_bytes()).unwrap();
        assert!(
            check_identity(&certs, &other_key)
                .unwrap_err()
                .to_string()
                .contains("not the one")
        );
        assert!(
            parse_certificates(b"hello")
                .unwrap_err()
                .to_string()
                .contains("no PEM certificate")
        );
        assert!(
            parse_private_key(cert.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("no PEM private key")
        );
        let broken = cert.replace("-----END CERTIFICATE-----", "");
        assert!(parse_certificates(broken.as_bytes()).is_err());
    }

    #[test]
    fn names_a_certificate_holds_read_as_written() {
        assert_eq!(presented_name("DnsName(\"other.test\")"), "other.test");
        assert_eq!(presented_name("IpAddress(10.0.0.1)"), "10.0.0.1");
        assert_eq!(presented_name("plain.test"), "plain.test");
    }

    #[test]
    fn a_certificate_tells_who_it_is_for_and_until_when() {
        let (cert, _) = self_signed();
        let certs = parse_certificates(cert.as_bytes()).unwrap();
        let info = cert_info(&certs[0]).unwrap();
        assert_eq!(info.subject, "CN=rcgen self signed cert");
        assert!(info.self_signed());
        // rcgen's default validity: 1975 to 4096.
        assert!(info.not_after.starts_with("4096-01-01"), "{info:?}");
        assert!(cert_info(b"\x30\x03\x02\x01").is_none());
    }
}
