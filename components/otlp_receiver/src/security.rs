//! What a protocol's server needs for TLS, authentication and its connection limits,
//! resolved when the receiver starts: the certificate files are read (a missing file
//! fails the start, naming it) and the authenticator extension is found by id in the
//! process's `weir_api::auth::Authenticators`.

use std::sync::Arc;
use std::time::Duration;

use weir_api::auth::{AuthSettings, ServerAuthenticator};
use weir_api::conn::ServerOptions;
use weir_api::tls_server::{ServerTls, TlsServerSettings};
use weir_api::{ReceiverOutput, StartError};

/// One protocol's server settings below the OTLP handlers.
pub struct Security {
    pub options: ServerOptions,
    pub auth: Option<Arc<dyn ServerAuthenticator>>,
}

/// What [`resolve`] reads from a protocol's config.
pub struct Wanted<'a> {
    pub protocol: &'static str,
    pub name: &'static str,
    pub tls: Option<&'a TlsServerSettings>,
    pub auth: Option<&'a AuthSettings>,
    pub max_connections: usize,
    pub header_timeout: Duration,
    /// The ALPN protocols offered over TLS.
    pub alpn: &'static [&'static [u8]],
}

pub fn resolve(wanted: Wanted<'_>, output: &ReceiverOutput) -> Result<Security, StartError> {
    let protocol = wanted.protocol;
    let tls = wanted
        .tls
        .map(|tls| ServerTls::new(tls, wanted.alpn))
        .transpose()
        .map_err(|e| StartError(format!("otlp receiver ({protocol}): {e}")))?;
    let auth = wanted
        .auth
        .map(|auth| {
            output
                .telemetry()
                .authenticators()
                .server(&auth.authenticator)
        })
        .transpose()
        .map_err(|e| StartError(format!("otlp receiver ({protocol}): auth: {e}")))?;
    let counting = output.clone();
    Ok(Security {
        options: ServerOptions {
            tls,
            max_connections: wanted.max_connections,
            header_timeout: wanted.header_timeout,
            refusals: Some(Arc::new(move |reason| counting.refuse_request(reason))),
            name: wanted.name,
        },
        auth,
    })
}
