//! OTLP log records to Loki streams, grouped by tenant.
//!
//! For each record, in the Collector's order (a later source overrides an earlier one):
//! 1. default labels: `exporter="OTLP"`, `job` (`service.namespace/service.name`, or
//!    `service.name`), `instance` (`service.instance.id`), each switchable with
//!    `default_labels_enabled`;
//! 2. the hints: `loki.resource.labels` on the resource (then on the record) names
//!    resource attributes, `loki.attribute.labels` names record attributes (a comma list
//!    or an array; `a.b` also finds key `b` inside map attribute `a`); `level` joins them
//!    from the severity number unless the record has a `level` attribute;
//! 3. the older exporter's explicit map (`labels.attributes`, then `labels.resource`,
//!    then `labels.record`), whose label names are used as given.
//!
//! Hint-chosen names are normalized (`service.name` -> `service_name`). Attributes that
//! became labels or structured metadata, and the hint attributes themselves, leave the
//! line; everything else is written into it in the record's format (`loki.format` hint on
//! the resource, then the record, else `format`). A record with no label at all cannot be
//! sent (counted as `missing_labels`); one with an unknown `loki.format` is dropped
//! (`invalid_format`), as the Collector drops it.
//!
//! The tenant of a record: the attribute named by `tenant: {source: attributes}` or by a
//! `loki.tenant` hint (resource first, then record), else the client metadata key of
//! `tenant: {source: context}`, else the static tenant. Records of one tenant go in one
//! push; the entries of each stream are sorted by timestamp (stable, so records with the
//! same time keep their order).

use std::collections::{BTreeMap, HashSet};

use weir_api::batch::view::{Attributes, LogRecordView, ScopeView, ValueRef};
use weir_api::Batch;

use crate::config::{Config, LabelMap, LineFormat, TenantSource};
use crate::labels::{sanitize, LabelSet};
use crate::line;

pub const HINT_ATTRIBUTES: &str = "loki.attribute.labels";
pub const HINT_RESOURCES: &str = "loki.resource.labels";
pub const HINT_TENANT: &str = "loki.tenant";
pub const HINT_FORMAT: &str = "loki.format";
const HINTS: [&str; 4] = [HINT_ATTRIBUTES, HINT_RESOURCES, HINT_TENANT, HINT_FORMAT];

/// One log entry, ready to encode.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub nanos: u64,
    pub line: String,
    /// Structured metadata, (name, value).
    pub metadata: Vec<(String, String)>,
}

/// One stream: its labels and its entries in timestamp order.
#[derive(Clone, Debug, PartialEq)]
pub struct Stream {
    pub labels: LabelSet,
    pub entries: Vec<Entry>,
}

/// The streams of one tenant (`""`: no `X-Scope-OrgID`).
#[derive(Clone, Debug, PartialEq)]
pub struct TenantStreams {
    pub tenant: String,
    pub streams: Vec<Stream>,
    pub entries: usize,
}

/// A batch, converted.
#[derive(Debug, Default)]
pub struct Converted {
    pub tenants: Vec<TenantStreams>,
    /// Records with no label (Loki refuses a stream without labels).
    pub missing_labels: usize,
    /// Records whose `loki.format` hint names no known format.
    pub invalid_format: usize,
}

/// What conversion needs from the config, resolved once.
#[derive(Clone, Debug)]
pub struct Settings {
    pub exporter_label: bool,
    pub job_label: bool,
    pub instance_label: bool,
    pub level_label: bool,
    pub labels: LabelMap,
    pub metadata: LabelMap,
    pub format: LineFormat,
    pub tenant_attribute: Option<String>,
    pub tenant_context: Option<String>,
    pub static_tenant: Option<String>,
}

