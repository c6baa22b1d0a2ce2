//! One HTTP scrape: the request (Accept negotiation, gzip, auth, TLS), and the response
//! body streamed frame by frame through gunzip, the line splitter, the parser and the
//! OTLP builder, so a large body is never held whole and an over-limit body is cut off
//! as soon as it crosses `body_size_limit`.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    HeaderValue, ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT,
};
use http::{Request, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use weir_api::error::chain;

use crate::config::ScrapeConfig;
use crate::convert::{LimitError, ScrapeBuilder};
use crate::parser::{Format, ParseError, Parser};

/// What Prometheus 2.42 asks for: OpenMetrics first, then the text format.
pub const ACCEPT_HEADER: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Why a scrape failed; `reason()` is the label of the failure counter.
#[derive(Debug)]
pub enum ScrapeError {
    Connect(String),
    Status(u16),
    Timeout,
    BodyTooLarge(u64),
    Read(String),
    Gzip(String),
    Parse(ParseError),
    Limit(LimitError),
}

impl ScrapeError {
    /// Every value `reason()` can return.
    pub const REASONS: &'static [&'static str] = &[
        "connect",
        "http_status",
        "timeout",
        "body_size_limit",
        "read",
        "gzip",
        "parse",
        "sample_limit",
        "label_limit",
    ];

    pub fn reason(&self) -> &'static str {
        match self {
            ScrapeError::Connect(_) => "connect",
            ScrapeError::Status(_) => "http_status",
            ScrapeError::Timeout => "timeout",
            ScrapeError::BodyTooLarge(_) => "body_size_limit",
            ScrapeError::Read(_) => "read",
            ScrapeError::Gzip(_) => "gzip",
            ScrapeError::Parse(_) => "parse",
            ScrapeError::Limit(LimitError::SampleLimit(_)) => "sample_limit",
            ScrapeError::Limit(LimitError::LabelLimit(_)) => "label_limit",
        }
    }
}

impl std::fmt::Display for ScrapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScrapeError::Connect(e) => write!(f, "request failed: {e}"),
            ScrapeError::Status(code) => write!(f, "server returned HTTP status {code}"),
            ScrapeError::Timeout => write!(f, "scrape timed out"),
            ScrapeError::BodyTooLarge(limit) => {
                write!(f, "body larger than body_size_limit ({limit} bytes)")
            }
            ScrapeError::Read(e) => write!(f, "reading the body failed: {e}"),
            ScrapeError::Gzip(e) => write!(f, "gunzip failed: {e}"),
            ScrapeError::Parse(e) => write!(f, "invalid exposition: {e}"),
            ScrapeError::Limit(e) => write!(f, "{e}"),
        }
    }
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// The HTTP side of one job: a client (one connection pool per job) and its headers.
#[derive(Clone)]
pub struct Scraper {
    client: HttpClient,
    authorization: Option<HeaderValue>,
    body_size_limit: u64,
}

impl Scraper {
    /// Builds the client; reads CA, certificate, key and credential files now, so a
    /// missing file is a start error rather than a failure on every scrape.
    pub fn new(config: &ScrapeConfig) -> Result<Self, String> {
        let tls = crate::tls::client_config(&config.tls_config)?;
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let builder = match &config.tls_config.server_name {
            Some(name) => {
                let name = rustls::pki_types::ServerName::try_from(name.clone())
                    .map_err(|e| format!("invalid tls_config.server_name `{name}`: {e}"))?;
                builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
            }
            None => builder,
        };
        let connector = builder.enable_http1().build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Ok(Self {
            client,
            authorization: authorization_header(config)?,
            body_size_limit: config.body_size_limit,
        })
    }

