//! OTLP load helper for bench/otlp: three subcommands.
//!
//!   otlp-loadgen gen  --out DIR [--requests N]
//!       Encodes the payloads once, by hand (protobuf written field by field), into DIR/w1.bin
//!       (ExportTraceServiceRequest: 100 spans x 10 string attributes, ~330 B per span) and
//!       DIR/w2.bin (ExportLogsServiceRequest: 512 log records, ~300 B per record). Every span
//!       and record of the set is distinct (ids, timestamps and some attribute values vary).
//!       File format: per request, u32 LE item count, u32 LE byte length, the bytes.
//!
//!       And DIR/m1.bin (ExportMetricsServiceRequest: 1000 points per request, 10 requests
//!       covering 10,000 distinct series; see src/metrics.rs).
//!
//!   otlp-loadgen send --target 127.0.0.1:PORT --workload w1|w2|m1 --payloads FILE
//!                     --rate ITEMS_PER_S (0 = as fast as possible) --warmup S --seconds S
//!                     [--connections N] [--streams N]
//!       w1: OTLP/gRPC TraceService/Export over HTTP/2 (h2c), N connections x S streams in flight.
//!       w2: OTLP/HTTP protobuf POST /v1/logs over HTTP/1.1, N connections, one request in flight each.
//!       m1: OTLP/HTTP protobuf POST /v1/metrics, like w2; every send rewrites the points'
//!       time_unix_nano with a strictly increasing clock (src/metrics.rs).
//!       The pre-encoded bytes are sent as they are (a `Bytes` clone per request, no re-encoding).
//!       Paced open-loop: request i is due at start + i / (rate / items per request); a late
//!       worker sends at once. Prints `window_start` after the warm-up, `window_end` after the
//!       window, then one `result key=value ...` line with the totals.
//!
//!   otlp-loadgen sink --listen 127.0.0.1:PORT
//!       Accepts OTLP/gRPC (h2c) and OTLP/HTTP protobuf (HTTP/1.1 or h2c) on one port, counts
//!       spans and log records with a protobuf scan (no decoding into structs), answers OK.
//!       Uncompressed or gzip bodies (gzip is counted apart: rotel 0.0.1a15 always gzips).
//!       `GET /counts` returns `spans N logs N requests N errors N bytes N gzip_requests N`,
//!       one per line.
//!
//!   otlp-loadgen storm --grpc 127.0.0.1:PORT --http 127.0.0.1:PORT --seconds S ...
//!       An incident storm for the storm tests (issue 10): traces and logs over gRPC and HTTP,
//!       30% errors across 50 services, answers counted by kind. See src/storm.rs.
//!
//! Only loopback addresses are accepted, and durations are capped at 900 s.

mod metrics;
mod storm;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use http_body::Frame;
use http_body_util::{BodyExt, Either, Full};
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};

const TRACES_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
const LOGS_GRPC_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_SECONDS: f64 = 900.0;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rest = if args.len() > 2 { &args[2..] } else { &[][..] };
    match args.get(1).map(String::as_str) {
        Some("gen") => gen(rest),
        Some("send") => rt().block_on(send(rest)),
        Some("sink") => rt().block_on(sink(rest)),
        Some("storm") => rt().block_on(storm::run(rest)),
        _ => die("usage: otlp-loadgen gen|send|sink|storm ... (see the top of src/main.rs and src/storm.rs)"),
    }
}

fn rt() -> tokio::runtime::Runtime {
    // One thread: the process is pinned to one core anyway, and a single-threaded runtime
    // has no cross-thread wake-ups.
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn die(msg: &str) -> ! {
    eprintln!("otlp-loadgen: {msg}");
    std::process::exit(2)
}

fn opt(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).map(|i| args.get(i + 1).cloned().unwrap_or_else(|| die(&format!("{name} needs a value"))))
}

fn opt_num(args: &[String], name: &str, default: f64) -> f64 {
    opt(args, name).map_or(default, |v| v.parse().unwrap_or_else(|_| die(&format!("{name}: not a number: {v}"))))
}

