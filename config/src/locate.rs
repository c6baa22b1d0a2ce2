//! Key path -> file and line.
//!
//! `serde_yaml_ng::Value` carries no positions, so this module scans the YAML text itself.
//! The scanner understands the block style configurations are written in: `key:` and
//! quoted keys nested by indentation, sequences (`- item`, `- key: value`, also at the
//! parent's indentation), comments, block scalars (`|`, `>`) and flow collections that span
//! several lines. Sequence items are addressed by their index (`["service", "pipelines",
//! "traces", "receivers", "0"]`).
//!
//! Limits, on purpose: keys inside flow collections (`{a: 1}`, `[x, y]`) are not recorded,
//! so they are located at their parent key; anchors, aliases and merge keys (`<<`) are not
//! followed; multi-line plain scalars whose continuation lines look like `key: value` may
//! add spurious entries (harmless: lookups only ask for paths that exist).

use std::collections::HashMap;

use serde_yaml_ng::Value;

use crate::diagnostics::Location;

/// Key path -> location, for every key of every source (the last source to set a key wins).
#[derive(Clone, Debug, Default)]
pub struct Locator {
    entries: HashMap<Vec<String>, Location>,
}

impl Locator {
    /// Scans one source's text.
    pub fn scan(file: &str, text: &str) -> Self {
        let mut locator = Locator::default();
        Scanner::new(file, &mut locator).run(text);
        locator
    }

    /// The location of the deepest key of `path` that is present; for merged configs, the
    /// last source that sets it.
    pub fn locate(&self, path: &[&str]) -> Option<Location> {
        (1..=path.len()).rev().find_map(|n| {
            let key: Vec<String> = path[..n].iter().map(|s| s.to_string()).collect();
            self.entries.get(&key).cloned()
        })
    }

    /// Like [`Locator::locate`], for owned segments.
    pub fn locate_owned(&self, path: &[String]) -> Option<Location> {
        let borrowed: Vec<&str> = path.iter().map(String::as_str).collect();
        self.locate(&borrowed)
    }

    /// The location recorded for exactly this path (no fallback to its parents).
    pub fn get(&self, path: &[String]) -> Option<&Location> {
        self.entries.get(path)
    }

    /// Records (or replaces) the location of one key.
    pub fn insert(&mut self, path: Vec<String>, location: Location) {
        self.entries.insert(path, location);
    }

    /// Number of recorded keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Lays a later source's locator over this one. `later_value` is that source's document:
    /// where it sets a non-mapping value, the earlier source's keys below that path are gone
    /// from the merged document (sequences and scalars replace), so their entries are dropped.
    pub(crate) fn overlay(&mut self, later: Locator, later_value: &Value) {
        for path in later.entries.keys() {
            let replaces = !matches!(value_at(later_value, path), Some(Value::Mapping(_)) | None);
            if replaces {
                self.remove_below(path);
            }
        }
        self.entries.extend(later.entries);
    }

    /// Drops every entry strictly below `path`.
    pub(crate) fn remove_below(&mut self, path: &[String]) {
        self.entries
            .retain(|k, _| !(k.len() > path.len() && k.starts_with(path)));
    }

    /// Drops entries for paths the final document does not have.
    pub(crate) fn prune(&mut self, document: &Value) {
        self.entries
            .retain(|path, _| value_at(document, path).is_some());
    }
}

/// The string form of a mapping key, as used in paths (`1` for the integer key 1).
pub(crate) fn key_string(key: &Value) -> Option<String> {
    match key {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("null".to_string()),
        _ => None,
    }
}

/// The value at `path` (mapping keys by string form, sequence items by index).
pub(crate) fn value_at<'v, S: AsRef<str>>(value: &'v Value, path: &[S]) -> Option<&'v Value> {
    let mut node = value;
    for segment in path {
        let segment = segment.as_ref();
        node = match node {
            Value::Mapping(map) => map
                .iter()
                .find(|(k, _)| key_string(k).as_deref() == Some(segment))
                .map(|(_, v)| v)?,
            Value::Sequence(items) => items.get(segment.parse::<usize>().ok()?)?,
            Value::Tagged(tagged) => return value_at(&tagged.value, &[segment]),
            _ => return None,
        };
    }
    Some(node)
}

/// One open node while scanning: a key whose children are more indented, or a sequence item.
struct Frame {
    /// Column of the key, or of the dash for a sequence item.
    indent: usize,
    path: Vec<String>,
    is_item: bool,
    /// Index the next `- ` item under this key gets.
    next_index: usize,
}

/// What the following lines belong to, when they are not keys.
enum Skip {
    None,
    /// Block scalar content: lines indented more than this column, and blank lines.
    BlockScalar(usize),
    /// A flow collection still open: the bracket depth.
    Flow(i32),
}

struct Scanner<'a> {
    file: &'a str,
    out: &'a mut Locator,
    stack: Vec<Frame>,
    skip: Skip,
}

impl<'a> Scanner<'a> {
    fn new(file: &'a str, out: &'a mut Locator) -> Self {
        Self {
            file,
            out,
            stack: Vec::new(),
            skip: Skip::None,
        }
    }

