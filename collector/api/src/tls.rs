//! `tls` for clients (the Collector's `configtls.ClientConfig`), shared by every exporter:
//! the keys, their checks and reading the PEM material, turned into one rustls
//! configuration ([`rustls_client_config`]) that every exporter's transport uses.
//!
//! `insecure_skip_verify` is supported as in the Collector (the connection is encrypted,
//! the server is not authenticated) and logged as a warning when the exporter is built:
//! it is a test-bench setting that must not go unnoticed in production.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use serde::Deserialize;
use weir_config::ComponentProblem;

/// `tls` in an exporter's section.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsClientSettings {
    /// Plaintext. What it means exactly depends on the exporter: for gRPC it decides for
    /// an endpoint without a scheme; for HTTP the URL's scheme decides.
    pub insecure: bool,
    /// Encrypt but do not verify the server's certificate chain nor its name (the
    /// Collector's key). Logged as a warning.
    pub insecure_skip_verify: bool,
    pub ca_file: String,
    pub ca_pem: String,
    pub cert_file: String,
    pub cert_pem: String,
    pub key_file: String,
    pub key_pem: String,
    pub server_name_override: String,
    /// Trust the system roots in addition to `ca_file`/`ca_pem`.
    pub include_system_ca_certs_pool: bool,
    /// `1.2` (the default) or `1.3`.
    pub min_version: String,
    /// `1.2` or `1.3` (the default).
    pub max_version: String,
}

impl TlsClientSettings {
    /// Every problem, with paths starting at `tls`. `_plaintext_hint` (how this exporter
    /// is made to speak plaintext) is no longer needed since `insecure_skip_verify` is
    /// supported; it stays so the exporters' calls read the same.
    pub fn problems(&self, _plaintext_hint: &str) -> Vec<ComponentProblem> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: String| {
            problems.push(ComponentProblem {
                path: vec!["tls".to_string(), key.to_string()],
                message,
                suggestion: None,
            })
        };
        for (key, message) in file_or_pem_problems([
            (&self.ca_file, &self.ca_pem, "ca_pem"),
            (&self.cert_file, &self.cert_pem, "cert_pem"),
            (&self.key_file, &self.key_pem, "key_pem"),
        ]) {
            problem(key, message);
        }
        let has_cert = !self.cert_file.is_empty() || !self.cert_pem.is_empty();
        let has_key = !self.key_file.is_empty() || !self.key_pem.is_empty();
        if has_cert != has_key {
            problem(
                if has_cert { "key_file" } else { "cert_file" },
                "a client certificate needs both cert_file and key_file".into(),
            );
        }
        for (key, message) in
            crate::tls_server::versions_problem(&self.min_version, &self.max_version)
        {
            problem(key, message);
        }
        problems
    }

    /// The CA certificates' PEM text, if set.
    pub fn ca(&self) -> Result<Option<Vec<u8>>, String> {
        pem(&self.ca_file, &self.ca_pem, "tls.ca_file")
    }

    /// The client certificate's PEM text, if set.
    pub fn cert(&self) -> Result<Option<Vec<u8>>, String> {
        pem(&self.cert_file, &self.cert_pem, "tls.cert_file")
    }

    /// The client key's PEM text, if set.
    pub fn key(&self) -> Result<Option<Vec<u8>>, String> {
        pem(&self.key_file, &self.key_pem, "tls.key_file")
    }
}

/// A rustls client configuration for HTTPS clients (hyper-rustls).
///
/// As in the Collector, `ca_file`/`ca_pem` replace the system roots unless
/// `include_system_ca_certs_pool` is set; with neither, the system roots are used. The
/// system store is read only when `https_used`, so a plaintext exporter works in a
/// container without CA certificates. `server_name_override` is the caller's to apply
/// (hyper-rustls takes it as a resolver).
pub fn rustls_client_config(
    tls: &TlsClientSettings,
    https_used: bool,
) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions = crate::tls_server::protocol_versions(&tls.min_version, &tls.max_version);
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls: {e}"))?;
    let builder = if tls.insecure_skip_verify {
        if https_used {
            tracing::warn!(
                "tls.insecure_skip_verify is set: the server's certificate is NOT verified; \
                 anyone on the path can read and change this exporter's data. Use it only \
                 for tests; give the server's CA with tls.ca_file instead"
            );
        }
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SkipVerify(provider)))
    } else {
        builder.with_root_certificates(roots(tls, https_used)?)
    };

    let cert = tls.cert()?;
    let key = tls.key()?;
    let config = match (cert, key) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(certificates(&cert, "tls.cert_file")?, private_key(&key)?)
            .map_err(|e| format!("tls.cert_file/tls.key_file: {e}"))?,
        _ => builder.with_no_client_auth(),
    };
    Ok(config)
}

