//! `docker`: host.name and os.type of the Docker host, from the Docker Engine API's
//! `GET /info` over the daemon's Unix socket (what the Collector's docker detector asks).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::{enabled, Attributes};
use crate::config::AttributesOnly;

/// The Docker daemon's socket.
pub const SOCKET: &str = "/var/run/docker.sock";

/// The largest `/info` answer read.
const MAX_RESPONSE: u64 = 4 << 20;

/// Asks the daemon at `socket`. Fails with what went wrong (no socket, no answer, a
/// non-200 answer, a body without `Name`/`OSType`).
pub fn detect(
    config: &AttributesOnly,
    socket: &Path,
    timeout: Duration,
) -> Result<Attributes, String> {
    let info = info(socket, timeout)?;
    let text = |key: &str| {
        info.get(key)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
    };
    let mut out = Vec::new();
    if enabled(&config.resource_attributes, "host.name", true) {
        let name = text("Name").ok_or("the daemon's /info has no Name")?;
        out.push(("host.name".to_string(), name.to_string()));
    }
    if enabled(&config.resource_attributes, "os.type", true) {
        let os = text("OSType").ok_or("the daemon's /info has no OSType")?;
        out.push(("os.type".to_string(), os.to_ascii_lowercase()));
    }
    Ok(out)
}

fn info(socket: &Path, timeout: Duration) -> Result<serde_json::Value, String> {
    let where_ = socket.display();
    let mut stream = UnixStream::connect(socket)
        .map_err(|e| format!("cannot reach the Docker daemon at {where_}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| format!("{where_}: {e}"))?;
    stream
        .write_all(b"GET /info HTTP/1.0\r\nHost: docker\r\nAccept: application/json\r\n\r\n")
        .map_err(|e| format!("{where_}: cannot send the request: {e}"))?;
    let mut response = Vec::new();
    stream
        .take(MAX_RESPONSE)
        .read_to_end(&mut response)
        .map_err(|e| format!("{where_}: no answer within {timeout:?}: {e}"))?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{where_}: not an HTTP answer"))?;
    let head = String::from_utf8_lossy(&response[..split]);
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("{where_}: GET /info answered {status:?}"));
    }
    serde_json::from_slice(&response[split + 4..])
        .map_err(|e| format!("{where_}: GET /info is not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;

    use super::*;

    fn serve_once(answer: &'static str) -> (std::path::PathBuf, std::thread::JoinHandle<String>) {
        let dir = std::env::temp_dir().join(format!(
            "weir-rd-docker-{}-{}",
            std::process::id(),
            answer.len()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("docker.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let handle = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = conn.read(&mut buf).unwrap();
            conn.write_all(answer.as_bytes()).unwrap();
            String::from_utf8_lossy(&buf[..n]).to_string()
        });
        (path, handle)
    }

    #[test]
    fn reads_name_and_os_type_from_info() {
        let (path, handle) = serve_once(
            "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"Name\":\"docker-host\",\"OSType\":\"linux\",\"Containers\":3}",
        );
        let attrs = detect(&AttributesOnly::default(), &path, Duration::from_secs(5)).unwrap();
        assert_eq!(
            attrs,
            [
                ("host.name".to_string(), "docker-host".to_string()),
                ("os.type".to_string(), "linux".to_string()),
            ]
        );
        assert!(handle.join().unwrap().starts_with("GET /info HTTP/1.0\r\n"));
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn an_error_answer_or_no_socket_is_an_error() {
        let (path, handle) = serve_once("HTTP/1.0 500 Internal Server Error\r\n\r\n{}");
        let err = detect(&AttributesOnly::default(), &path, Duration::from_secs(5)).unwrap_err();
        assert!(err.contains("500"), "{err}");
        handle.join().unwrap();
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
        let err = detect(
            &AttributesOnly::default(),
            Path::new("/nonexistent/docker.sock"),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(
            err.contains("cannot reach the Docker daemon at /nonexistent/docker.sock"),
            "{err}"
        );
    }
}
