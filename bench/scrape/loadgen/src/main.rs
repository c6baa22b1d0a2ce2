//! Load helpers for the scrape benchmark (bench/scrape/run.sh). Two modes, each a
//! single-threaded process so its own CPU cost stays small and is measured apart from the
//! collectors under test:
//!
//! - `targets BODY FIRST_PORT COUNT STATS_ADDR`: COUNT scrape targets on 127.0.0.1,
//!   ports FIRST_PORT.., each answering any GET with the same pre-rendered exposition
//!   (gzip when the scraper accepts it, as node_exporter does). Keep-alive, no parsing
//!   beyond finding the end of the request head.
//! - `sink STATS_ADDR NAME=ADDR...`: a remote-write receiver per collector. Every POST
//!   is answered 204 after its snappy body is decoded and walked (no allocation per
//!   sample) to count series, samples, stale markers and histograms, remember distinct
//!   series and metric names, and the last `up` value per `instance`: the evidence that
//!   both collectors did the same work.
//!
//! Both modes answer `GET /` on STATS_ADDR with `collector key value` lines.
//!
//! HTTP is hand-rolled (Content-Length bodies only, which is what Go's client and
//! reqwest send for remote-write) to keep the helpers cheap next to the collectors.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = match args.get(1).map(String::as_str) {
        Some("targets") if args.len() == 6 => runtime.block_on(targets(
            &args[2],
            args[3].parse().expect("FIRST_PORT"),
            args[4].parse().expect("COUNT"),
            &args[5],
        )),
        Some("sink") if args.len() >= 4 => runtime.block_on(sink(&args[2], &args[3..])),
        _ => {
            eprintln!(
                "usage: scrape-loadgen targets BODY FIRST_PORT COUNT STATS_ADDR\n       \
                 scrape-loadgen sink STATS_ADDR NAME=ADDR..."
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("scrape-loadgen: {e}");
        std::process::exit(1);
    }
}

/// One request read off a connection: the head (lower-cased) and the body.
struct Request {
    head: String,
    body: Vec<u8>,
}

/// Reads the next request from `stream`; `buf` carries bytes already read past the
/// previous one. `Ok(None)` at a clean end of stream.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<Option<Request>> {
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let body_len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let total = end + 4 + body_len;
            while buf.len() < total {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(None);
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[end + 4..total].to_vec();
            buf.drain(..total);
            return Ok(Some(Request { head, body }));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Serves `GET /` on `addr` with whatever `render` returns at that moment.
async fn serve_stats(addr: String, render: Arc<dyn Fn() -> String + Send + Sync>) -> std::io::Result<()> {
    let listener = TcpListener::bind(&addr).await?;
    loop {
        let (mut stream, _) = listener.accept().await?;
        let render = render.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            if let Ok(Some(_)) = read_request(&mut stream, &mut buf).await {
                let body = render();
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
            }
        });
    }
}

// ---------------------------------------------------------------------------------------
// targets

#[derive(Default)]
struct ScrapeCounts {
    by_agent: Mutex<HashMap<&'static str, u64>>,
}

async fn targets(body_file: &str, first_port: u16, count: u16, stats_addr: &str) -> std::io::Result<()> {
    let body = std::fs::read(body_file)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&body)?;
    let gzipped = gz.finish()?;
    let response = |payload: &[u8], gzip: bool| -> Arc<Vec<u8>> {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n{}Content-Length: {}\r\n\r\n",
            if gzip { "Content-Encoding: gzip\r\n" } else { "" },
            payload.len()
        )
        .into_bytes();
        r.extend_from_slice(payload);
        Arc::new(r)
    };
    let plain = response(&body, false);
    let gzip = response(&gzipped, true);
    let counts = Arc::new(ScrapeCounts::default());

    // Bind every port first so a port conflict fails the run before it starts.
    let mut listeners = Vec::new();
    for i in 0..count {
        let addr = format!("127.0.0.1:{}", first_port + i);
        let l = TcpListener::bind(&addr)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("bind {addr}: {e}")))?;
        listeners.push(l);
    }
    eprintln!(
        "targets: {count} on 127.0.0.1:{first_port}.. body {} bytes ({} gzipped)",
        body.len(),
        gzipped.len()
    );
    for listener in listeners {
        let (plain, gzip, counts) = (plain.clone(), gzip.clone(), counts.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (plain, gzip, counts) = (plain.clone(), gzip.clone(), counts.clone());
                tokio::spawn(serve_target(stream, plain, gzip, counts));
            }
        });
    }
    let render = move || {
        let map = counts.by_agent.lock().expect("lock");
        let mut out: Vec<String> = map.iter().map(|(k, v)| format!("{k} scrapes {v}\n")).collect();
        out.sort();
        out.concat()
    };
    serve_stats(stats_addr.to_string(), Arc::new(render)).await
}

