//! `otlp-loadgen storm`: an incident storm (issue 10), for the storm acceptance tests
//! (integration/test_storm.py) and examples/storm.
//!
//!   otlp-loadgen storm [--grpc 127.0.0.1:PORT] [--http 127.0.0.1:PORT] --seconds S
//!                      [--signals traces,logs] [--rate ITEMS_PER_S] [--connections N]
//!                      [--streams N] [--services 50] [--error-percent 30]
//!                      [--backoff-ms MS] [--timeout S] [--requests N]
//!
//! Sends OTLP traces and logs over gRPC (h2c) and over HTTP/1.1 protobuf at once, one lane
//! per (transport, signal), each with `--connections` connections (gRPC: x `--streams`
//! streams). Unpaced (as fast as answers come) unless `--rate` (items/s over all lanes).
//!
//! Payloads are built once, in memory: `--requests` requests per signal, 100 items each,
//! one resource per request (`service.name` = `storm-svc-NN`, `--services` of them).
//! - traces: `--error-percent` of the spans have status ERROR and an `exception` event
//!   whose `exception.type` is one of 5; the others are OK/UNSET spans;
//! - logs: `--error-percent` of the records are ERROR (severity 17) with an
//!   `exception.type` attribute; of the rest, 1/7 WARN (13), 4/7 INFO (9), 2/7 DEBUG (5).
//!
//! Every answer is counted by kind, per lane: `ok` (HTTP 200 / grpc-status 0), `retryable`
//! (HTTP 503 or 429, gRPC UNAVAILABLE or RESOURCE_EXHAUSTED; with or without a
//! Retry-After / grpc-status-details-bin hint, counted apart), `error` (anything else,
//! including connection failures) and `timeout` (no answer within `--timeout`, default
//! 10 s). Items are counted the same way, with the error items and the log items by
//! severity. A worker that was refused sleeps `--backoff-ms` (default 0) before its next
//! request. At the end one line `storm {json}` is printed on stdout.
//!
//! Only loopback targets are accepted, and `--seconds` is capped at 900.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::{die, export_request_for, loopback, opt, opt_num, put_attr, put_fixed64, put_len, put_uint, splitmix, MAX_SECONDS};

const EXCEPTION_TYPES: [&str; 5] = [
    "TimeoutError",
    "ConnectionResetError",
    "NullPointerException",
    "SQLException",
    "OutOfStockError",
];
const ITEMS_PER_REQUEST: usize = 100;
/// Severity numbers, and the order of the per-severity counters.
const SEVERITIES: [(u64, &str); 4] = [(5, "DEBUG"), (9, "INFO"), (13, "WARN"), (17, "ERROR")];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Signal {
    Traces,
    Logs,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
        }
    }
}

/// One pre-encoded request and what it holds.
struct Payload {
    body: Bytes,
    /// The same message behind the 5-byte gRPC frame header.
    framed: Bytes,
    items: u64,
    errors: u64,
    /// Log records per severity (SEVERITIES order); zero for spans.
    severities: [u64; 4],
}

fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn trace_id(seed: u64) -> Vec<u8> {
    let mut id = splitmix(seed).to_be_bytes().to_vec();
    id.extend_from_slice(&splitmix(seed ^ 0xABCD_EF01).to_be_bytes());
    id
}

fn storm_span(id: u64, error: bool, exception: &str, t0: u64) -> Vec<u8> {
    let mut s = Vec::new();
    put_len(&mut s, 1, &trace_id(id / 4));
    put_len(&mut s, 2, &splitmix(id).to_be_bytes());
    put_len(&mut s, 5, if error { b"POST /api/v1/checkout" } else { b"GET /api/v1/catalog" });
    put_uint(&mut s, 6, 2); // SERVER
    let start = t0 + id * 1_000;
    put_fixed64(&mut s, 7, start);
    put_fixed64(&mut s, 8, start + 1_000_000 + splitmix(id) % 50_000_000);
    put_attr(&mut s, 9, "http.request.method", if error { "POST" } else { "GET" });
    put_attr(&mut s, 9, "url.path", &format!("/api/v1/item/{:08}", splitmix(id ^ 7) % 100_000_000));
    put_attr(&mut s, 9, "http.response.status_code", if error { "500" } else { "200" });
    put_attr(&mut s, 9, "thread.name", &format!("worker-{}", id % 32));
    if error {
        // Span.Event{time(1), name(2), attributes(3)}: the semantic conventions' exception.
        let mut ev = Vec::new();
        put_fixed64(&mut ev, 1, start + 500_000);
        put_len(&mut ev, 2, b"exception");
        put_attr(&mut ev, 3, "exception.type", exception);
        put_attr(&mut ev, 3, "exception.message", "upstream failed while handling the request");
        put_len(&mut s, 11, &ev);
    }
    // Status{message(2), code(3)}: ERROR = 2, OK = 1.
    let mut status = Vec::new();
    put_uint(&mut status, 3, if error { 2 } else { 1 });
    put_len(&mut s, 15, &status);
    s
}

