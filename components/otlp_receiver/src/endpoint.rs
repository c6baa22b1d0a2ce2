//! Endpoints as the Collector writes them: `host:port`, `[v6]:port`, or `:port` for
//! every interface. Names (`localhost`) are resolved when the receiver starts, so
//! `weir validate` stays free of side effects.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use weir_api::StartError;

/// Checks the shape of an endpoint without resolving it.
pub fn validate(endpoint: &str) -> Result<(), String> {
    split(endpoint).map(|_| ())
}

fn split(endpoint: &str) -> Result<(&str, u16), String> {
    let (host, port) = endpoint.rsplit_once(':').ok_or_else(|| {
        format!("`{endpoint}` must be `host:port` (or `:port` for every interface)")
    })?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("`{endpoint}` has an invalid port `{port}`"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Ok((host, port))
}

/// Resolves the endpoint and listens on it. Errors name the address and the protocol,
/// e.g. `cannot listen on 127.0.0.1:4317 (grpc): Address already in use`.
pub async fn listen(endpoint: &str, protocol: &str) -> Result<TcpListener, StartError> {
    let fail =
        |cause: String| StartError(format!("cannot listen on {endpoint} ({protocol}): {cause}"));
    let (host, port) = split(endpoint).map_err(fail)?;
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    let addr: SocketAddr = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| fail(io_message(&e)))?
        .next()
        .ok_or_else(|| fail(format!("`{host}` resolves to no address")))?;
    TcpListener::bind(addr)
        .await
        .map_err(|e| fail(io_message(&e)))
}

/// The OS message without Rust's ` (os error 98)` suffix.
fn io_message(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// A bound address for logs: `127.0.0.1:4317`, or `unknown` if the socket could not say.
pub fn display_addr(addr: Option<std::net::SocketAddr>) -> String {
    addr.map_or_else(|| "unknown".to_string(), |a| a.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(split("127.0.0.1:4317"), Ok(("127.0.0.1", 4317)));
        assert_eq!(split(":4318"), Ok(("", 4318)));
        assert_eq!(split("[::1]:4317"), Ok(("::1", 4317)));
        assert!(split("localhost").is_err());
        assert!(split("localhost:http").is_err());
    }

    #[tokio::test]
    async fn port_in_use_names_address_and_protocol() {
        let first = listen("127.0.0.1:0", "grpc").await.unwrap();
        let endpoint = first.local_addr().unwrap().to_string();
        let err = listen(&endpoint, "grpc").await.unwrap_err();
        assert_eq!(
            err.0,
            format!("cannot listen on {endpoint} (grpc): Address already in use")
        );
    }
}