impl Settings {
    pub fn new(config: &Config) -> Self {
        let enabled = |label: &str| {
            config
                .default_labels_enabled
                .get(label)
                .copied()
                .unwrap_or(true)
        };
        let (tenant_attribute, tenant_context) = match &config.tenant {
            Some(t) if t.source == TenantSource::Attributes => (Some(t.value.clone()), None),
            Some(t) if t.source == TenantSource::Context => (None, Some(t.value.clone())),
            _ => (None, None),
        };
        Self {
            exporter_label: enabled("exporter"),
            job_label: enabled("job"),
            instance_label: enabled("instance"),
            level_label: enabled("level"),
            labels: config.labels.clone(),
            metadata: config.structured_metadata.clone(),
            format: config.format,
            tenant_attribute,
            tenant_context,
            static_tenant: config.static_tenant().map(str::to_string),
        }
    }
}

/// The string form of a value (pdata's `AsString`): strings as they are, numbers and
/// booleans as text, bytes as base64, arrays and maps as JSON.
pub fn as_string(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Empty => String::new(),
        ValueRef::Str(s) => s.to_string(),
        ValueRef::Bool(b) => b.to_string(),
        ValueRef::Int(i) => i.to_string(),
        ValueRef::Double(d) => line::format_double(d),
        ValueRef::Bytes(b) => weir_api::attributes::base64(b),
        ValueRef::Array(_) | ValueRef::KvList(_) => weir_api::attributes::value_json_text(value),
    }
}

/// The attribute `name`, or `b` inside map attribute `a` for `a.b` (longest prefix
/// first, as the Collector looks nested attributes up).
pub fn lookup<'a>(attributes: Attributes<'a>, name: &str) -> Option<ValueRef<'a>> {
    if let Some(value) = attributes.get(name) {
        return Some(value);
    }
    let dots: Vec<usize> = name.match_indices('.').map(|(i, _)| i).collect();
    for &dot in dots.iter().rev() {
        let (left, right) = (&name[..dot], &name[dot + 1..]);
        if let Some(ValueRef::KvList(inner)) = lookup(attributes, left) {
            if let Some(value) = lookup(inner, right) {
                return Some(value);
            }
        }
    }
    None
}

/// The attribute names a hint lists: a comma-separated string, or an array.
fn hint_names(value: ValueRef<'_>) -> Vec<String> {
    match value {
        ValueRef::Str(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        ValueRef::Array(items) => items
            .iter()
            .map(as_string)
            .map(|s| s.trim().to_string())
            .collect(),
        other => vec![as_string(other).trim().to_string()],
    }
}

/// The level name of a severity number, as the Collector writes it (`INFO`, `WARN2`).
pub fn level_name(number: i32) -> &'static str {
    weir_api::batch::view::SeverityNumber(number)
        .name()
        .trim_start_matches("SEVERITY_NUMBER_")
}

