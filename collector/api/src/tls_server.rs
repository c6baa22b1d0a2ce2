//! `tls` for servers (the Collector's `configtls.ServerConfig`), shared by every server
//! Weir runs: the OTLP receivers (gRPC and HTTP) and `health_check`.
//!
//! The keys and checks are the Collector's: `cert_file`/`cert_pem` and
//! `key_file`/`key_pem` (both required), `client_ca_file` (clients must then present a
//! certificate signed by it: mutual TLS), `min_version`/`max_version` (`1.2` or `1.3`;
//! rustls has no TLS 1.0/1.1, so those are refused with a clear message), and
//! `reload_interval`: when set, the certificate, key and client CA are read again from
//! disk on the first handshake after each interval, so a renewed certificate is served
//! without a restart. A reload that fails (a half-written file) is logged and the
//! previous material kept.
//!
//! [`ServerTls`] holds the current rustls configuration; the connection layer
//! ([`crate::conn`]) asks it for one per handshake.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use serde::Deserialize;
use weir_config::ComponentProblem;

use crate::tls::{certificates, pem, private_key_named};

/// `tls` in a server's section.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsServerSettings {
    /// The server's certificate chain (PEM).
    pub cert_file: String,
    pub cert_pem: String,
    /// The server's private key (PEM).
    pub key_file: String,
    pub key_pem: String,
    /// CA for verifying clients: set, every client must present a certificate it signed.
    pub client_ca_file: String,
    /// Read `client_ca_file` again when it changes (checked every `reload_interval`, or
    /// every 10 s without one).
    pub client_ca_file_reload: bool,
    /// Accepted for compatibility with the Collector's shared `configtls` keys; a
    /// server's clients are verified with `client_ca_file`.
    pub ca_file: String,
    pub ca_pem: String,
    pub include_system_ca_certs_pool: bool,
    /// `1.2` (the default) or `1.3`.
    pub min_version: String,
    /// `1.2` or `1.3` (the default).
    pub max_version: String,
    /// Refused when not empty: rustls offers only its own safe suites.
    pub cipher_suites: Vec<String>,
    /// Refused when not empty.
    pub curve_preferences: Vec<String>,
    /// How often the certificate and key are read again from disk; 0 or unset never.
    #[serde(with = "crate::duration::option")]
    pub reload_interval: Option<Duration>,
}

/// Checked when `client_ca_file_reload` is set without a `reload_interval`.
const CLIENT_CA_RELOAD_CHECK: Duration = Duration::from_secs(10);

pub(crate) fn versions_problem(min: &str, max: &str) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    for (key, value) in [("min_version", min), ("max_version", max)] {
        match value {
            "" | "1.2" | "1.3" => {}
            "1.0" | "1.1" => problems.push((
                key,
                format!("TLS {value} is not supported (rustls speaks TLS 1.2 and 1.3); use `1.2`"),
            )),
            other => problems.push((
                key,
                format!("`{other}` is not a TLS version; use `1.2` or `1.3`"),
            )),
        }
    }
    if min == "1.3" && max == "1.2" {
        problems.push((
            "max_version",
            "invalid TLS min_/max_version combination: max_version 1.2 is below min_version 1.3"
                .into(),
        ));
    }
    problems
}

/// The rustls protocol versions for `min_version`/`max_version` (already checked).
pub(crate) fn protocol_versions(min: &str, max: &str) -> Vec<&'static SupportedProtocolVersion> {
    let mut versions = Vec::new();
    if min != "1.3" {
        versions.push(&rustls::version::TLS12);
    }
    if max != "1.2" {
        versions.push(&rustls::version::TLS13);
    }
    versions
}

