//! `weir health`: asks a running Weir's `health_check` extension whether it is ready and
//! exits 0 only on `200 OK`.
//!
//! Container images without a shell or curl (Weir's is distroless) need a health probe
//! that is the binary itself; Kubernetes probes use `httpGet` instead, against the same
//! endpoint. A plain HTTP/1.1 GET over a std socket is all it takes, with every step
//! bounded by the timeout.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

/// Arguments of `weir health`.
#[derive(Args, Debug, Clone)]
pub struct HealthArgs {
    /// The health_check extension's address.
    #[arg(long, default_value = "127.0.0.1:13133")]
    pub endpoint: String,
    /// The health_check extension's `path`.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// How long connecting and answering may take together (Go duration).
    #[arg(long, default_value = "3s", value_parser = weir_api::duration::parse)]
    pub timeout: Duration,
}

/// Runs the probe and reports its outcome on stderr.
pub fn probe(args: &HealthArgs) -> ExitCode {
    match status(args) {
        Ok(200) => ExitCode::SUCCESS,
        Ok(code) => {
            eprintln!("weir health: {} answered {code}", args.endpoint);
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("weir health: {}: {err}", args.endpoint);
            ExitCode::FAILURE
        }
    }
}

fn status(args: &HealthArgs) -> Result<u16, String> {
    let address = resolve(&args.endpoint)?;
    let mut stream = TcpStream::connect_timeout(&address, args.timeout)
        .map_err(|e| format!("cannot connect: {e}"))?;
    let io = |e: std::io::Error| format!("no answer: {e}");
    stream.set_read_timeout(Some(args.timeout)).map_err(io)?;
    stream.set_write_timeout(Some(args.timeout)).map_err(io)?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        args.path, args.endpoint
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    // The status line fits in the first bytes; the body is not needed.
    let mut head = [0u8; 64];
    let mut read = 0;
    while read < head.len() {
        match stream.read(&mut head[read..]).map_err(io)? {
            0 => break,
            n => read += n,
        }
        if head[..read].contains(&b'\n') {
            break;
        }
    }
    parse_status(&head[..read])
}

fn resolve(endpoint: &str) -> Result<SocketAddr, String> {
    endpoint
        .to_socket_addrs()
        .map_err(|e| format!("not an address (HOST:PORT): {e}"))?
        .next()
        .ok_or_else(|| "resolves to no address".to_string())
}

/// The code of an `HTTP/1.x NNN reason` status line.
fn parse_status(head: &[u8]) -> Result<u16, String> {
    let line = head
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or(&[]);
    let text = String::from_utf8_lossy(line);
    let mut parts = text.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/") => code
            .parse()
            .map_err(|_| format!("not an HTTP status line: {text:?}")),
        _ => Err(format!("not an HTTP answer: {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn reads_the_status_code() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\n"), Ok(200));
        assert_eq!(
            parse_status(b"HTTP/1.1 503 Service Unavailable\r\nx"),
            Ok(503)
        );
        assert!(parse_status(b"SSH-2.0-OpenSSH\r\n").is_err());
        assert!(parse_status(b"").is_err());
    }

    fn answer_once(response: &'static [u8]) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = listener.local_addr().expect("addr").to_string();
        std::thread::spawn(move || {
            if let Ok((mut socket, _)) = listener.accept() {
                let mut buffer = [0u8; 512];
                let _ = socket.read(&mut buffer);
                let _ = socket.write_all(response);
            }
        });
        endpoint
    }

    fn args(endpoint: String) -> HealthArgs {
        HealthArgs {
            endpoint,
            path: "/".into(),
            timeout: Duration::from_secs(2),
        }
    }

    #[test]
    fn healthy_only_on_200() {
        let ok = answer_once(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(status(&args(ok)), Ok(200));
        let down = answer_once(b"HTTP/1.1 503 Service Unavailable\r\n\r\n");
        assert_eq!(status(&args(down)), Ok(503));
    }

    #[test]
    fn nothing_listening_is_an_error() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = listener.local_addr().expect("addr").to_string();
        drop(listener);
        assert!(status(&args(endpoint)).is_err());
    }
}
