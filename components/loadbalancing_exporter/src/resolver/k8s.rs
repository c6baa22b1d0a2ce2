//! `resolver.k8s`: the ready endpoints of a Service, read from the Kubernetes
//! EndpointSlice API (`discovery.k8s.io/v1`), as the Collector's resolver does.
//!
//! Inside a cluster the API server is `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`,
//! trusted through the service account's `ca.crt` and called with its token (re-read at
//! every call: tokens rotate). `api_server` (Weir's key) points elsewhere, e.g.
//! `http://127.0.0.1:8001` for `kubectl proxy`. Weir lists the slices every `interval`
//! (Weir's key, default 5s) rather than holding a watch open: simpler, and a lost watch
//! cannot leave the tier stale; at thousands of agents a watch would load the API server
//! less (noted in the README).

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use weir_api::config::problem;
use weir_api::ComponentProblem;

use super::join_host_port;

/// Where a pod finds its service account.
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The largest EndpointSlice list read (a Service with thousands of pods fits).
const MAX_LIST_BYTES: usize = 16 << 20;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// `resolver.k8s`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct K8sResolver {
    /// `NAME` or `NAME.NAMESPACE` of the (headless) Service.
    pub service: String,
    /// Each ready address is a backend on each of these ports.
    pub ports: Vec<u16>,
    #[serde(with = "weir_api::duration")]
    pub timeout: Duration,
    /// Use the pods' hostnames (`HOST.SERVICE.NAMESPACE`) instead of their addresses.
    pub return_hostnames: bool,
    /// Weir: how often the slices are listed.
    #[serde(with = "weir_api::duration")]
    pub interval: Duration,
    /// Weir: the API server's URL; empty means the in-cluster one.
    pub api_server: String,
    #[serde(skip)]
    client: Arc<OnceLock<HttpsClient>>,
}

impl Default for K8sResolver {
    fn default() -> Self {
        Self {
            service: String::new(),
            ports: vec![4317],
            timeout: Duration::from_secs(1),
            return_hostnames: false,
            interval: Duration::from_secs(5),
            api_server: String::new(),
            client: Arc::new(OnceLock::new()),
        }
    }
}

impl K8sResolver {
    pub(super) fn problems(&self) -> Vec<ComponentProblem> {
        let mut problems = Vec::new();
        if self.service.trim().is_empty() {
            problems.push(problem(
                &["resolver", "k8s", "service"],
                "the Service to resolve is required, e.g. `service: weir-gateway-headless.observability`",
            ));
        }
        if self.ports.is_empty() || self.ports.contains(&0) {
            problems.push(problem(
                &["resolver", "k8s", "ports"],
                "list the backends' ports (1-65535), e.g. `ports: [4317]`",
            ));
        }
        if self.interval.is_zero() {
            problems.push(problem(
                &["resolver", "k8s", "interval"],
                "must be above zero, e.g. `interval: 5s`",
            ));
        }
        let is_url = ["http://", "https://"]
            .iter()
            .any(|scheme| self.api_server.starts_with(scheme));
        if !self.api_server.is_empty() && !is_url {
            problems.push(problem(
                &["resolver", "k8s", "api_server"],
                format!("`{}` is not an http:// or https:// URL", self.api_server),
            ));
        }
        problems
    }

    /// `(name, namespace)`; the namespace defaults to the pod's own, then `default`.
    fn service_and_namespace(&self) -> (String, String) {
        let mut parts = self.service.trim().splitn(3, '.');
        let name = parts.next().unwrap_or_default().to_string();
        let namespace = match parts.next() {
            Some(namespace) if !namespace.is_empty() => namespace.to_string(),
            _ => std::fs::read_to_string(format!("{SERVICE_ACCOUNT_DIR}/namespace"))
                .map(|text| text.trim().to_string())
                .ok()
                .filter(|text| !text.is_empty())
                .unwrap_or_else(|| "default".to_string()),
        };
        (name, namespace)
    }

    fn api_server(&self) -> Result<String, String> {
        if !self.api_server.is_empty() {
            return Ok(self.api_server.trim_end_matches('/').to_string());
        }
        let host = std::env::var("KUBERNETES_SERVICE_HOST").map_err(|_| {
            "not in a Kubernetes pod (KUBERNETES_SERVICE_HOST is unset); set `api_server`"
                .to_string()
        })?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
        Ok(format!(
            "https://{}",
            join_host_port(&host, port.parse().unwrap_or(443))
        ))
    }