async fn serve_target(mut stream: TcpStream, plain: Arc<Vec<u8>>, gzip: Arc<Vec<u8>>, counts: Arc<ScrapeCounts>) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::new();
    while let Ok(Some(req)) = read_request(&mut stream, &mut buf).await {
        let agent = req
            .head
            .lines()
            .find_map(|l| l.strip_prefix("user-agent:"))
            .map(str::trim)
            .map(|ua| {
                if ua.starts_with("weir") {
                    "weir"
                } else if ua.starts_with("vm_promscrape") || ua.starts_with("vmagent") {
                    "vmagent"
                } else {
                    "other"
                }
            })
            .unwrap_or("other");
        *counts.by_agent.lock().expect("lock").entry(agent).or_default() += 1;
        let accepts_gzip = req
            .head
            .lines()
            .any(|l| l.starts_with("accept-encoding:") && l.contains("gzip"));
        let resp = if accepts_gzip { &gzip } else { &plain };
        if stream.write_all(resp).await.is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------
// sink

/// What one collector delivered.
#[derive(Default)]
struct Tally {
    requests: u64,
    bad_requests: u64,
    wire_bytes: u64,
    raw_bytes: u64,
    series_entries: u64,
    samples: u64,
    stale_samples: u64,
    histograms: u64,
    exemplars: u64,
    metadata: u64,
    distinct_series: HashSet<u64>,
    names: HashSet<Vec<u8>>,
    /// instance -> last `up` sample value.
    up: HashMap<Vec<u8>, f64>,
}

type Tallies = Arc<Vec<(String, Mutex<Tally>)>>;

async fn sink(stats_addr: &str, endpoints: &[String]) -> std::io::Result<()> {
    let mut names_addrs = Vec::new();
    for e in endpoints {
        let (name, addr) = e
            .split_once('=')
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{e}: want NAME=ADDR")))?;
        names_addrs.push((name.to_string(), addr.to_string()));
    }
    let tallies: Tallies = Arc::new(
        names_addrs
            .iter()
            .map(|(n, _)| (n.clone(), Mutex::new(Tally::default())))
            .collect(),
    );
    for (index, (name, addr)) in names_addrs.iter().enumerate() {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("bind {addr}: {e}")))?;
        eprintln!("sink: {name} on {addr}");
        let tallies = tallies.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_writer(stream, tallies.clone(), index));
            }
        });
    }
    let render = {
        let tallies = tallies.clone();
        move || render_tallies(&tallies)
    };
    serve_stats(stats_addr.to_string(), Arc::new(render)).await
}

fn render_tallies(tallies: &Tallies) -> String {
    let mut out = String::new();
    for (name, tally) in tallies.iter() {
        let t = tally.lock().expect("lock");
        let up_ones = t.up.values().filter(|v| **v == 1.0).count();
        for (key, value) in [
            ("requests", t.requests),
            ("bad_requests", t.bad_requests),
            ("wire_bytes", t.wire_bytes),
            ("raw_bytes", t.raw_bytes),
            ("series_entries", t.series_entries),
            ("samples", t.samples),
            ("stale_samples", t.stale_samples),
            ("histograms", t.histograms),
            ("exemplars", t.exemplars),
            ("metadata", t.metadata),
            ("distinct_series", t.distinct_series.len() as u64),
            ("distinct_names", t.names.len() as u64),
            ("up_instances", t.up.len() as u64),
            ("up_is_1", up_ones as u64),
        ] {
            out.push_str(&format!("{name} {key} {value}\n"));
        }
        let mut names: Vec<String> = t
            .names
            .iter()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect();
        names.sort();
        for n in names {
            out.push_str(&format!("{name} name {n}\n"));
        }
    }
    out
}

