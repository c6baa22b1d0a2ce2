//! What the exporter and the receiver share: the brokers, the client id, authentication
//! (SASL PLAIN/SCRAM, TLS), and the topic and encoding of each signal, all turned into
//! librdkafka's settings in one place.

use rdkafka::config::ClientConfig;
use serde::Deserialize;
use weir_api::config::problem;
use weir_api::tls::TlsClientSettings;
use weir_api::{ComponentProblem, Signal, Value};

/// The keys every Kafka client section has, flattened into the exporter's and the
/// receiver's (which then check for unknown keys themselves: serde cannot with
/// `flatten`; see `unknown_keys`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct ClientSettings {
    pub brokers: Vec<String>,
    pub client_id: String,
    /// Accepted; librdkafka negotiates the protocol version with the broker.
    pub protocol_version: String,
    /// Accepted; librdkafka always uses the configured bootstrap servers as given.
    pub resolve_canonical_bootstrap_servers_only: bool,
    pub auth: Option<Auth>,
    /// The newer place of `auth.tls`.
    pub tls: Option<TlsClientSettings>,
    /// Accepted (`full`, `retry`); librdkafka manages metadata itself.
    pub metadata: Option<Value>,
    /// The older single topic for every signal.
    pub topic: String,
    /// The older single encoding for every signal.
    pub encoding: Option<Encoding>,
    pub traces: SignalSettings,
    pub metrics: SignalSettings,
    pub logs: SignalSettings,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            brokers: vec!["localhost:9092".into()],
            client_id: "otel-collector".into(),
            protocol_version: String::new(),
            resolve_canonical_bootstrap_servers_only: false,
            auth: None,
            tls: None,
            metadata: None,
            topic: String::new(),
            encoding: None,
            traces: SignalSettings::default(),
            metrics: SignalSettings::default(),
            logs: SignalSettings::default(),
        }
    }
}

/// `traces`, `metrics`, `logs`: one signal's topic and encoding.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignalSettings {
    pub topic: String,
    pub encoding: Option<Encoding>,
}

/// How OTLP data is written into a message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Encoding {
    #[default]
    OtlpProto,
    OtlpJson,
}

impl<'de> Deserialize<'de> for Encoding {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match text.as_str() {
            "otlp_proto" => Ok(Self::OtlpProto),
            "otlp_json" => Ok(Self::OtlpJson),
            "raw"
            | "text"
            | "json"
            | "jaeger_proto"
            | "jaeger_json"
            | "zipkin_proto"
            | "zipkin_json"
            | "azure_resource_logs" => Err(serde::de::Error::custom(format!(
                "encoding `{text}` is not supported by Weir; use otlp_proto or otlp_json"
            ))),
            other => Err(serde::de::Error::custom(format!(
                "unknown encoding `{other}`; use otlp_proto or otlp_json"
            ))),
        }
    }
}

/// `auth`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    pub sasl: Option<Sasl>,
    /// The oldest form of SASL PLAIN.
    pub plain_text: Option<PlainText>,
    pub tls: Option<TlsClientSettings>,
    /// Refused: needs a Kerberos library.
    pub kerberos: Option<Value>,
}

/// `auth.sasl`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sasl {
    pub username: String,
    pub password: String,
    pub mechanism: String,
    /// Accepted: SASL handshake version; librdkafka picks it.
    pub version: Option<i64>,
    /// Refused: needs the AWS API.
    pub aws_msk: Option<Value>,
}

/// `auth.plain_text`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlainText {
    pub username: String,
    pub password: String,
}

