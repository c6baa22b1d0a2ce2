//! `resolver.dns`: the addresses a name resolves to, through the system's resolver (the
//! C library's `getaddrinfo`, which reads `/etc/resolv.conf` and `/etc/hosts`), as the
//! Collector uses Go's.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Deserialize;
use weir_api::config::problem;
use weir_api::ComponentProblem;

use super::join_host_port;

/// `resolver.dns`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsResolver {
    pub hostname: String,
    /// Where each address is sent to.
    #[serde(deserialize_with = "port_text")]
    pub port: String,
    #[serde(with = "weir_api::duration")]
    pub interval: Duration,
    #[serde(with = "weir_api::duration")]
    pub timeout: Duration,
}

impl Default for DnsResolver {
    fn default() -> Self {
        Self {
            hostname: String::new(),
            port: "4317".into(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
        }
    }
}

/// A port given as a number or as text.
fn port_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Port {
        Number(u64),
        Text(String),
    }
    Ok(match Port::deserialize(d)? {
        Port::Number(n) => n.to_string(),
        Port::Text(text) => text,
    })
}

impl DnsResolver {
    pub(super) fn problems(&self) -> Vec<ComponentProblem> {
        let mut problems = Vec::new();
        if self.hostname.trim().is_empty() {
            problems.push(problem(
                &["resolver", "dns", "hostname"],
                "the name to resolve is required, e.g. `hostname: gateways.observability.svc`",
            ));
        }
        if self.port.parse::<u16>().map_or(true, |port| port == 0) {
            problems.push(problem(
                &["resolver", "dns", "port"],
                format!("`{}` is not a port (1-65535)", self.port),
            ));
        }
        if self.interval.is_zero() {
            problems.push(problem(
                &["resolver", "dns", "interval"],
                "must be above zero, e.g. `interval: 5s`",
            ));
        }
        problems
    }

    pub(super) async fn resolve(&self) -> Result<BTreeSet<String>, String> {
        let port: u16 = self.port.parse().map_err(|_| "bad port".to_string())?;
        let lookup = tokio::net::lookup_host((self.hostname.as_str(), port));
        let addresses = match tokio::time::timeout(self.timeout, lookup).await {
            Ok(Ok(addresses)) => addresses,
            Ok(Err(err)) => return Err(format!("resolving `{}`: {err}", self.hostname)),
            Err(_) => {
                return Err(format!(
                    "resolving `{}` took longer than {:?}",
                    self.hostname, self.timeout
                ))
            }
        };
        Ok(addresses
            .map(|address| join_host_port(&address.ip().to_string(), port))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolves_through_the_system_resolver() {
        let dns = DnsResolver {
            hostname: "localhost".into(),
            port: "4317".into(),
            ..DnsResolver::default()
        };
        let endpoints = dns.resolve().await.expect("localhost resolves");
        assert!(
            endpoints.contains("127.0.0.1:4317") || endpoints.contains("[::1]:4317"),
            "{endpoints:?}"
        );
    }

    #[tokio::test]
    async fn an_unknown_name_is_an_error() {
        let dns = DnsResolver {
            hostname: "no-such-host.invalid".into(),
            timeout: Duration::from_secs(5),
            ..DnsResolver::default()
        };
        assert!(dns.resolve().await.is_err());
    }
}