async fn serve_writer(mut stream: TcpStream, tallies: Tallies, index: usize) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::new();
    let mut decoder = snap::raw::Decoder::new();
    while let Ok(Some(req)) = read_request(&mut stream, &mut buf).await {
        let ok = req.head.starts_with("post") && {
            let mut t = tallies[index].1.lock().expect("lock");
            t.requests += 1;
            t.wire_bytes += req.body.len() as u64;
            match decoder.decompress_vec(&req.body) {
                Ok(raw) => {
                    t.raw_bytes += raw.len() as u64;
                    count_write_request(&raw, &mut t).is_some()
                }
                Err(_) => false,
            }
        };
        let answer: &[u8] = if ok {
            b"HTTP/1.1 204 No Content\r\n\r\n"
        } else {
            tallies[index].1.lock().expect("lock").bad_requests += 1;
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
        };
        if stream.write_all(answer).await.is_err() {
            return;
        }
    }
}

// Minimal protobuf walking for prometheus.WriteRequest (remote-write 1.0).

enum Value<'a> {
    Varint,
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32,
}

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

/// Next field of a message: (field number, value).
fn next_field<'a>(b: &'a [u8], i: &mut usize) -> Option<(u64, Value<'a>)> {
    let key = varint(b, i)?;
    let value = match key & 7 {
        0 => {
            varint(b, i)?;
            Value::Varint
        }
        1 => {
            let v = u64::from_le_bytes(b.get(*i..*i + 8)?.try_into().ok()?);
            *i += 8;
            Value::Fixed64(v)
        }
        2 => {
            let len = varint(b, i)? as usize;
            let v = b.get(*i..*i + len)?;
            *i += len;
            Value::Bytes(v)
        }
        5 => {
            *i += 4;
            Value::Fixed32
        }
        _ => return None,
    };
    Some((key >> 3, value))
}

const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

fn count_write_request(b: &[u8], t: &mut Tally) -> Option<()> {
    let mut i = 0;
    while i < b.len() {
        match next_field(b, &mut i)? {
            (1, Value::Bytes(series)) => count_series(series, t)?,
            (3, _) => t.metadata += 1,
            _ => {}
        }
    }
    Some(())
}

fn count_series(b: &[u8], t: &mut Tally) -> Option<()> {
    t.series_entries += 1;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325; // FNV-1a over the label bytes
    let (mut name, mut instance, mut last_value): (&[u8], &[u8], f64) = (b"", b"", f64::NAN);
    let mut i = 0;
    while i < b.len() {
        match next_field(b, &mut i)? {
            (1, Value::Bytes(label)) => {
                for &byte in label.iter().chain(std::iter::once(&0xffu8)) {
                    hash = (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
                }
                let (mut k, mut v): (&[u8], &[u8]) = (b"", b"");
                let mut j = 0;
                while j < label.len() {
                    match next_field(label, &mut j)? {
                        (1, Value::Bytes(x)) => k = x,
                        (2, Value::Bytes(x)) => v = x,
                        _ => {}
                    }
                }
                match k {
                    b"__name__" => name = v,
                    b"instance" => instance = v,
                    _ => {}
                }
            }
            (2, Value::Bytes(sample)) => {
                t.samples += 1;
                let mut j = 0;
                while j < sample.len() {
                    if let (1, Value::Fixed64(bits)) = next_field(sample, &mut j)? {
                        if bits == STALE_NAN {
                            t.stale_samples += 1;
                        }
                        last_value = f64::from_bits(bits);
                    }
                }
            }
            (3, _) => t.exemplars += 1,
            (4, _) => t.histograms += 1,
            _ => {}
        }
    }
    t.distinct_series.insert(hash);
    if !t.names.contains(name) {
        t.names.insert(name.to_vec());
    }
    if name == b"up" && !instance.is_empty() {
        t.up.insert(instance.to_vec(), last_value);
    }
    Some(())
}
