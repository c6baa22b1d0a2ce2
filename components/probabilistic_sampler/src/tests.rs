//! Behaviour through the factory, as the engine drives it. Expected values marked
//! "Collector" come from the Collector's own tests, so passing them means Weir and a
//! Collector make the same decisions and write the same tracestate.

use weir_api::telemetry::Telemetry;
use weir_api::{Batch, ComponentId, PipelineId, Processor, ProcessorBuildContext, Signal};
use weir_proto::common::v1::{any_value, AnyValue, KeyValue};
use weir_proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use weir_proto::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::*;

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

fn build(config: &str, signal: Signal) -> (Box<dyn Processor>, Telemetry) {
    let telemetry = Telemetry::new();
    let ctx = ProcessorBuildContext {
        id: ComponentId::new("probabilistic_sampler", None),
        pipeline: PipelineId::new(signal, None),
        signal,
        telemetry: telemetry.clone(),
    };
    let processor = factory().build(ctx, &yaml(config)).unwrap();
    (processor, telemetry)
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn attr(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn span(trace_id: Vec<u8>, trace_state: &str) -> Span {
    Span {
        trace_id,
        span_id: vec![0xfe; 8],
        trace_state: trace_state.into(),
        ..Default::default()
    }
}

fn traces(spans: Vec<Span>) -> Batch {
    Batch::from_traces(vec![ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }])
}

fn logs(records: Vec<LogRecord>) -> Batch {
    Batch::from_logs(vec![ResourceLogs {
        scope_logs: vec![ScopeLogs {
            log_records: records,
            ..Default::default()
        }],
        ..Default::default()
    }])
}

/// A deterministic stream of 16-byte ids (splitmix64), the same on every run.
fn ids(count: usize, mut state: u64) -> Vec<Vec<u8>> {
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    (0..count)
        .map(|_| {
            let mut id = next().to_be_bytes().to_vec();
            id.extend_from_slice(&next().to_be_bytes());
            id
        })
        .collect()
}

fn run(processor: &mut Box<dyn Processor>, batch: Batch) -> Vec<Batch> {
    let mut out = Vec::new();
    processor.process(batch, &mut out);
    out
}

fn kept_spans(out: &[Batch]) -> Vec<Span> {
    out.iter()
        .flat_map(|b| b.resource_spans().to_vec())
        .flat_map(|rs| rs.scope_spans)
        .flat_map(|ss| ss.spans)
        .collect()
}

fn kept_records(out: &[Batch]) -> Vec<LogRecord> {
    out.iter()
        .flat_map(|b| b.resource_logs().to_vec())
        .flat_map(|rl| rl.scope_logs)
        .flat_map(|sl| sl.log_records)
        .collect()
}

fn str_attr<'a>(record: &'a LogRecord, key: &str) -> Option<&'a str> {
    record
        .attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
}

// ---------------------------------------------------------------- factory and config

#[test]
fn factory_describes_traces_and_logs_alpha() {
    let info = factory().info();
    assert_eq!(info.type_name, "probabilistic_sampler");
    assert_eq!(info.signals, &[Signal::Traces, Signal::Logs]);
    assert_eq!(info.stability, Stability::Alpha);
}

#[test]
fn defaults_are_the_collectors() {
    let config = weir_api::config::parse_valid::<SamplerConfig>(&Value::Null).unwrap();
    assert_eq!(config.sampling_percentage, 0.0);
    assert!(config.fail_closed);
    assert_eq!(config.sampling_precision, 4);
    assert_eq!(config.attribute_source, AttributeSource::TraceId);
    assert_eq!(config.effective_mode(), Mode::HashSeed);
    assert!(factory().check(&Value::Null).is_empty());
}