/// The trusted roots: `ca_file`/`ca_pem`, and the system's when no CA is given or
/// `include_system_ca_certs_pool` asks for them.
fn roots(tls: &TlsClientSettings, https_used: bool) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let ca = tls.ca()?;
    if let Some(ca) = &ca {
        for cert in certificates(ca, "tls.ca_file")? {
            roots
                .add(cert)
                .map_err(|e| format!("tls.ca_file: invalid CA certificate: {e}"))?;
        }
    }
    if https_used && (ca.is_none() || tls.include_system_ca_certs_pool) {
        let native = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(native.certs);
        if added == 0 && ca.is_none() {
            return Err(format!(
                "tls: no system CA certificates found ({:?}); set tls.ca_file",
                native.errors
            ));
        }
    }
    Ok(roots)
}

/// `insecure_skip_verify`: any certificate chain and name are accepted. The handshake
/// signatures are still checked against the certificate the server sent, so the
/// session is encrypted to whoever holds that certificate's key.
#[derive(Debug)]
struct SkipVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for SkipVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Every certificate in a PEM text (shared with the server side).
pub(crate) fn certificates(pem: &[u8], key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{key}: invalid PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{key}: no certificate found in the PEM data"));
    }
    Ok(certs)
}

fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    private_key_named(pem, "tls.key_file")
}

/// The first private key in a PEM text, errors naming `key` (shared with the server side).
pub(crate) fn private_key_named(pem: &[u8], key: &str) -> Result<PrivateKeyDer<'static>, String> {
    rustls_pemfile::private_key(&mut &pem[..])
        .map_err(|e| format!("{key}: invalid PEM: {e}"))?
        .ok_or_else(|| format!("{key}: no private key found in the PEM data"))
}

/// The PEM text from `file` or `inline`, if either is set. Files are read when the
/// exporter is built, so a missing or wrong file fails startup naming it.
pub(crate) fn pem(file: &str, inline: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
    if !file.is_empty() {
        let bytes = std::fs::read(file).map_err(|e| format!("{key}: cannot read `{file}`: {e}"))?;
        if !String::from_utf8_lossy(&bytes).contains("-----BEGIN") {
            return Err(format!("{key}: `{file}` is not a PEM file"));
        }
        return Ok(Some(bytes));
    }
    if !inline.is_empty() {
        return Ok(Some(inline.as_bytes().to_vec()));
    }
    Ok(None)
}

/// A `(key, message)` for each `(file, pem, pem key)` where both the file and the inline
/// PEM are set: the client's and the server's `tls` sections refuse that alike.
pub(crate) fn file_or_pem_problems(
    pairs: [(&String, &String, &'static str); 3],
) -> Vec<(&'static str, String)> {
    pairs
        .into_iter()
        .filter(|(file, pem, _)| !file.is_empty() && !pem.is_empty())
        .map(|(_, _, key)| {
            (
                key,
                format!("set {} or {key}, not both", key.replace("_pem", "_file")),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(settings: &TlsClientSettings) -> Vec<String> {
        settings
            .problems("use an http:// endpoint")
            .into_iter()
            .map(|p| p.path.join("."))
            .collect()
    }

    #[test]
    fn checks_name_the_key() {
        assert!(paths(&TlsClientSettings::default()).is_empty());
        let both = TlsClientSettings {
            ca_file: "a".into(),
            ca_pem: "b".into(),
            cert_file: "c".into(),
            min_version: "1.0".into(),
            insecure_skip_verify: true,
            insecure: true,
            ..Default::default()
        };
        assert_eq!(
            paths(&both),
            ["tls.ca_pem", "tls.key_file", "tls.min_version"]
        );
    }

    #[test]
    fn pem_files_are_read_and_checked() {
        let dir = std::env::temp_dir().join(format!("weir-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let not_pem = dir.join("not.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let settings = TlsClientSettings {
            ca_file: not_pem.display().to_string(),
            ..Default::default()
        };
        assert!(settings.ca().unwrap_err().contains("not a PEM file"));
        let missing = TlsClientSettings {
            ca_file: dir.join("missing.pem").display().to_string(),
            ..Default::default()
        };
        assert!(missing.ca().unwrap_err().contains("cannot read"));
        let inline = TlsClientSettings {
            cert_pem: "-----BEGIN CERTIFICATE-----".into(),
            ..Default::default()
        };
        assert!(inline.cert().unwrap().is_some());
        std::fs::remove_dir_all(&dir).ok();
    }
}
