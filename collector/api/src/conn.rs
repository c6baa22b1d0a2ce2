//! Accepting connections for every server Weir runs, with the defences that belong
//! below HTTP: a connection limit, a deadline for the first bytes (and for the TLS
//! handshake), and TLS itself.
//!
//! - **Connection limit** (`max_connections`, Weir's key, default
//!   [`DEFAULT_MAX_CONNECTIONS`]): a connection accepted while the server already holds
//!   that many is closed at once and counted (`connection_limit`). Accepting and closing,
//!   rather than leaving it in the kernel's backlog, tells the client at once and keeps
//!   the backlog free for when a slot opens; the server's other connections and Weir's
//!   other servers are unaffected.
//! - **First-bytes deadline**: a client that opens a connection and sends nothing (or
//!   does not finish its TLS handshake) within the header timeout is disconnected and
//!   counted (`header_timeout`, `tls_handshake` for a failed handshake). Slowly
//!   trickled HTTP/1.1 request heads are cut by hyper's header read timeout, which the
//!   HTTP servers set to the same value ([`crate::http::serve_with`]).
//! - **TLS** ([`crate::tls_server::ServerTls`]): the handshake runs in the connection's
//!   own task, so a slow handshake never holds up accepting others.
//!
//! [`incoming`] turns a listener into a channel of ready [`Conn`]s; HTTP servers read it
//! through [`crate::http::serve_with`], the gRPC server through tonic's incoming stream.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tokio_util::sync::CancellationToken;

use crate::tls_server::ServerTls;
use crate::RefusalReason;

/// The default of `max_connections` on a receiver's server.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// The default header read timeout: the Collector's `read_header_timeout` default.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(60);

/// Pause after a failed `accept` (usually out of file descriptors) so the loop does not
/// spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Ready connections waiting for the server to take them.
const READY_QUEUE: usize = 64;

/// Where a server counts what it refused below HTTP (a receiver passes its
/// `refuse_request`).
pub type RefusalSink = Arc<dyn Fn(RefusalReason) + Send + Sync>;

/// How a server accepts connections.
#[derive(Clone)]
pub struct ServerOptions {
    /// `None` for plaintext.
    pub tls: Option<ServerTls>,
    /// Open connections at most; 0 means no limit.
    pub max_connections: usize,
    /// Deadline for a connection's first bytes and for its TLS handshake.
    pub header_timeout: Duration,
    /// Counts refusals; `None` for servers that are not receivers.
    pub refusals: Option<RefusalSink>,
    /// Prefixes log lines (`otlp receiver: HTTP`).
    pub name: &'static str,
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("tls", &self.tls)
            .field("max_connections", &self.max_connections)
            .field("header_timeout", &self.header_timeout)
            .field("name", &self.name)
            .finish()
    }
}

impl ServerOptions {
    /// Plaintext, no limit, the default header timeout, nothing counted.
    pub fn plain(name: &'static str) -> Self {
        Self {
            tls: None,
            max_connections: 0,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            refusals: None,
            name,
        }
    }

    fn refuse(&self, reason: RefusalReason) {
        if let Some(refusals) = &self.refusals {
            refusals(reason);
        }
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// An accepted connection: plaintext or TLS, holding its slot under the connection
/// limit until it is dropped, and cut off if its first bytes do not come in time.
pub struct Conn {
    io: Io,
    peer: SocketAddr,
    _slot: Option<OwnedSemaphorePermit>,
    /// Until the first byte arrives.
    deadline: Option<Pin<Box<Sleep>>>,
    refusals: Option<RefusalSink>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").field("peer", &self.peer).finish()
    }
}

impl Conn {
    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Whether the connection is TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.io, Io::Tls(_))
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = match &mut this.io {
            Io::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        };
        match polled {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                this.deadline = None;
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match this.deadline.as_mut().map(|d| d.as_mut().poll(cx)) {
                Some(Poll::Ready(())) => {
                    this.deadline = None;
                    if let Some(refusals) = &this.refusals {
                        refusals(RefusalReason::HeaderTimeout);
                    }
                    tracing::debug!(peer = %this.peer, "connection sent nothing before the header timeout; closed");
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no request before the header timeout",
                    )))
                }
                _ => Poll::Pending,
            },
            other => other,
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.io {
            Io::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.io {
            Io::Plain(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(stream) => stream.is_write_vectored(),
            Io::Tls(stream) => stream.is_write_vectored(),
        }
    }
}

/// Accepts on `listener` until `shutdown`, applying `options`, and hands every ready
/// connection (TLS handshake done) to the returned channel. The channel closes when
/// the accept loop has stopped; the handle completes then, once the listener is closed.
pub fn incoming(
    listener: TcpListener,
    options: ServerOptions,
    shutdown: CancellationToken,
) -> (mpsc::Receiver<Conn>, tokio::task::JoinHandle<()>) {
    let (ready, connections) = mpsc::channel(READY_QUEUE);
    let accepting = tokio::spawn(accept_loop(listener, options, shutdown, ready));
    (connections, accepting)
}