    fn run(&mut self, text: &str) {
        for (n, raw) in text.lines().enumerate() {
            self.line(n + 1, raw);
        }
    }

    fn line(&mut self, line_no: usize, raw: &str) {
        let content = strip_comment(raw);
        let trimmed = content.trim_start_matches(' ');
        let indent = content.len() - trimmed.len();
        let trimmed = trimmed.trim_end();
        match self.skip {
            Skip::BlockScalar(col) => {
                if trimmed.is_empty() || indent > col {
                    return;
                }
                self.skip = Skip::None;
            }
            Skip::Flow(depth) => {
                let depth = depth + bracket_delta(trimmed);
                self.skip = if depth > 0 {
                    Skip::Flow(depth)
                } else {
                    Skip::None
                };
                return;
            }
            Skip::None => {}
        }
        if trimmed.is_empty() {
            return;
        }
        if trimmed == "---" || trimmed == "..." {
            self.stack.clear();
            return;
        }
        if is_dash(trimmed) {
            self.item(line_no, indent, trimmed);
        } else {
            while self.stack.last().is_some_and(|f| f.indent >= indent) {
                self.stack.pop();
            }
            self.entry(line_no, indent, trimmed);
        }
    }

    /// A `- ...` line at column `indent`.
    fn item(&mut self, line_no: usize, indent: usize, trimmed: &str) {
        // A key may own a sequence at its own indentation, so only items at this column
        // (and anything deeper) are closed.
        while self
            .stack
            .last()
            .is_some_and(|f| f.indent > indent || (f.indent == indent && f.is_item))
        {
            self.stack.pop();
        }
        let Some(parent) = self.stack.last_mut() else {
            return; // a top-level sequence: not a configuration shape
        };
        let index = parent.next_index;
        parent.next_index += 1;
        let mut path = parent.path.clone();
        path.push(index.to_string());
        self.record(path.clone(), line_no);
        let rest = trimmed[1..].trim_start_matches(' ');
        let rest_col = indent + (trimmed.len() - rest.len());
        self.stack.push(Frame {
            indent,
            path,
            is_item: true,
            next_index: 0,
        });
        if rest.is_empty() {
            return;
        }
        if is_dash(rest) {
            return; // nested sequence on one line: items not tracked
        }
        self.entry(line_no, rest_col, rest);
    }

    /// A `key: value` (or a bare scalar) at column `indent`, whose parent is the stack top.
    fn entry(&mut self, line_no: usize, indent: usize, text: &str) {
        let Some((key, value)) = split_key(text) else {
            self.skip_value(indent, text);
            return;
        };
        let mut path = self
            .stack
            .last()
            .map(|f| f.path.clone())
            .unwrap_or_default();
        path.push(key);
        self.record(path.clone(), line_no);
        self.stack.push(Frame {
            indent,
            path,
            is_item: false,
            next_index: 0,
        });
        self.skip_value(indent, value);
    }

    /// Sets up skipping for values that continue on the following lines.
    fn skip_value(&mut self, indent: usize, value: &str) {
        let value = skip_properties(value);
        if value.starts_with('|') || value.starts_with('>') {
            self.skip = Skip::BlockScalar(indent);
        } else if value.starts_with('[') || value.starts_with('{') {
            let depth = bracket_delta(value);
            if depth > 0 {
                self.skip = Skip::Flow(depth);
            }
        }
    }

    fn record(&mut self, path: Vec<String>, line: usize) {
        self.out.insert(
            path,
            Location {
                file: self.file.to_string(),
                line,
            },
        );
    }
}

fn is_dash(s: &str) -> bool {
    s == "-" || s.starts_with("- ")
}

/// Skips anchors (`&a`) and tags (`!t`) in front of a value.
fn skip_properties(mut value: &str) -> &str {
    while value.starts_with('&') || value.starts_with('!') {
        value = match value.split_once(' ') {
            Some((_, rest)) => rest.trim_start(),
            None => "",
        };
    }
    value
}

/// Splits `key: value` / `key:` / `"quoted key": value`; `None` when the text is not a key.
fn split_key(text: &str) -> Option<(String, &str)> {
    let first = text.chars().next()?;
    let (key, rest) = if first == '"' || first == '\'' {
        let (key, len) = quoted(text, first)?;
        (key, text[len..].trim_start_matches(' '))
    } else {
        if matches!(
            first,
            '[' | '{' | '&' | '*' | '!' | '|' | '>' | '%' | '@' | '`'
        ) {
            return None;
        }
        let end = text
            .find(": ")
            .or_else(|| text.ends_with(':').then(|| text.len() - 1))?;
        (text[..end].trim_end().to_string(), &text[end..])
    };
    let rest = rest.strip_prefix(':')?;
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    Some((key, rest.trim()))
}

