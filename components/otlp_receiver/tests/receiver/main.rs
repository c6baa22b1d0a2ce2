//! Black-box tests of the otlp receiver on 127.0.0.1 with ephemeral ports: real tonic
//! and hyper clients against the real servers, an in-process consumer standing in for
//! the pipelines.

// Helpers outside #[test] functions panic on purpose when the setup fails.
#![allow(clippy::unwrap_used)]

mod auth;
mod grpc;
mod http;
mod refusals;
mod support;