#[test]
fn config_problems_name_the_key() {
    let check = |text: &str| factory().check(&yaml(text));

    let problems = check("sampling_percentge: 10\n");
    assert_eq!(problems[0].path, ["sampling_percentge"]);
    assert_eq!(
        problems[0].suggestion.as_deref(),
        Some("sampling_percentage")
    );

    let problems = check("sampling_percentage: -1\n");
    assert_eq!(problems[0].path, ["sampling_percentage"]);
    assert!(
        problems[0].message.contains("negative"),
        "{}",
        problems[0].message
    );

    let problems = check("sampling_percentage: .nan\n");
    assert_eq!(problems[0].path, ["sampling_percentage"]);

    assert_eq!(
        check("sampling_precision: 0\n")[0].path,
        ["sampling_precision"]
    );
    assert_eq!(
        check("sampling_precision: 15\n")[0].path,
        ["sampling_precision"]
    );
    assert_eq!(
        check("sampling_precision: -1\n")[0].path,
        ["sampling_precision"]
    );
    assert_eq!(check("mode: downsample\n")[0].path, ["mode"]);
    assert_eq!(
        check("attribute_source: span\n")[0].path,
        ["attribute_source"]
    );
    assert_eq!(check("hash_seed: -3\n")[0].path, ["hash_seed"]);
    assert_eq!(
        check("attribute_source: record\n")[0].path,
        ["from_attribute"]
    );

    // What the Collector accepts, Weir accepts: >100 means 100.
    for ok in [
        "sampling_percentage: 15.3\nhash_seed: 22\n",
        "sampling_percentage: 200\n",
        "mode: proportional\nsampling_percentage: 10\nsampling_precision: 14\n",
        "mode: equalizing\nfail_closed: false\n",
        "attribute_source: record\nfrom_attribute: log.id\nsampling_priority: prio\n",
    ] {
        assert!(check(ok).is_empty(), "{ok}: {:?}", check(ok));
    }
}

#[test]
fn metrics_pipelines_are_refused_at_build() {
    let ctx = ProcessorBuildContext {
        id: ComponentId::new("probabilistic_sampler", None),
        pipeline: PipelineId::new(Signal::Metrics, None),
        signal: Signal::Metrics,
        telemetry: Telemetry::new(),
    };
    let err = factory().build(ctx, &Value::Null).err().unwrap();
    assert!(err.0.contains("not metrics"), "{err}");
}

// ---------------------------------------------------------------- hash_seed mode