impl TlsServerSettings {
    /// Every problem, with paths starting at `tls`.
    pub fn problems(&self) -> Vec<ComponentProblem> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: String| {
            problems.push(ComponentProblem {
                path: vec!["tls".to_string(), key.to_string()],
                message,
                suggestion: None,
            })
        };
        for (key, message) in crate::tls::file_or_pem_problems([
            (&self.cert_file, &self.cert_pem, "cert_pem"),
            (&self.key_file, &self.key_pem, "key_pem"),
            (&self.ca_file, &self.ca_pem, "ca_pem"),
        ]) {
            problem(key, message);
        }
        let has_cert = !self.cert_file.is_empty() || !self.cert_pem.is_empty();
        let has_key = !self.key_file.is_empty() || !self.key_pem.is_empty();
        if !has_cert || !has_key {
            problem(
                if has_cert { "key_file" } else { "cert_file" },
                "a TLS server needs both cert_file and key_file (or cert_pem and key_pem)".into(),
            );
        }
        if self.client_ca_file_reload && self.client_ca_file.is_empty() {
            problem(
                "client_ca_file_reload",
                "client_ca_file_reload needs client_ca_file".into(),
            );
        }
        for (key, message) in versions_problem(&self.min_version, &self.max_version) {
            problem(key, message);
        }
        if !self.cipher_suites.is_empty() {
            problem(
                "cipher_suites",
                "cipher_suites is not supported: Weir offers rustls' safe default suites only; \
                 remove this key"
                    .into(),
            );
        }
        if !self.curve_preferences.is_empty() {
            problem(
                "curve_preferences",
                "curve_preferences is not supported: Weir offers rustls' default key exchange \
                 groups only; remove this key"
                    .into(),
            );
        }
        problems
    }

    fn reload_every(&self) -> Option<Duration> {
        match self.reload_interval.filter(|d| !d.is_zero()) {
            Some(every) => Some(every),
            None if self.client_ca_file_reload => Some(CLIENT_CA_RELOAD_CHECK),
            None => None,
        }
    }

    /// A rustls configuration from the files as they are now, offering `alpn`.
    pub fn rustls_config(&self, alpn: &[&[u8]]) -> Result<ServerConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions = protocol_versions(&self.min_version, &self.max_version);
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| format!("tls: {e}"))?;
        let builder = if self.client_ca_file.is_empty() {
            builder.with_no_client_auth()
        } else {
            let ca = pem(&self.client_ca_file, "", "tls.client_ca_file")?.unwrap_or_default();
            let mut roots = RootCertStore::empty();
            for cert in certificates(&ca, "tls.client_ca_file")? {
                roots
                    .add(cert)
                    .map_err(|e| format!("tls.client_ca_file: invalid CA certificate: {e}"))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("tls.client_ca_file: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        };
        let cert = pem(&self.cert_file, &self.cert_pem, "tls.cert_file")?
            .ok_or("tls.cert_file: a TLS server needs a certificate")?;
        let key = pem(&self.key_file, &self.key_pem, "tls.key_file")?
            .ok_or("tls.key_file: a TLS server needs a private key")?;
        let mut config = builder
            .with_single_cert(
                certificates(&cert, "tls.cert_file")?,
                private_key_named(&key, "tls.key_file")?,
            )
            .map_err(|e| format!("tls.cert_file/tls.key_file: {e}"))?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }
}

/// A server's TLS: the current rustls configuration, read again from disk when
/// `reload_interval` has passed. Cloning shares it.
#[derive(Clone)]
pub struct ServerTls {
    inner: Arc<Inner>,
}

struct Inner {
    settings: TlsServerSettings,
    alpn: Vec<Vec<u8>>,
    /// The material in use and when it was loaded.
    current: Mutex<(Arc<ServerConfig>, Instant)>,
    reload_every: Option<Duration>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("cert_file", &self.inner.settings.cert_file)
            .field("client_ca_file", &self.inner.settings.client_ca_file)
            .finish()
    }
}

