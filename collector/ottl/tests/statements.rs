//! Statements: every editor, `where` clauses, sequential semantics when run one walk per
//! statement, and compile errors.
#![allow(clippy::unwrap_used)]

mod fixtures;

use fixtures::*;
use weir_api::batch::view::ValueRef;
use weir_api::Batch;
use weir_ottl::{infer_context, Context, Statement};

/// Runs statements in order, one walk each, as the transform processor does.
fn run(batch: &mut Batch, context: Context, statements: &[&str]) {
    for text in statements {
        let statement =
            Statement::compile(text, context).unwrap_or_else(|e| panic!("`{text}`: {e}"));
        match context {
            Context::Resource => batch.edit_resources(|e| {
                statement.run_on_resource(e).unwrap();
                true
            }),
            Context::Scope => batch.edit_scopes(|e| {
                statement.run_on_scope(e).unwrap();
                true
            }),
            Context::Span => batch.edit_spans(|e| {
                statement.run_on_span(e).unwrap();
                true
            }),
            Context::SpanEvent => batch.edit_spans(|e| {
                statement.run_on_span_events(e).unwrap();
                true
            }),
            Context::Log => batch.edit_log_records(|e| {
                statement.run_on_log(e).unwrap();
                true
            }),
            Context::Metric => batch.edit_metrics(|e| {
                statement.run_on_metric(e).unwrap();
                true
            }),
            Context::DataPoint => batch.edit_metrics(|e| {
                statement.run_on_data_points(e).unwrap();
                true
            }),
            Context::Request => {}
        }
    }
}

fn span_attributes(batch: &Batch) -> Vec<(String, String)> {
    let (_, _, span) = batch.spans().next().unwrap();
    span.attributes()
        .iter()
        .map(|(k, v)| (k.to_string(), format!("{v:?}")))
        .collect()
}

fn span_attr(batch: &Batch, key: &str) -> Option<String> {
    let (_, _, span) = batch.spans().next().unwrap();
    span.attributes().get(key).map(|v| match v {
        ValueRef::Str(s) => s.to_string(),
        other => format!("{other:?}"),
    })
}

#[test]
fn set_writes_attributes_and_fields_in_both_forms() {
    for mut batch in trace_batches() {
        run(
            &mut batch,
            Context::Span,
            &[
                r#"set(attributes["env"], "prod")"#,
                r#"set(attributes["copy"], attributes["http.method"])"#,
                r#"set(attributes["id"], Concat([resource.attributes["tenant"], name], ":"))"#,
                r#"set(name, "renamed") where kind == SPAN_KIND_SERVER"#,
                r#"set(status.message, "rewritten")"#,
                "set(status.code, STATUS_CODE_OK)",
                r#"set(attributes["never"], "x") where kind == SPAN_KIND_CLIENT"#,
                r#"set(attributes["nil"], attributes["missing"])"#,
            ],
        );
        let (_, _, span) = batch.spans().next().unwrap();
        assert_eq!(span.name(), "renamed");
        assert_eq!(span.status_message(), "rewritten");
        assert_eq!(span.status_code().as_i32(), 1);
        assert_eq!(span_attr(&batch, "env").as_deref(), Some("prod"));
        assert_eq!(span_attr(&batch, "copy").as_deref(), Some("GET"));
        assert_eq!(
            span_attr(&batch, "id").as_deref(),
            Some("acme:GET /checkout")
        );
        assert_eq!(span_attr(&batch, "never"), None);
        assert_eq!(span_attr(&batch, "nil"), None, "set with nil does nothing");
    }
}

#[test]
fn statements_see_earlier_statements() {
    for mut batch in trace_batches() {
        run(
            &mut batch,
            Context::Span,
            &[
                r#"set(attributes["stage"], "one")"#,
                r#"set(attributes["seen"], attributes["stage"])"#,
                r#"replace_pattern(attributes["credit_card"], "^\\d{4}", "XXXX")"#,
                r#"replace_pattern(attributes["credit_card"], "\\d{4}$", "YYYY")"#,
            ],
        );
        assert_eq!(span_attr(&batch, "seen").as_deref(), Some("one"));
        assert_eq!(
            span_attr(&batch, "credit_card").as_deref(),
            Some("XXXX-1111-1111-YYYY")
        );
    }
}

