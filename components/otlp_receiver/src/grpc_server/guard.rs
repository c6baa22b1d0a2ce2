//! What stands in front of the OTLP services on the gRPC server: the authenticator
//! (every call, before its message is read) and the connection type tonic serves.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::body::Body;
use tonic::codegen::Service;
use tonic::server::NamedService;
use tonic::transport::server::Connected;
use tonic::Status;
use weir_api::auth::ServerAuthenticator;
use weir_api::conn::Conn;
use weir_api::{ReceiverOutput, RefusalReason};

/// A service whose calls must first pass the authenticator: otherwise UNAUTHENTICATED,
/// counted as `unauthenticated`, as the Collector's gRPC server answers.
pub struct Authenticated<S> {
    inner: S,
    auth: Option<Arc<dyn ServerAuthenticator>>,
    output: ReceiverOutput,
}

impl<S> Authenticated<S> {
    pub fn new(
        inner: S,
        auth: Option<Arc<dyn ServerAuthenticator>>,
        output: ReceiverOutput,
    ) -> Self {
        Self {
            inner,
            auth,
            output,
        }
    }
}

impl<S: Clone> Clone for Authenticated<S> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), self.auth.clone(), self.output.clone())
    }
}

impl<S: NamedService> NamedService for Authenticated<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for Authenticated<S>
where
    S: Service<
            http::Request<Body>,
            Response = http::Response<Body>,
            Error = Infallible,
            Future = BoxFuture<'static, Result<http::Response<Body>, Infallible>>,
        > + Send,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if let Some(auth) = &self.auth {
            if let Err(reason) = auth.authenticate(request.headers()) {
                self.output.refuse_request(RefusalReason::Unauthenticated);
                tracing::debug!(
                    reason = RefusalReason::Unauthenticated.as_str(),
                    detail = %reason,
                    "otlp receiver: gRPC request refused"
                );
                let status = Status::unauthenticated(reason);
                return Box::pin(async move { Ok(status.into_http()) });
            }
        }
        self.inner.call(request)
    }
}

/// A connection as tonic serves it (tonic needs its `Connected` trait on the type).
pub struct GrpcConn(pub Conn);

impl Connected for GrpcConn {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for GrpcConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for GrpcConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}