impl ClientSettings {
    /// The default topic of each signal, as in the Collector.
    fn default_topic(signal: Signal) -> &'static str {
        match signal {
            Signal::Traces => "otlp_spans",
            Signal::Metrics => "otlp_metrics",
            Signal::Logs => "otlp_logs",
        }
    }

    fn signal(&self, signal: Signal) -> &SignalSettings {
        match signal {
            Signal::Traces => &self.traces,
            Signal::Metrics => &self.metrics,
            Signal::Logs => &self.logs,
        }
    }

    /// The signal's topic: its own, else the top-level `topic`, else the default.
    pub fn topic(&self, signal: Signal) -> String {
        let own = &self.signal(signal).topic;
        if !own.is_empty() {
            own.clone()
        } else if !self.topic.is_empty() {
            self.topic.clone()
        } else {
            Self::default_topic(signal).to_string()
        }
    }

    /// The signal's encoding: its own, else the top-level one, else `otlp_proto`.
    pub fn encoding(&self, signal: Signal) -> Encoding {
        self.signal(signal)
            .encoding
            .or(self.encoding)
            .unwrap_or_default()
    }

    fn tls(&self) -> Option<&TlsClientSettings> {
        self.tls
            .as_ref()
            .or_else(|| self.auth.as_ref().and_then(|auth| auth.tls.as_ref()))
    }

    pub fn problems(&self) -> Vec<ComponentProblem> {
        let mut problems = Vec::new();
        if self.brokers.is_empty() || self.brokers.iter().any(|b| b.trim().is_empty()) {
            problems.push(problem(
                &["brokers"],
                "list the brokers as host:port, e.g. `brokers: [kafka-0:9092]`",
            ));
        }
        if let Some(auth) = &self.auth {
            if auth.kerberos.is_some() {
                problems.push(problem(
                    &["auth", "kerberos"],
                    "Kerberos (GSSAPI) is not built into Weir; use SASL SCRAM or mTLS",
                ));
            }
            if let Some(sasl) = &auth.sasl {
                if sasl.aws_msk.is_some() {
                    problems.push(problem(
                        &["auth", "sasl", "aws_msk"],
                        "AWS_MSK_IAM needs the AWS API; use SCRAM or mTLS with MSK",
                    ));
                }
                if !matches!(
                    sasl.mechanism.as_str(),
                    "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512"
                ) {
                    problems.push(problem(
                        &["auth", "sasl", "mechanism"],
                        format!(
                            "mechanism `{}` is not supported; use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
                            sasl.mechanism
                        ),
                    ));
                }
                if sasl.username.is_empty() {
                    problems.push(problem(&["auth", "sasl", "username"], "required"));
                }
            }
        }
        if let Some(tls) = self.tls() {
            if !tls.server_name_override.is_empty() {
                problems.push(problem(
                    &["tls", "server_name_override"],
                    "librdkafka checks the broker's own name; server_name_override is not supported",
                ));
            }
            for (pem, key) in [
                (&tls.ca_pem, "ca_pem"),
                (&tls.cert_pem, "cert_pem"),
                (&tls.key_pem, "key_pem"),
            ] {
                if !pem.is_empty() {
                    problems.push(problem(
                        &["tls", key],
                        format!(
                            "give the PEM as a file (`{}`)",
                            key.replace("_pem", "_file")
                        ),
                    ));
                }
            }
        }
        problems
    }

    /// librdkafka's settings for these keys.
    pub fn apply(&self, config: &mut ClientConfig) {
        config.set("bootstrap.servers", self.brokers.join(","));
        config.set("client.id", &self.client_id);
        let sasl = self.auth.as_ref().and_then(|auth| {
            auth.sasl
                .as_ref()
                .map(|s| (s.mechanism.clone(), s.username.clone(), s.password.clone()))
                .or_else(|| {
                    auth.plain_text
                        .as_ref()
                        .map(|p| ("PLAIN".to_string(), p.username.clone(), p.password.clone()))
                })
        });
        let tls = self.tls().filter(|tls| !tls.insecure);
        let protocol = match (sasl.is_some(), tls.is_some()) {
            (false, false) => "plaintext",
            (false, true) => "ssl",
            (true, false) => "sasl_plaintext",
            (true, true) => "sasl_ssl",
        };
        config.set("security.protocol", protocol);
        if let Some((mechanism, username, password)) = sasl {
            config.set("sasl.mechanism", mechanism);
            config.set("sasl.username", username);
            config.set("sasl.password", password);
        }
        if let Some(tls) = tls {
            if !tls.ca_file.is_empty() {
                config.set("ssl.ca.location", &tls.ca_file);
            }
            if !tls.cert_file.is_empty() {
                config.set("ssl.certificate.location", &tls.cert_file);
            }
            if !tls.key_file.is_empty() {
                config.set("ssl.key.location", &tls.key_file);
            }
            if tls.insecure_skip_verify {
                tracing::warn!("kafka: tls.insecure_skip_verify is set: the brokers' certificates are NOT verified");
                config.set("enable.ssl.certificate.verification", "false");
            }
        }
    }
}

/// The keys of [`ClientSettings`].
const CLIENT_KEYS: &[&str] = &[
    "brokers",
    "client_id",
    "protocol_version",
    "resolve_canonical_bootstrap_servers_only",
    "auth",
    "tls",
    "metadata",
    "topic",
    "encoding",
    "traces",
    "metrics",
    "logs",
];

/// A problem for each key of `rest` (what a component's own fields did not take) that is
/// not a client key either, with the closest known key as a suggestion.
pub fn unknown_keys(
    rest: &std::collections::BTreeMap<String, Value>,
    own_keys: &[&str],
) -> Vec<ComponentProblem> {
    rest.keys()
        .filter(|key| !CLIENT_KEYS.contains(&key.as_str()))
        .map(|key| {
            let closest = CLIENT_KEYS
                .iter()
                .chain(own_keys)
                .map(|known| (strsim::jaro_winkler(key, known), *known))
                .filter(|(score, _)| *score > 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0));
            let mut found = problem(&[key.as_str()], format!("unknown key `{key}`"));
            found.suggestion = closest.map(|(_, known)| known.to_string());
            found
        })
        .collect()
}