/// Reads a quoted key at the start of `text`: its unescaped value and its length in bytes.
fn quoted(text: &str, quote: char) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        if quote == '"' && c == '\\' {
            if let Some((_, escaped)) = chars.next() {
                out.push(escaped);
            }
        } else if c == quote {
            if quote == '\'' && chars.peek().is_some_and(|(_, n)| *n == '\'') {
                chars.next();
                out.push('\'');
            } else {
                return Some((out, i + 1));
            }
        } else {
            out.push(c);
        }
    }
    None
}

/// Removes a trailing `# comment` (a `#` at the start or after whitespace, outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut in_single = false;
    let mut in_double = false;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !in_double => in_single = !in_single,
            '"' if !in_single && prev != '\\' => in_double = !in_double,
            '#' if !in_single && !in_double && prev.is_whitespace() => return &line[..i],
            _ => {}
        }
        prev = c;
    }
    line
}

/// Opening minus closing brackets outside quotes.
fn bracket_delta(text: &str) -> i32 {
    let mut depth = 0;
    let mut in_single = false;
    let mut in_double = false;
    for c in text.chars() {
        match c {
            '\'' if !in_double => in_single = !in_single,
            '"' if !in_single => in_double = !in_double,
            '[' | '{' if !in_single && !in_double => depth += 1,
            ']' | '}' if !in_single && !in_double => depth -= 1,
            _ => {}
        }
    }
    depth
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# Weir agent
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:4317   # all interfaces
      http: {endpoint: "0.0.0.0:4318",
             cors: {}}
processors:
  batch:
    description: |
      several: lines
      of text
    timeout: 5s
exporters:
  "otlp/eu":
    endpoint: eu.example.com:4317
    sending_queue:
      queue_size: 100
    headers:
      'x-api-key': abc
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors:
      - batch
      exporters:
        - otlp/eu
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: 8888
        - periodic:
            interval: 10
"#;

    fn line(loc: &Locator, path: &[&str]) -> usize {
        loc.locate(path).map(|l| l.line).unwrap_or(0)
    }

    #[test]
    fn locates_keys_in_a_realistic_config() {
        let loc = Locator::scan("weir.yaml", TEXT);
        assert_eq!(line(&loc, &["receivers"]), 2);
        assert_eq!(
            line(
                &loc,
                &["receivers", "otlp", "protocols", "grpc", "endpoint"]
            ),
            6
        );
        // Inside a flow mapping: located at the parent key.
        assert_eq!(
            line(
                &loc,
                &["receivers", "otlp", "protocols", "http", "endpoint"]
            ),
            7
        );
        // Block scalar content is not mistaken for keys.
        assert_eq!(line(&loc, &["processors", "batch", "timeout"]), 14);
        assert_eq!(
            loc.locate(&["processors", "batch", "description", "several"])
                .map(|l| l.line),
            Some(11)
        );
        assert_eq!(line(&loc, &["exporters", "otlp/eu"]), 16);
        assert_eq!(
            line(
                &loc,
                &["exporters", "otlp/eu", "sending_queue", "queue_size"]
            ),
            19
        );
        // Unknown deeper key: the deepest present key.
        assert_eq!(
            line(
                &loc,
                &["exporters", "otlp/eu", "sending_queue", "queue_sise"]
            ),
            18
        );
        assert_eq!(
            line(&loc, &["exporters", "otlp/eu", "headers", "x-api-key"]),
            21
        );
        assert_eq!(
            line(&loc, &["service", "pipelines", "traces", "receivers", "0"]),
            25
        );
        assert_eq!(
            line(&loc, &["service", "pipelines", "traces", "processors", "0"]),
            27
        );
        assert_eq!(
            line(&loc, &["service", "pipelines", "traces", "exporters", "0"]),
            29
        );
        assert_eq!(
            line(
                &loc,
                &[
                    "service",
                    "telemetry",
                    "metrics",
                    "readers",
                    "0",
                    "pull",
                    "exporter",
                    "prometheus",
                    "port"
                ]
            ),
            37
        );
        assert_eq!(
            line(
                &loc,
                &[
                    "service",
                    "telemetry",
                    "metrics",
                    "readers",
                    "1",
                    "periodic",
                    "interval"
                ]
            ),
            39
        );
        assert_eq!(loc.locate(&["nope"]), None);
        assert_eq!(
            loc.locate(&["receivers"]).map(|l| l.file),
            Some("weir.yaml".into())
        );
    }

    #[test]
    fn later_sources_win_and_replaced_sequences_drop_old_items() {
        let a = "service:\n  pipelines:\n    traces:\n      receivers:\n        - otlp\n        - jaeger\n";
        let b = "\n\nservice:\n  pipelines:\n    traces:\n      receivers: [zipkin]\n";
        let mut loc = Locator::scan("a.yaml", a);
        let b_value: Value = serde_yaml_ng::from_str(b).expect("valid yaml");
        loc.overlay(Locator::scan("b.yaml", b), &b_value);
        let got = loc.locate(&["service", "pipelines", "traces", "receivers", "1"]);
        assert_eq!(
            got,
            Some(Location {
                file: "b.yaml".into(),
                line: 6
            })
        );
        assert_eq!(
            loc.locate(&["service"]).map(|l| l.file),
            Some("b.yaml".into())
        );
    }
}