/// (seed, trace id, kept at 50%): the Collector's `TestHashingFunction` vectors.
const COLLECTOR_HASH_VECTORS: &str = "\
653 474a03c76d75951a4b4c537ced8f1122 1|563 53a518291e91307e43cd8467bb06f986 1|\
142 a56a02f843b9bc6ee0b13889249e90e6 1|904 4e40762d3ee97a1c0932e4fa584f89a8 0|\
445 5224507db93db513f0ea2a4b4e0578c8 1|38 0c8717ced36216037af657e9d7f8b35b 1|\
561 2a8aa76c18d08e1e8be935541f9318c7 0|757 9e3d0f9481dc422cb613ea550897ae71 0|\
22 66a66c516ac22054673e5da5e6492545 0|172 84a1ce7bcea3e66194e72b4aa2694e31 1|\
552 a811a7def34ca4b98d8e320afd115fad 0|546 e3a345cc8dbb6f014bfa1edad3981820 1|\
315 a71effb50e28d27cbdc9892f3765b8c2 0|510 55ee665a3fa22f8ea1b744ce15a7339d 0|\
230 7a5006be4d0ce7b542d59f83cd6f1c41 0|544 825b8fb9cfd45867794f4cd8a5a699bd 0|\
790 7629ecbea89398bfd9752a2f51c2c137 1|555 de6cdfb44d69e211f886c57120d7bda0 1|\
147 a8a5c3bb9205883fae17ead6675b2450 0|238 937e6cb3332dbe87062fa3997f48f425 0|\
122 5a357e150995e005847816c431ba502d 0|963 20cb3dcebe2cf8abe6102f4a2e548245 0|\
141 1b0afbd09abaaf7996cd26f8f6533795 0|666 3ee60b013303bcfda06be89071b90bd1 1|\
305 c90c7cf3471bbc3a804a8a831633705b 1|270 18dda74dfca45a7b0261510f385fb4de 1|\
381 600cf70c7bb4918e54aefd78c84f3996 1|35 855f493c5b5b1e2fcbc9993f8061eac8 0|\
839 89bc498feb21d969cf0eabf916aa621a 0|561 0a0af00f63e098a39883705a423b0aa8 1|\
667 0c38553d71f54dfc37155c22cc8bf243 0|603 49493809d1a49ea879e6aba37afde958 1|\
92 eb60d98b8f8fe22d8970f44f0e2b6bad 1|70 19c386ee7a9f2d56ff9ab2e6374540af 0|\
567 2a033c15405f1c7a311f653719ed47b7 0|936 62dda24e4be24f5198e4d8dd4010c811 1|\
210 bb134e26ee92e282e29cabdb1d00d333 1|835 6c77db08bbded7bdd5c99c6e2fea41d2 0|\
864 99f6a7e7b50845b4fb64b7c2ee49f53c 1|775 e908cb91224bee8fd4b5f3632f65717f 1|\
687 45a5ace7234d92d9983b4f3858bc0b8e 0|761 8c8a25d232fd4d3a37a5f70ccb82d752 0|\
400 54156d7434a894ef07f2a80dbf0f1138 1|741 67e3bfb02b0526dbb79420468d7b83dd 0|\
871 f6ea221283dcb42f89bfb15fa33398d2 0|244 b663ca45004decf8123a19fb5d7f7115 1|\
885 d0e299d54d6dc6469276fd4e48301d73 1|607 03240c2748aa67a185909a9345d84aba 0|\
434 b00de72ba67e6fe0ed661decac911f7e 1|889 20fff68a7cc715b30e4e6d69d53e0f60 0|\
810 6bf2bb105e594f6220803da5253551af 0|494 54fbb1d3ebe3883b0a01bbf2c9a2bf3e 1|\
413 a8a2ecba129d8537e360cf54de9d7460 0|215 2df034262b775136f2a313fdcc09738a 1|\
557 e3c1b943d9c1199d1108a69aa32a4587 0|662 1975d5f5640bac1064d53c2c21e02aae 0|\
482 6e4f16727dec3c09539b5f50d35d2c13 0|223 63a088446ef0ed60a9cace4698ede026 0|\
261 9b662cd6f67a4e3d1f904b4c5d4275b1 1|112 a2db788dbadc402b8c466b93b8749a6c 1|\
6 d6a68b47c66d1f94eed46b8ddc72faf4 0|575 e8a83c42f4515568d0942ec4472c9d2c 1|\
568 030e14c2954e3f08134b355f33414ba9 0|965 022315846d42a38322d6fd26250444b3 1|\
512 b3ba1ed226288dede87ac1f2ba88de2b 1|108 c57d0dcf43d5b154ef04c7953c94cd12 1|\
248 a835fe521d9cbfcfb724b603f87c7403 0|46 eda867e6df95e74abefac336c7f4cd1a 0|\
879 09e9e67a261ea3e00d817105b57ffd4e 0|853 6a780cf250cb3d2b699394042e6723a8 0|\
639 4c99d7f14c66b3123caf57980f8e2a31 0|111 79dc8d7a54bc3e8ef513b9cd8d830564 1|\
135 9c2e5d9d713e5219b0f9e5b884835e69 0|209 3ccb300bf7b983229979e0c46db267b0 1|\
629 0bb7b9da64da250c3934bb39130dc990 1|910 b25713ca4cea377871eaa334bc2dd382 1|\
667 69afc041003851cec60f41db97e005a9 1|449 c844b5428abe0cf82eaf02566781870a 1|\
16 2533c732bed8c1ba4721c25a1205f06c 0|936 ecc770b4be885dfc8d6fa135bc2c93bb 1|\
595 63b67cbb42de52e9916241ad94fcd5e8 1|83 fc4998bc53ccd42a5b8e7c86a93d4c88 0|\
878 59f0677dffe1a0a8c5895cb263e3a019 0|206 eb897eff9e7c7363e063b340a0c6b315 1|\
710 89e4c7e6af305be6cd139abcae953db5 1|650 97563d45ee254231e1ace05fb746bcce 0|\
233 3f580864f295ff13f179c3c907032ea9 1|836 e9b78e03706265a6936bff2a41530104 0|\
568 c458603ee921fa8711085c15b871b245 0|816 4bbfffab5b5975c1b007ebc518bf416d 0|\
397 61a1a65746287d78a431c6848ed1ffb3 0|847 53eee02f4672a72e93369b2c2ecf36eb 0|\
354 6ea23c3068a2c304488c8e67a072db97 0|961 eed247645e510ded87bd9afcf1d3e237 0|\
799 092af4ff2fdea5bb1c708b2169bdfd95 0|99 497f02db51c898ac441aae18a8b7ced9 0|\
773 988481445600bb91bbe23e3103034bcd 1|928 f1813835ac0f456721ef3aac39c0269a 1|\
235 1999920085682c007eb3a6984d2a7f05 1|460 60c3b9a2dde734d71ba5cca7eb164bce 1";

#[test]
fn hash_seed_decisions_match_the_collector() {
    let mut checked = 0;
    for vector in COLLECTOR_HASH_VECTORS.split('|') {
        let fields: Vec<&str> = vector.split_whitespace().collect();
        let (seed, trace_id, expected) = (fields[0], fields[1], fields[2] == "1");
        let (mut p, _) = build(
            &format!("sampling_percentage: 50\nhash_seed: {seed}\n"),
            Signal::Traces,
        );
        let kept = kept_spans(&run(&mut p, traces(vec![span(hex(trace_id), "")])));
        assert_eq!(kept.len() == 1, expected, "seed {seed} trace {trace_id}");
        checked += 1;
    }
    assert_eq!(checked, 100);
}

