//! Every supported construct of the OTTL subset, evaluated on known items in both batch
//! forms (decoded and wire bytes), and the compile errors for what is outside the subset.
#![allow(clippy::unwrap_used)]

mod fixtures;

use fixtures::*;
use weir_api::ClientMetadata;
use weir_ottl::{Condition, Context, Item};

/// Evaluates `text` on every item of `context` in both forms; both must agree.
fn eval(context: Context, text: &str) -> Vec<bool> {
    let condition = Condition::compile(text, context)
        .unwrap_or_else(|e| panic!("`{text}` does not compile: {e}"));
    let mut answers: Vec<Vec<bool>> = Vec::new();
    let batches = match context {
        Context::Log => log_batches(),
        Context::Metric | Context::DataPoint => metric_batches(),
        _ => trace_batches(),
    };
    for batch in &batches {
        let mut out = Vec::new();
        let mut judge = |item: Item<'_>| {
            out.push(
                condition
                    .evaluate(&item)
                    .unwrap_or_else(|e| panic!("`{text}`: {e}")),
            )
        };
        match context {
            Context::Resource => batch
                .traces()
                .for_each(|rs| judge(Item::resource(rs.resource()))),
            Context::Scope => batch.traces().for_each(|rs| {
                rs.scopes()
                    .for_each(|ss| judge(Item::scope(rs.resource(), ss.scope())))
            }),
            Context::Span => batch
                .spans()
                .for_each(|(r, s, span)| judge(Item::span(r, s, span))),
            Context::SpanEvent => batch.spans().for_each(|(r, s, span)| {
                span.events()
                    .for_each(|e| judge(Item::span_event(r, s, span, e)))
            }),
            Context::Log => batch
                .log_records()
                .for_each(|(r, s, l)| judge(Item::log(r, s, l))),
            Context::Metric | Context::DataPoint => batch.metrics().for_each(|rm| {
                rm.scopes().for_each(|sm| {
                    sm.metrics().for_each(|m| {
                        if context == Context::Metric {
                            judge(Item::metric(rm.resource(), sm.scope(), m))
                        } else {
                            m.points().for_each(|p| {
                                judge(Item::data_point(rm.resource(), sm.scope(), m, p))
                            })
                        }
                    })
                })
            }),
            Context::Request => {}
        }
        answers.push(out);
    }
    assert_eq!(
        answers[0], answers[1],
        "`{text}`: decoded and wire forms disagree"
    );
    answers.remove(0)
}

fn holds(context: Context, text: &str) -> bool {
    let answers = eval(context, text);
    assert_eq!(
        answers.len(),
        1,
        "`{text}`: expected one item, got {}",
        answers.len()
    );
    answers[0]
}