    fn client(&self, https: bool) -> Result<HttpsClient, String> {
        if let Some(client) = self.client.get() {
            return Ok(client.clone());
        }
        let ca_file = format!("{SERVICE_ACCOUNT_DIR}/ca.crt");
        let tls = weir_api::tls::TlsClientSettings {
            ca_file: if https && std::path::Path::new(&ca_file).exists() {
                ca_file
            } else {
                String::new()
            },
            ..Default::default()
        };
        let config = weir_api::tls::rustls_client_config(&tls, https)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(self.timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(self.client.get_or_init(|| client).clone())
    }

    pub(super) async fn resolve(&self) -> Result<BTreeSet<String>, String> {
        let (name, namespace) = self.service_and_namespace();
        let api = self.api_server()?;
        let https = api.starts_with("https://");
        let url = format!(
            "{api}/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D{name}"
        );
        let mut request = http::Request::get(&url).header(http::header::ACCEPT, "application/json");
        if https {
            if let Ok(token) = std::fs::read_to_string(format!("{SERVICE_ACCOUNT_DIR}/token")) {
                request = request.header(
                    http::header::AUTHORIZATION,
                    format!("Bearer {}", token.trim()),
                );
            }
        }
        let request = request
            .body(Empty::new())
            .map_err(|e| format!("{url}: {e}"))?;
        let client = self.client(https)?;
        let call = async {
            let response = client
                .request(request)
                .await
                .map_err(|e| format!("{url}: {}", weir_api::error::chain(&e)))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_LIST_BYTES)
                .collect()
                .await
                .map_err(|e| format!("{url}: reading the answer: {e}"))?
                .to_bytes();
            if !status.is_success() {
                let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                return Err(format!("{url}: {status}: {text}"));
            }
            Ok(body)
        };
        let body = tokio::time::timeout(self.timeout.max(Duration::from_millis(100)), call)
            .await
            .map_err(|_| format!("{url}: no answer within {:?}", self.timeout))??;
        endpoints(
            &body,
            &self.ports,
            self.return_hostnames.then_some((&name, &namespace)),
        )
    }
}

/// The ready endpoints of an `EndpointSliceList`, each on each port.
fn endpoints(
    body: &[u8],
    ports: &[u16],
    hostnames_of: Option<(&String, &String)>,
) -> Result<BTreeSet<String>, String> {
    #[derive(Deserialize)]
    struct List {
        #[serde(default)]
        items: Vec<Slice>,
    }
    #[derive(Deserialize)]
    struct Slice {
        #[serde(default)]
        endpoints: Vec<Endpoint>,
    }
    #[derive(Deserialize)]
    struct Endpoint {
        #[serde(default)]
        addresses: Vec<String>,
        #[serde(default)]
        hostname: Option<String>,
        #[serde(default)]
        conditions: Conditions,
    }
    #[derive(Deserialize, Default)]
    struct Conditions {
        /// Unset means ready, as the API defines it.
        ready: Option<bool>,
    }
    let list: List =
        serde_json::from_slice(body).map_err(|e| format!("not an EndpointSliceList: {e}"))?;
    let mut out = BTreeSet::new();
    for endpoint in list.items.iter().flat_map(|slice| &slice.endpoints) {
        if endpoint.conditions.ready == Some(false) {
            continue;
        }
        let hosts: Vec<String> = match (hostnames_of, &endpoint.hostname) {
            (Some((service, namespace)), Some(hostname)) => {
                vec![format!("{hostname}.{service}.{namespace}")]
            }
            _ => endpoint.addresses.clone(),
        };
        for host in &hosts {
            for port in ports {
                out.insert(join_host_port(host, *port));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = r#"{"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1",
      "items":[{"metadata":{"name":"gw-abc"},"addressType":"IPv4",
        "endpoints":[
          {"addresses":["10.0.0.1"],"conditions":{"ready":true},"hostname":"gw-0"},
          {"addresses":["10.0.0.2"],"conditions":{"ready":false}},
          {"addresses":["10.0.0.3"]}],
        "ports":[{"name":"otlp-grpc","port":4317}]},
        {"metadata":{"name":"gw-def"},"addressType":"IPv6",
         "endpoints":[{"addresses":["fd00::4"],"conditions":{"ready":true}}]}]}"#;

    #[test]
    fn ready_endpoints_on_every_port() {
        let got = endpoints(LIST.as_bytes(), &[4317, 4318], None).expect("parses");
        let want: BTreeSet<String> = [
            "10.0.0.1:4317",
            "10.0.0.1:4318",
            "10.0.0.3:4317",
            "10.0.0.3:4318",
            "[fd00::4]:4317",
            "[fd00::4]:4318",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn hostnames_when_asked() {
        let (service, namespace) = ("gw".to_string(), "obs".to_string());
        let got =
            endpoints(LIST.as_bytes(), &[4317], Some((&service, &namespace))).expect("parses");
        assert!(got.contains("gw-0.gw.obs:4317"), "{got:?}");
        assert!(got.contains("10.0.0.3:4317"), "{got:?}");
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(endpoints(b"<html>", &[4317], None).is_err());
    }

    #[test]
    fn service_names_and_namespaces() {
        let resolver = K8sResolver {
            service: "weir-gateway.observability".into(),
            ..K8sResolver::default()
        };
        assert_eq!(
            resolver.service_and_namespace(),
            ("weir-gateway".into(), "observability".into())
        );
        let long = K8sResolver {
            service: "gw.obs.svc.cluster.local".into(),
            ..K8sResolver::default()
        };
        assert_eq!(long.service_and_namespace(), ("gw".into(), "obs".into()));
    }
}
