use std::time::{Duration, Instant};

use weir_api::telemetry::Telemetry;
use weir_api::ConsumeError;

use super::*;

fn gate(reader: MemoryReader, soft_limit: u64) -> (MemoryGate, Telemetry) {
    let telemetry = Telemetry::new();
    let gate = MemoryGate::new(
        "memory_limiter",
        soft_limit,
        Duration::from_secs(1),
        reader,
        &telemetry,
    );
    (gate, telemetry)
}

#[test]
fn refuses_over_the_soft_limit_with_a_retry_hint() {
    let (gate, telemetry) = gate(|| Some(600 * MIB), 500 * MIB);
    let err = gate.admit_at(Instant::now()).unwrap_err();
    assert_eq!(
        err,
        ConsumeError::NoRoom {
            retry_after: Duration::from_secs(1)
        }
    );
    let text = telemetry.encode();
    assert!(text.contains("weir_memory_limiter_refusing{processor=\"memory_limiter\"} 1"));
    assert!(
        text.contains("weir_memory_limiter_refused_requests_total{processor=\"memory_limiter\"} 1")
    );
}

#[test]
fn admits_under_the_limit_and_when_memory_is_unreadable() {
    let (under, _) = gate(|| Some(100 * MIB), 500 * MIB);
    assert!(under.admit_at(Instant::now()).is_ok());
    let (unknown, _) = gate(|| None, 1);
    assert!(unknown.admit_at(Instant::now()).is_ok());
}

static USED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[test]
fn measures_once_per_interval_and_recovers() {
    USED.store(900 * MIB, std::sync::atomic::Ordering::SeqCst);
    let (gate, _) = gate(
        || Some(USED.load(std::sync::atomic::Ordering::SeqCst)),
        500 * MIB,
    );
    let t0 = Instant::now();
    assert!(gate.admit_at(t0).is_err());
    // Memory drops, but the next check is not due yet: still refusing.
    USED.store(100 * MIB, std::sync::atomic::Ordering::SeqCst);
    assert!(gate.admit_at(t0 + Duration::from_millis(500)).is_err());
    // After the interval the gate measures again and admits.
    assert!(gate.admit_at(t0 + Duration::from_millis(1500)).is_ok());
}

#[test]
fn soft_limit_is_limit_minus_spike() {
    let parse = |yaml: &str| -> Config { serde_yaml_ng::from_str(yaml).unwrap() };
    let c = parse("check_interval: 1s\nlimit_mib: 1000\nspike_limit_mib: 200");
    assert_eq!(c.soft_limit_bytes(|| None).unwrap(), 800 * MIB);
    let c = parse("check_interval: 1s\nlimit_mib: 1000");
    assert_eq!(c.soft_limit_bytes(|| None).unwrap(), 800 * MIB);
    let c = parse("check_interval: 1s\nlimit_percentage: 50\nspike_limit_percentage: 10");
    assert_eq!(c.soft_limit_bytes(|| Some(1000 * MIB)).unwrap(), 400 * MIB);
    assert!(c.soft_limit_bytes(|| None).is_err());
}

#[test]
fn config_problems_name_the_key() {
    let problems = |yaml: &str| {
        let value: weir_api::Value = serde_yaml_ng::from_str(yaml).unwrap();
        factory()
            .check(&value)
            .into_iter()
            .map(|p| p.path.join("."))
            .collect::<Vec<_>>()
    };
    assert_eq!(problems("limit_mib: 100"), ["check_interval"]);
    assert_eq!(problems("check_interval: 1s"), ["limit_mib"]);
    assert_eq!(
        problems("check_interval: 1s\nlimit_mib: 100\nspike_limit_mib: 100"),
        ["spike_limit_mib"]
    );
    assert_eq!(problems("check_interval: 1s\nlimit_mb: 100"), ["limit_mb"]);
    assert!(problems("check_interval: 1s\nlimit_mib: 100").is_empty());
}

#[test]
fn passes_batches_through_and_offers_its_gate() {
    let (gate, _) = gate(|| Some(1), 10);
    let mut processor = MemoryLimiter {
        gate: std::sync::Arc::new(gate),
    };
    let admission = processor.admission().expect("a gate");
    assert!(admission.admit(&Batch::empty(Signal::Logs)).is_ok());
    let mut out = Vec::new();
    processor.process(Batch::empty(Signal::Logs), &mut out);
    assert_eq!(out.len(), 1);
}

#[test]
fn building_sets_the_process_budget_and_its_gauges() {
    let telemetry = Telemetry::new();
    let value: weir_api::Value =
        serde_yaml_ng::from_str("check_interval: 100ms\nlimit_mib: 64\nspike_limit_mib: 16")
            .unwrap();
    let ctx = ProcessorBuildContext {
        id: "memory_limiter".parse().unwrap(),
        pipeline: "traces".parse().unwrap(),
        signal: Signal::Traces,
        telemetry: telemetry.clone(),
    };
    factory().build(ctx, &value).unwrap();
    assert_eq!(telemetry.memory_budget().limits(), (48 * MIB, 64 * MIB));
    let text = telemetry.encode();
    assert!(
        text.contains(&format!(
            "weir_memory_budget_limit_bytes{{limit=\"soft\"}} {}",
            48 * MIB
        )),
        "{text}"
    );
    assert!(text.contains("weir_memory_budget_used_bytes{} 0"), "{text}");

    // The extension sets the same budget; the smaller limits win.
    let value: weir_api::Value =
        serde_yaml_ng::from_str("check_interval: 1s\nlimit_mib: 32").unwrap();
    let ctx = weir_api::BuildContext {
        id: "memory_limiter".parse().unwrap(),
        telemetry: telemetry.clone(),
    };
    extension_factory().build(ctx, &value).unwrap();
    assert_eq!(
        telemetry.memory_budget().limits(),
        (32 * MIB - 32 * MIB / 5, 32 * MIB)
    );
}