#[test]
fn span_paths() {
    let cases = [
        (r#"name == "GET /checkout""#, true),
        (r#"span.name == "GET /checkout""#, true),
        ("kind == SPAN_KIND_SERVER", true),
        ("kind == 2", true),
        (r#"kind.string == "Server""#, true),
        ("status.code == STATUS_CODE_ERROR", true),
        (r#"status.message == "upstream timed out""#, true),
        (
            "trace_id == TraceID(0x0102030405060708090a0b0c0d0e0f10)",
            true,
        ),
        (
            r#"trace_id.string == "0102030405060708090a0b0c0d0e0f10""#,
            true,
        ),
        ("span_id == SpanID(0x0102030405060708)", true),
        (r#"span_id.string == "0102030405060708""#, true),
        (r#"parent_span_id.string == "0909090909090909""#, true),
        (r#"trace_state == "ot=th:8""#, true),
        ("start_time_unix_nano == 1000000000", true),
        ("end_time_unix_nano == 1250000000", true),
        (
            "end_time_unix_nano - start_time_unix_nano == 250000000",
            true,
        ),
        ("duration > 200000000", true),
        ("duration >= 250000000 and duration <= 250000000", true),
        ("flags == 1", true),
        ("dropped_attributes_count == 0", true),
        (r#"attributes["http.method"] == "GET""#, true),
        (r#"attributes["http.status_code"] == 503"#, true),
        (r#"attributes["http.status_code"] >= 500"#, true),
        (r#"attributes["http.status_code"] == 503.0"#, true),
        (r#"attributes["ratio"] < 0.5"#, true),
        (r#"attributes["cached"] == false"#, true),
        (r#"attributes["tags"][1] == "b""#, true),
        (r#"attributes["nested"]["inner"] == "x""#, true),
        (r#"attributes["missing"] == nil"#, true),
        (r#"attributes["missing"] != nil"#, false),
        (r#"attributes["http.method"] == nil"#, false),
        (r#"resource.attributes["service.name"] == "checkout""#, true),
        (r#"instrumentation_scope.name == "io.weir.test""#, true),
        (r#"instrumentation_scope.version == "1.2.3""#, true),
        (r#"instrumentation_scope.attributes["lib"] == "weir""#, true),
    ];
    for (text, expected) in cases {
        assert_eq!(holds(Context::Span, text), expected, "`{text}`");
    }
}

#[test]
fn literals_operators_and_types() {
    let cases = [
        ("true", true),
        ("false", false),
        ("not false", true),
        ("1 == 1", true),
        ("1 != 2", true),
        ("1 < 2 and 2 <= 2 and 3 > 2 and 3 >= 3", true),
        ("1.5 > 1", true),
        ("-1 < 0", true),
        ("2 * 3 + 1 == 7", true),
        ("(1 + 1) * 3 == 6", true),
        ("7 / 2 == 3", true),
        ("7.0 / 2 == 3.5", true),
        (r#""abc" < "abd""#, true),
        (r#""a" == "a""#, true),
        (r#""1" == 1"#, false),
        (r#""1" != 1"#, true),
        ("true == true", true),
        ("true > false", false),
        ("nil == nil", true),
        ("nil < 1", false),
        ("false or true", true),
        ("true and false", false),
        ("true and (false or true)", true),
        ("not (true and false)", true),
        ("false or false or true", true),
        ("true or false and false", true),
        (r#"name == "x" or kind == SPAN_KIND_SERVER"#, true),
    ];
    for (text, expected) in cases {
        assert_eq!(holds(Context::Span, text), expected, "`{text}`");
    }
}

#[test]
fn enum_names() {
    let cases = [
        ("SPAN_KIND_UNSPECIFIED == 0", true),
        ("SPAN_KIND_INTERNAL == 1", true),
        ("SPAN_KIND_CLIENT == 3", true),
        ("SPAN_KIND_PRODUCER == 4", true),
        ("SPAN_KIND_CONSUMER == 5", true),
        ("STATUS_CODE_UNSET == 0", true),
        ("STATUS_CODE_OK == 1", true),
        ("SEVERITY_NUMBER_UNSPECIFIED == 0", true),
        ("SEVERITY_NUMBER_TRACE == 1", true),
        ("SEVERITY_NUMBER_DEBUG4 == 8", true),
        ("SEVERITY_NUMBER_INFO == 9", true),
        ("SEVERITY_NUMBER_WARN == 13", true),
        ("SEVERITY_NUMBER_ERROR == 17", true),
        ("SEVERITY_NUMBER_FATAL4 == 24", true),
        ("METRIC_DATA_TYPE_NONE == 0", true),
        ("METRIC_DATA_TYPE_GAUGE == 1", true),
        ("METRIC_DATA_TYPE_SUM == 2", true),
        ("METRIC_DATA_TYPE_HISTOGRAM == 3", true),
        ("METRIC_DATA_TYPE_EXPONENTIAL_HISTOGRAM == 4", true),
        ("METRIC_DATA_TYPE_SUMMARY == 5", true),
        ("AGGREGATION_TEMPORALITY_DELTA == 1", true),
        ("AGGREGATION_TEMPORALITY_CUMULATIVE == 2", true),
    ];
    for (text, expected) in cases {
        assert_eq!(holds(Context::Span, text), expected, "`{text}`");
    }
}

#[test]
fn converters() {
    let cases = [
        (r#"IsMatch(name, "^GET /")"#, true),
        (r#"IsMatch(name, "^POST")"#, false),
        (
            r#"IsMatch(attributes["http.status_code"], "^5\\d\\d$")"#,
            true,
        ),
        (r#"IsMatch(attributes["missing"], ".*")"#, false),
        (r#"IsString(attributes["http.method"])"#, true),
        (r#"IsString(attributes["http.status_code"])"#, false),
        (r#"IsInt(attributes["http.status_code"])"#, true),
        (r#"IsDouble(attributes["ratio"])"#, true),
        (r#"IsBool(attributes["cached"])"#, true),
        (r#"IsMap(attributes["nested"])"#, true),
        (r#"IsList(attributes["tags"])"#, true),
        (r#"HasPrefix(name, "GET")"#, true),
        (r#"HasSuffix(name, "checkout")"#, true),
        (r#"Len(name) == 13"#, true),
        (r#"Len(attributes["tags"]) == 2"#, true),
        (r#"Len(attributes) == 7"#, true),
        (
            r#"Concat([attributes["http.method"], name, 7], "|") == "GET|GET /checkout|7""#,
            true,
        ),
        (r#"Substring(name, 0, 3) == "GET""#, true),
        (
            r#"SHA256(attributes["credit_card"]) == "c3b5fb7e1b8b9a2b8a8a9d5d2a2b6bdb4a5e3d0b0e0a1a0b0c0d0e0f00010203""#,
            false,
        ),
        (r#"Int("42") == 42"#, true),
        (r#"Int(3.9) == 3"#, true),
        (r#"Int("x") == nil"#, true),
        (r#"Double("2.5") == 2.5"#, true),
        (r#"String(attributes["http.status_code"]) == "503""#, true),
        (r#"String(true) == "true""#, true),
        (r#"ToLowerCase(attributes["http.method"]) == "get""#, true),
        (r#"ToUpperCase("get") == "GET""#, true),
    ];
    for (text, expected) in cases {
        assert_eq!(holds(Context::Span, text), expected, "`{text}`");
    }
}

#[test]
fn sha256_matches_an_independent_digest() {
    // printf '4111-1111-1111-1111' | sha256sum
    let expected = "b3f846b293cec081f0740bdaaecbea387754943b9e2ff6d83b8b459d1bbb43ac";
    assert_eq!(weir_ottl::sha256_hex(b"4111-1111-1111-1111"), expected);
    let text = format!(r#"SHA256(attributes["credit_card"]) == "{expected}""#);
    assert!(holds(Context::Span, &text));
}

#[test]
fn span_event_paths_reach_the_span() {
    assert_eq!(
        eval(Context::SpanEvent, r#"name == "exception""#),
        vec![true, false]
    );
    assert_eq!(
        eval(Context::SpanEvent, r#"spanevent.name == "retry""#),
        vec![false, true]
    );
    assert_eq!(
        eval(Context::SpanEvent, r#"attributes["attempt"] == 2"#),
        vec![false, true]
    );
    assert_eq!(
        eval(Context::SpanEvent, r#"span.name == "GET /checkout""#),
        vec![true, true]
    );
    assert_eq!(
        eval(
            Context::SpanEvent,
            r#"resource.attributes["tenant"] == "acme""#
        ),
        vec![true, true]
    );
    assert_eq!(
        eval(Context::SpanEvent, "time_unix_nano == 0"),
        vec![true, true]
    );
}

#[test]
fn log_paths() {
    let cases = [
        ("severity_number == SEVERITY_NUMBER_ERROR", true),
        ("severity_number >= SEVERITY_NUMBER_WARN", true),
        ("log.severity_number < SEVERITY_NUMBER_WARN", false),
        (r#"severity_text == "ERROR""#, true),
        (r#"body == "payment failed for order 42""#, true),
        (r#"IsMatch(body, "order \\d+")"#, true),
        (r#"attributes["user"] == "ann""#, true),
        (
            r#"trace_id.string == "0102030405060708090a0b0c0d0e0f10""#,
            true,
        ),
        (r#"span_id.string == "0102030405060708""#, true),
        ("time_unix_nano == 5 and observed_time_unix_nano == 6", true),
        (r#"event_name == "payment.failure""#, true),
        (r#"resource.attributes["tenant"] == "acme""#, true),
        (r#"instrumentation_scope.name == "io.weir.test""#, true),
    ];
    for (text, expected) in cases {
        assert_eq!(holds(Context::Log, text), expected, "`{text}`");
    }
}

#[test]
fn metric_paths() {
    assert_eq!(
        eval(Context::Metric, r#"name == "http.server.requests""#),
        vec![true, false]
    );
    assert_eq!(
        eval(Context::Metric, "type == METRIC_DATA_TYPE_SUM"),
        vec![true, false]
    );
    assert_eq!(
        eval(Context::Metric, "metric.type == METRIC_DATA_TYPE_HISTOGRAM"),
        vec![false, true]
    );
    assert_eq!(eval(Context::Metric, r#"unit == "ms""#), vec![false, true]);
    assert_eq!(
        eval(Context::Metric, r#"description == "requests served""#),
        vec![true, false]
    );
    assert_eq!(
        eval(
            Context::Metric,
            "aggregation_temporality == AGGREGATION_TEMPORALITY_CUMULATIVE"
        ),
        vec![true, false]
    );
    assert_eq!(
        eval(Context::Metric, "is_monotonic == true"),
        vec![true, false]
    );
    assert_eq!(
        eval(
            Context::Metric,
            r#"resource.attributes["tenant"] == "acme""#
        ),
        vec![true, true]
    );
}

#[test]
fn data_point_paths_reach_the_metric() {
    assert_eq!(
        eval(Context::DataPoint, r#"attributes["route"] == "/a""#),
        vec![true, false, true]
    );
    assert_eq!(
        eval(Context::DataPoint, "value_int > 8"),
        vec![false, true, false]
    );
    assert_eq!(
        eval(Context::DataPoint, "value_double == 0.0"),
        vec![true, true, false]
    );
    assert_eq!(
        eval(Context::DataPoint, "count == 4"),
        vec![false, false, true]
    );
    assert_eq!(
        eval(Context::DataPoint, "sum > 10"),
        vec![false, false, true]
    );
    assert_eq!(
        eval(
            Context::DataPoint,
            r#"metric.name == "http.server.requests""#
        ),
        vec![true, true, false]
    );
    assert_eq!(
        eval(
            Context::DataPoint,
            "metric.type == METRIC_DATA_TYPE_HISTOGRAM"
        ),
        vec![false, false, true]
    );
    assert_eq!(
        eval(Context::DataPoint, r#"metric.unit == "ms""#),
        vec![false, false, true]
    );
    assert_eq!(
        eval(
            Context::DataPoint,
            "start_time_unix_nano == 10 and time_unix_nano == 20"
        ),
        vec![true, true, false]
    );
}

#[test]
fn resource_and_scope_contexts() {
    assert!(holds(
        Context::Resource,
        r#"attributes["tenant"] == "acme""#
    ));
    assert!(holds(
        Context::Resource,
        r#"resource.attributes["service.name"] == "checkout""#
    ));
    assert!(holds(
        Context::Scope,
        r#"name == "io.weir.test" and version == "1.2.3""#
    ));
    assert!(holds(Context::Scope, r#"attributes["lib"] == "weir""#));
    assert!(holds(
        Context::Scope,
        r#"resource.attributes["tenant"] == "acme""#
    ));
}

#[test]
fn request_context_reads_client_metadata() {
    let metadata = ClientMetadata::from_pairs([("X-Tenant", "acme")]);
    let condition =
        Condition::compile(r#"request["x-tenant"] == "acme""#, Context::Request).unwrap();
    assert!(condition.evaluate(&Item::request(&metadata)).unwrap());
    let other = ClientMetadata::from_pairs([("x-tenant", "globex")]);
    assert!(!condition.evaluate(&Item::request(&other)).unwrap());
    assert!(!condition
        .evaluate(&Item::request(&ClientMetadata::default()))
        .unwrap());
}

#[test]
fn run_time_errors_are_errors_not_panics() {
    let [batch, _] = trace_batches();
    let (r, s, span) = batch.spans().next().unwrap();
    let item = Item::span(r, s, span);
    for text in [
        r#"Substring(name, 10, 50) == "x""#,
        r#"Len(attributes["http.status_code"]) == 1"#,
        r#"attributes["http.method"] + 1 == 2"#,
        "1 / 0 == 1",
    ] {
        let condition = Condition::compile(text, Context::Span).unwrap();
        assert!(
            condition.evaluate(&item).is_err(),
            "`{text}` should fail at run time"
        );
    }
}

/// Constructs outside the subset are refused at compile time, with the column.
#[test]
fn compile_errors_name_the_construct_and_column() {
    let cases: [(Context, &str, usize, &str); 14] = [
        (
            Context::Span,
            r#"Frobnicate(name) == "x""#,
            1,
            "unsupported converter `Frobnicate`",
        ),
        (
            Context::Span,
            r#"name == "x" and body == "y""#,
            17,
            "`body` is not a path of the `span` context",
        ),
        (Context::Span, r#"name = "x""#, 6, "use `==`"),
        (
            Context::Span,
            "kind == SPAN_KIND_SIDEWAYS",
            9,
            "unknown enum value `SPAN_KIND_SIDEWAYS`",
        ),
        (Context::Span, r#"name == "x"#, 9, "unterminated string"),
        (Context::Span, "name", 1, "not a condition"),
        (
            Context::Span,
            r#"IsMatch(name, "(")"#,
            15,
            "bad regular expression",
        ),
        (
            Context::Span,
            r#"IsMatch(name, attributes["p"])"#,
            15,
            "must be a string literal",
        ),
        (
            Context::Log,
            r#"metric.name == "x""#,
            1,
            "`metric` paths cannot be read in the `log` context",
        ),
        (Context::Span, r#"name == "a" == "b""#, 13, "do not chain"),
        (Context::Span, r#"set(name, "x")"#, 1, "is an editor"),
        (Context::Span, r#"name == {"a": 1}"#, 9, "map literals"),
        (Context::Span, "1 2", 3, "expected an operator"),
        (Context::Span, "Len(name, 1) == 1", 1, "takes 1 argument"),
    ];
    for (context, text, column, message) in cases {
        let error = Condition::compile(text, context).expect_err(text);
        assert!(error.message.contains(message), "`{text}`: {error}");
        assert_eq!(error.column, column, "`{text}`: {error}");
    }
}