/// pdata's `SeverityNumber.String()` (`Info`, `Warn2`), for `labels.record.severityN`.
fn severity_number_text(number: i32) -> String {
    let upper = level_name(number);
    let mut out = String::with_capacity(upper.len());
    for (i, c) in upper.chars().enumerate() {
        out.push(if i == 0 { c } else { c.to_ascii_lowercase() });
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    if bytes.iter().all(|b| *b == 0) {
        return String::new();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What leaves the line because it went elsewhere (labels, structured metadata).
#[derive(Default)]
pub struct Removed<'a> {
    /// Attribute keys removed from both the resource and the record (the Collector removes
    /// every hint-made label's name from both).
    pub both: HashSet<String>,
    pub resource: HashSet<&'a str>,
    pub record: HashSet<&'a str>,
    pub trace_id: bool,
    pub span_id: bool,
    pub severity: bool,
}

impl Removed<'_> {
    pub fn keeps_resource(&self, key: &str) -> bool {
        !HINTS.contains(&key) && !self.both.contains(key) && !self.resource.contains(key)
    }

    pub fn keeps_record(&self, key: &str) -> bool {
        !HINTS.contains(&key) && !self.both.contains(key) && !self.record.contains(key)
    }
}

/// One record's labels (sanitized), structured metadata and what left the line.
pub fn record_labels<'a>(
    settings: &'a Settings,
    resource: Attributes<'_>,
    record: &LogRecordView<'_>,
) -> (LabelSet, Vec<(String, String)>, Removed<'a>) {
    let attributes = record.attributes();
    let mut hinted: BTreeMap<String, String> = BTreeMap::new();
    if settings.exporter_label {
        hinted.insert("exporter".into(), "OTLP".into());
    }
    let name = resource.get_str("service.name").filter(|s| !s.is_empty());
    let namespace = resource
        .get_str("service.namespace")
        .filter(|s| !s.is_empty());
    if settings.job_label {
        match (namespace, name) {
            (Some(ns), Some(name)) => {
                hinted.insert("job".into(), format!("{ns}/{name}"));
            }
            (None, Some(name)) => {
                hinted.insert("job".into(), name.to_string());
            }
            _ => {}
        }
    }
    if settings.instance_label {
        if let Some(instance) = resource
            .get("service.instance.id")
            .map(as_string)
            .filter(|s| !s.is_empty())
        {
            hinted.insert("instance".into(), instance);
        }
    }
    let mut from = |source: Attributes<'_>, hint: Option<ValueRef<'_>>| {
        for name in hint.map(hint_names).unwrap_or_default() {
            if let Some(value) = lookup(source, &name) {
                hinted.insert(name, as_string(value));
            }
        }
    };
    from(resource, resource.get(HINT_RESOURCES));
    from(resource, attributes.get(HINT_RESOURCES));
    from(attributes, attributes.get(HINT_ATTRIBUTES));
    if settings.level_label && record.severity_number().0 != 0 {
        let level = attributes
            .get("level")
            .map(as_string)
            .unwrap_or_else(|| level_name(record.severity_number().0).to_string());
        hinted.insert("level".into(), level);
    }

    let mut removed = Removed::default();
    let mut labels = LabelSet::new();
    for (name, value) in &hinted {
        labels.insert(sanitize(name), value.clone());
    }
    removed.both = hinted.into_keys().collect();

    labels.extend(explicit(&settings.labels, resource, record, &mut removed));
    labels.retain(|_, v| !v.is_empty());

    let metadata: Vec<(String, String)> =
        explicit(&settings.metadata, resource, record, &mut removed)
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .collect();
    (labels, metadata, removed)
}

/// The values an explicit map picks (attributes, then resource, then record fields; a
/// later one overrides an earlier one under the same name), marking their sources as
/// removed from the line.
fn explicit<'a>(
    map: &'a LabelMap,
    resource: Attributes<'_>,
    record: &LogRecordView<'_>,
    removed: &mut Removed<'a>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let named = |attribute: &'a String, name: &'a String| -> String {
        if name.is_empty() {
            sanitize(attribute)
        } else {
            name.clone()
        }
    };
    for (attribute, name) in &map.attributes {
        if let Some(value) = record.attributes().get(attribute) {
            out.insert(named(attribute, name), as_string(value));
        }
        removed.record.insert(attribute);
    }
    for (attribute, name) in &map.resource {
        if let Some(value) = resource.get(attribute) {
            out.insert(named(attribute, name), as_string(value));
        }
        removed.resource.insert(attribute);
    }
    for (field, name) in &map.record {
        let value = match field.as_str() {
            "traceID" => {
                removed.trace_id = true;
                hex(record.trace_id())
            }
            "spanID" => {
                removed.span_id = true;
                hex(record.span_id())
            }
            "severity" => {
                removed.severity = true;
                record.severity_text().to_string()
            }
            "severityN" => severity_number_text(record.severity_number().0),
            _ => continue,
        };
        out.insert(named(field, name), value);
    }
    out
}

/// The tenant of one record, `None` when the context is ambiguous.
fn tenant_of(
    settings: &Settings,
    context: Option<&str>,
    resource: Attributes<'_>,
    record: Attributes<'_>,
) -> String {
    let from_attribute = |name: &str| {
        resource
            .get(name)
            .or_else(|| record.get(name))
            .map(as_string)
            .filter(|s| !s.is_empty())
    };
    let attribute = settings
        .tenant_attribute
        .as_deref()
        .and_then(from_attribute)
        .or_else(|| {
            let hint = resource
                .get(HINT_TENANT)
                .or_else(|| record.get(HINT_TENANT))?;
            from_attribute(as_string(hint).trim())
        });
    attribute
        .or_else(|| context.map(str::to_string))
        .or_else(|| settings.static_tenant.clone())
        .unwrap_or_default()
}