    /// Scrapes `url`, feeding every sample into `builder`. The caller bounds the time.
    pub async fn scrape(
        &self,
        url: &Uri,
        timeout: Duration,
        builder: &mut ScrapeBuilder<'_>,
    ) -> Result<(), ScrapeError> {
        let mut request = Request::get(url.clone())
            .header(ACCEPT, ACCEPT_HEADER)
            .header(ACCEPT_ENCODING, "gzip")
            .header(USER_AGENT, concat!("Weir/", env!("CARGO_PKG_VERSION")))
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                format!("{}", timeout.as_secs_f64()),
            )
            .body(Empty::<Bytes>::new())
            .map_err(|e| ScrapeError::Connect(e.to_string()))?;
        if let Some(value) = &self.authorization {
            request.headers_mut().insert(AUTHORIZATION, value.clone());
        }
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| ScrapeError::Connect(chain(&e)))?;
        if response.status() != http::StatusCode::OK {
            return Err(ScrapeError::Status(response.status().as_u16()));
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .unwrap_or("")
        };
        let format = Format::from_content_type(header(CONTENT_TYPE));
        let gzipped = header(CONTENT_ENCODING).eq_ignore_ascii_case("gzip");
        let mut body = response.into_body();
        let mut sink = BodySink::new(format, gzipped, self.body_size_limit);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ScrapeError::Read(chain(&e)))?;
            if let Ok(data) = frame.into_data() {
                sink.write(&data, builder)?;
            }
        }
        sink.finish(builder)
    }
}

fn read_secret(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("cannot read `{path}`: {e}"))
}

fn authorization_header(config: &ScrapeConfig) -> Result<Option<HeaderValue>, String> {
    let value = if let Some(basic) = &config.basic_auth {
        let password = match (&basic.password, &basic.password_file) {
            (_, Some(file)) => read_secret(file)?,
            (Some(password), None) => password.clone(),
            (None, None) => String::new(),
        };
        Some(format!(
            "Basic {}",
            base64(format!("{}:{}", basic.username, password).as_bytes())
        ))
    } else if let Some(auth) = &config.authorization {
        let credentials = match (&auth.credentials, &auth.credentials_file) {
            (_, Some(file)) => read_secret(file)?,
            (Some(credentials), None) => credentials.clone(),
            (None, None) => String::new(),
        };
        Some(format!(
            "{} {}",
            auth.kind.as_deref().unwrap_or("Bearer"),
            credentials
        ))
    } else if let Some(file) = &config.bearer_token_file {
        Some(format!("Bearer {}", read_secret(file)?))
    } else {
        config
            .bearer_token
            .as_ref()
            .map(|token| format!("Bearer {token}"))
    };
    value
        .map(|v| {
            HeaderValue::from_str(&v)
                .map_err(|_| "credentials hold characters not allowed in a header".to_string())
        })
        .transpose()
}

/// Standard base64 with padding (for basic auth; not worth a dependency).
fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Turns body chunks into parsed lines: gunzips when needed, enforces the size limit on
/// the uncompressed bytes, and keeps only the unfinished last line between chunks.
pub struct BodySink {
    parser: Parser,
    gunzip: Option<flate2::write::GzDecoder<Vec<u8>>>,
    /// The start of a line whose end has not arrived yet (plain bodies).
    pending: Vec<u8>,
    limit: u64,
    total: u64,
}

impl BodySink {
    pub fn new(format: Format, gzipped: bool, limit: u64) -> Self {
        Self {
            parser: Parser::new(format),
            gunzip: gzipped.then(|| flate2::write::GzDecoder::new(Vec::new())),
            pending: Vec::new(),
            limit,
            total: 0,
        }
    }

