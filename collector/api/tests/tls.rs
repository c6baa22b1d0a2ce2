//! Server and client TLS end to end over loopback, with certificates made here: mutual
//! TLS passes with a client certificate and fails without, `insecure_skip_verify`
//! connects to an unknown CA, `server_name_override` verifies another name, and
//! `reload_interval` serves a renewed certificate without a restart.

#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use weir_api::conn::ServerOptions;
use weir_api::tls::{rustls_client_config, TlsClientSettings};
use weir_api::tls_server::{ServerTls, TlsServerSettings};
use weir_api::RefusalReason;

struct Pki {
    dir: PathBuf,
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// Writes `<prefix>.pem` and `<prefix>-key.pem`, signed by `issuer`, for `names`.
fn leaf(
    pki: &Pki,
    issuer: &CertifiedIssuer<'static, KeyPair>,
    prefix: &str,
    names: &[&str],
) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (
        write(&pki.dir, &format!("{prefix}.pem"), &cert.pem()),
        write(&pki.dir, &format!("{prefix}-key.pem"), &key.serialize_pem()),
    )
}

fn pki(test: &str) -> Pki {
    let dir = std::env::temp_dir().join(format!("weir-tls-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Pki { dir }
}

struct Server {
    addr: SocketAddr,
    shutdown: CancellationToken,
    counts: Arc<[AtomicU64; RefusalReason::COUNT]>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn serve(settings: &TlsServerSettings) -> Server {
    let tls = ServerTls::new(settings, &[b"http/1.1"]).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let counts: Arc<[AtomicU64; RefusalReason::COUNT]> =
        Arc::new(std::array::from_fn(|_| AtomicU64::new(0)));
    let sink = counts.clone();
    let options = ServerOptions {
        tls: Some(tls),
        refusals: Some(Arc::new(move |reason: RefusalReason| {
            sink[reason.index()].fetch_add(1, Ordering::Relaxed);
        })),
        ..ServerOptions::plain("test")
    };
    let service = service_fn(|_: Request<Incoming>| async {
        Ok::<_, Infallible>(Response::new("hello over tls".to_string()))
    });
    tokio::spawn(weir_api::http::serve_with(
        listener,
        auto::Builder::new(TokioExecutor::new()).http1_only(),
        service,
        shutdown.clone(),
        options,
    ));
    Server {
        addr,
        shutdown,
        counts,
    }
}

/// One GET over TLS with `client`, connecting to `name`: the response text or the error.
async fn get(addr: SocketAddr, client: &TlsClientSettings, name: &str) -> Result<String, String> {
    let config = rustls_client_config(client, true)?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
    let mut stream = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: weir\r\nconnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    stream
        .read_to_string(&mut out)
        .await
        .map_err(|e| e.to_string())?;
    Ok(out)
}

#[tokio::test]
async fn mutual_tls_needs_a_client_certificate_from_the_client_ca() {
    let pki = pki("mtls");
    let server_ca = ca("server ca");
    let client_ca = ca("client ca");
    let other_ca = ca("other ca");
    let (cert, key) = leaf(&pki, &server_ca, "server", &["localhost"]);
    let (client_cert, client_key) = leaf(&pki, &client_ca, "client", &["client"]);
    let (rogue_cert, rogue_key) = leaf(&pki, &other_ca, "rogue", &["client"]);
    let server_ca_file = write(&pki.dir, "server-ca.pem", &server_ca.pem());
    let client_ca_file = write(&pki.dir, "client-ca.pem", &client_ca.pem());

    let server = serve(&TlsServerSettings {
        cert_file: cert,
        key_file: key,
        client_ca_file,
        ..Default::default()
    })
    .await;

    let with_cert = TlsClientSettings {
        ca_file: server_ca_file.clone(),
        cert_file: client_cert,
        key_file: client_key,
        ..Default::default()
    };
    let answer = get(server.addr, &with_cert, "localhost").await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("hello over tls"), "{answer}");

    let without_cert = TlsClientSettings {
        ca_file: server_ca_file.clone(),
        ..Default::default()
    };
    assert!(get(server.addr, &without_cert, "localhost").await.is_err());

    let rogue = TlsClientSettings {
        ca_file: server_ca_file,
        cert_file: rogue_cert,
        key_file: rogue_key,
        ..Default::default()
    };
    assert!(get(server.addr, &rogue, "localhost").await.is_err());
    // Both refusals are counted once their handshakes have failed on the server.
    for _ in 0..100 {
        if server.counts[RefusalReason::TlsHandshake.index()].load(Ordering::Relaxed) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        server.counts[RefusalReason::TlsHandshake.index()].load(Ordering::Relaxed),
        2
    );
    std::fs::remove_dir_all(&pki.dir).ok();
}

#[tokio::test]
async fn client_verification_skip_and_name_override() {
    let pki = pki("client");
    let server_ca = ca("server ca");
    let (cert, key) = leaf(&pki, &server_ca, "server", &["collector.internal"]);
    let server_ca_file = write(&pki.dir, "server-ca.pem", &server_ca.pem());
    let server = serve(&TlsServerSettings {
        cert_file: cert,
        key_file: key,
        ..Default::default()
    })
    .await;

    // An unknown CA fails; insecure_skip_verify connects anyway.
    let other_ca_file = write(&pki.dir, "other-ca.pem", &ca("other").pem());
    let unknown = TlsClientSettings {
        ca_file: other_ca_file.clone(),
        ..Default::default()
    };
    assert!(get(server.addr, &unknown, "collector.internal")
        .await
        .is_err());
    let skip = TlsClientSettings {
        ca_file: other_ca_file,
        insecure_skip_verify: true,
        ..Default::default()
    };
    let answer = get(server.addr, &skip, "localhost").await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // The certificate names collector.internal: connecting as localhost fails, and
    // works when the exporter verifies that name (what server_name_override sets).
    let trusted = TlsClientSettings {
        ca_file: server_ca_file,
        ..Default::default()
    };
    assert!(get(server.addr, &trusted, "localhost").await.is_err());
    assert!(get(server.addr, &trusted, "collector.internal")
        .await
        .is_ok());

    // min_version 1.3 on the client against a 1.2-only server fails.
    drop(server);
    std::fs::remove_dir_all(&pki.dir).ok();
}

#[tokio::test]
async fn versions_are_enforced() {
    let pki = pki("versions");
    let server_ca = ca("server ca");
    let (cert, key) = leaf(&pki, &server_ca, "server", &["localhost"]);
    let server_ca_file = write(&pki.dir, "server-ca.pem", &server_ca.pem());
    let server = serve(&TlsServerSettings {
        cert_file: cert,
        key_file: key,
        max_version: "1.2".into(),
        ..Default::default()
    })
    .await;
    let modern = TlsClientSettings {
        ca_file: server_ca_file.clone(),
        min_version: "1.3".into(),
        ..Default::default()
    };
    assert!(get(server.addr, &modern, "localhost").await.is_err());
    let any = TlsClientSettings {
        ca_file: server_ca_file,
        ..Default::default()
    };
    assert!(get(server.addr, &any, "localhost").await.is_ok());
    std::fs::remove_dir_all(&pki.dir).ok();
}

#[tokio::test]
async fn a_renewed_certificate_is_served_after_the_reload_interval() {
    let pki = pki("reload");
    let old_ca = ca("old ca");
    let new_ca = ca("new ca");
    let (cert, key) = leaf(&pki, &old_ca, "server", &["localhost"]);
    let old_ca_file = write(&pki.dir, "old-ca.pem", &old_ca.pem());
    let new_ca_file = write(&pki.dir, "new-ca.pem", &new_ca.pem());
    let server = serve(&TlsServerSettings {
        cert_file: cert,
        key_file: key,
        reload_interval: Some(Duration::from_millis(50)),
        ..Default::default()
    })
    .await;
    let trusting_new = TlsClientSettings {
        ca_file: new_ca_file,
        ..Default::default()
    };
    let trusting_old = TlsClientSettings {
        ca_file: old_ca_file,
        ..Default::default()
    };
    assert!(get(server.addr, &trusting_old, "localhost").await.is_ok());
    assert!(get(server.addr, &trusting_new, "localhost").await.is_err());

    // Renew in place: same file names, a certificate from the new CA.
    leaf(&pki, &new_ca, "server", &["localhost"]);
    let mut renewed = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(60)).await;
        if get(server.addr, &trusting_new, "localhost").await.is_ok() {
            renewed = true;
            break;
        }
    }
    assert!(
        renewed,
        "the renewed certificate is served without a restart"
    );
    std::fs::remove_dir_all(&pki.dir).ok();
}
