//! Target groups to scrape targets, as Prometheus builds them: the group's labels plus
//! `__address__`, `job`, `__scheme__`, `__metrics_path__`, `__scrape_interval__`,
//! `__scrape_timeout__` and `__param_<name>`, then `relabel_configs`, then `instance`
//! defaulting to the address and every `__` label removed from what is attached to
//! samples (after the URL was taken from them).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use http::Uri;

use crate::config::{GlobalConfig, ScrapeConfig};
use crate::convert::TargetInfo;
use crate::discovery::TargetGroup;
use crate::relabel::{self, LabelSet, Rule};

/// A target ready to scrape.
#[derive(Clone, Debug)]
pub struct Target {
    pub info: TargetInfo,
    pub url: Uri,
    /// Identity across discovery refreshes (labels and URL); also spreads scrape offsets.
    pub key: u64,
}

pub fn build(
    job: &ScrapeConfig,
    global: &GlobalConfig,
    rules: &[Rule],
    groups: &[TargetGroup],
) -> (Vec<Target>, Vec<String>) {
    let mut targets = Vec::new();
    let mut errors = Vec::new();
    for group in groups {
        for address in &group.targets {
            let mut labels: LabelSet = group
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            relabel::set(&mut labels, "__address__", address.clone());
            let defaults = [
                ("job", job.job_name.clone()),
                ("__scheme__", job.scheme.clone()),
                ("__metrics_path__", job.metrics_path.clone()),
                (
                    "__scrape_interval__",
                    weir_api::duration::format(job.interval(global)),
                ),
                (
                    "__scrape_timeout__",
                    weir_api::duration::format(job.timeout(global)),
                ),
            ];
            let params = job
                .params
                .iter()
                .filter_map(|(k, v)| Some((format!("__param_{k}"), v.first()?.clone())));
            for (name, value) in defaults
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .chain(params)
            {
                if relabel::get(&labels, &name).is_empty() {
                    relabel::set(&mut labels, &name, value);
                }
            }
            if !relabel::apply_all(rules, &mut labels) {
                continue;
            }
            match finish(job, labels) {
                Ok(target) => targets.push(target),
                Err(error) => errors.push(error),
            }
        }
    }
    targets.sort_by_key(|t| t.key);
    targets.dedup_by_key(|t| t.key);
    (targets, errors)
}

fn finish(job: &ScrapeConfig, mut labels: LabelSet) -> Result<Target, String> {
    let address = relabel::get(&labels, "__address__").to_string();
    if address.is_empty() {
        return Err("a target has no __address__ after relabeling".into());
    }
    if address.contains('/') {
        return Err(format!(
            "target address `{address}` must be host:port, without a scheme or path"
        ));
    }
    if relabel::get(&labels, "instance").is_empty() {
        relabel::set(&mut labels, "instance", address.clone());
    }
    let scheme = relabel::get(&labels, "__scheme__").to_string();
    let path = relabel::get(&labels, "__metrics_path__").to_string();
    // Query parameters: every value of `params`, with `__param_<name>` replacing the first.
    let mut params: Vec<(String, String)> = Vec::new();
    for (name, values) in &job.params {
        let first = relabel::get(&labels, &format!("__param_{name}")).to_string();
        for (i, value) in values.iter().enumerate() {
            params.push((
                name.clone(),
                if i == 0 && !first.is_empty() {
                    first.clone()
                } else {
                    value.clone()
                },
            ));
        }
    }
    for (name, value) in &labels {
        if let Some(param) = name.strip_prefix("__param_") {
            if !job.params.contains_key(param) {
                params.push((param.to_string(), value.clone()));
            }
        }
    }
    let url = crate::scrape::target_url(&scheme, &address, &path, &params)?;
    labels.retain(|(name, _)| !name.starts_with("__"));
    labels.sort();
    let (host, port) = split_address(&address);
    let mut hasher = DefaultHasher::new();
    (&labels, url.to_string()).hash(&mut hasher);
    Ok(Target {
        key: hasher.finish(),
        url,
        info: TargetInfo {
            labels,
            scheme,
            host,
            port,
        },
    })
}

/// `host:port`, `[v6]:port` or a bare host.
fn split_address(address: &str) -> (String, Option<u16>) {
    if let Some(rest) = address.strip_prefix('[') {
        if let Some((host, port)) = rest.split_once(']') {
            return (
                host.to_string(),
                port.strip_prefix(':').and_then(|p| p.parse().ok()),
            );
        }
    }
    match address.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host.to_string(), port.parse().ok()),
        _ => (address.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(yaml: &str) -> ScrapeConfig {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn defaults_relabel_and_url() {
        let job = job("job_name: node\nparams: {module: [http_2xx]}\nrelabel_configs: [{source_labels: [env], regex: drop, action: drop}, {source_labels: [__address__], regex: '(.*):9100', target_label: host}]");
        let rules: Vec<Rule> = job
            .relabel_configs
            .iter()
            .cloned()
            .map(|c| Rule::new(c).unwrap())
            .collect();
        let groups = [
            TargetGroup {
                targets: vec!["127.0.0.1:9100".into()],
                labels: [("env".to_string(), "prod".to_string())].into(),
            },
            TargetGroup {
                targets: vec!["10.0.0.1:9100".into()],
                labels: [("env".to_string(), "drop".to_string())].into(),
            },
        ];
        let (targets, errors) = build(&job, &GlobalConfig::default(), &rules, &groups);
        assert!(errors.is_empty());
        assert_eq!(targets.len(), 1);
        let t = &targets[0];
        assert_eq!(
            t.url.to_string(),
            "http://127.0.0.1:9100/metrics?module=http_2xx"
        );
        assert_eq!(
            t.info.labels,
            [
                ("env", "prod"),
                ("host", "127.0.0.1"),
                ("instance", "127.0.0.1:9100"),
                ("job", "node")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(
            (t.info.host.as_str(), t.info.port),
            ("127.0.0.1", Some(9100))
        );
    }

    #[test]
    fn addresses() {
        assert_eq!(split_address("[::1]:80"), ("::1".to_string(), Some(80)));
        assert_eq!(
            split_address("example.com"),
            ("example.com".to_string(), None)
        );
    }
}
