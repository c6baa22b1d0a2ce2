//! The `resourcedetection` section, with the Collector contrib's keys
//! (`processor/resourcedetectionprocessor/config.go`): `detectors`, `override`,
//! `timeout`, the deprecated `attributes` filter, and one section per detector with its
//! `resource_attributes` switches.
//!
//! Detectors that ask a cloud provider's metadata service (ec2, gcp, azure, ...) are
//! refused at validation: Weir does not query those services. Their sections are
//! accepted (and ignored) when the detector is not listed, as in the Collector.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::IgnoredAny;
use serde::Deserialize;
use weir_api::config::{problem, problem_with_suggestion, Validate};
use weir_api::ComponentProblem;
use weir_config::suggest;

use crate::detect::{k8s, system, DOCKER_ATTRIBUTES};

/// Detectors Weir runs.
pub const SUPPORTED: [&str; 5] = ["env", "system", "docker", "k8snode", k8s::DETECTOR];

/// The Collector's detectors that need a cloud provider's metadata service or API.
pub const CLOUD: [&str; 27] = [
    "akamai",
    "alibaba_ecs",
    "aks",
    "azure",
    "consul",
    "digitalocean",
    "dynatrace",
    "ec2",
    "ecs",
    "eks",
    "elasticbeanstalk",
    "gcp",
    "gce",
    "gke",
    "heroku",
    "hetzner",
    "ibmcloud_classic",
    "ibmcloud_vpc",
    "kubeadm",
    "lambda",
    "nova",
    "openshift",
    "oraclecloud",
    "scaleway",
    "tencent_cvm",
    "upcloud",
    "vultr",
];

/// `resource_attributes.<name>.enabled`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Toggle {
    pub enabled: bool,
}

/// A detector's `resource_attributes` switches, by attribute name.
pub type Switches = BTreeMap<String, Toggle>;

/// The `system` section.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SystemConfig {
    /// Where host.name comes from, first success wins: `dns` (the canonical name in
    /// /etc/hosts) and `os` (the kernel's hostname). Default `[dns, os]`.
    pub hostname_sources: Vec<String>,
    pub resource_attributes: Switches,
}

/// A section with only `resource_attributes` (docker).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttributesOnly {
    pub resource_attributes: Switches,
}

/// The `k8snode` section.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct K8sNodeConfig {
    /// The environment variable holding the node name (the downward API's
    /// `spec.nodeName`).
    pub node_from_env_var: String,
    pub resource_attributes: Switches,
    /// The Collector's Kubernetes API client settings: accepted, not used (Weir does not
    /// call the API server).
    pub auth_type: Option<String>,
    pub context: Option<String>,
}

impl Default for K8sNodeConfig {
    fn default() -> Self {
        Self {
            node_from_env_var: "K8S_NODE_NAME".into(),
            resource_attributes: Switches::new(),
            auth_type: None,
            context: None,
        }
    }
}

/// The `resourcedetection` section.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceDetectionConfig {
    /// Detectors, in order: an attribute found by an earlier one wins.
    pub detectors: Vec<String>,
    /// Whether detected attributes replace attributes the data already has.
    #[serde(rename = "override")]
    pub override_: bool,
    /// The longest detection may take (the Docker socket's read timeout).
    #[serde(with = "weir_api::duration")]
    pub timeout: Duration,
    /// Deprecated in the Collector: keep only these detected attributes.
    pub attributes: Option<Vec<String>>,
    /// When true, a detector that cannot reach what it reads (the Docker daemon) fails
    /// the start; when false (the default), it is logged and contributes nothing.
    pub fail_on_missing_metadata: bool,
    /// The Collector's retry of failed detections: accepted and ignored, since Weir's
    /// detectors read local files, variables and sockets once.
    pub retry: Option<IgnoredAny>,
    /// Detection runs once at start in Weir; only 0 (the default) is accepted.
    #[serde(with = "weir_api::duration::option")]
    pub refresh_interval: Option<Duration>,
    pub system: SystemConfig,
    pub docker: AttributesOnly,
    pub k8snode: K8sNodeConfig,
    /// Weir's own: the Kubernetes downward-API environment variables.
    pub k8s_env: AttributesOnly,
    /// The env detector has no settings.
    pub env: Option<IgnoredAny>,
    // The cloud detectors' sections: accepted, ignored (their detectors are refused).
    pub akamai: Option<IgnoredAny>,
    pub alibaba_ecs: Option<IgnoredAny>,
    pub aks: Option<IgnoredAny>,
    pub azure: Option<IgnoredAny>,
    pub consul: Option<IgnoredAny>,
    pub digitalocean: Option<IgnoredAny>,
    pub dynatrace: Option<IgnoredAny>,
    pub ec2: Option<IgnoredAny>,
    pub ecs: Option<IgnoredAny>,
    pub eks: Option<IgnoredAny>,
    pub elasticbeanstalk: Option<IgnoredAny>,
    pub gcp: Option<IgnoredAny>,
    pub heroku: Option<IgnoredAny>,
    pub hetzner: Option<IgnoredAny>,
    pub ibmcloud_classic: Option<IgnoredAny>,
    pub ibmcloud_vpc: Option<IgnoredAny>,
    pub kubeadm: Option<IgnoredAny>,
    pub lambda: Option<IgnoredAny>,
    pub nova: Option<IgnoredAny>,
    pub openshift: Option<IgnoredAny>,
    pub oraclecloud: Option<IgnoredAny>,
    pub scaleway: Option<IgnoredAny>,
    pub tencent_cvm: Option<IgnoredAny>,
    pub upcloud: Option<IgnoredAny>,
    pub vultr: Option<IgnoredAny>,
}