impl ServerTls {
    /// Reads the certificate, key and client CA now, so a missing or wrong file fails
    /// the server's start naming it. `alpn` lists the protocols the server offers (e.g.
    /// `h2` for gRPC).
    pub fn new(settings: &TlsServerSettings, alpn: &[&[u8]]) -> Result<Self, String> {
        let config = settings.rustls_config(alpn)?;
        Ok(Self {
            inner: Arc::new(Inner {
                settings: settings.clone(),
                alpn: alpn.iter().map(|p| p.to_vec()).collect(),
                current: Mutex::new((Arc::new(config), Instant::now())),
                reload_every: settings.reload_every(),
            }),
        })
    }

    /// Whether clients must present a certificate.
    pub fn requires_client_certificate(&self) -> bool {
        !self.inner.settings.client_ca_file.is_empty()
    }

    /// The configuration for the next handshake, reloading from disk first when the
    /// reload interval has passed.
    pub fn config(&self) -> Arc<ServerConfig> {
        let mut current = self
            .inner
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(every) = self.inner.reload_every {
            if current.1.elapsed() >= every {
                let alpn: Vec<&[u8]> = self.inner.alpn.iter().map(Vec::as_slice).collect();
                match self.inner.settings.rustls_config(&alpn) {
                    Ok(config) => {
                        tracing::debug!(cert_file = %self.inner.settings.cert_file,
                            "tls: certificate material reloaded");
                        current.0 = Arc::new(config);
                    }
                    Err(err) => tracing::warn!(error = %err,
                        "tls: reloading the certificate material failed; the previous one stays in use"),
                }
                current.1 = Instant::now();
            }
        }
        current.0.clone()
    }

    /// A tokio-rustls acceptor for the next handshake.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(settings: &TlsServerSettings) -> Vec<String> {
        settings
            .problems()
            .into_iter()
            .map(|p| p.path.join("."))
            .collect()
    }

    #[test]
    fn a_server_needs_cert_and_key() {
        assert_eq!(paths(&TlsServerSettings::default()), ["tls.cert_file"]);
        let only_cert = TlsServerSettings {
            cert_file: "c.pem".into(),
            ..Default::default()
        };
        assert_eq!(paths(&only_cert), ["tls.key_file"]);
        let both = TlsServerSettings {
            cert_file: "c.pem".into(),
            key_file: "k.pem".into(),
            ..Default::default()
        };
        assert!(paths(&both).is_empty());
    }

    #[test]
    fn versions_and_unsupported_keys_are_named() {
        let settings = TlsServerSettings {
            cert_pem: "x".into(),
            key_pem: "y".into(),
            min_version: "1.0".into(),
            max_version: "2.0".into(),
            cipher_suites: vec!["TLS_AES_128_GCM_SHA256".into()],
            client_ca_file_reload: true,
            ..Default::default()
        };
        assert_eq!(
            paths(&settings),
            [
                "tls.client_ca_file_reload",
                "tls.min_version",
                "tls.max_version",
                "tls.cipher_suites"
            ]
        );
        let inverted = TlsServerSettings {
            cert_pem: "x".into(),
            key_pem: "y".into(),
            min_version: "1.3".into(),
            max_version: "1.2".into(),
            ..Default::default()
        };
        assert_eq!(paths(&inverted), ["tls.max_version"]);
    }

    #[test]
    fn protocol_versions_follow_min_and_max() {
        assert_eq!(protocol_versions("", "").len(), 2);
        assert_eq!(
            protocol_versions("1.3", "")
                .iter()
                .map(|v| v.version)
                .collect::<Vec<_>>(),
            [rustls::ProtocolVersion::TLSv1_3]
        );
        assert_eq!(
            protocol_versions("", "1.2")
                .iter()
                .map(|v| v.version)
                .collect::<Vec<_>>(),
            [rustls::ProtocolVersion::TLSv1_2]
        );
    }

    #[test]
    fn missing_files_are_named_at_start() {
        let settings = TlsServerSettings {
            cert_file: "/nonexistent/weir-cert.pem".into(),
            key_file: "/nonexistent/weir-key.pem".into(),
            ..Default::default()
        };
        let err = ServerTls::new(&settings, &[b"h2"]).unwrap_err();
        assert!(err.contains("tls.cert_file"), "{err}");
    }
}
