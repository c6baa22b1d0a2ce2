//! Validation: every problem found at check time, with its key path.

use weir_api::Signal;

use super::*;

fn one_problem(config: &str) -> String {
    let problems = check(config);
    assert_eq!(problems.len(), 1, "{problems:?}");
    problems.into_iter().next().unwrap_or_default()
}

#[test]
fn every_form_validates() {
    for config in [
        "",
        "error_mode: silent",
        "traces: {span: ['name == \"x\"'], spanevent: ['name == \"y\"'], resource: ['attributes[\"a\"] == \"b\"']}",
        "metrics: {metric: ['name == \"x\"'], datapoint: ['attributes[\"a\"] == \"b\"']}",
        "logs: {log_record: ['severity_number < SEVERITY_NUMBER_WARN']}",
        "trace_conditions: ['span.name == \"x\"', 'resource.attributes[\"a\"] == \"b\"']",
        "metric_conditions: [{context: datapoint, conditions: ['attributes[\"a\"] == \"b\"'], error_mode: propagate}]",
        "log_conditions: ['log.body == \"x\"', 'scope.name == \"y\"']",
        "spans: {exclude: {match_type: strict, services: [a]}}",
        "logs: {include: {severity_number: {min: INFO, match_undefined: true}}}",
        "metrics: {exclude: {match_type: regexp, metric_names: ['^x']}, regexp: {cacheenabled: true}}",
    ] {
        assert_eq!(check(config), Vec::<String>::new(), "{config}");
    }
}

#[test]
fn a_bad_condition_names_its_key_index_and_column() {
    let problem = one_problem("traces: {span: ['name == \"x\"', 'Foo(name) == \"y\"']}");
    assert!(problem.starts_with("traces.span.1: column 1:"), "{problem}");
    let problem = one_problem("trace_conditions: ['span.name == \"x\"', 'span.name == ']");
    assert!(
        problem.starts_with("trace_conditions.1: column"),
        "{problem}"
    );
    let problem = one_problem(
        "log_conditions: [{context: log, conditions: ['body == \"x\"', 'Nope(body)']}]",
    );
    assert!(
        problem.starts_with("log_conditions.0.conditions.1: column"),
        "{problem}"
    );
}

#[test]
fn a_context_the_signal_lacks_is_refused() {
    let problem = one_problem("trace_conditions: ['log.body == \"x\"']");
    assert!(problem.starts_with("trace_conditions.0:"), "{problem}");
    let problem =
        one_problem("metric_conditions: [{context: span, conditions: ['name == \"x\"']}]");
    assert!(
        problem.starts_with("metric_conditions.0.context:"),
        "{problem}"
    );
}

#[test]
fn an_unprefixed_inferred_condition_is_refused() {
    let problem = one_problem("trace_conditions: ['name == \"x\"']");
    assert!(problem.starts_with("trace_conditions.0:"), "{problem}");
}

#[test]
fn mixed_styles_in_one_list_are_refused() {
    let problem = one_problem(
        "trace_conditions: ['span.name == \"x\"', {conditions: ['span.name == \"y\"']}]",
    );
    assert!(
        problem.contains("multiple configuration styles"),
        "{problem}"
    );
}

#[test]
fn forms_that_exclude_each_other_are_refused() {
    for (config, key) in [
        ("trace_conditions: ['span.name == \"x\"']\ntraces: {span: ['name == \"x\"']}", "trace_conditions"),
        ("trace_conditions: ['span.name == \"x\"']\nspans: {exclude: {match_type: strict, services: [a]}}", "trace_conditions"),
        ("metric_conditions: ['metric.name == \"x\"']\nmetrics: {include: {match_type: strict, metric_names: [a]}}", "metric_conditions"),
        ("log_conditions: ['log.body == \"x\"']\nlogs: {log_record: ['body == \"x\"']}", "log_conditions"),
        ("spans: {exclude: {match_type: strict, services: [a]}}\ntraces: {span: ['name == \"x\"']}", "spans"),
        ("metrics: {metric: ['name == \"x\"'], exclude: {match_type: strict, metric_names: [a]}}", "metrics"),
        ("logs: {log_record: ['body == \"x\"'], include: {match_type: strict, bodies: [a]}}", "logs"),
    ] {
        let problem = one_problem(config);
        assert!(problem.starts_with(&format!("{key}: cannot use")), "{config}: {problem}");
    }
}

#[test]
fn legacy_blocks_report_their_keys() {
    let problem =
        one_problem("metrics: {exclude: {match_type: expr, expressions: ['MetricName == \"x\"']}}");
    assert!(
        problem.starts_with("metrics.exclude.match_type:"),
        "{problem}"
    );
    let problem = one_problem("spans: {include: {match_type: strict, log_bodies: [x]}}");
    assert!(
        problem.starts_with("spans.include.log_bodies:"),
        "{problem}"
    );
    let problem = one_problem("spans: {exclude: {match_type: regexp, span_names: ['(']}}");
    assert!(
        problem.starts_with("spans.exclude.span_names:"),
        "{problem}"
    );
    let problem = one_problem("logs: {exclude: {bodies: [x]}}");
    assert!(problem.starts_with("logs.exclude"), "{problem}");
    let problem = one_problem("logs: {include: {severity_number: {min: LOUD}}}");
    assert!(
        problem.starts_with("logs.include.severity_number.min:"),
        "{problem}"
    );
}

#[test]
fn a_misspelled_key_gets_a_suggestion() {
    let problems = factory().check(&yaml("trace_condition: ['span.name == \"x\"']"));
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].suggestion.as_deref(), Some("trace_conditions"));
}

#[test]
fn build_refuses_what_check_refuses() {
    let error = try_build("traces: {span: ['Foo(name)']}", Signal::Traces)
        .err()
        .expect("refused");
    assert!(error.starts_with("traces.span.0: column"), "{error}");
}

#[test]
fn the_readme_example_validates() {
    let readme = include_str!("../../README.md");
    let example = readme
        .split("```yaml")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("README has a YAML example");
    let document = yaml(example);
    let processors = document["processors"]
        .as_mapping()
        .expect("processors mapping");
    assert_eq!(processors.len(), 3);
    for (name, section) in processors {
        let problems = factory().check(section);
        assert!(problems.is_empty(), "{name:?}: {problems:?}");
    }
}
