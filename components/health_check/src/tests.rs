//! The extension over real loopback sockets, with a plain HTTP/1.1 client so the test
//! sees exactly the bytes a probe would.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use weir_api::telemetry::Telemetry;
use weir_api::HealthState;

use super::*;

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

fn config(text: &str) -> HealthCheckConfig {
    weir_api::config::parse_valid::<HealthCheckConfig>(&yaml(text)).unwrap()
}

/// Sends one request and returns the status code and body.
async fn request(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1.to_string();
    (status, body)
}

struct Running {
    addr: std::net::SocketAddr,
    health: watch::Sender<HealthState>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

async fn serve(text: &str) -> Running {
    let server = HealthServer::bind(&config(text)).await.unwrap();
    let addr = server.local_addr();
    let (health, rx) = watch::channel(HealthState::Starting);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server.serve(rx, shutdown.clone()));
    Running {
        addr,
        health,
        shutdown,
        task,
    }
}

#[tokio::test]
async fn answers_follow_the_health_state() {
    let running = serve("endpoint: 127.0.0.1:0").await;
    assert_ne!(running.addr.port(), 0, "the real port is exposed");

    let (status, body) = request(running.addr, "GET", "/").await;
    assert_eq!(status, 503);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["status"], "Server not available");
    assert_eq!(doc["upSince"], "0001-01-01T00:00:00Z");

    running.health.send(HealthState::Running).unwrap();
    let (status, body) = request(running.addr, "GET", "/").await;
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["status"], "Server available");
    assert!(doc["upSince"].as_str().unwrap().ends_with('Z'), "{body}");
    assert!(doc["uptime"].as_str().unwrap().ends_with('s'), "{body}");

    let (status, body) = request(running.addr, "HEAD", "/").await;
    assert_eq!((status, body.as_str()), (200, ""), "HEAD has no body");
    let (status, _) = request(running.addr, "GET", "/metrics").await;
    assert_eq!(status, 404);
    let (status, _) = request(running.addr, "POST", "/").await;
    assert_eq!(status, 405);

    running.health.send(HealthState::ShuttingDown).unwrap();
    let (status, body) = request(running.addr, "GET", "/").await;
    assert_eq!(status, 503);
    assert!(body.contains("Server not available"), "{body}");

    running.shutdown.cancel();
    running.task.await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(running.addr).await.is_err(),
        "the listener is closed after shutdown"
    );
}

#[tokio::test]
async fn custom_path_and_bodies() {
    let running = serve(
        "endpoint: 127.0.0.1:0\npath: /health/status\nresponse_body:\n  healthy: I'm OK\n  unhealthy: nope",
    )
    .await;
    assert_eq!(request(running.addr, "GET", "/").await.0, 404);
    assert_eq!(
        request(running.addr, "GET", "/health/status").await,
        (503, "nope".to_string())
    );
    running.health.send(HealthState::Running).unwrap();
    assert_eq!(
        request(running.addr, "GET", "/health/status").await,
        (200, "I'm OK".to_string())
    );
    running.shutdown.cancel();
    running.task.await.unwrap();
}

#[tokio::test]
async fn port_in_use_is_a_start_error_naming_the_address() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = taken.local_addr().unwrap().to_string();
    let ctx = BuildContext {
        id: ComponentId::new("health_check", None),
        telemetry: Telemetry::new(),
    };
    let extension = factory()
        .build(ctx, &yaml(&format!("endpoint: {endpoint}")))
        .unwrap();
    let (_health, rx) = watch::channel(HealthState::Starting);
    let err = extension
        .start(ExtensionContext {
            health: rx,
            shutdown: CancellationToken::new(),
        })
        .await
        .err()
        .expect("the port is taken");
    assert_eq!(
        err.0,
        format!("health_check: cannot listen on {endpoint}: Address already in use")
    );
}

#[tokio::test]
async fn extension_starts_and_stops_through_the_factory() {
    let ctx = BuildContext {
        id: ComponentId::new("health_check", None),
        telemetry: Telemetry::new(),
    };
    let extension = factory()
        .build(ctx, &yaml("endpoint: 127.0.0.1:0"))
        .unwrap();
    let (_health, rx) = watch::channel(HealthState::Running);
    let shutdown = CancellationToken::new();
    let running = extension
        .start(ExtensionContext {
            health: rx,
            shutdown: shutdown.clone(),
        })
        .await
        .unwrap();
    shutdown.cancel();
    running.await;
}

#[test]
fn config_defaults_and_problems() {
    let defaults = weir_api::config::parse_valid::<HealthCheckConfig>(&Value::Null).unwrap();
    assert_eq!(defaults.endpoint, "127.0.0.1:13133");
    assert_eq!(defaults.path, "/");
    assert!(defaults.response_body.is_none());

    let accepted = config("check_collector_pipeline:\n  enabled: true\n  interval: 5m\n  exporter_failure_threshold: 5");
    assert!(accepted.check_collector_pipeline.enabled);

    let problems = factory().check(&yaml("path: health"));
    assert_eq!(problems[0].path, ["path"]);
    assert!(problems[0].message.contains("must start with /"));

    let problems = factory().check(&yaml("response_body:\n  helthy: x"));
    assert_eq!(problems[0].path, ["response_body", "helthy"]);
    assert_eq!(problems[0].suggestion.as_deref(), Some("healthy"));

    let problems = factory().check(&yaml("tls:\n  cert_file: x"));
    assert_eq!(problems[0].path, ["tls", "key_file"]);

    assert!(factory().info().signals.is_empty());
}

#[tokio::test]
async fn serves_over_tls_with_certificates_made_here() {
    let dir = std::env::temp_dir().join(format!("weir-health-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let cert_file = dir.join("cert.pem");
    let key_file = dir.join("key.pem");
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();

    let running = serve(&format!(
        "endpoint: 127.0.0.1:0\ntls: {{cert_file: '{}', key_file: '{}'}}",
        cert_file.display(),
        key_file.display()
    ))
    .await;
    running.health.send(HealthState::Running).unwrap();

    let client = weir_api::tls::TlsClientSettings {
        ca_file: cert_file.display().to_string(),
        ..Default::default()
    };
    let config = weir_api::tls::rustls_client_config(&client, true).unwrap();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(running.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut stream = connector.connect(name, tcp).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");

    // Plaintext to the TLS port gets no HTTP answer.
    let mut plain = tokio::net::TcpStream::connect(running.addr).await.unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    let _ = plain.read_to_end(&mut raw).await;
    assert!(!String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 200"));

    running.shutdown.cancel();
    running.task.await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}
