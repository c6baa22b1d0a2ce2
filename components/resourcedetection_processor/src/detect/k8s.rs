//! Kubernetes without the API server: the downward-API environment variables.
//!
//! `k8snode` (the Collector's name) reads the node name from `node_from_env_var`
//! (default `K8S_NODE_NAME`, set from `spec.nodeName`); the node's uid needs the API
//! server, which Weir does not call. `k8s_env` (Weir's own) reads the variables the
//! OpenTelemetry Helm chart and operator conventions set from the downward API: see
//! [`VARIABLES`].

use super::{enabled, Attributes, Lookup};
use crate::config::{AttributesOnly, K8sNodeConfig};

/// Weir's detector name.
pub const DETECTOR: &str = "k8s_env";

/// The attributes `k8s_env` sets, and the variables it reads for each, first set wins.
pub const VARIABLES: [(&str, &[&str]); 7] = [
    (
        "k8s.node.name",
        &["K8S_NODE_NAME", "OTEL_RESOURCE_ATTRIBUTES_NODE_NAME"],
    ),
    (
        "k8s.pod.name",
        &["K8S_POD_NAME", "OTEL_RESOURCE_ATTRIBUTES_POD_NAME"],
    ),
    (
        "k8s.pod.uid",
        &["K8S_POD_UID", "OTEL_RESOURCE_ATTRIBUTES_POD_UID"],
    ),
    (
        "k8s.namespace.name",
        &["K8S_NAMESPACE_NAME", "K8S_POD_NAMESPACE", "K8S_NAMESPACE"],
    ),
    ("k8s.pod.ip", &["K8S_POD_IP"]),
    ("k8s.cluster.name", &["K8S_CLUSTER_NAME"]),
    ("k8s.container.name", &["K8S_CONTAINER_NAME"]),
];

/// The attribute names of [`VARIABLES`].
pub const ATTRIBUTES: [&str; 7] = [
    "k8s.node.name",
    "k8s.pod.name",
    "k8s.pod.uid",
    "k8s.namespace.name",
    "k8s.pod.ip",
    "k8s.cluster.name",
    "k8s.container.name",
];

/// `k8s_env`: every enabled attribute whose variable is set (none set is not an error:
/// Weir may simply not run in Kubernetes).
pub fn detect_env(config: &AttributesOnly, lookup: Lookup<'_>) -> Attributes {
    let mut out = Vec::new();
    for (attribute, variables) in VARIABLES {
        if !enabled(&config.resource_attributes, attribute, true) {
            continue;
        }
        if let Some(value) = variables
            .iter()
            .find_map(|v| lookup(v).filter(|value| !value.is_empty()))
        {
            out.push((attribute.to_string(), value));
        }
    }
    out
}

/// `k8snode`: the node name, or the Collector's error when the variable is unset.
pub fn detect_node(
    config: &K8sNodeConfig,
    lookup: Lookup<'_>,
) -> Result<(Attributes, Vec<String>), String> {
    let mut warnings = Vec::new();
    if enabled(&config.resource_attributes, "k8s.node.uid", true) {
        warnings.push(
            "k8s.node.uid needs the Kubernetes API server, which Weir does not call; not detected"
                .to_string(),
        );
    }
    if !enabled(&config.resource_attributes, "k8s.node.name", true) {
        return Ok((Vec::new(), warnings));
    }
    let variable = &config.node_from_env_var;
    match lookup(variable).filter(|v| !v.is_empty()) {
        Some(name) => Ok((vec![("k8s.node.name".to_string(), name)], warnings)),
        None => Err(format!(
            "node name can't be found: set the environment variable {variable} from the downward API (fieldRef spec.nodeName)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn downward_api_variables() {
        let lookup = env(&[
            ("K8S_NODE_NAME", "node-1"),
            ("OTEL_RESOURCE_ATTRIBUTES_POD_NAME", "api-7d9"),
            ("K8S_POD_NAMESPACE", "shop"),
            ("K8S_POD_UID", ""),
        ]);
        let attrs = detect_env(&AttributesOnly::default(), &lookup);
        assert_eq!(
            attrs,
            [
                ("k8s.node.name".to_string(), "node-1".to_string()),
                ("k8s.pod.name".to_string(), "api-7d9".to_string()),
                ("k8s.namespace.name".to_string(), "shop".to_string()),
            ]
        );
        let (node, warnings) = detect_node(&K8sNodeConfig::default(), &lookup).unwrap();
        assert_eq!(node, [("k8s.node.name".to_string(), "node-1".to_string())]);
        assert_eq!(warnings.len(), 1);
        let err = detect_node(&K8sNodeConfig::default(), &env(&[])).unwrap_err();
        assert!(err.contains("K8S_NODE_NAME"), "{err}");
    }
}
