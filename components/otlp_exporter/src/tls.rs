//! `tls` settings turned into tonic's rustls configuration.
//!
//! As in the Collector, `ca_file`/`ca_pem` replace the system roots unless
//! `include_system_ca_certs_pool` is set; with neither, the system roots are used.
//! Files are read at build time so a missing file fails `weir` at startup, naming it,
//! instead of failing every export.

use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use crate::config::TlsSettings;

pub fn client_config(tls: &TlsSettings) -> Result<ClientTlsConfig, String> {
    let mut config = ClientTlsConfig::new();
    let ca = pem(&tls.ca_file, &tls.ca_pem, "tls.ca_file")?;
    match ca {
        Some(ca) => {
            config = config.ca_certificate(Certificate::from_pem(ca));
            if tls.include_system_ca_certs_pool {
                config = config.with_native_roots();
            }
        }
        None => config = config.with_native_roots(),
    }
    let cert = pem(&tls.cert_file, &tls.cert_pem, "tls.cert_file")?;
    let key = pem(&tls.key_file, &tls.key_pem, "tls.key_file")?;
    if let (Some(cert), Some(key)) = (cert, key) {
        config = config.identity(Identity::from_pem(cert, key));
    }
    if !tls.server_name_override.is_empty() {
        config = config.domain_name(tls.server_name_override.clone());
    }
    Ok(config)
}

/// The PEM text from `file` or `inline`, if either is set.
fn pem(file: &str, inline: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
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