#[test]
fn hash_seed_writes_rv_and_th_like_the_collector() {
    // Collector: 14-bit rounding gives e668 for 10% and aaac for 33.3%.
    for (percent, tvalue) in [
        ("100", "0"),
        ("75", "4"),
        ("50", "8"),
        ("25", "c"),
        ("10", "e668"),
        ("33.333333", "aaac"),
    ] {
        let (mut p, _) = build(&format!("sampling_percentage: {percent}\n"), Signal::Traces);
        let batch = traces(ids(200, 7).into_iter().map(|id| span(id, "")).collect());
        let kept = kept_spans(&run(&mut p, batch));
        assert!(!kept.is_empty(), "{percent}");
        for span in kept {
            let ts = tracestate::W3cTraceState::parse(&span.trace_state).unwrap();
            let rv = ts.otel.randomness().expect("rv written");
            let th = ts.otel.threshold().expect("th written");
            assert_eq!(th.tvalue(), tvalue, "{percent}");
            assert!(th.should_sample(rv));
            assert!(
                span.trace_state.starts_with("ot=rv:"),
                "{}",
                span.trace_state
            );
        }
    }
}

#[test]
fn same_trace_id_gets_the_same_decision_everywhere() {
    let config = "sampling_percentage: 30\nhash_seed: 42\n";
    let ids = ids(500, 1);
    let (mut first, _) = build(config, Signal::Traces);
    let (mut second, _) = build(config, Signal::Traces);
    let kept = |p: &mut Box<dyn Processor>, ids: &[Vec<u8>]| -> Vec<Vec<u8>> {
        let batch = traces(ids.iter().map(|id| span(id.clone(), "")).collect());
        kept_spans(&run(p, batch))
            .into_iter()
            .map(|s| s.trace_id)
            .collect()
    };
    let once = kept(&mut first, &ids);
    // Same processor, later batches, other order and split differently.
    let mut reversed: Vec<Vec<u8>> = ids.iter().rev().cloned().collect();
    let mut again = kept(&mut first, &reversed.split_off(250));
    again.extend(kept(&mut first, &reversed));
    again.sort();
    let mut sorted = once.clone();
    sorted.sort();
    assert_eq!(again, sorted);
    // Another instance (another Weir of the same tier).
    assert_eq!(kept(&mut second, &ids), once);
    // Logs with the same trace id follow their trace.
    let (mut log_sampler, _) = build(config, Signal::Logs);
    let records = ids
        .iter()
        .map(|id| LogRecord {
            trace_id: id.clone(),
            ..Default::default()
        })
        .collect();
    let kept_logs: Vec<Vec<u8>> = kept_records(&run(&mut log_sampler, logs(records)))
        .into_iter()
        .map(|r| r.trace_id)
        .collect();
    assert_eq!(kept_logs, once);
}

#[test]
fn zero_drops_all_and_hundred_keeps_all() {
    let batch = || traces(ids(1000, 3).into_iter().map(|id| span(id, "")).collect());
    for mode in ["hash_seed", "proportional", "equalizing"] {
        let (mut none, telemetry) = build(
            &format!("mode: {mode}\nsampling_percentage: 0\n"),
            Signal::Traces,
        );
        assert!(run(&mut none, batch()).is_empty(), "{mode}");
        let text = telemetry.encode();
        assert!(
            text.contains("reason=\"sampled_out\"} 1000"),
            "{mode}: {text}"
        );

        let (mut all, _) = build(
            &format!("mode: {mode}\nsampling_percentage: 100\n"),
            Signal::Traces,
        );
        let out = run(&mut all, batch());
        assert_eq!(kept_spans(&out).len(), 1000, "{mode}");
    }
}