/// The record's format: the `loki.format` hint (resource first) or the default.
fn format_of(
    settings: &Settings,
    resource: Attributes<'_>,
    record: Attributes<'_>,
) -> Option<LineFormat> {
    match resource
        .get(HINT_FORMAT)
        .or_else(|| record.get(HINT_FORMAT))
    {
        Some(hint) => LineFormat::from_hint(&as_string(hint)),
        None => Some(settings.format),
    }
}

/// Converts a logs batch. `now` (Unix nanoseconds) stamps records that have neither a
/// time nor an observed time. Fails only when the context tenant is ambiguous (several
/// values for the key), as the Collector does.
pub fn convert(batch: &Batch, settings: &Settings, now: u64) -> Result<Converted, String> {
    let context = match &settings.tenant_context {
        Some(key) => match batch.metadata().get(key) {
            [] => None,
            [one] => Some(one.as_str()),
            many => {
                return Err(format!(
                    "{} tenant values found in client metadata `{key}`, can't determine which \
                     one to use",
                    many.len()
                ))
            }
        },
        None => None,
    };
    let mut out = Converted::default();
    let mut tenants: BTreeMap<String, BTreeMap<LabelSet, Vec<Entry>>> = BTreeMap::new();
    for resource_logs in batch.logs() {
        let resource = resource_logs.resource().attributes();
        for scope_logs in resource_logs.scopes() {
            let scope = scope_logs.scope();
            for record in scope_logs.log_records() {
                let attributes = record.attributes();
                let Some(format) = format_of(settings, resource, attributes) else {
                    out.invalid_format += 1;
                    continue;
                };
                let (labels, metadata, removed) = record_labels(settings, resource, &record);
                if labels.is_empty() {
                    out.missing_labels += 1;
                    continue;
                }
                let tenant = tenant_of(settings, context, resource, attributes);
                let nanos = match (record.time_unix_nano(), record.observed_time_unix_nano()) {
                    (0, 0) => now,
                    (0, observed) => observed,
                    (time, _) => time,
                };
                let line = render(format, &record, resource, scope, &removed);
                tenants
                    .entry(tenant)
                    .or_default()
                    .entry(labels)
                    .or_default()
                    .push(Entry {
                        nanos,
                        line,
                        metadata,
                    });
            }
        }
    }
    for (tenant, streams) in tenants {
        let mut entries = 0;
        let streams = streams
            .into_iter()
            .map(|(labels, mut list)| {
                list.sort_by_key(|e| e.nanos);
                entries += list.len();
                Stream {
                    labels,
                    entries: list,
                }
            })
            .collect();
        out.tenants.push(TenantStreams {
            tenant,
            streams,
            entries,
        });
    }
    Ok(out)
}

fn render(
    format: LineFormat,
    record: &LogRecordView<'_>,
    resource: Attributes<'_>,
    scope: ScopeView<'_>,
    removed: &Removed<'_>,
) -> String {
    let fields = line::Fields {
        trace_id: if removed.trace_id {
            String::new()
        } else {
            hex(record.trace_id())
        },
        span_id: if removed.span_id {
            String::new()
        } else {
            hex(record.span_id())
        },
        severity: if removed.severity {
            ""
        } else {
            record.severity_text()
        },
        flags: record.flags(),
    };
    let record_attributes = record
        .attributes()
        .iter()
        .filter(|(k, _)| removed.keeps_record(k));
    let resource_attributes = resource.iter().filter(|(k, _)| removed.keeps_resource(k));
    match format {
        LineFormat::Json => line::json(
            record.body(),
            &fields,
            record_attributes,
            resource_attributes,
            scope,
        ),
        LineFormat::Logfmt => line::logfmt(
            record.body(),
            &fields,
            record_attributes,
            resource_attributes,
            scope,
        ),
        LineFormat::Raw => as_string(record.body()),
    }
}
