//! `include` + `exclude` compiled once, evaluated per span, log record or metric as
//! the Collector's `filterspan`, `filterlog` and `filtermetric` evaluate them.

use weir_api::batch::view::{LogRecordView, MetricView, ResourceView, ScopeView, SpanView};
use weir_api::Signal;

use crate::attributes::AttributesMatcher;
use crate::config::{LibraryMatch, MatchProperties, MatchType, SeverityNumberMatch};
use crate::error::MatchError;
use crate::string_matcher::StringMatcher;
use crate::value;

/// The span kinds `span_kinds` may name under `strict`, sorted as the Collector lists them.
const SPAN_KINDS: [&str; 5] = [
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_CONSUMER",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_SERVER",
];

/// What a span's resource without `service.name` is matched as.
const NIL_SERVICE_NAME: &str = "<nil-service-name>";

impl MatchProperties {
    /// The Collector's per-signal rules (`ValidateForSpans` / `ValidateForLogs`;
    /// metrics have none). Paths are relative to the block.
    pub fn validate_for(&self, signal: Signal) -> Result<(), MatchError> {
        match signal {
            Signal::Traces => {
                let refuse = |key: &str, what: &str| {
                    Err(MatchError::new(
                        &[key],
                        format!("{what} should not be specified for trace spans"),
                    ))
                };
                if !self.log_bodies.is_empty() {
                    return refuse("log_bodies", "log_bodies");
                }
                if !self.log_severity_texts.is_empty() {
                    return refuse("log_severity_texts", "log_severity_texts");
                }
                if self.log_severity_number.is_some() {
                    return refuse("log_severity_number", "log_severity_number");
                }
                if self.services.is_empty()
                    && self.span_names.is_empty()
                    && self.attributes.is_empty()
                    && self.libraries.is_empty()
                    && self.resources.is_empty()
                    && self.span_kinds.is_empty()
                {
                    return Err(MatchError::new(
                        &[],
                        "at least one of \"attributes\", \"libraries\",  or \"resources\" field must be specified",
                    ));
                }
                if self.match_type == Some(MatchType::Strict) {
                    for (index, kind) in self.span_kinds.iter().enumerate() {
                        if !SPAN_KINDS.contains(&kind.as_str()) {
                            return Err(MatchError::new(
                                &["span_kinds", &index.to_string()],
                                format!(
                                    "span_kinds string must match one of the standard span kinds when match_type=strict: [{}]",
                                    SPAN_KINDS.join(" ")
                                ),
                            ));
                        }
                    }
                }
                Ok(())
            }
            Signal::Logs => {
                for (key, list) in [
                    ("span_names", &self.span_names),
                    ("services", &self.services),
                    ("span_kinds", &self.span_kinds),
                ] {
                    if !list.is_empty() {
                        return Err(MatchError::new(
                            &[key],
                            "services, span_names, and span_kinds are not valid for log records",
                        ));
                    }
                }
                if self.attributes.is_empty()
                    && self.libraries.is_empty()
                    && self.resources.is_empty()
                    && self.log_bodies.is_empty()
                    && self.log_severity_texts.is_empty()
                    && self.log_severity_number.is_none()
                {
                    return Err(MatchError::new(
                        &[],
                        "at least one of \"attributes\", \"libraries\", \"span_kinds\", \"resources\", \"log_bodies\", \"log_severity_texts\" or \"log_severity_number\" field must be specified",
                    ));
                }
                Ok(())
            }
            Signal::Metrics => Ok(()),
        }
    }
}

#[derive(Clone, Debug)]
struct LibraryMatcher {
    name: StringMatcher,
    version: Option<StringMatcher>,
}

/// One compiled block. Lists left empty are not checked (they match everything).
#[derive(Clone, Debug, Default)]
pub struct Properties {
    services: Option<StringMatcher>,
    span_names: Option<StringMatcher>,
    span_kinds: Option<StringMatcher>,
    log_bodies: Option<StringMatcher>,
    log_severity_texts: Option<StringMatcher>,
    severity: Option<SeverityNumberMatch>,
    metric_names: Option<StringMatcher>,
    attributes: AttributesMatcher,
    resources: AttributesMatcher,
    libraries: Vec<LibraryMatcher>,
}

