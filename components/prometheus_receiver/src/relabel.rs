//! Prometheus relabeling (`relabel_configs` on targets, `metric_relabel_configs` on
//! samples), with Prometheus' semantics so configs copied from a Prometheus server behave
//! the same: regexes are fully anchored, a missing label reads as "", setting a label to
//! "" deletes it, and `hashmod` takes the last 8 bytes of the MD5 of the joined source
//! values as a big-endian integer.

use md5::{Digest, Md5};
use regex::Regex;
use serde::Deserialize;

/// A label set: `(name, value)` pairs, no duplicate names, order not significant.
pub type LabelSet = Vec<(String, String)>;

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

/// One relabel rule as written in YAML.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelabelConfig {
    pub source_labels: Vec<String>,
    pub separator: String,
    pub target_label: String,
    pub regex: String,
    pub modulus: u64,
    pub replacement: String,
    pub action: Action,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        Self {
            source_labels: Vec::new(),
            separator: ";".into(),
            target_label: String::new(),
            regex: "(.*)".into(),
            modulus: 0,
            replacement: "$1".into(),
            action: Action::Replace,
        }
    }
}

/// A checked rule with its regex compiled.
#[derive(Clone, Debug)]
pub struct Rule {
    config: RelabelConfig,
    regex: Regex,
}

pub(crate) fn is_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Rule {
    /// Checks a rule as Prometheus does when it loads its config.
    pub fn new(config: RelabelConfig) -> Result<Self, String> {
        let regex = Regex::new(&format!("^(?:{})$", config.regex))
            .map_err(|e| format!("invalid regex `{}`: {e}", config.regex))?;
        let action = config.action;
        let needs_target = matches!(
            action,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if needs_target && config.target_label.is_empty() {
            return Err(format!("relabel action {action:?} needs `target_label`"));
        }
        let template_ok = action == Action::Replace && config.target_label.contains('$');
        if needs_target && !template_ok && !is_label_name(&config.target_label) {
            return Err(format!(
                "`{}` is not a valid target label",
                config.target_label
            ));
        }
        if action == Action::HashMod && config.modulus == 0 {
            return Err("relabel action hashmod needs a `modulus` above 0".into());
        }
        if matches!(action, Action::LabelDrop | Action::LabelKeep)
            && (!config.source_labels.is_empty() || !config.target_label.is_empty())
        {
            return Err(format!(
                "relabel action {action:?} takes neither `source_labels` nor `target_label`"
            ));
        }
        if matches!(action, Action::KeepEqual | Action::DropEqual) && config.regex != "(.*)" {
            return Err(format!("relabel action {action:?} takes no `regex`"));
        }
        if let Some(bad) = config.source_labels.iter().find(|l| !is_label_name(l)) {
            return Err(format!("`{bad}` is not a valid source label"));
        }
        Ok(Self { config, regex })
    }

    /// Applies the rule; false means the label set is dropped.
    pub fn apply(&self, labels: &mut LabelSet) -> bool {
        let c = &self.config;
        let joined = || {
            c.source_labels
                .iter()
                .map(|name| get(labels, name))
                .collect::<Vec<_>>()
                .join(&c.separator)
        };
        match c.action {
            Action::Keep => return self.regex.is_match(&joined()),
            Action::Drop => return !self.regex.is_match(&joined()),
            Action::KeepEqual => return get(labels, &c.target_label) == joined(),
            Action::DropEqual => return get(labels, &c.target_label) != joined(),
            Action::Replace => {
                let value = joined();
                if let Some(captures) = self.regex.captures(&value) {
                    let mut target = String::new();
                    captures.expand(&c.target_label, &mut target);
                    if is_label_name(&target) {
                        let mut result = String::new();
                        captures.expand(&c.replacement, &mut result);
                        set(labels, &target, result);
                    }
                }
            }
            Action::Lowercase => {
                let value = joined().to_lowercase();
                set(labels, &c.target_label, value);
            }
            Action::Uppercase => {
                let value = joined().to_uppercase();
                set(labels, &c.target_label, value);
            }
            Action::HashMod => {
                let value = hashmod(&joined(), c.modulus);
                set(labels, &c.target_label, value.to_string());
            }
            Action::LabelMap => {
                let renamed: Vec<(String, String)> = labels
                    .iter()
                    .filter(|(name, _)| self.regex.is_match(name))
                    .map(|(name, value)| {
                        (
                            self.regex
                                .replace_all(name, c.replacement.as_str())
                                .into_owned(),
                            value.clone(),
                        )
                    })
                    .collect();
                for (name, value) in renamed {
                    set(labels, &name, value);
                }
            }
            Action::LabelDrop => labels.retain(|(name, _)| !self.regex.is_match(name)),
            Action::LabelKeep => labels.retain(|(name, _)| self.regex.is_match(name)),
        }
        true
    }
}

/// Prometheus' hashmod: MD5 of the value, last 8 bytes as a big-endian u64, modulo.
pub fn hashmod(value: &str, modulus: u64) -> u64 {
    let digest = Md5::digest(value.as_bytes());
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&digest[8..16]);
    u64::from_be_bytes(tail) % modulus
}

pub fn get<'a>(labels: &'a LabelSet, name: &str) -> &'a str {
    labels
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Sets a label; an empty value deletes it, as Prometheus' label builder does.
pub fn set(labels: &mut LabelSet, name: &str, value: String) {
    if value.is_empty() {
        labels.retain(|(n, _)| n != name);
        return;
    }
    match labels.iter_mut().find(|(n, _)| n == name) {
        Some(slot) => slot.1 = value,
        None => labels.push((name.to_string(), value)),
    }
}

/// Applies rules in order; false when one of them drops the set.
pub fn apply_all(rules: &[Rule], labels: &mut LabelSet) -> bool {
    rules.iter().all(|rule| rule.apply(labels))
}

#[cfg(test)]
mod tests;