#[test]
fn weir_summaries_are_never_sampled() {
    let summary = || vec![attr("weir.summary", any_value::Value::BoolValue(true))];
    let not_summary = || {
        vec![attr(
            "weir.summary",
            any_value::Value::StringValue("true".into()),
        )]
    };
    for mode in ["hash_seed", "proportional", "equalizing"] {
        let config = format!("mode: {mode}\nsampling_percentage: 0\n");
        // Spans: summaries (even without a trace id, which fails closed otherwise) stay
        // exactly as they came; anything else is sampled out.
        let (mut sampler, telemetry) = build(&config, Signal::Traces);
        let mut spans: Vec<Span> = ids(10, 7).into_iter().map(|id| span(id, "")).collect();
        for (i, s) in spans.iter_mut().enumerate() {
            s.attributes = if i % 2 == 0 { summary() } else { not_summary() };
        }
        spans.push(Span {
            attributes: summary(),
            ..Default::default()
        });
        let input = traces(spans.clone());
        let expected: Vec<Span> = spans
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, s)| s)
            .collect();
        assert_eq!(kept_spans(&run(&mut sampler, input)), expected, "{mode}");
        assert!(
            telemetry.encode().contains("reason=\"sampled_out\"} 5"),
            "{mode}"
        );

        let (mut sampler, _) = build(&config, Signal::Logs);
        let records = vec![
            record(Vec::new(), summary()),
            record(ids(1, 1).remove(0), not_summary()),
        ];
        let kept = kept_records(&run(&mut sampler, logs(records.clone())));
        assert_eq!(kept, vec![records[0].clone()], "{mode}");
    }
}

#[test]
fn kept_fraction_is_close_to_the_percentage() {
    let all = ids(20_000, 99);
    for (config, expected) in [
        ("sampling_percentage: 10\n", 0.10),
        ("sampling_percentage: 50\nhash_seed: 7\n", 0.50),
        ("sampling_percentage: 33.3\nhash_seed: 123\n", 0.333),
        ("mode: proportional\nsampling_percentage: 25\n", 0.25),
        ("mode: equalizing\nsampling_percentage: 1\n", 0.01),
    ] {
        let (mut p, _) = build(config, Signal::Traces);
        let batch = traces(all.iter().map(|id| span(id.clone(), "")).collect());
        let kept = kept_spans(&run(&mut p, batch)).len() as f64 / all.len() as f64;
        // ±15% relative, +0.3 points: loose enough for any fixed id set.
        let band = expected * 0.15 + 0.003;
        assert!(
            (kept - expected).abs() <= band,
            "{config}: kept {kept}, expected {expected}"
        );
    }
}

#[test]
fn drops_are_counted_with_collector_and_weir_counters() {
    let (mut p, telemetry) = build("sampling_percentage: 50\n", Signal::Traces);
    let out = run(
        &mut p,
        traces(ids(1000, 5).into_iter().map(|id| span(id, "")).collect()),
    );
    let kept = kept_spans(&out).len();
    let dropped = 1000 - kept;
    assert!(kept > 0 && dropped > 0);
    let text = telemetry.encode();
    assert!(
        text.contains(&format!(
            "weir_items_dropped_total{{component=\"probabilistic_sampler\",otel_signal=\"traces\",reason=\"sampled_out\"}} {dropped}"
        )),
        "{text}"
    );
    for name in [
        "otelcol_processor_probabilistic_sampler_count_traces_sampled_total",
        "otelcol_processor_probabilistic_sampler_count_spans_processed_total",
    ] {
        assert!(
            text.contains(&format!(
                "{name}{{processor=\"probabilistic_sampler\",policy=\"trace_id_hash\",sampled=\"true\"}} {kept}"
            )),
            "{text}"
        );
        assert!(text.contains(&format!(
            "{name}{{processor=\"probabilistic_sampler\",policy=\"trace_id_hash\",sampled=\"false\"}} {dropped}"
        )));
    }
}

#[test]
fn emptied_scopes_and_resources_are_removed() {
    let (mut p, _) = build("sampling_percentage: 100\n", Signal::Traces);
    let mut batch = traces(vec![span(hex("0102030405060708090a0b0c0d0e0f10"), "")]);
    batch.edit_otlp_traces(|rs| {
        rs.push(ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span(vec![0; 16], "")], // no randomness: fail_closed drops it
                ..Default::default()
            }],
            ..Default::default()
        })
    });
    let out = run(&mut p, batch);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].resource_spans().len(), 1);
    assert_eq!(out[0].item_count(), 1);
}

#[test]
fn items_without_randomness_follow_fail_closed() {
    let batch = || traces(vec![span(vec![0; 16], ""), span(vec![], "")]);
    let (mut closed, telemetry) = build("sampling_percentage: 100\n", Signal::Traces);
    assert!(run(&mut closed, batch()).is_empty());
    let text = telemetry.encode();
    assert!(text.contains("reason=\"fail_closed\"} 2"), "{text}");
    assert!(
        text.contains("policy=\"missing_randomness\",sampled=\"false\"} 2"),
        "{text}"
    );

    let (mut open, _) = build(
        "sampling_percentage: 1\nfail_closed: false\n",
        Signal::Traces,
    );
    assert_eq!(kept_spans(&run(&mut open, batch())).len(), 2);
}