fn list(
    match_type: Option<MatchType>,
    key: &str,
    patterns: &[String],
) -> Result<Option<StringMatcher>, MatchError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    StringMatcher::new(match_type, patterns)
        .map(Some)
        .map_err(|message| MatchError::new(&[key], message))
}

fn libraries(
    match_type: Option<MatchType>,
    entries: &[LibraryMatch],
) -> Result<Vec<LibraryMatcher>, MatchError> {
    let mut out = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let index = index.to_string();
        let name =
            StringMatcher::new(match_type, std::slice::from_ref(&entry.name)).map_err(|m| {
                MatchError::new(
                    &["libraries", &index, "name"],
                    format!("error creating library name filters: {m}"),
                )
            })?;
        let version = match &entry.version {
            None => None,
            Some(version) => Some(
                StringMatcher::new(match_type, std::slice::from_ref(version)).map_err(|m| {
                    MatchError::new(
                        &["libraries", &index, "version"],
                        format!("error creating library version filters: {m}"),
                    )
                })?,
            ),
        };
        out.push(LibraryMatcher { name, version });
    }
    Ok(out)
}

impl Properties {
    /// Compiles a block. With a signal, only the keys that signal's Collector matcher
    /// reads are compiled (metrics: `metric_names` only); without one, all of them.
    pub fn compile(mp: &MatchProperties, signal: Option<Signal>) -> Result<Self, MatchError> {
        let mt = mp.match_type;
        if signal == Some(Signal::Metrics) {
            return Ok(Self {
                metric_names: list(mt, "metric_names", &mp.metric_names)?,
                ..Self::default()
            });
        }
        let traces = signal.is_none() || signal == Some(Signal::Traces);
        let logs = signal.is_none() || signal == Some(Signal::Logs);
        let none = || Ok(None);
        Ok(Self {
            libraries: libraries(mt, &mp.libraries)?,
            resources: AttributesMatcher::new(mt, "resources", &mp.resources)?,
            attributes: AttributesMatcher::new(mt, "attributes", &mp.attributes)?,
            services: if traces {
                list(mt, "services", &mp.services)
            } else {
                none()
            }?,
            span_names: if traces {
                list(mt, "span_names", &mp.span_names)
            } else {
                none()
            }?,
            span_kinds: if traces {
                list(mt, "span_kinds", &mp.span_kinds)
            } else {
                none()
            }?,
            log_bodies: if logs {
                list(mt, "log_bodies", &mp.log_bodies)
            } else {
                none()
            }?,
            log_severity_texts: if logs {
                list(mt, "log_severity_texts", &mp.log_severity_texts)
            } else {
                none()
            }?,
            severity: mp.log_severity_number.clone().filter(|_| logs),
            metric_names: if signal.is_none() {
                list(mt, "metric_names", &mp.metric_names)?
            } else {
                None
            },
        })
    }

    /// Resource and library checks shared by spans and logs (`PropertiesMatcher.Match`).
    fn common(
        &self,
        attributes: weir_api::batch::view::Attributes<'_>,
        resource: ResourceView<'_>,
        scope: ScopeView<'_>,
    ) -> bool {
        for library in &self.libraries {
            if !library.name.matches(scope.name()) {
                return false;
            }
            if let Some(version) = &library.version {
                if !version.matches(scope.version()) {
                    return false;
                }
            }
        }
        if !self.resources.is_empty() && !self.resources.matches(resource.attributes()) {
            return false;
        }
        self.attributes.matches(attributes)
    }

    pub fn matches_span(
        &self,
        resource: ResourceView<'_>,
        scope: ScopeView<'_>,
        span: SpanView<'_>,
    ) -> bool {
        if let Some(services) = &self.services {
            let name = resource
                .attributes()
                .get("service.name")
                .map(value::as_string);
            let name = name.as_deref().unwrap_or(NIL_SERVICE_NAME);
            if !services.matches(name) {
                return false;
            }
        }
        if let Some(names) = &self.span_names {
            if !names.matches(span.name()) {
                return false;
            }
        }
        if let Some(kinds) = &self.span_kinds {
            if !kinds.matches(span.kind().name()) {
                return false;
            }
        }
        self.common(span.attributes(), resource, scope)
    }