fn loopback(args: &[String], name: &str) -> SocketAddr {
    let v = opt(args, name).unwrap_or_else(|| die(&format!("{name} is required")));
    let addr: SocketAddr = v.parse().unwrap_or_else(|_| die(&format!("{name}: not ip:port: {v}")));
    if !addr.ip().is_loopback() {
        die(&format!("{name}: only loopback addresses are allowed, not {addr}"));
    }
    addr
}

// ---------------------------------------------------------------------------------------------
// Protobuf, written by hand.

fn put_varint(b: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        b.push(v as u8 | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}
fn put_tag(b: &mut Vec<u8>, field: u64, wire_type: u64) {
    put_varint(b, field << 3 | wire_type);
}
fn put_len(b: &mut Vec<u8>, field: u64, data: &[u8]) {
    put_tag(b, field, 2);
    put_varint(b, data.len() as u64);
    b.extend_from_slice(data);
}
fn put_uint(b: &mut Vec<u8>, field: u64, v: u64) {
    put_tag(b, field, 0);
    put_varint(b, v);
}
fn put_fixed64(b: &mut Vec<u8>, field: u64, v: u64) {
    put_tag(b, field, 1);
    b.extend_from_slice(&v.to_le_bytes());
}
/// AnyValue{string_value}
fn any_string(s: &str) -> Vec<u8> {
    let mut a = Vec::new();
    put_len(&mut a, 1, s.as_bytes());
    a
}
/// A KeyValue with a string value, as field `field` of `b`.
fn put_attr(b: &mut Vec<u8>, field: u64, key: &str, value: &str) {
    let mut kv = Vec::new();
    put_len(&mut kv, 1, key.as_bytes());
    put_len(&mut kv, 2, &any_string(value));
    put_len(b, field, &kv);
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn resource(i: usize) -> Vec<u8> {
    let mut r = Vec::new();
    put_attr(&mut r, 1, "service.name", &format!("checkout-{}", i % 8));
    put_attr(&mut r, 1, "service.version", "1.4.2");
    put_attr(&mut r, 1, "host.name", &format!("bench-host-{:02}", i % 16));
    put_attr(&mut r, 1, "deployment.environment", "prod");
    r
}

fn scope() -> Vec<u8> {
    let mut s = Vec::new();
    put_len(&mut s, 1, b"io.weir.bench");
    put_len(&mut s, 2, b"1.0.0");
    s
}

/// Wraps `items` (already encoded Span or LogRecord messages) into an Export*ServiceRequest:
/// request{ resource_*(1){ resource(1), scope_*(2){ scope(1), items(2)* } } }. Traces and
/// logs have the same shape.
fn export_request(i: usize, items: &[Vec<u8>]) -> Vec<u8> {
    let mut scoped = Vec::new();
    put_len(&mut scoped, 1, &scope());
    for it in items {
        put_len(&mut scoped, 2, it);
    }
    let mut resourced = Vec::new();
    put_len(&mut resourced, 1, &resource(i));
    put_len(&mut resourced, 2, &scoped);
    let mut req = Vec::new();
    put_len(&mut req, 1, &resourced);
    req
}

/// [`export_request`] with a resource of one attribute, `service.name` = `service` (the storm
/// workload's shape).
fn export_request_for(service: &str, items: &[Vec<u8>]) -> Vec<u8> {
    let mut scoped = Vec::new();
    put_len(&mut scoped, 1, &scope());
    for it in items {
        put_len(&mut scoped, 2, it);
    }
    let mut r = Vec::new();
    put_attr(&mut r, 1, "service.name", service);
    let mut resourced = Vec::new();
    put_len(&mut resourced, 1, &r);
    put_len(&mut resourced, 2, &scoped);
    let mut req = Vec::new();
    put_len(&mut req, 1, &resourced);
    req
}

const SPAN_NAMES: [&str; 5] = ["GET /api/v1/orders/{id}", "SELECT orders", "POST /api/v1/cart", "redis GET", "grpc Inventory/Reserve"];

fn span(id: u64, t0: u64) -> Vec<u8> {
    let trace = (splitmix(id / 10), splitmix(id / 10 ^ 0xABCD));
    let mut s = Vec::new();
    let mut trace_id = trace.0.to_be_bytes().to_vec();
    trace_id.extend_from_slice(&trace.1.to_be_bytes());
    put_len(&mut s, 1, &trace_id);
    put_len(&mut s, 2, &splitmix(id).to_be_bytes());
    if id % 10 != 0 {
        put_len(&mut s, 4, &splitmix(id - 1).to_be_bytes());
    }
    put_len(&mut s, 5, SPAN_NAMES[(id % 5) as usize].as_bytes());
    put_uint(&mut s, 6, if id % 5 == 0 { 2 } else { 3 }); // SERVER / CLIENT
    let start = t0 + id * 1_000;
    put_fixed64(&mut s, 7, start);
    put_fixed64(&mut s, 8, start + 250_000 + (splitmix(id) % 5_000_000));
    let r = splitmix(id ^ 0x5555);
    put_attr(&mut s, 9, "http.method", if id % 3 == 0 { "POST" } else { "GET" });
    put_attr(&mut s, 9, "url.path", &format!("/orders/{:08}", r % 100_000_000));
    put_attr(&mut s, 9, "server", "orders");
    put_attr(&mut s, 9, "http.status_code", if id % 50 == 0 { "503" } else { "200" });
    put_attr(&mut s, 9, "net.peer.ip", &format!("10.1.{}.{}", r % 256, (r >> 8) % 256));
    put_attr(&mut s, 9, "user_agent", "bench/1.0");
    put_attr(&mut s, 9, "db.system", "postgresql");
    put_attr(&mut s, 9, "thread", &format!("worker-{}", id % 32));
    put_attr(&mut s, 9, "req.id", &format!("{:012x}", r >> 16));
    put_attr(&mut s, 9, "tenant", &format!("t-{:04}", (r >> 16) % 1000));
    let mut status = Vec::new();
    put_uint(&mut status, 3, if id % 50 == 0 { 2 } else { 1 });
    put_len(&mut s, 15, &status);
    s
}

fn log_record(id: u64, t0: u64) -> Vec<u8> {
    let r = splitmix(id ^ 0x7777);
    let warn = id % 10 == 0;
    let mut l = Vec::new();
    let t = t0 + id * 1_000;
    put_fixed64(&mut l, 1, t);
    put_uint(&mut l, 2, if warn { 13 } else { 9 });
    put_len(&mut l, 3, if warn { b"WARN" } else { b"INFO" });
    let body = format!(
        "request {:010} completed: method=GET path=/api/v1/orders/{:08} status={} duration_ms={} bytes={} user=u-{:08}",
        id,
        r % 100_000_000,
        if warn { 503 } else { 200 },
        r % 2_000,
        (r >> 12) % 100_000,
        (r >> 24) % 100_000_000
    );
    put_len(&mut l, 5, &any_string(&body));
    put_attr(&mut l, 6, "log.logger", "com.example.Orders");
    put_attr(&mut l, 6, "thread.name", &format!("worker-{}", id % 32));
    put_attr(&mut l, 6, "app.tenant", &format!("tenant-{:04}", (r >> 16) % 1000));
    put_attr(&mut l, 6, "code.func", "handle");
    let mut trace_id = splitmix(id / 8).to_be_bytes().to_vec();
    trace_id.extend_from_slice(&splitmix(id / 8 ^ 0xABCD).to_be_bytes());
    put_len(&mut l, 9, &trace_id);
    put_len(&mut l, 10, &splitmix(id).to_be_bytes());
    put_fixed64(&mut l, 11, t + 500_000);
    l
}

fn gen(args: &[String]) {
    let out = opt(args, "--out").unwrap_or_else(|| die("--out DIR is required"));
    let n = opt_num(args, "--requests", 256.0) as usize;
    let t0 = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    std::fs::create_dir_all(&out).unwrap_or_else(|e| die(&format!("{out}: {e}")));
    for (name, per_request, make) in [
        ("w1", 100usize, span as fn(u64, u64) -> Vec<u8>),
        ("w2", 512usize, log_record as fn(u64, u64) -> Vec<u8>),
    ] {
        let mut file = Vec::new();
        let (mut item_bytes, mut total_bytes) = (0usize, 0usize);
        for i in 0..n {
            let items: Vec<Vec<u8>> = (0..per_request).map(|k| make((i * per_request + k) as u64, t0)).collect();
            item_bytes += items.iter().map(Vec::len).sum::<usize>();
            let req = export_request(i, &items);
            total_bytes += req.len();
            file.extend_from_slice(&(per_request as u32).to_le_bytes());
            file.extend_from_slice(&(req.len() as u32).to_le_bytes());
            file.extend_from_slice(&req);
        }
        let path = format!("{out}/{name}.bin");
        std::fs::write(&path, &file).unwrap_or_else(|e| die(&format!("{path}: {e}")));
        println!(
            "{path}: {n} requests x {per_request} items, {:.0} B per item encoded, {:.0} B per request ({:.1} B per item with envelopes)",
            item_bytes as f64 / (n * per_request) as f64,
            total_bytes as f64 / n as f64,
            total_bytes as f64 / (n * per_request) as f64
        );
    }
    let mut file = Vec::new();
    let cycle = metrics::generate(t0);
    for (points, req) in &cycle {
        file.extend_from_slice(&(*points as u32).to_le_bytes());
        file.extend_from_slice(&(req.len() as u32).to_le_bytes());
        file.extend_from_slice(req);
    }
    let path = format!("{out}/m1.bin");
    std::fs::write(&path, &file).unwrap_or_else(|e| die(&format!("{path}: {e}")));
    let bytes: usize = cycle.iter().map(|c| c.1.len()).sum();
    let points: usize = cycle.iter().map(|c| c.0).sum();
    println!(
        "{path}: {} requests x {} points ({points} series), {:.0} B per request, {:.1} B per point",
        cycle.len(),
        cycle[0].0,
        bytes as f64 / cycle.len() as f64,
        bytes as f64 / points as f64
    );
}

// ---------------------------------------------------------------------------------------------
// Load generator.

#[derive(Default)]
struct Stats {
    sent_requests: AtomicU64,
    sent_items: AtomicU64,
    ok_requests: AtomicU64,
    ok_items: AtomicU64,
    errors: AtomicU64,
    timeouts: AtomicU64,
    latency_us_sum: AtomicU64,
    last_error: Mutex<String>,
}

impl Stats {
    fn error(&self, e: String) {
        self.errors.fetch_add(1, Relaxed);
        *self.last_error.lock().unwrap() = e;
    }
}

struct Plan {
    payloads: Vec<(u64, Bytes)>,
    start: Instant,
    end: Instant,
    /// Seconds between two requests; 0 = unpaced.
    interval: f64,
    next: AtomicU64,
    stop: AtomicBool,
    /// m1: rewrites the points' timestamps at every send.
    stamper: Option<metrics::Stamper>,
}

impl Plan {
    /// Claims the next request: its payload, after sleeping until it is due. None when the run is over.
    async fn claim(&self) -> Option<(u64, Bytes)> {
        let i = self.next.fetch_add(1, Relaxed);
        if self.stop.load(Relaxed) || Instant::now() >= self.end {
            return None;
        }
        if self.interval > 0.0 {
            let due = self.start + Duration::from_secs_f64(i as f64 * self.interval);
            if due >= self.end {
                return None;
            }
            tokio::time::sleep_until(due.into()).await;
        }
        let index = (i % self.payloads.len() as u64) as usize;
        let (items, body) = &self.payloads[index];
        Some(match &self.stamper {
            Some(s) => (*items, s.stamp(index, body)),
            None => (*items, body.clone()),
        })
    }
}

fn load_payloads(path: &str, grpc_frame: bool) -> Vec<(u64, Bytes)> {
    let data = std::fs::read(path).unwrap_or_else(|e| die(&format!("{path}: {e}")));
    let mut out = Vec::new();
    let mut i = 0;
    while i + 8 <= data.len() {
        let items = u32::from_le_bytes(data[i..i + 4].try_into().unwrap()) as u64;
        let len = u32::from_le_bytes(data[i + 4..i + 8].try_into().unwrap()) as usize;
        let body = &data[i + 8..i + 8 + len];
        let mut b = BytesMut::with_capacity(len + 5);
        if grpc_frame {
            b.extend_from_slice(&[0]);
            b.extend_from_slice(&(len as u32).to_be_bytes());
        }
        b.extend_from_slice(body);
        out.push((items, b.freeze()));
        i += 8 + len;
    }
    if out.is_empty() {
        die(&format!("{path}: no payloads"));
    }
    out
}

async fn send(args: &[String]) {
    let target = loopback(args, "--target");
    let workload = opt(args, "--workload").unwrap_or_else(|| die("--workload w1|w2|m1 is required"));
    let grpc = match workload.as_str() {
        "w1" => true,
        "w2" | "m1" => false,
        w => die(&format!("unknown workload {w}")),
    };
    let payloads = load_payloads(&opt(args, "--payloads").unwrap_or_else(|| die("--payloads FILE is required")), grpc);
    let (http_path, stamper) = if workload == "m1" {
        let offsets = payloads
            .iter()
            .map(|p| metrics::time_offsets(&p.1).unwrap_or_else(|| die("m1 payloads: not an ExportMetricsServiceRequest")))
            .collect();
        ("/v1/metrics", Some(metrics::Stamper::new(offsets)))
    } else {
        ("/v1/logs", None)
    };
    let rate = opt_num(args, "--rate", 0.0);
    let warmup = opt_num(args, "--warmup", 0.0);
    let seconds = opt_num(args, "--seconds", 10.0);
    if warmup < 0.0 || seconds <= 0.0 || warmup + seconds > MAX_SECONDS {
        die("--warmup + --seconds must be within (0, 900]");
    }
    let connections = opt_num(args, "--connections", if grpc { 4.0 } else { 16.0 }) as usize;
    let streams = if grpc { opt_num(args, "--streams", 4.0) as usize } else { 1 };
    let items_per_request = payloads.iter().map(|p| p.0).sum::<u64>() as f64 / payloads.len() as f64;
    let start = Instant::now() + Duration::from_millis(200); // time to connect
    let plan = Arc::new(Plan {
        payloads,
        start,
        end: start + Duration::from_secs_f64(warmup + seconds),
        interval: if rate > 0.0 { items_per_request / rate } else { 0.0 },
        next: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        stamper,
    });
    let stats = Arc::new(Stats::default());
    let mut tasks = Vec::new();
    for _ in 0..connections {
        if grpc {
            tasks.push(tokio::spawn(grpc_connection(target, streams, plan.clone(), stats.clone())));
        } else {
            tasks.push(tokio::spawn(http_worker(target, http_path, plan.clone(), stats.clone())));
        }
    }
    tokio::time::sleep_until((start + Duration::from_secs_f64(warmup)).into()).await;
    let w0 = (stats.ok_items.load(Relaxed), stats.sent_items.load(Relaxed), stats.errors.load(Relaxed));
    let t0 = Instant::now();
    println!("window_start");
    tokio::time::sleep_until(plan.end.into()).await;
    let w1 = (stats.ok_items.load(Relaxed), stats.sent_items.load(Relaxed), stats.errors.load(Relaxed));
    let window = t0.elapsed().as_secs_f64();
    println!("window_end");
    plan.stop.store(true, Relaxed);
    // In-flight requests finish (each has REQUEST_TIMEOUT); then give up.
    let drain_deadline = tokio::time::Instant::now() + REQUEST_TIMEOUT + Duration::from_secs(2);
    for t in tasks {
        if tokio::time::timeout_at(drain_deadline, t).await.is_err() {
            stats.error("worker did not finish in time".into());
        }
    }
    let ok_requests = stats.ok_requests.load(Relaxed);
    println!(
        "result workload={workload} target_items_per_s={rate:.0} window_seconds={window:.3} window_ok_items={} window_sent_items={} window_items_per_s={:.0} window_errors={} sent_requests={} sent_items={} ok_requests={ok_requests} ok_items={} errors={} timeouts={} mean_latency_ms={:.2} items_per_request={items_per_request:.0} in_flight_max={} last_error={:?}",
        w1.0 - w0.0,
        w1.1 - w0.1,
        (w1.0 - w0.0) as f64 / window,
        w1.2 - w0.2,
        stats.sent_requests.load(Relaxed),
        stats.sent_items.load(Relaxed),
        stats.ok_items.load(Relaxed),
        stats.errors.load(Relaxed),
        stats.timeouts.load(Relaxed),
        stats.latency_us_sum.load(Relaxed) as f64 / ok_requests.max(1) as f64 / 1000.0,
        connections * streams,
        stats.last_error.lock().unwrap(),
    );
}

async fn grpc_connection(target: SocketAddr, streams: usize, plan: Arc<Plan>, stats: Arc<Stats>) {
    let tcp = match tokio::net::TcpStream::connect(target).await {
        Ok(t) => t,
        Err(e) => return stats.error(format!("connect: {e}")),
    };
    tcp.set_nodelay(true).ok();
    let (sender, conn) = match hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(4 << 20)
        .initial_connection_window_size(16 << 20)
        .handshake::<_, Full<Bytes>>(TokioIo::new(tcp))
        .await
    {
        Ok(x) => x,
        Err(e) => return stats.error(format!("h2 handshake: {e}")),
    };
    tokio::spawn(conn);
    let uri: hyper::Uri = format!("http://{target}{TRACES_PATH}").parse().unwrap();
    let mut streams_tasks = Vec::new();
    for _ in 0..streams {
        let (mut sender, plan, stats, uri) = (sender.clone(), plan.clone(), stats.clone(), uri.clone());
        streams_tasks.push(tokio::spawn(async move {
            while let Some((items, body)) = plan.claim().await {
                stats.sent_requests.fetch_add(1, Relaxed);
                stats.sent_items.fetch_add(items, Relaxed);
                let t = Instant::now();
                let req = Request::post(uri.clone())
                    .header("content-type", "application/grpc")
                    .header("te", "trailers")
                    .body(Full::new(body))
                    .unwrap();
                let result = tokio::time::timeout(REQUEST_TIMEOUT, async {
                    sender.ready().await.map_err(|e| format!("h2 ready: {e}"))?;
                    let resp = sender.send_request(req).await.map_err(|e| format!("h2 send: {e}"))?;
                    let (parts, body) = resp.into_parts();
                    let collected = body.collect().await.map_err(|e| format!("h2 body: {e}"))?;
                    if parts.status != StatusCode::OK {
                        return Err(format!("http status {}", parts.status));
                    }
                    let status = parts
                        .headers
                        .get("grpc-status")
                        .or_else(|| collected.trailers().and_then(|t| t.get("grpc-status")))
                        .map(|v| v.to_str().unwrap_or("?").to_string());
                    match status.as_deref() {
                        Some("0") => Ok(()),
                        other => {
                            let msg = parts
                                .headers
                                .get("grpc-message")
                                .or_else(|| collected.trailers().and_then(|t| t.get("grpc-message")))
                                .map(|v| v.to_str().unwrap_or("?").to_string())
                                .unwrap_or_default();
                            Err(format!("grpc-status {other:?} {msg}"))
                        }
                    }
                })
                .await;
                match result {
                    Ok(Ok(())) => {
                        stats.ok_requests.fetch_add(1, Relaxed);
                        stats.ok_items.fetch_add(items, Relaxed);
                        stats.latency_us_sum.fetch_add(t.elapsed().as_micros() as u64, Relaxed);
                    }
                    Ok(Err(e)) => {
                        stats.error(e);
                        if sender.is_closed() {
                            return;
                        }
                    }
                    Err(_) => {
                        stats.timeouts.fetch_add(1, Relaxed);
                        stats.error("request timed out".into());
                    }
                }
            }
        }));
    }
    for t in streams_tasks {
        t.await.ok();
    }
}

async fn http_worker(target: SocketAddr, path: &'static str, plan: Arc<Plan>, stats: Arc<Stats>) {
    let uri: hyper::Uri = path.parse().unwrap();
    let host = target.to_string();
    let mut sender: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>> = None;
    while let Some((items, body)) = plan.claim().await {
        stats.sent_requests.fetch_add(1, Relaxed);
        stats.sent_items.fetch_add(items, Relaxed);
        let t = Instant::now();
        let result = tokio::time::timeout(REQUEST_TIMEOUT, async {
            if sender.as_ref().map_or(true, |s| s.is_closed()) {
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
                .body(Full::new(body))
                .unwrap();
            let resp = s.send_request(req).await.map_err(|e| format!("http1 send: {e}"))?;
            let status = resp.status();
            resp.into_body().collect().await.map_err(|e| format!("http1 body: {e}"))?;
            if status == StatusCode::OK {
                Ok(())
            } else {
                Err(format!("http status {status}"))
            }
        })
        .await;
        match result {
            Ok(Ok(())) => {
                stats.ok_requests.fetch_add(1, Relaxed);
                stats.ok_items.fetch_add(items, Relaxed);
                stats.latency_us_sum.fetch_add(t.elapsed().as_micros() as u64, Relaxed);
            }
            Ok(Err(e)) => {
                stats.error(e);
                sender = None; // a new connection for the next request
            }
            Err(_) => {
                stats.timeouts.fetch_add(1, Relaxed);
                stats.error("request timed out".into());
                sender = None;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sink.

#[derive(Default)]
struct Counts {
    spans: AtomicU64,
    logs: AtomicU64,
    requests: AtomicU64,
    errors: AtomicU64,
    /// Body bytes as received (compressed when the client compressed).
    bytes: AtomicU64,
    gzip_requests: AtomicU64,
}

fn gunzip(data: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::with_capacity(data.len() * 4);
    flate2::read::GzDecoder::new(data).read_to_end(&mut out).ok()?;
    Some(out)
}

/// Calls `f` with the payload of every length-delimited field number `want` of message `b`.
/// None when `b` is not well-formed protobuf.
fn each_field(b: &[u8], want: u64, f: &mut dyn FnMut(&[u8]) -> Option<()>) -> Option<()> {
    fn varint(b: &[u8], i: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *b.get(*i)?;
            *i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(v);
            }
        }
        None
    }
    let mut i = 0;
    while i < b.len() {
        let key = varint(b, &mut i)?;
        match key & 7 {
            0 => {
                varint(b, &mut i)?;
            }
            1 => i += 8,
            5 => i += 4,
            2 => {
                let len = varint(b, &mut i)? as usize;
                let end = i.checked_add(len).filter(|&e| e <= b.len())?;
                if key >> 3 == want {
                    f(&b[i..end])?;
                }
                i = end;
            }
            _ => return None,
        }
    }
    (i == b.len()).then_some(())
}

/// Spans in an ExportTraceServiceRequest or log records in an ExportLogsServiceRequest: both are
/// field 2 of field 2 of field 1.
fn count_items(msg: &[u8]) -> Option<u64> {
    let mut n = 0u64;
    each_field(msg, 1, &mut |r| each_field(r, 2, &mut |s| each_field(s, 2, &mut |_| {
        n += 1;
        Some(())
    })))?;
    Some(n)
}

/// A unary gRPC answer: an empty message (5-byte frame) then the `grpc-status` trailer.
struct GrpcAnswer {
    state: u8,
    status: &'static str,
}

impl http_body::Body for GrpcAnswer {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let state = self.state;
        self.state += 1;
        Poll::Ready(match state {
            0 => Some(Ok(Frame::data(Bytes::from_static(&[0, 0, 0, 0, 0])))),
            1 => {
                let mut t = HeaderMap::new();
                t.insert("grpc-status", HeaderValue::from_static(self.status));
                Some(Ok(Frame::trailers(t)))
            }
            _ => None,
        })
    }
}

type SinkBody = Either<GrpcAnswer, Full<Bytes>>;

async fn sink(args: &[String]) {
    let addr = loopback(args, "--listen");
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap_or_else(|e| die(&format!("bind {addr}: {e}")));
    let counts = Arc::new(Counts::default());
    eprintln!("otlp-loadgen sink: listening on {addr}");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(x) => x,
            Err(_) => continue,
        };
        stream.set_nodelay(true).ok();
        let counts = counts.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(req, counts.clone()));
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder
                .http2()
                .initial_stream_window_size(4 << 20)
                .initial_connection_window_size(16 << 20)
                .max_frame_size(1 << 20);
            builder.serve_connection(TokioIo::new(stream), service).await.ok();
        });
    }
}

