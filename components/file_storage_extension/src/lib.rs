//! The `file_storage` extension: the disk behind exporters' persistent queues
//! (`sending_queue.storage: file_storage/NAME`).
//!
//! The Collector's `file_storage` is a key-value store (bbolt) that its exporter helper
//! builds a queue on. Weir's offers what the queue needs directly: one write-ahead log
//! per exporter and signal ([`wal::Log`]), in its own directory under `directory`, locked
//! so two processes never share it. The engine appends batches as OTLP wire bytes, hands
//! records to the exporter's consumers, and marks them done; see README.md.

pub mod config;
pub mod wal;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use nix::fcntl::{Flock, FlockArg};
use weir_api::storage::{RecordLog, Storage};
use weir_api::{
    BuildContext, BuildError, ComponentId, ComponentProblem, Extension, ExtensionContext,
    ExtensionFactory, FactoryInfo, RunningComponent, Stability, StartError, Value,
};

pub use config::FileStorageConfig;

/// The component type name in configuration.
pub const TYPE_NAME: &str = "file_storage";

/// Builds `file_storage` extensions.
#[derive(Debug, Default)]
pub struct FileStorageFactory;

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ExtensionFactory> {
    Arc::new(FileStorageFactory)
}

impl ExtensionFactory for FileStorageFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: TYPE_NAME,
            aliases: &[],
            signals: &[],
            stability: Stability::Alpha,
            description: "Disk storage for exporters' persistent queues (write-ahead logs).",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<FileStorageConfig>(config)
    }

    fn build(&self, ctx: BuildContext, config: &Value) -> Result<Box<dyn Extension>, BuildError> {
        let config: FileStorageConfig = weir_api::config::parse_valid(config)?;
        Ok(Box::new(FileStorage {
            storage: Arc::new(FileStore { id: ctx.id, config }),
        }))
    }
}

/// A built `file_storage` extension.
#[derive(Debug)]
pub struct FileStorage {
    storage: Arc<FileStore>,
}

#[async_trait]
impl Extension for FileStorage {
    async fn start(self: Box<Self>, ctx: ExtensionContext) -> Result<RunningComponent, StartError> {
        // Queues open their logs when their exporter starts; this only checks early that
        // the directory is there, so a typo fails at start with the extension's name.
        self.storage.ensure_directory().map_err(StartError)?;
        Ok(Box::pin(async move { ctx.shutdown.cancelled().await }))
    }

    fn storage(&self) -> Option<Arc<dyn Storage>> {
        Some(self.storage.clone())
    }
}

/// The storage handed to the engine.
#[derive(Debug)]
pub struct FileStore {
    id: ComponentId,
    config: FileStorageConfig,
}

impl FileStore {
    /// A store for `config`, outside any engine (tests, tools).
    pub fn new(id: ComponentId, config: FileStorageConfig) -> Self {
        Self { id, config }
    }

    fn ensure_directory(&self) -> Result<(), String> {
        let dir = &self.config.directory;
        if dir.is_dir() {
            return Ok(());
        }
        if !self.config.create_directory {
            return Err(format!(
                "directory {} does not exist (create it, or set create_directory: true)",
                dir.display()
            ));
        }
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        if let Some(mode) = self.config.permissions() {
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, mode);
        }
        builder
            .create(dir)
            .map_err(|e| format!("cannot create directory {}: {e}", dir.display()))
    }

    /// Locks `dir`'s lock file, retrying until `timeout`.
    fn lock(&self, dir: &Path) -> Result<Flock<std::fs::File>, String> {
        let path = dir.join("LOCK");
        let started = Instant::now();
        loop {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => return Ok(lock),
                Err((_, errno)) => {
                    if started.elapsed() >= self.config.timeout {
                        return Err(format!(
                            "{} is locked by another process ({errno}); two collectors cannot \
                             share a queue directory",
                            path.display()
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }
}

/// A log and the lock on its directory, released when the log is dropped.
struct LockedLog {
    log: wal::Log,
    _lock: Flock<std::fs::File>,
}

impl RecordLog for LockedLog {
    fn append(
        &self,
        payload: &[u8],
        items: u32,
    ) -> Result<weir_api::storage::Appended, weir_api::storage::AppendError> {
        self.log.append(payload, items)
    }
    fn next(&self) -> Result<Option<weir_api::storage::Record>, String> {
        self.log.next()
    }
    fn done(&self, id: weir_api::storage::RecordId) {
        self.log.done(id)
    }
    fn take_damaged(&self) -> u64 {
        self.log.take_damaged()
    }
    fn stats(&self) -> weir_api::storage::LogStats {
        self.log.stats()
    }
}

/// A file name for `name`: letters, digits, `-`, `_` and `.` as they are, anything else
/// (`/` in `otlp/eu`) as `~` and its hex code, so two names never share a directory.
pub fn directory_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("~{byte:02x}"));
        }
    }
    if out.starts_with('.') {
        out.replace_range(0..1, "~2e");
    }
    out
}

impl Storage for FileStore {
    fn open_log(&self, name: &str) -> Result<Box<dyn RecordLog>, String> {
        self.ensure_directory()?;
        let dir: PathBuf = self.config.directory.join(directory_name(name));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let lock = self.lock(&dir)?;
        let options = wal::Options {
            fsync: self.config.fsync,
            max_bytes: self.config.max_bytes(),
            segment_bytes: self.config.segment_bytes(),
            policy: self.config.full_policy.into(),
        };
        let log = wal::Log::open(&dir, options)?;
        tracing::debug!(extension = %self.id, dir = %dir.display(), "persistent queue log opened");
        Ok(Box::new(LockedLog { log, _lock: lock }))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn directory_names_are_plain_and_distinct() {
        use super::directory_name;
        assert_eq!(
            directory_name("exporter_otlp_traces"),
            "exporter_otlp_traces"
        );
        assert_eq!(
            directory_name("exporter_otlp/eu_logs"),
            "exporter_otlp~2feu_logs"
        );
        assert_ne!(directory_name("a/b"), directory_name("a~2fb"));
        assert_eq!(directory_name(".."), "~2e.");
    }
}
