//! Helpers for black-box tests of the `weir` binary: find it, start it with a config on
//! free loopback ports, stop it by its own PID, read what a `file` exporter wrote.
//!
//! The binary is the one cargo built for this workspace (`target/<profile>/weir`, next
//! to the test executable's `deps/` folder), so these tests exercise exactly what ships.

pub mod fuzz;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The built `weir` binary.
pub fn weir_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let binary = profile_dir.join("weir");
    assert!(
        binary.exists(),
        "{} not built; run `cargo build --bins` first",
        binary.display()
    );
    binary
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "weir-tests-{tag}-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running weir process, killed on drop if still alive.
pub struct Weir {
    child: Child,
    pub log: PathBuf,
}

impl Weir {
    /// Starts `weir --config <dir>/config.yaml` and waits until `ready_port` accepts.
    pub fn start(dir: &Path, config: &str, ready_port: u16) -> Self {
        let config_path = dir.join("config.yaml");
        std::fs::write(&config_path, config).expect("write config");
        let log = dir.join("weir.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(weir_binary())
            .arg("--config")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("spawn weir");
        let mut weir = Self { child, log };
        weir.wait_for_port(ready_port);
        weir
    }

    fn wait_for_port(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("weir exited early with {status}: {}", self.log_text());
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("weir did not listen on {port}: {}", self.log_text());
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM to this process (by its PID) and waits for it to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "weir did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Weir {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Span names in the OTLP/JSON lines a `file` exporter wrote.
pub fn span_names(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut names = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let doc: serde_json::Value = serde_json::from_str(line).expect("OTLP/JSON line");
        for rs in doc["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for span in ss["spans"].as_array().into_iter().flatten() {
                    names.push(span["name"].as_str().unwrap_or_default().to_string());
                }
            }
        }
    }
    names
}
