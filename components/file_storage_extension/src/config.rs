//! The `file_storage` section: the Collector's keys (contrib `extension/storage/filestorage`)
//! and Weir's bound on each queue's size on disk.
//!
//! The Collector's `compaction` keys tune bbolt's rewrite of its database file. Weir's log
//! compacts as it goes (a segment file is deleted once every record in it is done), so
//! those keys are accepted, type-checked and have no effect; README.md says so.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use weir_api::config::{problem, Validate};
use weir_api::storage::FullPolicy;
use weir_api::ComponentProblem;

/// The default directory, as the Collector's on Linux but Weir's own.
pub const DEFAULT_DIRECTORY: &str = "/var/lib/weir/file_storage";
/// Default bound of each queue (exporter and signal) on disk: 1 GiB.
pub const DEFAULT_MAX_SIZE_MIB: u64 = 1024;
/// Default size at which a segment file is sealed and a new one started.
pub const DEFAULT_SEGMENT_SIZE_MIB: u64 = 8;

/// `extensions.file_storage[/NAME]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileStorageConfig {
    /// Where each queue keeps its directory of segment files.
    pub directory: PathBuf,
    /// Create `directory` (with `directory_permissions`) when it does not exist.
    pub create_directory: bool,
    /// Octal permissions for a created directory, as the Collector writes them.
    pub directory_permissions: String,
    /// How long to wait for another process's lock on a queue's directory.
    #[serde(with = "weir_api::duration")]
    pub timeout: Duration,
    /// fsync every appended record before the receiver is answered.
    pub fsync: bool,
    /// Accepted for compatibility; see the module docs.
    pub compaction: CompactionConfig,
    /// Weir: the most each queue (one per exporter and signal) may hold on disk.
    pub max_size_mib: u64,
    /// Weir: what a full queue does: `block` (clients are told to retry) or `drop_oldest`.
    pub full_policy: FullPolicyConfig,
    /// Weir: the size at which a segment file is sealed.
    pub segment_size_mib: u64,
}

impl Default for FileStorageConfig {
    fn default() -> Self {
        Self {
            directory: PathBuf::from(DEFAULT_DIRECTORY),
            create_directory: false,
            directory_permissions: "0750".to_string(),
            timeout: Duration::from_secs(1),
            fsync: false,
            compaction: CompactionConfig::default(),
            max_size_mib: DEFAULT_MAX_SIZE_MIB,
            full_policy: FullPolicyConfig::Block,
            segment_size_mib: DEFAULT_SEGMENT_SIZE_MIB,
        }
    }
}

impl FileStorageConfig {
    pub fn max_bytes(&self) -> u64 {
        self.max_size_mib.saturating_mul(1 << 20)
    }

    pub fn segment_bytes(&self) -> u64 {
        self.segment_size_mib.saturating_mul(1 << 20)
    }

    /// `directory_permissions` as a mode.
    pub fn permissions(&self) -> Option<u32> {
        u32::from_str_radix(&self.directory_permissions, 8)
            .ok()
            .filter(|mode| *mode <= 0o7777)
    }
}

/// `full_policy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FullPolicyConfig {
    #[default]
    Block,
    DropOldest,
}

impl From<FullPolicyConfig> for FullPolicy {
    fn from(policy: FullPolicyConfig) -> Self {
        match policy {
            FullPolicyConfig::Block => FullPolicy::Block,
            FullPolicyConfig::DropOldest => FullPolicy::DropOldest,
        }
    }
}

/// `compaction`: the Collector's keys, accepted with no effect.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompactionConfig {
    pub on_start: bool,
    pub on_rebound: bool,
    pub directory: Option<PathBuf>,
    pub max_transaction_size: u64,
    pub rebound_needed_threshold_mib: u64,
    pub rebound_trigger_threshold_mib: u64,
    #[serde(with = "weir_api::duration")]
    pub check_interval: Duration,
    pub cleanup_on_start: bool,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        Self {
            on_start: false,
            on_rebound: false,
            directory: None,
            max_transaction_size: 65_536,
            rebound_needed_threshold_mib: 10,
            rebound_trigger_threshold_mib: 0,
            check_interval: Duration::from_secs(5),
            cleanup_on_start: false,
        }
    }
}

impl Validate for FileStorageConfig {
    fn problems(&self) -> Vec<ComponentProblem> {
        let mut problems = Vec::new();
        if self.directory.as_os_str().is_empty() {
            problems.push(problem(&["directory"], "must not be empty"));
        } else if !self.directory.is_absolute() {
            problems.push(problem(
                &["directory"],
                "must be an absolute path (the queue must not move with the working directory)",
            ));
        }
        if self.permissions().is_none() {
            problems.push(problem(
                &["directory_permissions"],
                "must be octal permissions such as `0750`",
            ));
        }
        if self.max_size_mib == 0 {
            problems.push(problem(&["max_size_mib"], "must be at least 1"));
        }
        if self.segment_size_mib == 0 {
            problems.push(problem(&["segment_size_mib"], "must be at least 1"));
        } else if self.segment_size_mib > self.max_size_mib {
            problems.push(problem(
                &["segment_size_mib"],
                format!(
                    "must not exceed max_size_mib ({}): a queue holds whole segments",
                    self.max_size_mib
                ),
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(yaml: &str) -> Vec<ComponentProblem> {
        let value: weir_api::Value = serde_yaml_ng::from_str(yaml).expect("yaml");
        weir_api::config::check_valid::<FileStorageConfig>(&value)
    }

    #[test]
    fn defaults_and_the_collectors_keys() {
        let c = FileStorageConfig::default();
        assert_eq!(c.max_bytes(), 1 << 30);
        assert_eq!(c.full_policy, FullPolicyConfig::Block);
        assert!(!c.fsync && !c.create_directory);
        let yaml = "directory: /tmp/q\ncreate_directory: true\nfsync: true\ntimeout: 2s\n\
                    compaction: {on_start: true, directory: /tmp, max_transaction_size: 10, \
                    check_interval: 1s, cleanup_on_start: true}\nfull_policy: drop_oldest";
        assert!(problems(yaml).is_empty(), "{:?}", problems(yaml));
    }

    #[test]
    fn bad_values_name_their_key() {
        let p = problems("directory: relative/dir");
        assert_eq!(p[0].path, ["directory"]);
        let p = problems("directory: /q\nfull_policy: sometimes");
        assert_eq!(p[0].path, ["full_policy"]);
        let p = problems("directory: /q\nmax_size_mib: 4\nsegment_size_mib: 8");
        assert_eq!(p[0].path, ["segment_size_mib"]);
        let p = problems("directory: /q\ncompaction: {on_strat: true}");
        assert_eq!(p[0].path, ["compaction", "on_strat"]);
        let p = problems("directory: /q\ndirectory_permissions: rwx");
        assert_eq!(p[0].path, ["directory_permissions"]);
    }
}
