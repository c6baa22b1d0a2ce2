//! The exporter: convert a batch once into one push per tenant, then send the pushes
//! that are not done yet on every attempt.
//!
//! `prepare` converts and encodes (protobuf + snappy, or JSON) once; the engine queues
//! the [`LokiRequest`] and calls `send` for each attempt, which POSTs only the pushes
//! not yet delivered or refused, the same bytes every time. A 429 or 5xx stops the
//! attempt (the other tenants would most likely meet the same overload) and lets the
//! engine back off; an out-of-order 400 is final for the entries Loki ignored and
//! counted, never retried. Progress is recorded only after Loki answered, so an attempt
//! cancelled by the timeout leaves the request as it was.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use prometheus_client::metrics::counter::Counter;
use weir_api::error::chain;
use weir_api::telemetry::names::{LOKI_MISSING_LABELS, LOKI_OUT_OF_ORDER, LOKI_REQUESTS};
use weir_api::telemetry::Telemetry;
use weir_api::{Batch, ExportError, ExportRequest, Exporter, Signal};

use crate::config::{Config, Encoding, TENANT_HEADER};
use crate::convert::{self, Settings};
use crate::push;
use crate::response::{self, Answer};

/// Loki's error texts are short; the rest of a long body is dropped.
const MAX_RESPONSE_BODY: usize = 16 * 1024;

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Self-metric handles, fetched once at build.
struct Counters {
    sent: Counter,
    retryable: Counter,
    permanent: Counter,
    out_of_order: Counter,
    missing_labels: Counter,
    dropped_out_of_order: Counter,
    dropped_missing_labels: Counter,
    dropped_invalid_format: Counter,
}

impl Counters {
    fn new(telemetry: &Telemetry, id: &str) -> Self {
        let requests = |result: &str| telemetry.counter_of(&LOKI_REQUESTS, &[id, result]);
        let dropped = |reason: &str| telemetry.dropped(id, Signal::Logs, reason);
        Self {
            sent: requests("sent"),
            retryable: requests("retryable_error"),
            permanent: requests("permanent_error"),
            out_of_order: telemetry.counter_of(&LOKI_OUT_OF_ORDER, &[id]),
            missing_labels: telemetry.counter_of(&LOKI_MISSING_LABELS, &[id]),
            dropped_out_of_order: dropped("out_of_order"),
            dropped_missing_labels: dropped("missing_labels"),
            dropped_invalid_format: dropped("invalid_format"),
        }
    }
}

/// What the exporter and its prepared requests share.
struct Shared {
    client: HttpClient,
    uri: Uri,
    /// Content type, user agent and the configured headers (a configured
    /// `X-Scope-OrgID` is left out: it is the static tenant, set per push).
    headers: HeaderMap,
    /// The authenticator's headers, set on every push.
    auth: weir_api::auth::ClientAuth,
    counters: Counters,
}

pub struct LokiExporter {
    shared: Arc<Shared>,
    settings: Settings,
    encoding: Encoding,
}