impl Default for ResourceDetectionConfig {
    fn default() -> Self {
        Self {
            detectors: vec!["env".into()],
            override_: true,
            timeout: Duration::from_secs(5),
            attributes: None,
            fail_on_missing_metadata: false,
            retry: None,
            refresh_interval: None,
            system: SystemConfig::default(),
            docker: AttributesOnly::default(),
            k8snode: K8sNodeConfig::default(),
            k8s_env: AttributesOnly::default(),
            env: None,
            akamai: None,
            alibaba_ecs: None,
            aks: None,
            azure: None,
            consul: None,
            digitalocean: None,
            dynatrace: None,
            ec2: None,
            ecs: None,
            eks: None,
            elasticbeanstalk: None,
            gcp: None,
            heroku: None,
            hetzner: None,
            ibmcloud_classic: None,
            ibmcloud_vpc: None,
            kubeadm: None,
            lambda: None,
            nova: None,
            openshift: None,
            oraclecloud: None,
            scaleway: None,
            tencent_cvm: None,
            upcloud: None,
            vultr: None,
        }
    }
}

/// A problem with a "did you mean" when `word` is close to one of `known`.
fn near_miss(path: &[&str], message: String, word: &str, known: &[&str]) -> ComponentProblem {
    match suggest(word, known.iter().copied()) {
        Some(close) => problem_with_suggestion(path, message, close),
        None => problem(path, message),
    }
}

fn check_switches(
    section: &str,
    switches: &Switches,
    known: &[&str],
    out: &mut Vec<ComponentProblem>,
) {
    for name in switches.keys() {
        if !known.contains(&name.as_str()) {
            out.push(near_miss(
                &[section, "resource_attributes", name],
                format!(
                    "unknown resource attribute {name:?} for the {section} detector (known: {})",
                    known.join(", ")
                ),
                name,
                known,
            ));
        }
    }
}

impl Validate for ResourceDetectionConfig {
    fn problems(&self) -> Vec<ComponentProblem> {
        let mut out = Vec::new();
        for (i, name) in self.detectors.iter().enumerate() {
            let index = i.to_string();
            let path = ["detectors", index.as_str()];
            if SUPPORTED.contains(&name.as_str()) {
                if self.detectors[..i].contains(name) {
                    out.push(problem(&path, format!("detector {name} is listed twice")));
                }
            } else if CLOUD.contains(&name.as_str()) {
                out.push(problem(
                    &path,
                    format!(
                        "the {name} detector asks the cloud provider's metadata service, which Weir does not query; \
                         set those attributes through OTEL_RESOURCE_ATTRIBUTES with the `env` detector, \
                         or with the `resource` processor"
                    ),
                ));
            } else {
                let mut known: Vec<&str> = SUPPORTED.to_vec();
                known.extend(CLOUD);
                out.push(near_miss(
                    &path,
                    format!(
                        "unknown detector {name:?}; Weir runs {}",
                        SUPPORTED.join(", ")
                    ),
                    name,
                    &known,
                ));
            }
        }
        if self.refresh_interval.is_some_and(|d| !d.is_zero()) {
            out.push(problem(
                &["refresh_interval"],
                "Weir detects resources once, at start; remove refresh_interval (or set it to 0)",
            ));
        }
        if self.timeout.is_zero() {
            out.push(problem(&["timeout"], "timeout must be positive (e.g. 5s)"));
        }
        for (i, source) in self.system.hostname_sources.iter().enumerate() {
            let index = i.to_string();
            let path = ["system", "hostname_sources", index.as_str()];
            match source.as_str() {
                "os" | "dns" => {}
                "cname" | "lookup" => out.push(problem(
                    &path,
                    format!(
                        "hostname source {source} needs DNS queries, which Weir does not make; use dns (the canonical name in /etc/hosts) or os"
                    ),
                )),
                _ => out.push(near_miss(
                    &path,
                    format!("unknown hostname source {source:?}; valid: dns, os"),
                    source,
                    &["dns", "os", "cname", "lookup"],
                )),
            }
        }
        check_switches(
            "system",
            &self.system.resource_attributes,
            &system::KNOWN,
            &mut out,
        );
        check_switches(
            "docker",
            &self.docker.resource_attributes,
            &DOCKER_ATTRIBUTES,
            &mut out,
        );
        check_switches(
            "k8snode",
            &self.k8snode.resource_attributes,
            &["k8s.node.name", "k8s.node.uid"],
            &mut out,
        );
        check_switches(
            k8s::DETECTOR,
            &self.k8s_env.resource_attributes,
            &k8s::ATTRIBUTES,
            &mut out,
        );
        if self.k8snode.node_from_env_var.trim().is_empty() {
            out.push(problem(
                &["k8snode", "node_from_env_var"],
                "node_from_env_var must name an environment variable (e.g. K8S_NODE_NAME)",
            ));
        }
        out
    }
}