fn storm_log(id: u64, severity: (u64, &str), exception: &str, t0: u64) -> Vec<u8> {
    let mut l = Vec::new();
    let t = t0 + id * 1_000;
    put_fixed64(&mut l, 1, t);
    put_uint(&mut l, 2, severity.0);
    put_len(&mut l, 3, severity.1.as_bytes());
    let body = if severity.0 >= 17 {
        format!("checkout failed: {exception}: upstream failed while handling request {id:010}")
    } else {
        format!("request {id:010} handled: path=/api/v1/item/{:08} status=200", splitmix(id ^ 7) % 100_000_000)
    };
    let mut any = Vec::new();
    put_len(&mut any, 1, body.as_bytes());
    put_len(&mut l, 5, &any);
    put_attr(&mut l, 6, "thread.name", &format!("worker-{}", id % 32));
    if severity.0 >= 17 {
        put_attr(&mut l, 6, "exception.type", exception);
    }
    put_len(&mut l, 9, &trace_id(id / 4));
    put_len(&mut l, 10, &splitmix(id).to_be_bytes());
    put_fixed64(&mut l, 11, t + 100_000);
    l
}

/// The severity of log record `k` (0..100) of a request: the first `errors` are ERROR, the
/// rest cycle WARN, INFO x4, DEBUG x2.
fn log_severity(k: usize, errors: usize) -> usize {
    if k < errors {
        return 3;
    }
    match (k - errors) % 7 {
        0 => 2,
        1..=4 => 1,
        _ => 0,
    }
}

fn build_payloads(signal: Signal, requests: usize, services: usize, error_percent: usize) -> Vec<Payload> {
    let t0 = now_nanos();
    let run = splitmix(t0);
    let errors = ITEMS_PER_REQUEST * error_percent / 100;
    (0..requests)
        .map(|i| {
            let service = format!("storm-svc-{:02}", i % services);
            let mut severities = [0u64; 4];
            let items: Vec<Vec<u8>> = (0..ITEMS_PER_REQUEST)
                .map(|k| {
                    let id = run.wrapping_add((i * ITEMS_PER_REQUEST + k) as u64);
                    let exception = EXCEPTION_TYPES[(i / services + k) % EXCEPTION_TYPES.len()];
                    match signal {
                        Signal::Traces => storm_span(id, k < errors, exception, t0),
                        Signal::Logs => {
                            let s = log_severity(k, errors);
                            severities[s] += 1;
                            storm_log(id, SEVERITIES[s], exception, t0)
                        }
                    }
                })
                .collect();
            let body = export_request_for(&service, &items);
            let mut framed = BytesMut::with_capacity(body.len() + 5);
            framed.extend_from_slice(&[0]);
            framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
            framed.extend_from_slice(&body);
            Payload {
                body: Bytes::from(body),
                framed: framed.freeze(),
                items: ITEMS_PER_REQUEST as u64,
                errors: errors as u64,
                severities,
            }
        })
        .collect()
}

/// Counters by answer kind, for requests and items.
#[derive(Default)]
struct Kind {
    requests: AtomicU64,
    items: AtomicU64,
    error_items: AtomicU64,
    severities: [AtomicU64; 4],
}

impl Kind {
    fn add(&self, p: &Payload) {
        self.requests.fetch_add(1, Relaxed);
        self.items.fetch_add(p.items, Relaxed);
        self.error_items.fetch_add(p.errors, Relaxed);
        for (c, n) in self.severities.iter().zip(p.severities) {
            c.fetch_add(n, Relaxed);
        }
    }

