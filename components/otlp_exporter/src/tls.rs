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
    let ca = tls.ca()?;
    match ca {
        Some(ca) => {
            config = config.ca_certificate(Certificate::from_pem(ca));
            if tls.include_system_ca_certs_pool {
                config = config.with_native_roots();
            }
        }
        None => config = config.with_native_roots(),
    }
    let cert = tls.cert()?;
    let key = tls.key()?;
    if let (Some(cert), Some(key)) = (cert, key) {
        config = config.identity(Identity::from_pem(cert, key));
    }
    if !tls.server_name_override.is_empty() {
        config = config.domain_name(tls.server_name_override.clone());
    }
    Ok(config)
}
