//! `auth` on both protocols, with an authenticator registered as an extension would
//! register it: requests without valid credentials are answered UNAUTHENTICATED / 401,
//! counted, and never reach the pipeline; a missing authenticator fails the start.

use std::sync::Arc;

use tonic::Code;
use weir_api::auth::ServerAuthenticator;
use weir_api::telemetry::Telemetry;
use weir_api::Signal;
use weir_proto::collector::trace::v1::trace_service_client::TraceServiceClient;
use weir_proto::prost::Message;

use crate::support::{self, send, try_start_with};

const CONFIG: &str = "
protocols:
  grpc:
    endpoint: 127.0.0.1:0
    auth:
      authenticator: bearertokenauth/in
  http:
    endpoint: 127.0.0.1:0
    auth:
      authenticator: bearertokenauth/in
";

struct Token;

impl ServerAuthenticator for Token {
    fn authenticate(&self, headers: &http::HeaderMap) -> Result<(), String> {
        match headers.get("authorization") {
            Some(value) if value == "Bearer good" => Ok(()),
            _ => Err("missing or wrong token".into()),
        }
    }
}

fn refused(transport: &str) -> String {
    format!(
        "weir_receiver_refused_requests_total{{receiver=\"otlp\",transport=\"{transport}\",reason=\"unauthenticated\"}}"
    )
}

#[tokio::test]
async fn credentials_are_checked_on_both_protocols() {
    let telemetry = Telemetry::new();
    telemetry
        .authenticators()
        .register_server("bearertokenauth/in", Arc::new(Token));
    let receiver = try_start_with(CONFIG, &Signal::ALL, telemetry)
        .await
        .unwrap();

    let mut client = TraceServiceClient::connect(receiver.grpc_url())
        .await
        .unwrap();
    let status = client.export(support::traces_request(1)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let mut wrong = tonic::Request::new(support::traces_request(1));
    wrong
        .metadata_mut()
        .insert("authorization", "Bearer bad".parse().unwrap());
    assert_eq!(
        client.export(wrong).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let mut good = tonic::Request::new(support::traces_request(2));
    good.metadata_mut()
        .insert("authorization", "Bearer good".parse().unwrap());
    client.export(good).await.unwrap();
    assert_eq!(receiver.metric(&refused("grpc")), 2);

    let body = support::traces_request(3).encode_to_vec();
    let url = receiver.http_url("/v1/traces");
    let protobuf = ("content-type", "application/x-protobuf");
    let denied = send("POST", &url, &[protobuf], body.clone()).await;
    assert_eq!(denied.status, 401);
    let status = tonic_types::Status::decode(denied.body).unwrap();
    assert_eq!(status.code, 16, "UNAUTHENTICATED in the body");
    let json = send(
        "POST",
        &url,
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer bad"),
        ],
        "{}",
    )
    .await;
    assert_eq!(json.status, 401);
    let ok = send(
        "POST",
        &url,
        &[protobuf, ("authorization", "Bearer good")],
        body,
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(receiver.metric(&refused("http")), 2);

    let items: Vec<usize> = receiver
        .consumer
        .take()
        .iter()
        .map(|b| b.item_count())
        .collect();
    assert_eq!(
        items,
        [2, 3],
        "only the authenticated requests reach the pipeline"
    );
    receiver.stop().await;
}

#[tokio::test]
async fn a_missing_authenticator_fails_the_start_naming_it() {
    let err = try_start_with(CONFIG, &Signal::ALL, Telemetry::new())
        .await
        .err()
        .unwrap();
    assert!(
        err.0
            .contains("authenticator `bearertokenauth/in` not found"),
        "{}",
        err.0
    );
}
