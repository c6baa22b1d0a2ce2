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
    Batch, BuildContext, BuildError, ComponentProblem, ExportError, ExportRequest, Exporter,
    ExporterFactory, ExporterSettings, FactoryInfo, QueueSettings, Signal, Stability, StartError,
    Value,
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

/// Appends each batch's OTLP/JSON line to one file.
pub struct FileExporter {
    append: bool,
    output: Arc<Output>,
}

/// The open file, shared by the exporter and the requests it prepares.
struct Output {
    path: PathBuf,
    writer: Mutex<Option<BufWriter<File>>>,
}

impl FileExporter {
    /// An exporter writing to `path`; the file is opened by `start`.
    pub fn new(path: PathBuf, append: bool) -> Self {
        Self {
            append,
            output: Arc::new(Output {
                path,
                writer: Mutex::new(None),
            }),
        }
    }
}

#[async_trait]
impl Exporter for FileExporter {
    async fn start(&self) -> Result<(), StartError> {
        let path = &self.output.path;
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .append(self.append)
            .truncate(!self.append)
            .open(path)
            .map_err(|e| StartError(format!("cannot open {}: {e}", path.display())))?;
        *self.output.writer.lock().unwrap_or_else(|p| p.into_inner()) = Some(BufWriter::new(file));
        Ok(())
    }

    /// Encodes the batch's line once; retries write the same bytes.
    fn prepare(&self, batch: Batch) -> Result<Box<dyn ExportRequest>, ExportError> {
        let mut line = batch.encode_json();
        line.push(b'\n');
        Ok(Box::new(FileRequest {
            output: self.output.clone(),
            items: batch.item_count(),
            line,
            written: 0,
        }))
    }

    async fn shutdown(&self) {
        let path = &self.output.path;
        if let Some(writer) = self
            .output
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            if let Err(err) = writer.flush() {
                tracing::warn!(error = %err, path = %path.display(), "file exporter: final flush failed");
            }
        }
    }
}

/// One batch's line and how much of it the writer has taken.
struct FileRequest {
    output: Arc<Output>,
    items: usize,
    line: Vec<u8>,
    /// Bytes of `line` already handed to the writer: a retry after a failed flush only
    /// flushes again, so a line is never written twice or in part twice.
    written: usize,
}

#[async_trait]
impl ExportRequest for FileRequest {
    fn items(&self) -> usize {
        self.items
    }

    fn encoded_len(&self) -> usize {
        self.line.len()
    }

    async fn send(&mut self) -> Result<(), ExportError> {
        let path = &self.output.path;
        let failed =
            |e: std::io::Error| ExportError::retryable(format!("writing {}: {e}", path.display()));
        let mut guard = self.output.writer.lock().unwrap_or_else(|p| p.into_inner());
        let writer = guard
            .as_mut()
            .ok_or_else(|| ExportError::permanent("file exporter used before start"))?;
        while self.written < self.line.len() {
            match writer.write(&self.line[self.written..]) {
                Ok(0) => {
                    return Err(failed(std::io::ErrorKind::WriteZero.into()));
                }
                Ok(n) => self.written += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(failed(e)),
            }
        }
        writer.flush().map_err(failed)
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
            exporter: Arc::new(FileExporter::new(parsed.path, parsed.append)),
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
        let exporter = FileExporter::new(path.clone(), false);
        exporter.start().await.unwrap();
        let batch = Batch::from_logs(vec![weir_proto::logs::v1::ResourceLogs {
            scope_logs: vec![weir_proto::logs::v1::ScopeLogs {
                log_records: vec![Default::default(); 2],
                ..Default::default()
            }],
            ..Default::default()
        }]);
        exporter
            .prepare(batch.clone())
            .unwrap()
            .send()
            .await
            .unwrap();
        exporter.prepare(batch).unwrap().send().await.unwrap();
        exporter.shutdown().await;
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let back = Batch::decode_json(Signal::Logs, lines[0].as_bytes()).unwrap();
        assert_eq!(back.item_count(), 2);
        std::fs::remove_dir_all(&dir).ok();
    }

    fn logs_batch() -> Batch {
        Batch::from_logs(vec![weir_proto::logs::v1::ResourceLogs {
            scope_logs: vec![weir_proto::logs::v1::ScopeLogs {
                log_records: vec![Default::default(); 3],
                ..Default::default()
            }],
            ..Default::default()
        }])
    }

    #[tokio::test]
    async fn a_request_is_encoded_once_and_never_written_twice() {
        let dir = std::env::temp_dir().join(format!("weir-file-request-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.jsonl");
        let exporter = FileExporter::new(path.clone(), false);
        exporter.start().await.unwrap();
        let batch = logs_batch();
        let mut request = exporter.prepare(batch.clone()).unwrap();
        assert_eq!(request.items(), 3);
        assert_eq!(request.encoded_len(), batch.encode_json().len() + 1);
        request.send().await.unwrap();
        // Sent again (as a retry would): the line was taken already, nothing is added.
        request.send().await.unwrap();
        exporter.shutdown().await;
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn write_errors_are_retryable() {
        let full = PathBuf::from("/dev/full");
        if !full.exists() {
            return;
        }
        let exporter = FileExporter::new(full, true);
        exporter.start().await.unwrap();
        let mut request = exporter.prepare(logs_batch()).unwrap();
        for _ in 0..2 {
            let err = request.send().await.unwrap_err();
            assert!(matches!(err, ExportError::Retryable { .. }), "{err:?}");
        }
    }

    #[tokio::test]
    async fn sending_before_start_is_permanent() {
        let exporter = FileExporter::new(PathBuf::from("/nonexistent/weir"), false);
        let mut request = exporter.prepare(logs_batch()).unwrap();
        let err = request.send().await.unwrap_err();
        assert!(matches!(err, ExportError::Permanent { .. }), "{err:?}");
    }
}
