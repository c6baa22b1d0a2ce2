//! The `loadbalancing` exporter's configuration, with the Collector's keys: `routing_key`
//! (and `routing_attributes`), `protocol.otlp` (every key of the `otlp` exporter but
//! `endpoint`), `resolver` (`static`, `dns` or `k8s`), and the engine's `timeout`,
//! `retry_on_failure` and `sending_queue` in front of the whole tier.

use std::time::Duration;

use serde::Deserialize;
use weir_api::config::{problem, Validate};
use weir_api::{ComponentProblem, QueueSettings, RetrySettings};

use crate::resolver::ResolverConfig;

/// The exporter's section.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub routing_key: RoutingKey,
    /// The attributes whose values make the key, for `routing_key: attributes`.
    pub routing_attributes: Vec<String>,
    pub protocol: Protocol,
    pub resolver: ResolverConfig,
    /// The engine's stack in front of the tier. When absent, `protocol.otlp`'s own
    /// settings serve (the Collector's older form, where they applied per backend).
    #[serde(default, with = "optional_duration")]
    pub timeout: Option<Duration>,
    pub retry_on_failure: Option<RetrySettings>,
    pub sending_queue: Option<QueueSettings>,
}

/// `protocol`: only `otlp` exists, as in the Collector.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Protocol {
    pub otlp: weir_otlp_exporter::Config,
}

/// `routing_key`: what makes two items go to the same backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum RoutingKey {
    /// The trace id of a span or log record (the Collector's default). Metrics, which
    /// have none, are routed by `service`.
    #[default]
    #[serde(rename = "traceID")]
    TraceId,
    /// The resource's `service.name`.
    #[serde(rename = "service")]
    Service,
    /// All of the resource's attributes.
    #[serde(rename = "resource")]
    Resource,
    /// The metric's name (with its resource's service).
    #[serde(rename = "metric")]
    Metric,
    /// One metric stream: resource, scope, metric name and the point's attributes.
    #[serde(rename = "streamID")]
    StreamId,
    /// The values of `routing_attributes` (resource, then item attributes).
    #[serde(rename = "attributes")]
    Attributes,
}

/// The placeholder endpoint `protocol.otlp` is checked with: the resolver sets the real ones.
pub(crate) const CHECK_ENDPOINT: &str = "backend.invalid:4317";

impl Config {
    /// The `otlp` exporter settings for one backend.
    pub(crate) fn backend_config(&self, endpoint: &str) -> weir_otlp_exporter::Config {
        let mut config = self.protocol.otlp.clone();
        config.endpoint = endpoint.to_string();
        config
    }

    pub(crate) fn stack_timeout(&self) -> Duration {
        self.timeout.unwrap_or(self.protocol.otlp.timeout)
    }

    pub(crate) fn stack_retry(&self) -> RetrySettings {
        self.retry_on_failure
            .clone()
            .unwrap_or_else(|| self.protocol.otlp.retry_on_failure.clone())
    }

    pub(crate) fn stack_queue(&self) -> QueueSettings {
        self.sending_queue
            .clone()
            .unwrap_or_else(|| self.protocol.otlp.sending_queue.clone())
    }
}

impl Validate for Config {
    fn problems(&self) -> Vec<ComponentProblem> {
        let mut problems = Vec::new();
        if !self.protocol.otlp.endpoint.is_empty() {
            problems.push(problem(
                &["protocol", "otlp", "endpoint"],
                "the resolver sets each backend's endpoint; remove `endpoint` here and list the \
                 backends under `resolver`",
            ));
        }
        for mut inner in self.backend_config(CHECK_ENDPOINT).problems() {
            inner
                .path
                .splice(0..0, ["protocol".to_string(), "otlp".to_string()]);
            problems.push(inner);
        }
        match (self.routing_key, self.routing_attributes.is_empty()) {
            (RoutingKey::Attributes, true) => problems.push(problem(
                &["routing_attributes"],
                "`routing_key: attributes` needs the attributes to route by, e.g. \
                 `routing_attributes: [tenant]`",
            )),
            (RoutingKey::Attributes, false) | (_, true) => {}
            (_, false) => problems.push(problem(
                &["routing_attributes"],
                "`routing_attributes` is only read with `routing_key: attributes`",
            )),
        }
        problems.extend(self.resolver.problems());
        if let Some(queue) = &self.sending_queue {
            problems.extend(weir_api::exporter_settings::prefixed(
                "sending_queue",
                queue.problems(),
            ));
        }
        problems
    }
}

/// `timeout` as an optional Go duration.
mod optional_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|text| weir_api::duration::parse(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}
