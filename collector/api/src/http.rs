//! HTTP shared by components: what a `Retry-After` header means, and the one loop that
//! serves connections accepted on a listener until shutdown, with TLS, a connection
//! limit and header timeouts ([`serve_with`], [`crate::conn`]).

use std::error::Error as StdError;
use std::time::{Duration, SystemTime};

use hyper::body::{Body, Incoming};
use hyper::header::RETRY_AFTER;
use hyper::service::Service;
use hyper::{HeaderMap, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use crate::conn::ServerOptions;

/// The delay a `Retry-After` value asks for: delay-seconds or an HTTP date (any of the
/// three forms RFC 9110 allows, through `httpdate`), measured from `now`.
///
/// `None` means "no hint, use the configured backoff", as in the Collector: zero, a date
/// that is not in the future, and an unreadable value.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let delay = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(now)
            .ok()?,
    };
    (!delay.is_zero()).then_some(delay)
}

/// [`parse_retry_after`] of a response's `Retry-After` header, `None` without one.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    parse_retry_after(headers.get(RETRY_AFTER)?.to_str().ok()?, now)
}

/// Serves every connection accepted on `listener` with a clone of `service`, through
/// `builder` (which carries the server's protocols, limits and timeouts), until
/// `shutdown` is cancelled: [`serve_with`] with [`ServerOptions::plain`] (no connection
/// limit, no TLS, nothing counted).
pub async fn serve<S, B>(
    listener: TcpListener,
    builder: auto::Builder<TokioExecutor>,
    service: S,
    shutdown: CancellationToken,
    name: &'static str,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    serve_with(
        listener,
        builder,
        service,
        shutdown,
        ServerOptions::plain(name),
    )
    .await
}

/// Serves every connection accepted on `listener` with a clone of `service`, through
/// `builder`, until `shutdown` is cancelled. Then it stops accepting, asks every open
/// connection to shut down gracefully (an in-flight request finishes, an idle
/// keep-alive connection closes at once) and returns once they all have.
///
/// Connections come through [`crate::conn::incoming`], which applies `options`: TLS,
/// the connection limit and the first-bytes deadline. HTTP/1.1 request heads must also
/// arrive within `options.header_timeout` (hyper's header read timeout, set here), so
/// a slowly trickled head is cut off and counted as `header_timeout`.
///
/// `options.name` prefixes the log lines (`otlp receiver: HTTP`, `health_check`). A
/// connection ending with an error (a client hanging up early) is routine, logged at
/// debug level.
pub async fn serve_with<S, B>(
    listener: TcpListener,
    mut builder: auto::Builder<TokioExecutor>,
    service: S,
    shutdown: CancellationToken,
    options: ServerOptions,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout);
    let name = options.name;
    let refusals = options.refusals.clone();
    let (mut incoming, accepting) = crate::conn::incoming(listener, options, shutdown.clone());
    let connections = TaskTracker::new();
    loop {
        let conn = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            conn = incoming.recv() => match conn {
                Some(conn) => conn,
                None => break,
            },
        };
        let builder = builder.clone();
        let service = service.clone();
        let shutdown = shutdown.clone();
        let refusals = refusals.clone();
        connections.spawn(async move {
            let connection = builder.serve_connection(TokioIo::new(conn), service);
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(err) = result {
                let header_timeout = err
                    .downcast_ref::<hyper::Error>()
                    .is_some_and(hyper::Error::is_timeout);
                if header_timeout {
                    if let Some(refusals) = &refusals {
                        refusals(crate::RefusalReason::HeaderTimeout);
                    }
                    tracing::debug!("{name}: request head not received before the header timeout; connection closed");
                } else {
                    tracing::debug!(error = %err, "{name}: connection ended with an error");
                }
            }
        });
    }
    drop(incoming);
    // The listener is closed once the accept loop has returned.
    let _ = accepting.await;
    connections.close();
    connections.wait().await;
}

/// An exporter's endpoint: an absolute `http://` or `https://` URL with a host, or a
/// message saying what is wrong with it.
pub fn parse_endpoint_url(text: &str) -> Result<hyper::Uri, String> {
    let uri: hyper::Uri = text
        .parse()
        .map_err(|e| format!("`{text}` is not a valid URL ({e})"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        Some(other) => {
            return Err(format!(
                "`{text}`: scheme `{other}` is not supported; use http:// or https://"
            ))
        }
        None => return Err(format!("`{text}` needs a scheme, e.g. `https://{text}`")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("`{text}` has no host"));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use hyper::header::HeaderValue;
    use hyper::service::service_fn;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[test]
    fn endpoint_urls_need_an_http_scheme_and_a_host() {
        assert!(parse_endpoint_url("http://127.0.0.1:3100/loki/api/v1/push").is_ok());
        assert!(parse_endpoint_url("https://example.com").is_ok());
        let no_scheme = parse_endpoint_url("127.0.0.1:4318").unwrap_err();
        assert!(no_scheme.contains("needs a scheme"), "{no_scheme}");
        let ftp = parse_endpoint_url("ftp://host").unwrap_err();
        assert!(ftp.contains("scheme `ftp`"), "{ftp}");
    }

    // 784111777 is Sun, 06 Nov 1994 08:49:37 GMT.
    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777)
    }

    #[test]
    fn retry_after_in_seconds() {
        assert_eq!(parse_retry_after("7", now()), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after(" 120 ", now()),
            Some(Duration::from_secs(120))
        );
    }

    #[test]
    fn retry_after_zero_is_no_hint() {
        assert_eq!(parse_retry_after("0", now()), None);
    }

    #[test]
    fn retry_after_as_a_future_date() {
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now()),
            Some(Duration::from_secs(30))
        );
        // The obsolete forms RFC 9110 still asks recipients to accept.
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now()),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun Nov  6 08:49:38 1994", now()),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn retry_after_as_a_past_or_present_date_is_no_hint() {
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now()),
            None
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now()),
            None
        );
    }

    #[test]
    fn retry_after_garbage_is_no_hint() {
        for value in ["soon", "", "-5", "1.5", "Sun, 32 Nov 1994 08:49:37 GMT"] {
            assert_eq!(parse_retry_after(value, now()), None, "{value:?}");
        }
    }

    #[test]
    fn retry_after_from_headers() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers, now()), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers, now()), Some(Duration::from_secs(3)));
    }

    async fn get(addr: std::net::SocketAddr) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /x HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_until_shutdown_then_waits_for_open_connections() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let service = service_fn(|request: Request<Incoming>| async move {
            Ok::<_, Infallible>(Response::new(format!("path {}", request.uri().path())))
        });
        let server = tokio::spawn(serve(
            listener,
            auto::Builder::new(TokioExecutor::new()),
            service,
            shutdown.clone(),
            "test",
        ));
        let answer = get(addr).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(answer.ends_with("path /x"), "{answer}");

        // An idle keep-alive connection does not hold shutdown open.
        let idle = tokio::net::TcpStream::connect(addr).await.unwrap();
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("serve returns after shutdown")
            .unwrap();
        drop(idle);
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }
}