#[test]
fn hash_seed_refuses_items_already_carrying_sampling_state() {
    // The Collector: rv or th in the tracestate means "use equalizing or proportional";
    // with fail_closed the span is dropped, otherwise kept untouched.
    let id = hex("fefefefefefefefefe80000000000000");
    for ts in ["ot=rv:80000000000000", "ot=th:8", "ot=th:zz", "bad key=1"] {
        let (mut closed, _) = build("sampling_percentage: 100\n", Signal::Traces);
        assert!(
            run(&mut closed, traces(vec![span(id.clone(), ts)])).is_empty(),
            "{ts}"
        );
        let (mut open, _) = build(
            "sampling_percentage: 100\nfail_closed: false\n",
            Signal::Traces,
        );
        let kept = kept_spans(&run(&mut open, traces(vec![span(id.clone(), ts)])));
        assert_eq!(kept[0].trace_state, ts);
    }
}

#[test]
fn sampling_priority_forces_span_decisions() {
    let id = hex("0102030405060708090a0b0c0d0e0f10");
    let with = |value: any_value::Value| {
        let mut s = span(id.clone(), "");
        s.attributes.push(attr("sampling.priority", value));
        traces(vec![s])
    };
    let (mut none, telemetry) = build("sampling_percentage: 0\n", Signal::Traces);
    for keep in [
        any_value::Value::IntValue(1),
        any_value::Value::DoubleValue(0.5),
        any_value::Value::StringValue("2".into()),
    ] {
        assert_eq!(kept_spans(&run(&mut none, with(keep))).len(), 1);
    }
    assert!(telemetry
        .encode()
        .contains("policy=\"sampling_priority\",sampled=\"true\"} 3"));
    let (mut all, _) = build("sampling_percentage: 100\n", Signal::Traces);
    for drop in [
        any_value::Value::IntValue(0),
        any_value::Value::DoubleValue(0.0),
        any_value::Value::StringValue("0".into()),
    ] {
        assert!(run(&mut all, with(drop)).is_empty());
    }
    for defer in [
        any_value::Value::IntValue(-1),
        any_value::Value::StringValue("NaN".into()),
        any_value::Value::BoolValue(true),
    ] {
        assert_eq!(kept_spans(&run(&mut all, with(defer))).len(), 1);
    }
}

// ---------------------------------------------------------------- OTEP 235 modes

/// Cases of the Collector's `Test_tracesamplerprocessor_TraceState`:
/// (percentage, precision, trace id, arriving tracestate,
///  expected tracestate in equalizing mode, in proportional mode; None = dropped).
#[allow(clippy::type_complexity)]
const CONSISTENT_CASES: &[(f32, u8, &str, &str, Option<&str>, Option<&str>)] = &[
    (100.0, 14, "", "", Some("ot=th:0"), Some("ot=th:0")),
    (50.0, 14, "", "", Some("ot=th:8"), Some("ot=th:8")),
    (
        25.0,
        14,
        "ddddddddddddddddddc0000000000000",
        "",
        Some("ot=th:c"),
        Some("ot=th:c"),
    ),
    (25.0, 14, "ddddddddddddddddddb0000000000000", "", None, None),
    (
        1.0,
        14,
        "",
        "ot=rv:FD70A3D70A3D71",
        Some("ot=rv:FD70A3D70A3D71;th:fd70a3d70a3d71"),
        Some("ot=rv:FD70A3D70A3D71;th:fd70a3d70a3d71"),
    ),
    (
        1.0,
        4,
        "",
        "ot=rv:FD70A3D70A3D71",
        Some("ot=rv:FD70A3D70A3D71;th:fd70a"),
        Some("ot=rv:FD70A3D70A3D71;th:fd70a"),
    ),
    (1.0, 3, "", "ot=rv:FD70A3D70A3D71", None, None),
    (1.0, 14, "", "ot=rv:FD70A3D70A3D70", None, None),
    (49.0, 14, "", "", None, None),
    (
        1.0,
        14,
        "",
        "ot=rv:fd70B000000000",
        Some("ot=rv:fd70B000000000;th:fd70a3d70a3d71"),
        Some("ot=rv:fd70B000000000;th:fd70a3d70a3d71"),
    ),
    (
        1.0,
        4,
        "a0a0a0a0a0a0a0a0a0fe000000000000",
        "",
        Some("ot=th:fd70a"),
        Some("ot=th:fd70a"),
    ),
    (
        50.0,
        14,
        "",
        "ot=rv:90000000000000;th:80000000000000",
        Some("ot=rv:90000000000000;th:8"),
        None,
    ),
    (25.0, 14, "", "ot=th:8", None, None),
    (
        25.0,
        14,
        "ffffffffffffffffffffffffffffffff",
        "ot=th:8",
        Some("ot=th:c"),
        Some("ot=th:e"),
    ),
    (
        50.0,
        14,
        "",
        "ot=rv:c0000000000000;th:8",
        Some("ot=rv:c0000000000000;th:8"),
        Some("ot=rv:c0000000000000;th:c"),
    ),
    (
        100.0,
        14,
        "",
        "ot=rv:40000000000000;th:8",
        Some("ot=rv:40000000000000;th:0"),
        Some("ot=rv:40000000000000;th:0"),
    ),
    (
        40.0,
        3,
        "",
        "ot=rv:a0000000000000",
        Some("ot=rv:a0000000000000;th:99a"),
        Some("ot=rv:a0000000000000;th:99a"),
    ),
    (
        40.0,
        6,
        "a0a0a0a0a0a0a0a0a0d0000000000000",
        "ot=th:8",
        Some("ot=th:99999a"),
        Some("ot=th:cccccd"),
    ),
    (
        40.0,
        3,
        "a0a0a0a0a0a0a0a0a0b0000000000000",
        "ot=th:8",
        Some("ot=th:99a"),
        None,
    ),
    (
        40.0,
        3,
        "a0a0a0a0a0a0a0a0a080000000000000",
        "ot=th:8",
        None,
        None,
    ),
    (200.0, 14, "", "", Some("ot=th:0"), Some("ot=th:0")),
    (
        100.0 / 16384.0,
        14,
        "111111111111111111ffffffffffffff",
        "ot=th:fffc",
        Some("ot=th:fffc"),
        Some("ot=th:fffffff"),
    ),
    (
        0.0625,
        14,
        "111111111111111111ffffffffffffff",
        "ot=th:fffffffffffff8",
        Some("ot=th:fffffffffffff8"),
        None,
    ),
];

