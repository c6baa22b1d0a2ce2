//! The `file` exporter: appends every batch to a file as one OTLP/JSON export request per
//! line (the Collector's `file` exporter with `format: json`).
//!
//! Why Weir has it: it is the simplest way to see exactly what a pipeline delivers, which
//! is what the end-to-end tests compare item by item, and what an operator reaches for
//! when debugging a pipeline without a backend.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::Deserialize;
use weir_api::component::BuiltExporter;
use weir_api::{
    Batch, BuildContext, BuildError, ComponentProblem, ExportError, Exporter, ExporterFactory,
    ExporterSettings, FactoryInfo, QueueSettings, Signal, Stability, StartError, Value,
};

/// `exporters.file`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where to write. Required.
    pub path: PathBuf,
    /// Only `json` is written; `proto` is refused.
    pub format: Option<String>,
    /// Keep existing content (true) or start the file empty (false, the default).
    pub append: bool,
    /// Accepted for compatibility; every batch is flushed when written.
    #[serde(with = "weir_api::duration::option")]
    pub flush_interval: Option<std::time::Duration>,
    pub sending_queue: QueueSettings,
}

impl weir_api::config::Validate for Config {
    fn problems(&self) -> Vec<ComponentProblem> {
        check_config(self)
    }
}

fn check_config(config: &Config) -> Vec<ComponentProblem> {
    let mut problems = Vec::new();
    if config.path.as_os_str().is_empty() {
        problems.push(ComponentProblem {
            path: vec!["path".into()],
            message: "`path` is required: the file to write OTLP/JSON lines to".into(),
            suggestion: None,
        });
    }
    if let Some(format) = &config.format {
        if format != "json" {
            problems.push(ComponentProblem {
                path: vec!["format".into()],
                message: format!("format `{format}` is not supported; use `json`"),
                suggestion: Some("json".into()),
            });
        }
    }
    problems
}

pub struct FileExporter {
    path: PathBuf,
    append: bool,
    writer: Mutex<Option<BufWriter<File>>>,
}

#[async_trait]
impl Exporter for FileExporter {
    async fn start(&self) -> Result<(), StartError> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .append(self.append)
            .truncate(!self.append)
            .open(&self.path)
            .map_err(|e| StartError(format!("cannot open {}: {e}", self.path.display())))?;
        *self.writer.lock().unwrap_or_else(|p| p.into_inner()) = Some(BufWriter::new(file));
        Ok(())
    }

    async fn export(&self, batch: Batch) -> Result<(), ExportError> {
        let mut line = batch.encode_json();
        line.push(b'\n');
        let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let writer = guard
            .as_mut()
            .ok_or_else(|| ExportError::permanent("file exporter used before start"))?;
        writer
            .write_all(&line)
            .and_then(|_| writer.flush())
            .map_err(|e| ExportError::retryable(format!("writing {}: {e}", self.path.display())))
    }

    async fn shutdown(&self) {
        if let Some(writer) = self
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            if let Err(err) = writer.flush() {
                tracing::warn!(error = %err, path = %self.path.display(), "file exporter: final flush failed");
            }
        }
    }
}

struct Factory;

impl ExporterFactory for Factory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: "file",
            aliases: &[],
            signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
            stability: Stability::Alpha,
            description: "Writes one OTLP/JSON export request per line to a file.",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<Config>(config)
    }

    fn build(&self, _ctx: BuildContext, config: &Value) -> Result<BuiltExporter, BuildError> {
        let parsed: Config = weir_api::config::parse_valid(config)?;
        let mut queue = parsed.sending_queue.clone();
        // One writer: ordering in the file follows the queue.
        queue.num_consumers = 1;
        Ok(BuiltExporter {
            exporter: Arc::new(FileExporter {
                path: parsed.path,
                append: parsed.append,
                writer: Mutex::new(None),
            }),
            settings: ExporterSettings {
                queue,
                ..Default::default()
            },
        })
    }
}

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ExporterFactory> {
    Arc::new(Factory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_is_required_and_format_checked() {
        let f = factory();
        let problems = f.check(&Value::Null);
        assert_eq!(problems[0].path, ["path"]);
        let section: Value = serde_yaml_ng::from_str("path: /tmp/x\nformat: proto").unwrap();
        assert_eq!(f.check(&section)[0].path, ["format"]);
    }

    #[tokio::test]
    async fn writes_one_line_per_batch() {
        let dir = std::env::temp_dir().join(format!("weir-file-exporter-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.jsonl");
        let exporter = FileExporter {
            path: path.clone(),
            append: false,
            writer: Mutex::new(None),
        };
        exporter.start().await.unwrap();
        let batch = Batch::from_logs(vec![weir_proto::logs::v1::ResourceLogs {
            scope_logs: vec![weir_proto::logs::v1::ScopeLogs {
                log_records: vec![Default::default(); 2],
                ..Default::default()
            }],
            ..Default::default()
        }]);
        exporter.export(batch.clone()).await.unwrap();
        exporter.export(batch).await.unwrap();
        exporter.shutdown().await;
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let back = Batch::decode_json(Signal::Logs, lines[0].as_bytes()).unwrap();
        assert_eq!(back.item_count(), 2);
        std::fs::remove_dir_all(&dir).ok();
    }
}