impl LokiExporter {
    /// Builds the client; nothing is connected yet.
    pub fn new(config: &Config, telemetry: &Telemetry, id: &str) -> Result<Self, String> {
        let uri = weir_api::http::parse_endpoint_url(&config.endpoint)
            .map_err(|e| format!("endpoint: {e}"))?;
        let https = uri.scheme_str() == Some("https");
        let tls = weir_api::tls::rustls_client_config(&config.tls, https)?;
        let mut connector = HttpConnector::new();
        connector.enforce_http(false);
        connector.set_nodelay(true);
        if !config.timeout.is_zero() {
            connector.set_connect_timeout(Some(config.timeout));
        }
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let override_name = &config.tls.server_name_override;
        let builder = if override_name.is_empty() {
            builder
        } else {
            let name = rustls::pki_types::ServerName::try_from(override_name.clone())
                .map_err(|e| format!("tls.server_name_override `{override_name}`: {e}"))?;
            builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
        };
        let connector = builder
            .enable_http1()
            .enable_http2()
            .wrap_connector(connector);
        let mut client = Client::builder(TokioExecutor::new());
        client.pool_idle_timeout(config.idle_conn_timeout);
        if config.disable_keep_alives {
            client.pool_max_idle_per_host(0);
        } else if let Some(max) = config.max_idle_conns_per_host {
            client.pool_max_idle_per_host(max);
        }
        Ok(Self {
            shared: Arc::new(Shared {
                client: client.build(connector),
                uri,
                headers: headers(config)?,
                auth: {
                    let auth = weir_api::auth::ClientAuth::new(config.auth.as_ref(), telemetry);
                    if auth.is_set() && !https {
                        tracing::warn!(
                            "loki exporter: auth is set on a plaintext http:// endpoint: the \
                             credentials travel in clear text; use https://"
                        );
                    }
                    auth
                },
                counters: Counters::new(telemetry, id),
            }),
            settings: Settings::new(config),
            encoding: config.encoding,
        })
    }
}

fn headers(config: &Config) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    let content_type = match config.encoding {
        Encoding::Protobuf => "application/x-protobuf",
        Encoding::Json => "application/json",
    };
    map.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    map.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("Weir/", env!("CARGO_PKG_VERSION"))),
    );
    for (name, value) in &config.headers {
        if name.eq_ignore_ascii_case(TENANT_HEADER) {
            continue;
        }
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("headers: `{name}` is not a valid header name"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("headers.{name}: the value is not visible ASCII"))?;
        map.insert(name, value);
    }
    Ok(map)
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default()
}

/// One tenant's push, encoded.
struct Push {
    tenant: String,
    body: Bytes,
    entries: usize,
    done: bool,
}

/// A batch, as pushes per tenant, ready to send as often as the engine retries.
pub struct LokiRequest {
    shared: Arc<Shared>,
    pushes: Vec<Push>,
    items: usize,
    encoded_len: usize,
    /// Records dropped at conversion (no label, unknown format).
    unconverted: usize,
    /// Entries refused for good by Loki so far, and the first refusal's message.
    refused: usize,
    refusal: Option<String>,
}

impl LokiRequest {
    fn outcome(&self) -> Result<(), ExportError> {
        let rejected = self.refused + self.unconverted;
        if rejected == 0 {
            return Ok(());
        }
        let mut parts = Vec::new();
        if let Some(refusal) = &self.refusal {
            parts.push(format!("{} entries refused: {refusal}", self.refused));
        }
        if self.unconverted > 0 {
            parts.push(format!(
                "{} records could not be sent (no label, or an unknown loki.format)",
                self.unconverted
            ));
        }
        Err(ExportError::Permanent {
            message: parts.join("; "),
            rejected: Some(rejected.min(self.items)),
        })
    }
}