#[test]
fn map_editors() {
    for mut batch in trace_batches() {
        run(
            &mut batch,
            Context::Span,
            &[
                r#"delete_key(attributes, "ratio")"#,
                r#"delete_matching_keys(attributes, "^http\\.status")"#,
                r#"replace_all_patterns(attributes, "value", "\\d{4}", "****")"#,
                r#"replace_all_patterns(attributes, "key", "^http\\.", "h.")"#,
            ],
        );
        let keys: Vec<String> = span_attributes(&batch)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert!(!keys.contains(&"ratio".to_string()));
        assert!(!keys.iter().any(|k| k.starts_with("http.")));
        assert!(keys.contains(&"h.method".to_string()));
        assert_eq!(
            span_attr(&batch, "credit_card").as_deref(),
            Some("****-****-****-****")
        );
    }
    for mut batch in trace_batches() {
        run(
            &mut batch,
            Context::Span,
            &[r#"keep_keys(attributes, ["http.method", "cached"])"#],
        );
        let keys: Vec<String> = span_attributes(&batch)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, vec!["http.method", "cached"]);
    }
    for mut batch in trace_batches() {
        run(&mut batch, Context::Span, &["truncate_all(attributes, 4)"]);
        assert_eq!(span_attr(&batch, "credit_card").as_deref(), Some("4111"));
        assert_eq!(span_attr(&batch, "http.method").as_deref(), Some("GET"));
    }
    for mut batch in trace_batches() {
        run(
            &mut batch,
            Context::Span,
            &[r#"limit(attributes, 3, ["nested"])"#],
        );
        let keys: Vec<String> = span_attributes(&batch)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys.len(), 3);
        assert!(keys.contains(&"nested".to_string()));
    }
}

#[test]
fn log_statements() {
    for mut batch in log_batches() {
        run(
            &mut batch,
            Context::Log,
            &[
                r#"delete_key(attributes, "password")"#,
                r#"replace_pattern(body, "order \\d+", "order <id>")"#,
                r#"set(severity_text, "WARN") where severity_number >= SEVERITY_NUMBER_ERROR"#,
                "set(severity_number, SEVERITY_NUMBER_WARN)",
                r#"set(attributes["hashed"], SHA256(attributes["user"]))"#,
            ],
        );
        let (_, _, record) = batch.log_records().next().unwrap();
        assert!(record.attributes().get("password").is_none());
        assert_eq!(
            record.body().as_str(),
            Some("payment failed for order <id>")
        );
        assert_eq!(record.severity_text(), "WARN");
        assert_eq!(record.severity_number().0, 13);
        assert_eq!(
            record.attributes().get_str("hashed"),
            Some(weir_ottl::sha256_hex(b"ann").as_str())
        );
    }
}

