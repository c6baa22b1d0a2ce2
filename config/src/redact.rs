//! Hiding secrets when the merged configuration is printed (`weir print-config`).
//!
//! Redaction is by key name because the document is untyped here: a scalar value is
//! replaced by `[REDACTED]` when its key's lowercased name contains a secret-ish word, or
//! when its parent key is `headers` (header values often carry credentials). Mappings under
//! such keys are walked rather than hidden whole, so a component named `bearertokenauth`
//! still shows its structure; null and empty values are left as they are, since they hide
//! nothing and show that the key is unset.

use serde_yaml_ng::Value;

use crate::locate::key_string;

/// The placeholder printed instead of a secret.
pub const REDACTED: &str = "[REDACTED]";

const SECRET_WORDS: [&str; 9] = [
    "password",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "bearer",
    "private_key",
    "key_pem",
];

/// True when a key of this name holds a secret.
pub fn is_secret_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| lower.contains(w))
}

/// A copy of `value` with secrets replaced.
pub fn redact(value: &Value) -> Value {
    let mut out = value.clone();
    walk(&mut out, false);
    out
}

/// `value` as YAML with secrets replaced.
pub(crate) fn to_redacted_yaml(value: &Value) -> String {
    serde_yaml_ng::to_string(&redact(value))
        .unwrap_or_else(|err| format!("# the configuration cannot be printed: {err}\n"))
}

fn walk(value: &mut Value, secret: bool) {
    match value {
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let name = key_string(key).unwrap_or_default();
                let hides = is_secret_key(&name);
                if name.eq_ignore_ascii_case("headers") {
                    headers(item);
                } else {
                    walk(item, hides);
                }
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(|i| walk(i, secret)),
        Value::Tagged(tagged) => walk(&mut tagged.value, secret),
        Value::Null => {}
        Value::String(s) if s.is_empty() => {}
        Value::String(_) | Value::Number(_) | Value::Bool(_) => {
            if secret {
                *value = Value::String(REDACTED.to_string());
            }
        }
    }
}

/// Every value under `headers` is hidden; a list of `{key, value}` pairs hides the values.
fn headers(value: &mut Value) {
    match value {
        Value::Mapping(map) => map.values_mut().for_each(|v| walk(v, true)),
        Value::Sequence(items) => items.iter_mut().for_each(headers),
        other => walk(other, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_secret_keys_and_header_values() {
        let doc: Value = serde_yaml_ng::from_str(
            r#"
exporters:
  otlp/eu:
    endpoint: eu.example.com:4317
    headers:
      x-tenant: acme
      X-Scope: team-a
    auth:
      Password: hunter2
      client_secret: s3
      token_file: /var/run/token
      api_key: ""
    tls:
      private_key_pem: "-----BEGIN"
      key_pem: abc
extensions:
  bearertokenauth:
    token: abc
    scheme: Bearer
  basicauth:
    client_auth:
      username: u
      password: null
"#,
        )
        .expect("yaml");
        let r = redact(&doc);
        let e = &r["exporters"]["otlp/eu"];
        assert_eq!(e["endpoint"], Value::from("eu.example.com:4317"));
        assert_eq!(e["headers"]["x-tenant"], Value::from(REDACTED));
        assert_eq!(e["headers"]["X-Scope"], Value::from(REDACTED));
        assert_eq!(e["auth"]["Password"], Value::from(REDACTED));
        assert_eq!(e["auth"]["client_secret"], Value::from(REDACTED));
        assert_eq!(e["auth"]["token_file"], Value::from(REDACTED));
        assert_eq!(e["auth"]["api_key"], Value::from(""));
        assert_eq!(e["tls"]["private_key_pem"], Value::from(REDACTED));
        assert_eq!(e["tls"]["key_pem"], Value::from(REDACTED));
        let ext = &r["extensions"]["bearertokenauth"];
        assert_eq!(ext["token"], Value::from(REDACTED));
        assert_eq!(ext["scheme"], Value::from("Bearer"));
        assert_eq!(
            r["extensions"]["basicauth"]["client_auth"]["username"],
            Value::from("u")
        );
        assert_eq!(
            r["extensions"]["basicauth"]["client_auth"]["password"],
            Value::Null
        );
        let text = to_redacted_yaml(&doc);
        assert!(
            !text.contains("hunter2") && !text.contains("acme"),
            "{text}"
        );
        assert!(text.contains("[REDACTED]"));
    }
}
