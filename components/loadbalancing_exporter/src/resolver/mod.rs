//! Where the tier's endpoints come from: `static` (a fixed list), `dns` (the addresses a
//! name resolves to, re-asked every `interval`) or `k8s` (the ready endpoints of a
//! Service's EndpointSlices). As in the Collector, when several are configured `k8s` wins,
//! then `dns`, then `static`.

mod dns;
mod k8s;

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Deserialize;
use weir_api::config::problem;
use weir_api::{ComponentProblem, Value};

pub use dns::DnsResolver;
pub use k8s::K8sResolver;

/// `resolver`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResolverConfig {
    #[serde(rename = "static")]
    pub fixed: Option<StaticResolver>,
    pub dns: Option<DnsResolver>,
    pub k8s: Option<K8sResolver>,
    /// Refused: needs the AWS API.
    pub aws_cloud_map: Option<Value>,
}

/// `resolver.static`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaticResolver {
    pub hostnames: Vec<String>,
}

/// The resolver in use, after precedence.
#[derive(Clone, Debug)]
pub enum Chosen {
    Static(BTreeSet<String>),
    Dns(DnsResolver),
    K8s(K8sResolver),
}

impl Chosen {
    /// Its name for the `resolver` label of the self-metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Static(_) => "static",
            Self::Dns(_) => "dns",
            Self::K8s(_) => "k8s",
        }
    }

    /// How often it is asked again (never, for `static`).
    pub fn interval(&self) -> Option<Duration> {
        match self {
            Self::Static(_) => None,
            Self::Dns(dns) => Some(dns.interval),
            Self::K8s(k8s) => Some(k8s.interval),
        }
    }

    /// The endpoints now.
    pub async fn resolve(&self) -> Result<BTreeSet<String>, String> {
        match self {
            Self::Static(hostnames) => Ok(hostnames.clone()),
            Self::Dns(dns) => dns.resolve().await,
            Self::K8s(k8s) => k8s.resolve().await,
        }
    }
}

impl ResolverConfig {
    pub fn choose(&self) -> Option<Chosen> {
        if let Some(k8s) = &self.k8s {
            return Some(Chosen::K8s(k8s.clone()));
        }
        if let Some(dns) = &self.dns {
            return Some(Chosen::Dns(dns.clone()));
        }
        self.fixed
            .as_ref()
            .map(|fixed| Chosen::Static(fixed.hostnames.iter().cloned().collect()))
    }

    pub fn problems(&self) -> Vec<ComponentProblem> {
        let mut problems = Vec::new();
        if self.aws_cloud_map.is_some() {
            problems.push(problem(
                &["resolver", "aws_cloud_map"],
                "the aws_cloud_map resolver needs the AWS API, which Weir does not call; use \
                 `dns` with the Cloud Map service's DNS name, or `static`",
            ));
        }
        if self.fixed.is_none() && self.dns.is_none() && self.k8s.is_none() {
            problems.push(problem(
                &["resolver"],
                "a resolver is required: `static: {hostnames: [...]}`, `dns: {hostname: ...}` \
                 or `k8s: {service: NAME.NAMESPACE}`",
            ));
        }
        if let Some(fixed) = &self.fixed {
            if fixed.hostnames.is_empty() && self.dns.is_none() && self.k8s.is_none() {
                problems.push(problem(
                    &["resolver", "static", "hostnames"],
                    "list at least one backend, e.g. `hostnames: [gateway-1:4317]`",
                ));
            }
            for (index, hostname) in fixed.hostnames.iter().enumerate() {
                if hostname.trim().is_empty() {
                    problems.push(problem(
                        &["resolver", "static", "hostnames", &index.to_string()],
                        "an empty hostname",
                    ));
                }
            }
        }
        if let Some(dns) = &self.dns {
            problems.extend(dns.problems());
        }
        if let Some(k8s) = &self.k8s {
            problems.extend(k8s.problems());
        }
        problems
    }
}

/// `host:port`, bracketing an IPv6 address.
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