#[test]
fn resource_scope_metric_data_point_and_event_statements() {
    for mut batch in metric_batches() {
        run(
            &mut batch,
            Context::Resource,
            &[r#"set(attributes["region"], "eu")"#],
        );
        run(&mut batch, Context::Scope, &[r#"set(version, "9.9")"#]);
        run(
            &mut batch,
            Context::Metric,
            &[r#"set(unit, "1") where name == "http.server.requests""#],
        );
        run(
            &mut batch,
            Context::DataPoint,
            &[r#"set(attributes["tier"], "gold") where attributes["route"] == "/b""#],
        );
        let rm = batch.metrics().next().unwrap();
        assert_eq!(rm.resource().attributes().get_str("region"), Some("eu"));
        let sm = rm.scopes().next().unwrap();
        assert_eq!(sm.scope().version(), "9.9");
        let metrics: Vec<_> = sm.metrics().collect();
        assert_eq!(metrics[0].unit(), "1");
        assert_eq!(metrics[1].unit(), "ms");
        let tiers: Vec<Option<&str>> = metrics
            .iter()
            .flat_map(|m| m.points())
            .map(|p| p.attributes().get_str("tier"))
            .collect();
        assert_eq!(tiers, vec![None, Some("gold"), None]);
    }
    for mut batch in trace_batches() {
        run(
            &mut batch,
            Context::SpanEvent,
            &[
                r#"set(attributes["seen"], true) where name == "retry""#,
                r#"set(name, "error") where name == "exception""#,
            ],
        );
        let (_, _, span) = batch.spans().next().unwrap();
        let events: Vec<_> = span.events().collect();
        assert_eq!(events[0].name(), "error");
        assert_eq!(
            events[1].attributes().get("seen"),
            Some(ValueRef::Bool(true))
        );
        assert_eq!(events[0].attributes().get("seen"), None);
    }
}

#[test]
fn statements_that_change_nothing_leave_wire_bytes_alone() {
    let [_, mut wire] = trace_batches();
    let before = wire.encode_protobuf();
    run(
        &mut wire,
        Context::Span,
        &[r#"set(attributes["x"], "y") where name == "nope""#],
    );
    assert_eq!(wire.encode_protobuf(), before);
}

#[test]
fn statement_compile_errors() {
    let cases: [(Context, &str, &str); 9] = [
        (
            Context::Span,
            r#"frobnicate(attributes, "x")"#,
            "unsupported editor `frobnicate`",
        ),
        (
            Context::Span,
            r#"set(resource.attributes["x"], "y")"#,
            "cannot be written in the `span` context",
        ),
        (Context::Span, r#"set(trace_id, "y")"#, "cannot be written"),
        (
            Context::Span,
            r#"delete_key(resource.attributes, "x")"#,
            "own attributes",
        ),
        (
            Context::Span,
            r#"set(attributes["a"]["b"], 1)"#,
            "nested maps",
        ),
        (
            Context::Span,
            r#"replace_pattern(name, "a", "b", SHA256)"#,
            "optional function",
        ),
        (
            Context::Span,
            r#"replace_all_patterns(attributes, "both", "a", "b")"#,
            "mode is",
        ),
        (Context::Span, r#"set(name, "x") where"#, "expected a value"),
        (
            Context::Metric,
            r#"delete_key(attributes, "x")"#,
            "has no attributes",
        ),
    ];
    for (context, text, message) in cases {
        let error = Statement::compile(text, context).expect_err(text);
        assert!(error.message.contains(message), "`{text}`: {error}");
    }
}

#[test]
fn context_inference_takes_the_finest_prefix() {
    assert_eq!(
        infer_context(&[r#"set(span.attributes["x"], "y")"#]),
        Ok(Context::Span)
    );
    assert_eq!(
        infer_context(&[
            r#"set(resource.attributes["x"], "y")"#,
            r#"set(span.name, "n") where resource.attributes["a"] == "b""#
        ]),
        Ok(Context::Span)
    );
    assert_eq!(
        infer_context(&[r#"log.severity_number < SEVERITY_NUMBER_WARN"#]),
        Ok(Context::Log)
    );
    assert_eq!(
        infer_context(&[r#"datapoint.value_int > 1 and metric.name == "x""#]),
        Ok(Context::DataPoint)
    );
    assert_eq!(
        infer_context(&[r#"set(resource.attributes["x"], "y")"#]),
        Ok(Context::Resource)
    );
    assert_eq!(
        infer_context(&[r#"not IsMatch(span.name, "x")"#]),
        Ok(Context::Span)
    );
    assert_eq!(infer_context(&[r#"(log.body == "a")"#]), Ok(Context::Log));
    assert!(infer_context(&[r#"set(attributes["x"], "y")"#]).is_err());
    assert!(infer_context(&[r#"span.name == "a""#, r#"log.body == "b""#]).is_err());
}
