//! Where targets come from: `static_configs`, and `file_sd_configs` files (JSON or YAML
//! lists of `{targets, labels}`) that are re-read when their modification time, size or
//! the set of files matching a pattern changes. Polling the metadata every second costs
//! a few `stat` calls and needs no inotify, so it also works on network file systems and
//! for files replaced by rename (how config-management tools write them).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;

use crate::config::{FileSdConfig, StaticConfig};

/// A group of targets sharing labels.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct TargetGroup {
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

pub fn static_groups(configs: &[StaticConfig]) -> Vec<TargetGroup> {
    configs
        .iter()
        .map(|c| TargetGroup {
            targets: c.targets.clone(),
            labels: c.labels.clone(),
        })
        .collect()
}

/// Reads one file_sd file; `.json` is JSON, anything else YAML (as Prometheus decides
/// by extension). Each group gets `__meta_filepath`.
pub fn read_file(path: &Path) -> Result<Vec<TargetGroup>, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let groups: Vec<TargetGroup> = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_slice(&text)
            .map_err(|e| format!("invalid file_sd JSON in `{}`: {e}", path.display()))?
    } else {
        serde_yaml_ng::from_slice(&text)
            .map_err(|e| format!("invalid file_sd YAML in `{}`: {e}", path.display()))?
    };
    Ok(groups
        .into_iter()
        .map(|mut g| {
            g.labels
                .insert("__meta_filepath".into(), path.display().to_string());
            g
        })
        .collect())
}

/// `*` and `?` in the last path component, as Prometheus allows.
pub fn expand(pattern: &str) -> Vec<PathBuf> {
    let path = Path::new(pattern);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !name.contains(['*', '?']) {
        return vec![path.to_path_buf()];
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|n| wildcard_match(name.as_bytes(), n.as_bytes()))
        })
        .map(|entry| entry.path())
        .collect();
    found.sort();
    found
}

fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            wildcard_match(&pattern[1..], text)
                || (!text.is_empty() && wildcard_match(pattern, &text[1..]))
        }
        (Some(b'?'), Some(_)) => wildcard_match(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => wildcard_match(&pattern[1..], &text[1..]),
        _ => false,
    }
}

type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Watches the files of a job's `file_sd_configs`.
pub struct FileWatcher {
    configs: Vec<FileSdConfig>,
    stamps: HashMap<PathBuf, Stamp>,
    groups: BTreeMap<PathBuf, Vec<TargetGroup>>,
    last_full_read: Vec<Instant>,
}

impl FileWatcher {
    pub fn new(configs: &[FileSdConfig]) -> Self {
        Self {
            configs: configs.to_vec(),
            stamps: HashMap::new(),
            groups: BTreeMap::new(),
            last_full_read: vec![Instant::now(); configs.len()],
        }
    }

    pub fn is_empty(&self) -> bool {
        self.configs.is_empty()
    }

    /// Re-reads what changed. Returns every file's groups when anything did, with the
    /// errors met (a file that fails to parse keeps its previous groups, as Prometheus
    /// keeps the last good state).
    pub fn poll(&mut self, first: bool) -> Option<(Vec<TargetGroup>, Vec<String>)> {
        let mut changed = first;
        let mut errors = Vec::new();
        let mut present = Vec::new();
        for (index, config) in self.configs.iter().enumerate() {
            let refresh = self.last_full_read[index].elapsed()
                >= config.refresh_interval.max(Duration::from_secs(1));
            if refresh {
                self.last_full_read[index] = Instant::now();
            }
            for path in config.files.iter().flat_map(|pattern| expand(pattern)) {
                present.push(path.clone());
                let now = stamp(&path);
                if !refresh && !first && self.stamps.get(&path) == Some(&now) {
                    continue;
                }
                self.stamps.insert(path.clone(), now);
                match read_file(&path) {
                    Ok(groups) => {
                        if self.groups.get(&path) != Some(&groups) {
                            self.groups.insert(path, groups);
                            changed = true;
                        }
                    }
                    Err(error) => {
                        if now.is_none() && self.groups.remove(&path).is_some() {
                            changed = true; // the file is gone: so are its targets
                        }
                        errors.push(error);
                    }
                }
            }
        }
        let before = self.groups.len();
        self.groups.retain(|path, _| present.contains(path));
        self.stamps.retain(|path, _| present.contains(path));
        changed |= self.groups.len() != before;
        changed.then(|| (self.groups.values().flatten().cloned().collect(), errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match(b"*.json", b"a.json"));
        assert!(wildcard_match(b"t?.yml", b"t1.yml"));
        assert!(!wildcard_match(b"*.json", b"a.yml"));
    }

    #[test]
    fn file_sd_is_reread_on_change() {
        let dir = std::env::temp_dir().join(format!("weir-file-sd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("targets.json");
        std::fs::write(
            &file,
            r#"[{"targets": ["127.0.0.1:1"], "labels": {"env": "a"}}]"#,
        )
        .unwrap();
        let mut watcher = FileWatcher::new(&[FileSdConfig {
            files: vec![format!("{}/*.json", dir.display())],
            refresh_interval: Duration::from_secs(300),
        }]);
        let (groups, errors) = watcher.poll(true).unwrap();
        assert!(errors.is_empty());
        assert_eq!(groups[0].targets, ["127.0.0.1:1"]);
        assert_eq!(
            groups[0].labels["__meta_filepath"],
            file.display().to_string()
        );
        assert!(
            watcher.poll(false).is_none(),
            "unchanged files are not re-read"
        );
        // A different size changes the stamp even within the same mtime second.
        std::fs::write(&file, r#"[{"targets": ["127.0.0.1:1", "127.0.0.1:2"]}]"#).unwrap();
        let (groups, _) = watcher.poll(false).unwrap();
        assert_eq!(groups[0].targets.len(), 2);
        std::fs::remove_file(&file).unwrap();
        let (groups, _) = watcher.poll(false).unwrap();
        assert!(groups.is_empty());
        std::fs::remove_dir_all(&dir).ok();
    }
}