    pub fn matches_log(
        &self,
        resource: ResourceView<'_>,
        scope: ScopeView<'_>,
        record: LogRecordView<'_>,
    ) -> bool {
        if let Some(bodies) = &self.log_bodies {
            if !bodies.matches(&value::as_string(record.body())) {
                return false;
            }
        }
        if let Some(texts) = &self.log_severity_texts {
            if !texts.matches(record.severity_text()) {
                return false;
            }
        }
        if let Some(severity) = &self.severity {
            if !severity.matches(record.severity_number()) {
                return false;
            }
        }
        self.common(record.attributes(), resource, scope)
    }

    /// `filtermetric`'s name matcher: `None` when `metric_names` is empty (the block
    /// then has no effect on metrics, as in the Collector).
    pub fn matches_metric(&self, metric: MetricView<'_>) -> Option<bool> {
        self.metric_names.as_ref().map(|m| m.matches(metric.name()))
    }
}

/// `include` and `exclude` compiled: an item is processed when `include` is absent or
/// matches, and `exclude` is absent or does not match.
#[derive(Clone, Debug, Default)]
pub struct Matcher {
    include: Option<Properties>,
    exclude: Option<Properties>,
}

impl Matcher {
    /// Compiles both blocks with every key (no per-signal rules). Errors are prefixed
    /// with `include` or `exclude`.
    pub fn compile(
        include: Option<&MatchProperties>,
        exclude: Option<&MatchProperties>,
    ) -> Result<Self, MatchError> {
        Self::build(include, exclude, None)
    }

    /// Compiles both blocks for one signal, after the Collector's per-signal
    /// validation (e.g. `log_bodies` is refused for spans).
    pub fn compile_for(
        signal: Signal,
        include: Option<&MatchProperties>,
        exclude: Option<&MatchProperties>,
    ) -> Result<Self, MatchError> {
        for (key, block) in [("include", include), ("exclude", exclude)] {
            if let Some(block) = block {
                block.validate_for(signal).map_err(|e| e.under(key))?;
            }
        }
        Self::build(include, exclude, Some(signal))
    }

    fn build(
        include: Option<&MatchProperties>,
        exclude: Option<&MatchProperties>,
        signal: Option<Signal>,
    ) -> Result<Self, MatchError> {
        let compile = |key: &str, block: Option<&MatchProperties>| {
            block
                .map(|b| Properties::compile(b, signal).map_err(|e| e.under(key)))
                .transpose()
        };
        Ok(Self {
            include: compile("include", include)?,
            exclude: compile("exclude", exclude)?,
        })
    }

    /// True when neither block is set: everything is processed.
    pub fn is_empty(&self) -> bool {
        self.include.is_none() && self.exclude.is_none()
    }

    pub fn matches_span(
        &self,
        resource: ResourceView<'_>,
        scope: ScopeView<'_>,
        span: SpanView<'_>,
    ) -> bool {
        self.decide(|p| p.matches_span(resource, scope, span))
    }

    /// Processed when `include` matches (or is absent) and `exclude` does not.
    fn decide(&self, matches: impl Fn(&Properties) -> bool) -> bool {
        self.include.as_ref().is_none_or(&matches) && !self.exclude.as_ref().is_some_and(&matches)
    }

    pub fn matches_log(
        &self,
        resource: ResourceView<'_>,
        scope: ScopeView<'_>,
        record: LogRecordView<'_>,
    ) -> bool {
        self.decide(|p| p.matches_log(resource, scope, record))
    }

    /// Metrics are matched by `metric_names` only, as the Collector's `attributes`
    /// processor does (`filtermetric` built from the block's `match_type` and
    /// `metric_names`); a block without `metric_names` has no effect.
    pub fn matches_metric(
        &self,
        _resource: ResourceView<'_>,
        _scope: ScopeView<'_>,
        metric: MetricView<'_>,
    ) -> bool {
        self.include
            .as_ref()
            .and_then(|p| p.matches_metric(metric))
            .unwrap_or(true)
            && !self
                .exclude
                .as_ref()
                .and_then(|p| p.matches_metric(metric))
                .unwrap_or(false)
    }
}