async fn handle(req: Request<hyper::body::Incoming>, counts: Arc<Counts>) -> Result<Response<SinkBody>, Infallible> {
    let path = req.uri().path().to_string();
    if path == "/counts" {
        let text = format!(
            "spans {}\nlogs {}\nrequests {}\nerrors {}\nbytes {}\ngzip_requests {}\n",
            counts.spans.load(Relaxed),
            counts.logs.load(Relaxed),
            counts.requests.load(Relaxed),
            counts.errors.load(Relaxed),
            counts.bytes.load(Relaxed),
            counts.gzip_requests.load(Relaxed)
        );
        return Ok(Response::new(Either::Right(Full::new(Bytes::from(text)))));
    }
    let (parts, body) = req.into_parts();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let grpc = header("content-type").starts_with("application/grpc");
    let encoding = if grpc { header("grpc-encoding") } else { header("content-encoding") };
    let gzip = encoding == "gzip";
    let compressed = !matches!(encoding.as_str(), "" | "identity" | "gzip");
    let spans = path == TRACES_PATH || path.ends_with("/v1/traces");
    let logs = path == LOGS_GRPC_PATH || path.ends_with("/v1/logs");

    let body = body.collect().await.map(|c| c.to_bytes());
    let body_note = match &body {
        Ok(b) => format!("{} bytes, starts {:02x?}", b.len(), &b[..b.len().min(8)]),
        Err(e) => format!("error {e}"),
    };
    counts.requests.fetch_add(1, Relaxed);
    let items = match body {
        Ok(b) if !compressed && (spans || logs) => {
            counts.bytes.fetch_add(b.len() as u64, Relaxed);
            if gzip {
                counts.gzip_requests.fetch_add(1, Relaxed);
            }
            if grpc {
                // Unary: one or more 5-byte-framed, uncompressed messages.
                let mut i = 0;
                let mut n = Some(0u64);
                while i < b.len() && n.is_some() {
                    if i + 5 > b.len() || b[i] > 1 {
                        n = None;
                        break;
                    }
                    let len = u32::from_be_bytes(b[i + 1..i + 5].try_into().unwrap()) as usize;
                    // Flag 1: this message is compressed with the request's grpc-encoding.
                    let msg = match (b[i], b.get(i + 5..i + 5 + len)) {
                        (0, Some(m)) => Some(m.to_vec()),
                        (1, Some(m)) if gzip => gunzip(m),
                        _ => None,
                    };
                    n = match (n, msg.as_deref().and_then(count_items)) {
                        (Some(a), Some(c)) => Some(a + c),
                        _ => None,
                    };
                    i += 5 + len;
                }
                n
            } else if gzip {
                gunzip(&b).as_deref().and_then(count_items)
            } else {
                count_items(&b)
            }
        }
        _ => None,
    };
    match items {
        Some(n) => {
            if spans { &counts.spans } else { &counts.logs }.fetch_add(n, Relaxed);
        }
        None => {
            // The first few refusals are described on stderr, to debug a collector's settings.
            if counts.errors.fetch_add(1, Relaxed) < 5 {
                eprintln!(
                    "otlp-loadgen sink: refused {path} content-type={:?} grpc-encoding={:?} content-encoding={:?} body={}",
                    header("content-type"),
                    header("grpc-encoding"),
                    header("content-encoding"),
                    body_note
                );
            }
        }
    }
    let ok = items.is_some();
    Ok(if grpc {
        let mut r = Response::new(Either::Left(GrpcAnswer { state: 0, status: if ok { "0" } else { "3" } }));
        r.headers_mut().insert("content-type", HeaderValue::from_static("application/grpc"));
        r
    } else {
        let mut r = Response::new(Either::Right(Full::new(Bytes::new())));
        if !ok {
            *r.status_mut() = StatusCode::BAD_REQUEST;
        }
        r.headers_mut().insert("content-type", HeaderValue::from_static("application/x-protobuf"));
        r
    })
}