    fn json(&self) -> String {
        let sev: Vec<String> = SEVERITIES
            .iter()
            .zip(&self.severities)
            .map(|((_, name), c)| format!("\"{name}\":{}", c.load(Relaxed)))
            .collect();
        format!(
            "{{\"requests\":{},\"items\":{},\"error_items\":{},\"severities\":{{{}}}}}",
            self.requests.load(Relaxed),
            self.items.load(Relaxed),
            self.error_items.load(Relaxed),
            sev.join(",")
        )
    }
}

#[derive(Default)]
struct Lane {
    sent: Kind,
    ok: Kind,
    retryable: Kind,
    error: Kind,
    timeout: Kind,
    /// Retryable answers without a Retry-After header (HTTP) or grpc-status-details-bin (gRPC).
    retryable_without_hint: AtomicU64,
    latency_us_sum: AtomicU64,
    latency_us_max: AtomicU64,
    last_error: std::sync::Mutex<String>,
}

enum Answer {
    Ok,
    Retryable { hint: bool },
    Error(String),
}

impl Lane {
    fn record(&self, p: &Payload, answer: Result<Answer, ()>, took: Duration) {
        let us = took.as_micros() as u64;
        self.latency_us_sum.fetch_add(us, Relaxed);
        self.latency_us_max.fetch_max(us, Relaxed);
        match answer {
            Ok(Answer::Ok) => self.ok.add(p),
            Ok(Answer::Retryable { hint }) => {
                self.retryable.add(p);
                if !hint {
                    self.retryable_without_hint.fetch_add(1, Relaxed);
                }
            }
            Ok(Answer::Error(e)) => {
                self.error.add(p);
                *self.last_error.lock().unwrap() = e;
            }
            Err(()) => self.timeout.add(p),
        }
    }

    fn json(&self, name: &str) -> String {
        let sent = self.sent.requests.load(Relaxed).max(1);
        format!(
            "\"{name}\":{{\"sent\":{},\"ok\":{},\"retryable\":{},\"error\":{},\"timeout\":{},\"retryable_without_hint\":{},\"mean_latency_ms\":{:.2},\"max_latency_ms\":{:.2},\"last_error\":{:?}}}",
            self.sent.json(),
            self.ok.json(),
            self.retryable.json(),
            self.error.json(),
            self.timeout.json(),
            self.retryable_without_hint.load(Relaxed),
            self.latency_us_sum.load(Relaxed) as f64 / sent as f64 / 1000.0,
            self.latency_us_max.load(Relaxed) as f64 / 1000.0,
            self.last_error.lock().unwrap().as_str()
        )
    }
}

/// What every worker of a lane shares.
struct Work {
    payloads: Vec<Payload>,
    next: AtomicU64,
    end: Instant,
    /// Paced: one request every `interval` over the lane; zero = unpaced.
    interval: Duration,
    start: Instant,
    backoff: Duration,
    timeout: Duration,
    lane: Lane,
}

impl Work {
    /// The next request, after sleeping until it is due; None when the run is over.
    async fn claim(&self) -> Option<&Payload> {
        let i = self.next.fetch_add(1, Relaxed);
        if Instant::now() >= self.end {
            return None;
        }
        if !self.interval.is_zero() {
            let due = self.start + self.interval.mul_f64(i as f64);
            if due >= self.end {
                return None;
            }
            tokio::time::sleep_until(due.into()).await;
        }
        let p = &self.payloads[(i % self.payloads.len() as u64) as usize];
        self.lane.sent.add(p);
        Some(p)
    }

    async fn after(&self, answer: &Result<Answer, ()>) {
        if matches!(answer, Ok(Answer::Retryable { .. })) && !self.backoff.is_zero() {
            tokio::time::sleep(self.backoff).await;
        }
    }
}

fn grpc_path(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => super::TRACES_PATH,
        Signal::Logs => super::LOGS_GRPC_PATH,
    }
}

