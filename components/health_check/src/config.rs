//! The `health_check` section, with the Collector's (contrib) keys and defaults.
//!
//! `check_collector_pipeline` is accepted so Collector configs load unchanged, but it is
//! ignored: the Collector's own README warns the feature does not work as expected, and
//! Weir reports pipeline state through the `HealthState` the engine publishes instead.

use serde::Deserialize;
use weir_api::tls_server::TlsServerSettings;
use weir_api::ComponentProblem;

/// Where the health check listens by default: loopback only, as the Collector does
/// since `component.UseLocalHostAsDefaultHost`.
pub const DEFAULT_ENDPOINT: &str = "127.0.0.1:13133";

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheckConfig {
    /// `host:port` to listen on.
    pub endpoint: String,
    /// The one path answered; every other path gets 404.
    pub path: String,
    /// Static bodies replacing the default JSON document.
    pub response_body: Option<ResponseBody>,
    /// Accepted for compatibility; ignored (see the module docs).
    pub check_collector_pipeline: CheckCollectorPipeline,
    /// Server TLS (the Collector's `configtls.ServerConfig` keys); absent means plaintext.
    pub tls: Option<TlsServerSettings>,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.into(),
            path: "/".into(),
            response_body: None,
            check_collector_pipeline: CheckCollectorPipeline::default(),
            tls: None,
        }
    }
}

/// `response_body`: when set, these strings replace the JSON document (an unset one
/// means an empty body), as in the Collector.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseBody {
    pub healthy: Option<String>,
    pub unhealthy: Option<String>,
}

/// `check_collector_pipeline`, accepted and ignored.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckCollectorPipeline {
    pub enabled: bool,
    #[serde(with = "weir_api::duration")]
    pub interval: std::time::Duration,
    pub exporter_failure_threshold: u64,
}

impl Default for CheckCollectorPipeline {
    fn default() -> Self {
        Self {
            enabled: false,
            interval: std::time::Duration::from_secs(300),
            exporter_failure_threshold: 5,
        }
    }
}

impl HealthCheckConfig {
    /// The Collector's rules (`endpoint` set, `path` starting with `/`), plus the TLS
    /// block's.
    pub fn validate(&self) -> Result<(), ComponentProblem> {
        let problem = |key: &str, message: &str| ComponentProblem {
            path: vec![key.into()],
            message: message.into(),
            suggestion: None,
        };
        if self.endpoint.trim().is_empty() {
            return Err(problem(
                "endpoint",
                "endpoint must be specified (e.g. 127.0.0.1:13133)",
            ));
        }
        if !self.path.starts_with('/') {
            return Err(problem("path", "path must start with /"));
        }
        if let Some(problem) = self
            .tls
            .as_ref()
            .and_then(|tls| tls.problems().into_iter().next())
        {
            return Err(problem);
        }
        if self.check_collector_pipeline.exporter_failure_threshold == 0 {
            return Err(ComponentProblem {
                path: vec![
                    "check_collector_pipeline".into(),
                    "exporter_failure_threshold".into(),
                ],
                message: "exporter_failure_threshold expects a positive number".into(),
                suggestion: None,
            });
        }
        Ok(())
    }
}

impl weir_api::config::Validate for HealthCheckConfig {
    fn problems(&self) -> Vec<ComponentProblem> {
        self.validate().err().into_iter().collect()
    }
}
