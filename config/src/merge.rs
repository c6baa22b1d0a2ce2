//! Combining several sources and `--set` overrides into one document.
//!
//! The Collector's rules: mappings merge deeply and the later source wins; sequences and
//! scalars are replaced whole (so a later file's `receivers: [a]` replaces a pipeline's
//! list rather than appending). `--set` entries apply after every file, in order.

use serde_yaml_ng::{Mapping, Value};

use crate::diagnostics::{Diagnostic, Location};
use crate::locate::{key_string, Locator};

/// Merges `later` into `base`.
pub(crate) fn merge(base: &mut Value, later: Value) {
    match (base, later) {
        (Value::Mapping(base), Value::Mapping(later)) => {
            for (key, value) in later {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, later) => *base = later,
    }
}

/// One parsed `--set path=value`.
#[derive(Debug, PartialEq)]
pub(crate) struct SetEntry {
    pub path: Vec<String>,
    pub value: Value,
}

/// Parses `path=value`: segments split on `::` when the path has it, otherwise on `.`
/// (component ids such as `otlp/eu` need no quoting either way; use `::` when a key itself
/// holds a dot). The value is read as YAML, so `true`, `5`, `[a, b]` and `{k: v}` work.
pub(crate) fn parse_set(entry: &str) -> Result<SetEntry, String> {
    let Some((path, raw)) = entry.split_once('=') else {
        return Err(format!(
            "`{entry}` is not `path=value` (example: --set exporters.otlp.endpoint=host:4317)"
        ));
    };
    let path = path.trim();
    let segments: Vec<String> = if path.contains("::") {
        path.split("::").map(str::to_string).collect()
    } else {
        path.split('.').map(str::to_string).collect()
    };
    if path.is_empty() || segments.iter().any(String::is_empty) {
        return Err(format!("`{entry}` has an empty key in its path"));
    }
    let value = if raw.trim().is_empty() {
        Value::Null
    } else {
        serde_yaml_ng::from_str::<Value>(raw)
            .map_err(|err| format!("the value of `{entry}` is not valid YAML: {err}"))?
    };
    Ok(SetEntry {
        path: segments,
        value,
    })
}

/// Applies one `--set` entry (the `index`th, 1-based) to `doc`, recording where its keys
/// came from. Intermediate mappings are created; a sequence item is addressed by its index.
pub(crate) fn apply_set(
    doc: &mut Value,
    entry: SetEntry,
    index: usize,
    locator: &mut Locator,
) -> Result<(), String> {
    let location = Location {
        file: "--set".to_string(),
        line: index,
    };
    let mut node = doc;
    let last = entry.path.len() - 1;
    for (depth, segment) in entry.path.iter().enumerate() {
        let here = entry.path[..=depth].to_vec();
        if depth == last || locator.get(&here).is_none() {
            locator.insert(here.clone(), location.clone());
        }
        if let Value::Sequence(items) = node {
            let len = items.len();
            let i = segment
                .parse::<usize>()
                .ok()
                .filter(|i| *i < len)
                .ok_or_else(|| {
                    format!(
                        "`{}` is a list of {len} items; address an item by its index (0..{len})",
                        entry.path[..depth].join(".")
                    )
                })?;
            node = &mut items[i];
        } else {
            if !matches!(node, Value::Mapping(_)) {
                *node = Value::Mapping(Mapping::new());
            }
            let Value::Mapping(map) = node else {
                unreachable!("just made a mapping")
            };
            let key = map
                .keys()
                .find(|k| key_string(k).as_deref() == Some(segment.as_str()))
                .cloned()
                .unwrap_or_else(|| Value::String(segment.clone()));
            node = map.entry(key).or_insert(Value::Null);
        }
        if depth == last {
            locator.remove_below(&here);
        }
    }
    *node = entry.value;
    Ok(())
}

/// A `--set` problem, at path `--set`.
pub(crate) fn set_error(index: usize, message: String) -> Diagnostic {
    Diagnostic::error("--set", message).at(Some(Location {
        file: "--set".to_string(),
        line: index,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml_ng::from_str(text).expect("valid yaml")
    }

    #[test]
    fn later_sources_win_and_mappings_merge_deeply() {
        let mut doc = yaml("a: {x: 1, y: [1, 2], z: {k: v}}\nb: 1\n");
        merge(&mut doc, yaml("a: {x: 2, y: [3]}\nc: 3\n"));
        merge(&mut doc, yaml("a: {z: {k2: v2}}\nb: 9\n"));
        assert_eq!(
            doc,
            yaml("a: {x: 2, y: [3], z: {k: v, k2: v2}}\nb: 9\nc: 3\n")
        );
        // Order: keys keep their first position, new ones are appended.
        let keys: Vec<_> = doc.as_mapping().expect("map").keys().cloned().collect();
        assert_eq!(keys, vec![yaml("a"), yaml("b"), yaml("c")]);
    }

    #[test]
    fn set_paths_split_on_dots_or_double_colons() {
        let e = parse_set("exporters.otlp/eu.endpoint=eu:4317").expect("ok");
        assert_eq!(e.path, vec!["exporters", "otlp/eu", "endpoint"]);
        assert_eq!(e.value, yaml("eu:4317"));
        let e = parse_set("processors::attributes::actions::k8s.pod.name=x").expect("ok");
        assert_eq!(
            e.path,
            vec!["processors", "attributes", "actions", "k8s.pod.name"]
        );
        let e = parse_set("a.b=[1, 2]").expect("ok");
        assert_eq!(e.value, yaml("[1, 2]"));
        assert_eq!(
            parse_set("a.b=5").expect("ok").value,
            Value::Number(5.into())
        );
        assert!(parse_set("no-equals").is_err());
        assert!(parse_set("a..b=1").is_err());
    }

    #[test]
    fn set_overrides_creates_and_indexes() {
        let mut doc = yaml("exporters:\n  otlp/eu:\n    endpoint: a\nservice:\n  pipelines:\n    traces:\n      receivers: [x, y]\n");
        let mut loc = Locator::default();
        for (i, s) in [
            "exporters.otlp/eu.endpoint=b",
            "exporters::otlp/eu::sending_queue::queue_size=10",
            "service.pipelines.traces.receivers.1=z",
        ]
        .iter()
        .enumerate()
        {
            apply_set(&mut doc, parse_set(s).expect("parses"), i + 1, &mut loc).expect("applies");
        }
        assert_eq!(
            doc,
            yaml("exporters:\n  otlp/eu:\n    endpoint: b\n    sending_queue: {queue_size: 10}\nservice:\n  pipelines:\n    traces:\n      receivers: [x, z]\n")
        );
        let at = loc.locate(&["exporters", "otlp/eu", "sending_queue", "queue_size"]);
        assert_eq!(
            at,
            Some(Location {
                file: "--set".into(),
                line: 2
            })
        );
        let bad = parse_set("service.pipelines.traces.receivers.5=q").expect("parses");
        assert!(apply_set(&mut doc, bad, 4, &mut loc).is_err());
    }
}