#[test]
fn consistent_modes_match_the_collector() {
    for (percent, precision, tid, ts, equalizing, proportional) in CONSISTENT_CASES {
        for (mode, expected) in [
            (Mode::Equalizing, equalizing),
            (Mode::Proportional, proportional),
        ] {
            let config = SamplerConfig {
                sampling_percentage: *percent,
                mode,
                fail_closed: false,
                sampling_precision: *precision,
                ..SamplerConfig::default()
            };
            let counters = SamplerCounters::new(&Telemetry::new(), "t", Signal::Traces, &config);
            let mut p = ProbabilisticSampler::new(&config, counters);
            let tid = if tid.is_empty() {
                "fefefefefefefefefe80000000000000"
            } else {
                tid
            };
            let mut out = Vec::new();
            p.process(traces(vec![span(hex(tid), ts)]), &mut out);
            let kept: Vec<String> = kept_spans(&out)
                .into_iter()
                .map(|s| s.trace_state)
                .collect();
            let case = format!("{mode:?} {percent}% p{precision} tid {tid} ts {ts:?}");
            match expected {
                Some(want) => assert_eq!(kept, vec![want.to_string()], "{case}"),
                None => assert!(kept.is_empty(), "{case}: {kept:?}"),
            }
        }
    }
}

#[test]
fn consistent_modes_fail_closed_on_bad_sampling_state() {
    // The Collector's `Test_tracesamplerprocessor_TraceStateErrors`.
    let default_tid = "fefefefefefefefefe80000000000000";
    for (tid, ts) in [
        ("00000000000000000000000000000000", ""),
        (default_tid, "ot=rv:abababababababab"),
        (default_tid, "ot=th:abababababababab"),
        (default_tid, "ot=th:-1"),
        ("ffffffffffffffffff70000000000000", "ot=th:8"),
        (default_tid, "ot=th:8;rv:70000000000000"),
    ] {
        for mode in ["equalizing", "proportional"] {
            let (mut p, telemetry) = build(
                &format!("mode: {mode}\nsampling_percentage: 100\n"),
                Signal::Traces,
            );
            assert!(
                run(&mut p, traces(vec![span(hex(tid), ts)])).is_empty(),
                "{mode} {ts}"
            );
            assert!(
                telemetry.encode().contains("reason=\"fail_closed\"} 1"),
                "{mode} {ts}"
            );
        }
    }
}

// ---------------------------------------------------------------- logs

fn record(trace_id: Vec<u8>, attributes: Vec<KeyValue>) -> LogRecord {
    LogRecord {
        trace_id,
        attributes,
        ..Default::default()
    }
}

