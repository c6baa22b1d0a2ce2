//! `tls` settings turned into a rustls client configuration for `https://` URLs.
//!
//! As in the Collector, `ca_file`/`ca_pem` replace the system roots unless
//! `include_system_ca_certs_pool` is set; with neither, the system roots are used. The
//! system store is only read when some URL is `https://`, so a plaintext exporter works
//! in a container without CA certificates. Files are read at build time: a missing file
//! fails startup naming it, instead of failing every export.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use crate::config::TlsSettings;

pub fn client_config(tls: &TlsSettings, https_used: bool) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?;

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
    let builder = builder.with_root_certificates(roots);

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

fn certificates(pem: &[u8], key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{key}: invalid PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{key}: no certificate found in the PEM data"));
    }
    Ok(certs)
}

fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    rustls_pemfile::private_key(&mut &pem[..])
        .map_err(|e| format!("tls.key_file: invalid PEM: {e}"))?
        .ok_or_else(|| "tls.key_file: no private key found in the PEM data".to_string())
}