/// POSTs one push and classifies the answer.
async fn post(shared: &Shared, push: &Push) -> Answer {
    let mut request = match Request::post(shared.uri.clone()).body(Full::new(push.body.clone())) {
        Ok(request) => request,
        Err(e) => {
            return Answer::Refused {
                rejected: push.entries,
                out_of_order: false,
                message: format!("building the request failed: {e}"),
            }
        }
    };
    *request.headers_mut() = shared.headers.clone();
    if let Err(e) = shared.auth.apply(request.headers_mut()) {
        return Answer::Refused {
            rejected: push.entries,
            out_of_order: false,
            message: format!("auth: {e}"),
        };
    }
    if !push.tenant.is_empty() {
        match HeaderValue::from_str(&push.tenant) {
            Ok(value) => {
                request
                    .headers_mut()
                    .insert(HeaderName::from_static("x-scope-orgid"), value);
            }
            Err(_) => {
                return Answer::Refused {
                    rejected: push.entries,
                    out_of_order: false,
                    message: format!(
                        "tenant `{}` cannot be sent in the X-Scope-OrgID header",
                        push.tenant
                    ),
                }
            }
        }
    }
    let response = match shared.client.request(request).await {
        Ok(response) => response,
        Err(e) => {
            return Answer::Retry {
                retry_after: None,
                message: format!("sending to {} failed: {}", shared.uri, chain(&e)),
            }
        }
    };
    let status = response.status();
    let retry_after = weir_api::http::retry_after(response.headers(), SystemTime::now());
    let body = match Limited::new(response.into_body(), MAX_RESPONSE_BODY)
        .collect()
        .await
    {
        Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    response::classify(status, retry_after, &body, push.entries)
}

#[async_trait]
impl ExportRequest for LokiRequest {
    fn items(&self) -> usize {
        self.items
    }

    fn encoded_len(&self) -> usize {
        self.encoded_len
    }

    async fn send(&mut self) -> Result<(), ExportError> {
        let shared = self.shared.clone();
        let counters = &shared.counters;
        for index in 0..self.pushes.len() {
            if self.pushes[index].done {
                continue;
            }
            match post(&shared, &self.pushes[index]).await {
                Answer::Delivered => {
                    counters.sent.inc();
                    self.pushes[index].done = true;
                }
                Answer::Retry {
                    retry_after,
                    message,
                } => {
                    counters.retryable.inc();
                    return Err(ExportError::Retryable {
                        message,
                        retry_after,
                    });
                }
                Answer::Refused {
                    rejected,
                    out_of_order,
                    message,
                } => {
                    counters.permanent.inc();
                    if out_of_order {
                        counters.out_of_order.inc_by(rejected as u64);
                        counters.dropped_out_of_order.inc_by(rejected as u64);
                    }
                    self.pushes[index].done = true;
                    self.refused += rejected;
                    self.refusal.get_or_insert(message);
                }
            }
        }
        self.outcome()
    }
}

impl LokiExporter {
    /// [`Exporter::prepare`] with the concrete type, for tests.
    pub fn prepare_request(&self, batch: &Batch) -> Result<LokiRequest, ExportError> {
        let converted =
            convert::convert(batch, &self.settings, now_nanos()).map_err(ExportError::permanent)?;
        let counters = &self.shared.counters;
        counters
            .missing_labels
            .inc_by(converted.missing_labels as u64);
        counters
            .dropped_missing_labels
            .inc_by(converted.missing_labels as u64);
        counters
            .dropped_invalid_format
            .inc_by(converted.invalid_format as u64);
        let mut encoded_len = 0;
        let mut pushes = Vec::with_capacity(converted.tenants.len());
        for tenant in converted.tenants {
            let body = match self.encoding {
                Encoding::Protobuf => {
                    let (body, raw_len) = push::encode_protobuf(&push::request(&tenant.streams))
                        .map_err(ExportError::permanent)?;
                    encoded_len += raw_len;
                    body
                }
                Encoding::Json => {
                    let body = push::encode_json(&tenant.streams);
                    encoded_len += body.len();
                    body
                }
            };
            pushes.push(Push {
                tenant: tenant.tenant,
                body: Bytes::from(body),
                entries: tenant.entries,
                done: false,
            });
        }
        Ok(LokiRequest {
            shared: self.shared.clone(),
            pushes,
            items: batch.item_count(),
            encoded_len,
            unconverted: converted.missing_labels + converted.invalid_format,
            refused: 0,
            refusal: None,
        })
    }
}

#[async_trait]
impl Exporter for LokiExporter {
    async fn start(&self) -> Result<(), weir_api::StartError> {
        self.shared.auth.start()
    }

    fn prepare(&self, batch: Batch) -> Result<Box<dyn ExportRequest>, ExportError> {
        Ok(Box::new(self.prepare_request(&batch)?))
    }
}