async fn grpc_connection(target: SocketAddr, signal: Signal, streams: usize, work: Arc<Work>) {
    let mut attempts = 0;
    while Instant::now() < work.end {
        let tcp = match tokio::net::TcpStream::connect(target).await {
            Ok(t) => t,
            Err(e) => {
                *work.lane.last_error.lock().unwrap() = format!("connect: {e}");
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(50 * attempts.min(20))).await;
                continue;
            }
        };
        tcp.set_nodelay(true).ok();
        let Ok((sender, conn)) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .initial_stream_window_size(4 << 20)
            .initial_connection_window_size(16 << 20)
            .handshake::<_, Full<Bytes>>(TokioIo::new(tcp))
            .await
        else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        tokio::spawn(conn);
        let uri: hyper::Uri = format!("http://{target}{}", grpc_path(signal)).parse().unwrap();
        let tasks: Vec<_> = (0..streams)
            .map(|_| {
                let (mut sender, work, uri) = (sender.clone(), work.clone(), uri.clone());
                tokio::spawn(async move {
                    while let Some(p) = work.claim().await {
                        let t = Instant::now();
                        let req = Request::post(uri.clone())
                            .header("content-type", "application/grpc")
                            .header("te", "trailers")
                            .body(Full::new(p.framed.clone()))
                            .unwrap();
                        let answer = tokio::time::timeout(work.timeout, grpc_call(&mut sender, req))
                            .await
                            .map_err(|_| ());
                        let closed = matches!(answer, Ok(Answer::Error(_))) && sender.is_closed();
                        work.after(&answer).await;
                        work.lane.record(p, answer, t.elapsed());
                        if closed {
                            return;
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.ok();
        }
    }
}

async fn grpc_call(sender: &mut hyper::client::conn::http2::SendRequest<Full<Bytes>>, req: Request<Full<Bytes>>) -> Answer {
    let result: Result<Answer, String> = async {
        sender.ready().await.map_err(|e| format!("h2 ready: {e}"))?;
        let resp = sender.send_request(req).await.map_err(|e| format!("h2 send: {e}"))?;
        let (parts, body) = resp.into_parts();
        let collected = body.collect().await.map_err(|e| format!("h2 body: {e}"))?;
        if parts.status != StatusCode::OK {
            return Ok(http_answer(parts.status, parts.headers.contains_key("retry-after")));
        }
        let trailers = collected.trailers();
        let get = |name: &str| {
            parts
                .headers
                .get(name)
                .or_else(|| trailers.and_then(|t| t.get(name)))
                .map(|v| v.to_str().unwrap_or("?").to_string())
        };
        Ok(match get("grpc-status").as_deref() {
            Some("0") => Answer::Ok,
            // UNAVAILABLE, RESOURCE_EXHAUSTED: the retryable refusals.
            Some("14") | Some("8") => Answer::Retryable {
                hint: get("grpc-status-details-bin").is_some(),
            },
            other => Answer::Error(format!("grpc-status {other:?} {}", get("grpc-message").unwrap_or_default())),
        })
    }
    .await;
    result.unwrap_or_else(Answer::Error)
}

fn http_answer(status: StatusCode, retry_after: bool) -> Answer {
    match status.as_u16() {
        200 => Answer::Ok,
        503 | 429 => Answer::Retryable { hint: retry_after },
        s => Answer::Error(format!("http status {s}")),
    }
}

async fn http_worker(target: SocketAddr, signal: Signal, work: Arc<Work>) {
    let uri: hyper::Uri = format!("/v1/{}", signal.name()).parse().unwrap();
    let host = target.to_string();
    let mut sender: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>> = None;
    while let Some(p) = work.claim().await {
        let t = Instant::now();
        let answer = tokio::time::timeout(work.timeout, async {
            let result: Result<Answer, String> = async {
                if sender.as_ref().is_none_or(|s| s.is_closed()) {
                    let tcp = tokio::net::TcpStream::connect(target).await.map_err(|e| format!("connect: {e}"))?;
                    tcp.set_nodelay(true).ok();
                    let (s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                        .await
                        .map_err(|e| format!("http1 handshake: {e}"))?;
                    tokio::spawn(conn);
                    sender = Some(s);
                }
                let s = sender.as_mut().unwrap();
                s.ready().await.map_err(|e| format!("http1 ready: {e}"))?;
                let req = Request::post(uri.clone())
                    .header("host", &host)
                    .header("content-type", "application/x-protobuf")
                    .body(Full::new(p.body.clone()))
                    .unwrap();
                let resp = s.send_request(req).await.map_err(|e| format!("http1 send: {e}"))?;
                let status = resp.status();
                let hint = resp.headers().contains_key("retry-after");
                resp.into_body().collect().await.map_err(|e| format!("http1 body: {e}"))?;
                Ok(http_answer(status, hint))
            }
            .await;
            result.unwrap_or_else(Answer::Error)
        })
        .await
        .map_err(|_| ());
        if !matches!(answer, Ok(Answer::Ok)) {
            // A refusal may close the connection (the body was not read): start afresh.
            sender = None;
        }
        work.after(&answer).await;
        work.lane.record(p, answer, t.elapsed());
    }
}

pub async fn run(args: &[String]) {
    let grpc = opt(args, "--grpc").map(|_| loopback(args, "--grpc"));
    let http = opt(args, "--http").map(|_| loopback(args, "--http"));
    if grpc.is_none() && http.is_none() {
        die("storm: give --grpc and/or --http");
    }
    let seconds = opt_num(args, "--seconds", 10.0);
    if seconds <= 0.0 || seconds > MAX_SECONDS {
        die("storm: --seconds must be within (0, 900]");
    }
    let signals: Vec<Signal> = opt(args, "--signals")
        .unwrap_or_else(|| "traces,logs".into())
        .split(',')
        .map(|s| match s {
            "traces" => Signal::Traces,
            "logs" => Signal::Logs,
            other => die(&format!("storm: unknown signal {other}")),
        })
        .collect();
    let rate = opt_num(args, "--rate", 0.0);
    let connections = opt_num(args, "--connections", 2.0).max(1.0) as usize;
    let streams = opt_num(args, "--streams", 2.0).max(1.0) as usize;
    let services = opt_num(args, "--services", 50.0).max(1.0) as usize;
    let error_percent = opt_num(args, "--error-percent", 30.0).clamp(0.0, 100.0) as usize;
    let requests = opt_num(args, "--requests", 500.0).max(1.0) as usize;
    let backoff = Duration::from_secs_f64(opt_num(args, "--backoff-ms", 0.0).max(0.0) / 1000.0);
    let timeout = Duration::from_secs_f64(opt_num(args, "--timeout", 10.0).max(0.1));

    let mut lanes: Vec<(String, Arc<Work>)> = Vec::new();
    let lane_count = signals.len() * usize::from(grpc.is_some()) + signals.len() * usize::from(http.is_some());
    let start = Instant::now() + Duration::from_millis(100);
    let end = start + Duration::from_secs_f64(seconds);
    let interval = if rate > 0.0 {
        Duration::from_secs_f64(ITEMS_PER_REQUEST as f64 * lane_count as f64 / rate)
    } else {
        Duration::ZERO
    };
    let mut tasks = Vec::new();
    for &signal in &signals {
        for (transport, target) in [("grpc", grpc), ("http", http)] {
            let Some(target) = target else { continue };
            let work = Arc::new(Work {
                payloads: build_payloads(signal, requests, services, error_percent),
                next: AtomicU64::new(0),
                end,
                interval,
                start,
                backoff,
                timeout,
                lane: Lane::default(),
            });
            lanes.push((format!("{transport}/{}", signal.name()), work.clone()));
            for _ in 0..connections {
                let work = work.clone();
                tasks.push(match transport {
                    "grpc" => tokio::spawn(grpc_connection(target, signal, streams, work)),
                    _ => tokio::spawn(http_worker(target, signal, work)),
                });
            }
        }
    }
    eprintln!("otlp-loadgen storm: {} lanes x {connections} connections for {seconds} s", lanes.len());
    let drain = end + timeout + Duration::from_secs(2);
    for t in tasks {
        if tokio::time::timeout_at(drain.into(), t).await.is_err() {
            eprintln!("otlp-loadgen storm: a worker did not finish in time");
        }
    }
    let body: Vec<String> = lanes.iter().map(|(name, w)| w.lane.json(name)).collect();
    println!(
        "storm {{\"seconds\":{:.3},\"lanes\":{{{}}}}}",
        start.elapsed().as_secs_f64(),
        body.join(",")
    );
}
