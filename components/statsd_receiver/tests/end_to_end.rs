//! The receiver on real sockets (127.0.0.1 and a temporary unix socket), with an
//! in-process consumer standing in for the pipeline. The aggregation interval is long,
//! so everything arrives in the final flush at shutdown: no timing in the assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::{attrs, config, points, Value};
use tokio_util::sync::CancellationToken;
use weir_api::telemetry::Telemetry;
use weir_api::{
    Batch, ComponentId, ConsumeError, Consumer, Receiver, ReceiverContext, ReceiverOutput, Signal,
};
use weir_statsd_receiver::StatsdReceiver;

#[derive(Default)]
struct Collect(Mutex<Vec<Batch>>);

#[async_trait]
impl Consumer for Collect {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        self.0.lock().unwrap().push(batch);
        Ok(())
    }
}

struct Running {
    telemetry: Telemetry,
    metrics: Arc<Collect>,
    logs: Arc<Collect>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    address: String,
}

async fn start(yaml: &str, with_logs: bool) -> Running {
    let telemetry = Telemetry::new();
    let metrics = Arc::new(Collect::default());
    let logs = Arc::new(Collect::default());
    let mut consumers: Vec<(Signal, Arc<dyn Consumer>)> = vec![(Signal::Metrics, metrics.clone())];
    if with_logs {
        consumers.push((Signal::Logs, logs.clone()));
    }
    let id: ComponentId = "statsd".parse().unwrap();
    let output = ReceiverOutput::new(id, telemetry.clone(), consumers);
    let receiver = StatsdReceiver::new("statsd".into(), config(yaml), telemetry.clone());
    let bound = receiver.bound_address();
    let shutdown = CancellationToken::new();
    let running = Box::new(receiver)
        .start(ReceiverContext {
            output,
            shutdown: shutdown.clone(),
        })
        .await
        .expect("start");
    let address = bound.get().expect("bound address").clone();
    Running {
        telemetry,
        metrics,
        logs,
        shutdown,
        task: tokio::spawn(running),
        address,
    }
}

impl Running {
    fn counter(&self, name: &str) -> u64 {
        let text = self.telemetry.encode();
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// Waits (bounded) until the readers have taken `lines` metric lines.
    async fn wait_for_lines(&self, lines: u64) {
        for _ in 0..500 {
            if self.counter("weir_statsd_receiver_lines_total") >= lines {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("lines never arrived:\n{}", self.telemetry.encode());
    }

    async fn stop(self) -> (Vec<Batch>, Vec<Batch>, Telemetry) {
        self.shutdown.cancel();
        self.task.await.unwrap();
        let metrics = std::mem::take(&mut *self.metrics.0.lock().unwrap());
        let logs = std::mem::take(&mut *self.logs.0.lock().unwrap());
        (metrics, logs, self.telemetry)
    }
}

fn all_points(batches: &[Batch]) -> Vec<common::Point> {
    batches.iter().flat_map(points).collect()
}

const DATAGRAMS: [&str; 3] = [
    "req:1|c|@0.5|#route:/a\nreq:2|c|#route:/a\ntemp:10|g\ntemp:-3|g",
    "lat:12|ms\nlat:8|ms|@0.25\nusers:ann|s\nusers:bob|s\nusers:ann|s",
    "bad line\nlat:20|ms",
];

fn check(points: &[common::Point]) {
    let find = |name: &str| {
        points
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("{name} in {points:?}"))
    };
    assert_eq!(find("req").value, Value::Sum(4.0));
    assert_eq!(find("req").attributes, attrs(&[("route", "/a")]));
    assert_eq!(find("temp").value, Value::Gauge(7.0));
    assert_eq!(find("users").value, Value::Distinct(2));
    assert_eq!(
        find("lat").value,
        Value::Observed {
            count: 6,
            sum: 12.0 + 32.0 + 20.0,
            min: 8.0,
            max: 20.0
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_with_two_readers() {
    let running = start(
        "endpoint: 127.0.0.1:0\naggregation_interval: 1h\nreaders: 2\nsocket_buffer_size: 1048576",
        false,
    )
    .await;
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for datagram in DATAGRAMS {
        client
            .send_to(datagram.as_bytes(), &running.address)
            .unwrap();
    }
    running.wait_for_lines(10).await;
    let (metrics, _, telemetry) = running.stop().await;
    check(&all_points(&metrics));
    let text = telemetry.encode();
    assert!(text.contains("reason=\"missing_value\"} 1"), "{text}");
    assert!(text.contains("otelcol_receiver_accepted_metric_points_total{receiver=\"statsd\",transport=\"udp\"} 4"), "{text}");
    assert!(
        text.contains("weir_statsd_receiver_kernel_drops_total{receiver=\"statsd\"} 0"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_lines_split_across_writes() {
    let running = start(
        "endpoint: 127.0.0.1:0\naggregation_interval: 1h\ntransport: tcp",
        false,
    )
    .await;
    let mut stream = std::net::TcpStream::connect(&running.address).unwrap();
    let all = DATAGRAMS.join("\n");
    let (first, second) = all.split_at(17); // cuts a line in two
    stream.write_all(first.as_bytes()).unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    stream.write_all(second.as_bytes()).unwrap(); // last line without newline
    drop(stream);
    running.wait_for_lines(10).await;
    let (metrics, _, _) = running.stop().await;
    check(&all_points(&metrics));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unixgram_with_events_as_logs() {
    let dir = std::env::temp_dir().join(format!("weir-statsd-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("statsd.sock");
    let running = start(
        &format!(
            "endpoint: {}\ntransport: unixgram\naggregation_interval: 1h",
            path.display()
        ),
        true,
    )
    .await;
    let client = std::os::unix::net::UnixDatagram::unbound().unwrap();
    for datagram in DATAGRAMS {
        client.send_to(datagram.as_bytes(), &path).unwrap();
    }
    client
        .send_to(
            b"_e{5,4}:Title|Text|t:error|#env:prod\n_sc|db|1|m:slow",
            &path,
        )
        .unwrap();
    client.send_to(b"done:1|c", &path).unwrap();
    running.wait_for_lines(11).await;
    let (metrics, logs, _) = running.stop().await;
    check(&all_points(&metrics));
    let records: Vec<_> = logs
        .iter()
        .flat_map(|b| b.resource_logs())
        .flat_map(|r| r.scope_logs)
        .flat_map(|s| s.log_records)
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].severity_text, "error");
    assert!(!path.exists(), "socket file removed at shutdown");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn bind_failure_names_the_address() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();
    let receiver = StatsdReceiver::new(
        "statsd".into(),
        config(&format!("endpoint: {address}")),
        Telemetry::new(),
    );
    let output = ReceiverOutput::new("statsd".parse().unwrap(), Telemetry::new(), Vec::new());
    let err = Box::new(receiver)
        .start(ReceiverContext {
            output,
            shutdown: CancellationToken::new(),
        })
        .await
        .err()
        .expect("bind must fail");
    assert!(err.0.contains(&address.to_string()), "{err}");
}