async fn accept_loop(
    listener: TcpListener,
    options: ServerOptions,
    shutdown: CancellationToken,
    ready: mpsc::Sender<Conn>,
) {
    let slots =
        (options.max_connections > 0).then(|| Arc::new(Semaphore::new(options.max_connections)));
    let name = options.name;
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            _ = ready.closed() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "{name}: accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let slot = match &slots {
            Some(slots) => match slots.clone().try_acquire_owned() {
                Ok(slot) => Some(slot),
                Err(_) => {
                    options.refuse(RefusalReason::ConnectionLimit);
                    tracing::debug!(%peer, limit = options.max_connections,
                        "{name}: connection refused: max_connections reached");
                    drop(stream);
                    continue;
                }
            },
            None => None,
        };
        let _ = stream.set_nodelay(true);
        let options = options.clone();
        let ready = ready.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let conn = tokio::select! {
                conn = establish(stream, peer, slot, &options) => conn,
                _ = shutdown.cancelled() => None,
            };
            if let Some(conn) = conn {
                let _ = ready.send(conn).await;
            }
        });
    }
}

/// Runs the TLS handshake (when configured) within the header timeout.
async fn establish(
    stream: TcpStream,
    peer: SocketAddr,
    slot: Option<OwnedSemaphorePermit>,
    options: &ServerOptions,
) -> Option<Conn> {
    let name = options.name;
    let io = match &options.tls {
        None => Io::Plain(stream),
        Some(tls) => {
            let acceptor = tls.acceptor();
            match tokio::time::timeout(options.header_timeout, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => Io::Tls(Box::new(stream)),
                Ok(Err(err)) => {
                    options.refuse(RefusalReason::TlsHandshake);
                    tracing::debug!(%peer, error = %err, "{name}: TLS handshake failed");
                    return None;
                }
                Err(_) => {
                    options.refuse(RefusalReason::HeaderTimeout);
                    tracing::debug!(%peer, "{name}: TLS handshake not finished before the header timeout");
                    return None;
                }
            }
        }
    };
    Some(Conn {
        io,
        peer,
        _slot: slot,
        deadline: Some(Box::pin(tokio::time::sleep(options.header_timeout))),
        refusals: options.refusals.clone(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn counting() -> (RefusalSink, Arc<[AtomicU64; RefusalReason::COUNT]>) {
        let counts: Arc<[AtomicU64; RefusalReason::COUNT]> =
            Arc::new(std::array::from_fn(|_| AtomicU64::new(0)));
        let sink_counts = counts.clone();
        let sink: RefusalSink = Arc::new(move |reason: RefusalReason| {
            sink_counts[reason.index()].fetch_add(1, Ordering::Relaxed);
        });
        (sink, counts)
    }

    #[tokio::test]
    async fn the_limit_closes_extra_connections_and_counts_them() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (sink, counts) = counting();
        let options = ServerOptions {
            max_connections: 2,
            refusals: Some(sink),
            ..ServerOptions::plain("test")
        };
        let shutdown = CancellationToken::new();
        let (mut connections, _accepting) = incoming(listener, options, shutdown.clone());
        let _a = TcpStream::connect(addr).await.unwrap();
        let _b = TcpStream::connect(addr).await.unwrap();
        let held = [
            connections.recv().await.unwrap(),
            connections.recv().await.unwrap(),
        ];
        let mut extra = TcpStream::connect(addr).await.unwrap();
        let mut byte = [0u8; 1];
        // The server closes it without reading: EOF (or a reset).
        let read = tokio::time::timeout(Duration::from_secs(10), extra.read(&mut byte))
            .await
            .expect("the extra connection is closed");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        assert_eq!(
            counts[RefusalReason::ConnectionLimit.index()].load(Ordering::Relaxed),
            1
        );

        // A slot frees when a connection ends.
        drop(held);
        let mut next = None;
        for _ in 0..100 {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(b"x").await.unwrap();
            if let Ok(Some(conn)) =
                tokio::time::timeout(Duration::from_millis(200), connections.recv()).await
            {
                next = Some(conn);
                break;
            }
        }
        assert!(next.is_some(), "a freed slot is usable");
        shutdown.cancel();
    }

    #[tokio::test]
    async fn a_silent_connection_is_cut_at_the_header_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (sink, counts) = counting();
        let options = ServerOptions {
            header_timeout: Duration::from_millis(100),
            refusals: Some(sink),
            ..ServerOptions::plain("test")
        };
        let shutdown = CancellationToken::new();
        let (mut connections, _accepting) = incoming(listener, options, shutdown.clone());
        let _client = TcpStream::connect(addr).await.unwrap();
        let mut conn = connections.recv().await.unwrap();
        let mut buf = [0u8; 8];
        let err = conn.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            counts[RefusalReason::HeaderTimeout.index()].load(Ordering::Relaxed),
            1
        );

        // Bytes in time: no deadline afterwards.
        let mut client = TcpStream::connect(addr).await.unwrap();
        client.write_all(b"hello").await.unwrap();
        let mut conn = connections.recv().await.unwrap();
        assert_eq!(conn.read(&mut buf).await.unwrap(), 5);
        tokio::time::sleep(Duration::from_millis(200)).await;
        client.write_all(b"again").await.unwrap();
        assert_eq!(conn.read(&mut buf).await.unwrap(), 5);
        assert_eq!(
            counts[RefusalReason::HeaderTimeout.index()].load(Ordering::Relaxed),
            1
        );
        shutdown.cancel();
    }
}