#[test]
fn logs_are_sampled_by_trace_id_and_annotated() {
    let (mut p, telemetry) = build("sampling_percentage: 50\n", Signal::Logs);
    let records = ids(400, 11)
        .into_iter()
        .map(|id| record(id, vec![]))
        .collect();
    let kept = kept_records(&run(&mut p, logs(records)));
    assert!(kept.len() > 100 && kept.len() < 300, "{}", kept.len());
    for r in &kept {
        assert_eq!(str_attr(r, "sampling.threshold"), Some("8"));
        assert_eq!(str_attr(r, "sampling.randomness").map(str::len), Some(14));
    }
    let text = telemetry.encode();
    assert!(
        text.contains(&format!(
            "otelcol_processor_probabilistic_sampler_count_logs_sampled_total{{processor=\"probabilistic_sampler\",policy=\"trace_id_hash\",sampled=\"true\"}} {}",
            kept.len()
        )),
        "{text}"
    );
    assert!(text.contains(&format!(
        "weir_items_dropped_total{{component=\"probabilistic_sampler\",otel_signal=\"logs\",reason=\"sampled_out\"}} {}",
        400 - kept.len()
    )));
}

#[test]
fn logs_without_trace_id_use_from_attribute_or_fail_closed() {
    let by_id = |id: &str| {
        record(
            vec![],
            vec![attr("log.id", any_value::Value::StringValue(id.into()))],
        )
    };
    let (mut p, telemetry) = build(
        "sampling_percentage: 100\nfrom_attribute: log.id\n",
        Signal::Logs,
    );
    let out = run(
        &mut p,
        logs(vec![by_id("a"), by_id("b"), record(vec![], vec![])]),
    );
    assert_eq!(kept_records(&out).len(), 2);
    let text = telemetry.encode();
    assert!(
        text.contains("policy=\"log.id\",sampled=\"true\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("otel_signal=\"logs\",reason=\"fail_closed\"} 1"),
        "{text}"
    );

    let (mut open, _) = build("sampling_percentage: 1\nfail_closed: false\n", Signal::Logs);
    let kept = kept_records(&run(&mut open, logs(vec![record(vec![], vec![])])));
    assert_eq!(kept.len(), 1);
    assert_eq!(str_attr(&kept[0], "sampling.randomness"), None);
    assert_eq!(str_attr(&kept[0], "sampling.threshold"), Some("0"));
}

#[test]
fn record_source_ignores_the_trace_id() {
    let config = "sampling_percentage: 50\nattribute_source: record\nfrom_attribute: log.id\n";
    let (mut p, _) = build(config, Signal::Logs);
    let records: Vec<LogRecord> = (0..400)
        .map(|i| {
            record(
                ids(1, i)[0].clone(),
                vec![attr("log.id", any_value::Value::IntValue(i as i64 % 20))],
            )
        })
        .collect();
    let kept = kept_records(&run(&mut p, logs(records)));
    // 20 distinct attribute values: every record with a kept value is kept, whatever
    // its trace id.
    let kept_values: std::collections::BTreeSet<String> = kept
        .iter()
        .map(|r| format!("{:?}", r.attributes[0].value))
        .collect();
    assert_eq!(kept.len(), kept_values.len() * 20);
}

#[test]
fn log_sampling_priority_overrides_the_percentage() {
    let config = "sampling_percentage: 0.0001\nsampling_priority: prio\n";
    let (mut p, _) = build(config, Signal::Logs);
    let records = ids(100, 21)
        .into_iter()
        .map(|id| record(id, vec![attr("prio", any_value::Value::DoubleValue(100.0))]))
        .collect();
    let kept = kept_records(&run(&mut p, logs(records)));
    assert_eq!(kept.len(), 100);
    assert_eq!(str_attr(&kept[0], "sampling.threshold"), Some("0"));
}

#[test]
fn consistent_logs_read_and_raise_the_threshold_attribute() {
    let (mut p, _) = build(
        "mode: proportional\nsampling_percentage: 50\n",
        Signal::Logs,
    );
    let arriving = vec![
        attr(
            "sampling.randomness",
            any_value::Value::StringValue("f0000000000000".into()),
        ),
        attr(
            "sampling.threshold",
            any_value::Value::StringValue("8".into()),
        ),
    ];
    let kept = kept_records(&run(&mut p, logs(vec![record(vec![], arriving)])));
    assert_eq!(kept.len(), 1);
    assert_eq!(str_attr(&kept[0], "sampling.threshold"), Some("c"));
    assert_eq!(
        str_attr(&kept[0], "sampling.randomness"),
        Some("f0000000000000")
    );
}
