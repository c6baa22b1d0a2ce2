//! `tls` settings turned into the connector of the exporter's channel.
//!
//! The rustls configuration is the one every exporter shares
//! (`weir_api::tls::rustls_client_config`: `ca_file`, client `cert_file`/`key_file`,
//! `min_version`/`max_version`, `insecure_skip_verify`), offered with ALPN `h2`, and
//! `server_name_override` names the certificate to verify. Files are read at build time
//! so a missing file fails `weir` at startup, naming it, instead of failing every export.
//!
//! tonic would run its own TLS for an `https://` URI, so the channel is given the
//! `http://` form of the URI and this connector always speaks TLS underneath.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::uri::Scheme;
use http::Uri;
use hyper_rustls::{FixedServerNameResolver, HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tonic::codegen::Service;

use crate::config::TlsSettings;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Connects over TLS whatever the URI's scheme says.
#[derive(Clone)]
pub struct TlsConnector(HttpsConnector<HttpConnector>);

pub fn connector(tls: &TlsSettings, connect_timeout: Duration) -> Result<TlsConnector, String> {
    let config = weir_api::tls::rustls_client_config(tls, true)?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    if !connect_timeout.is_zero() {
        http.set_connect_timeout(Some(connect_timeout));
    }
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only();
    let builder = if tls.server_name_override.is_empty() {
        builder
    } else {
        let name = ServerName::try_from(tls.server_name_override.clone())
            .map_err(|e| format!("tls.server_name_override: {e}"))?;
        builder.with_server_name_resolver(FixedServerNameResolver::new(name))
    };
    Ok(TlsConnector(builder.enable_http2().wrap_connector(http)))
}

impl Service<Uri> for TlsConnector {
    type Response = MaybeHttpsStream<TokioIo<TcpStream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let mut parts = uri.into_parts();
        parts.scheme = Some(Scheme::HTTPS);
        match Uri::from_parts(parts) {
            Ok(uri) => self.0.call(uri),
            Err(err) => Box::pin(async move { Err(err.into()) }),
        }
    }
}