    pub fn write(
        &mut self,
        chunk: &[u8],
        builder: &mut ScrapeBuilder<'_>,
    ) -> Result<(), ScrapeError> {
        match self.gunzip.as_mut() {
            Some(_) => {
                // Small compressed pieces bound how far one write can inflate before the
                // size limit is checked (deflate expands at most about 1000 times).
                for piece in chunk.chunks(4096) {
                    let Some(gunzip) = self.gunzip.as_mut() else {
                        break;
                    };
                    let before = gunzip.get_ref().len();
                    gunzip
                        .write_all(piece)
                        .map_err(|e| ScrapeError::Gzip(e.to_string()))?;
                    let mut out = std::mem::take(gunzip.get_mut());
                    self.count(out.len() - before)?;
                    let consumed = feed_lines(&mut self.parser, &out, builder)?;
                    out.drain(..consumed);
                    // The unfinished line goes back in front of the decoder's next output.
                    if let Some(gunzip) = self.gunzip.as_mut() {
                        *gunzip.get_mut() = out;
                    }
                }
                Ok(())
            }
            None => {
                self.count(chunk.len())?;
                if self.pending.is_empty() {
                    let consumed = feed_lines(&mut self.parser, chunk, builder)?;
                    self.pending.extend_from_slice(&chunk[consumed..]);
                } else {
                    self.pending.extend_from_slice(chunk);
                    let consumed = feed_lines(&mut self.parser, &self.pending, builder)?;
                    self.pending.drain(..consumed);
                }
                Ok(())
            }
        }
    }

    fn count(&mut self, bytes: usize) -> Result<(), ScrapeError> {
        self.total += bytes as u64;
        if self.limit > 0 && self.total > self.limit {
            return Err(ScrapeError::BodyTooLarge(self.limit));
        }
        Ok(())
    }

    pub fn finish(mut self, builder: &mut ScrapeBuilder<'_>) -> Result<(), ScrapeError> {
        let rest = match self.gunzip.take() {
            Some(gunzip) => {
                let before = gunzip.get_ref().len();
                let rest = gunzip
                    .finish()
                    .map_err(|e| ScrapeError::Gzip(e.to_string()))?;
                // Bytes the decoder flushed only now count too.
                self.count(rest.len().saturating_sub(before))?;
                rest
            }
            None => std::mem::take(&mut self.pending),
        };
        let consumed = feed_lines(&mut self.parser, &rest, builder)?;
        let last = &rest[consumed..];
        if !last.is_empty() {
            if let Some(sample) = self
                .parser
                .parse_line(last, false)
                .map_err(ScrapeError::Parse)?
            {
                builder.add(&sample).map_err(ScrapeError::Limit)?;
            }
        }
        self.parser.finish().map_err(ScrapeError::Parse)
    }
}

/// Parses every complete line of `buffer`; returns the bytes consumed.
fn feed_lines(
    parser: &mut Parser,
    buffer: &[u8],
    builder: &mut ScrapeBuilder<'_>,
) -> Result<usize, ScrapeError> {
    let mut start = 0;
    while let Some(n) = buffer[start..].iter().position(|b| *b == b'\n') {
        let line = &buffer[start..start + n];
        if let Some(sample) = parser.parse_line(line, true).map_err(ScrapeError::Parse)? {
            builder.add(&sample).map_err(ScrapeError::Limit)?;
        }
        start += n + 1;
    }
    Ok(start)
}

/// The scrape URL of a target.
pub fn target_url(
    scheme: &str,
    address: &str,
    path: &str,
    params: &[(String, String)],
) -> Result<Uri, String> {
    let mut url = format!("{scheme}://{address}{path}");
    if !params.is_empty() {
        url.push(if path.contains('?') { '&' } else { '?' });
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        url.push_str(&query.join("&"));
    }
    url.parse::<Uri>()
        .map_err(|e| format!("invalid scrape URL `{url}`: {e}"))
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Shared so every target task of a job uses one pool.
pub type SharedScraper = Arc<Scraper>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
    }

    #[test]
    fn urls_with_params() {
        let url = target_url(
            "http",
            "127.0.0.1:9100",
            "/metrics",
            &[("module".into(), "a b".into())],
        )
        .unwrap();
        assert_eq!(
            url.to_string(),
            "http://127.0.0.1:9100/metrics?module=a%20b"
        );
    }
}
