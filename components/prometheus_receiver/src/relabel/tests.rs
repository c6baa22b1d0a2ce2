//! Table tests of every action. Expected hashmod values were computed outside this code
//! from Prometheus' documented algorithm (Python: md5 digest, bytes 8..16 big-endian).

use super::*;

fn rule(yaml: &str) -> Rule {
    Rule::new(serde_yaml_ng::from_str(yaml).unwrap()).unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn sorted(mut set: LabelSet) -> LabelSet {
    set.sort();
    set
}

#[test]
fn hashmod_matches_prometheus() {
    for (value, modulus, expected) in [
        ("a", 10, 7),
        ("foo", 1000, 696),
        ("127.0.0.1:9100", 4, 2),
        ("x;y", 7, 3),
        ("", 3, 1),
        ("node-exporter;eu-west-1", 16, 8),
    ] {
        assert_eq!(hashmod(value, modulus), expected, "{value:?} % {modulus}");
    }
    let r = rule("{action: hashmod, source_labels: [x, y], target_label: shard, modulus: 7}");
    let mut set = labels(&[("x", "x"), ("y", "y")]);
    assert!(r.apply(&mut set));
    assert_eq!(get(&set, "shard"), "3");
}

/// (rule, kept, the labels expected when kept)
type Case<'a> = (&'a str, bool, &'a [(&'a str, &'a str)]);

#[test]
fn actions() {
    let base = [
        ("__address__", "10.0.0.1:9100"),
        ("job", "node"),
        ("env", "Prod"),
        ("__meta_team", "db"),
    ];
    let cases: &[Case] = &[
        (
            "{source_labels: [__address__], regex: '([^:]+):.*', target_label: host}",
            true,
            &[("__address__", "10.0.0.1:9100"), ("job", "node"), ("env", "Prod"), ("__meta_team", "db"), ("host", "10.0.0.1")],
        ),
        // No match: nothing happens.
        ("{source_labels: [job], regex: 'x.*', target_label: job, replacement: y}", true, &base),
        // Empty result deletes the target.
        ("{source_labels: [nothing], target_label: env}", true, &[("__address__", "10.0.0.1:9100"), ("job", "node"), ("__meta_team", "db")]),
        // Regex is anchored: `od` does not match `node`.
        ("{action: keep, source_labels: [job], regex: od}", false, &[]),
        ("{action: keep, source_labels: [job], regex: 'no.e'}", true, &base),
        ("{action: drop, source_labels: [job, env], regex: 'node;Prod'}", false, &[]),
        ("{action: drop, source_labels: [job], regex: other}", true, &base),
        ("{action: keepequal, source_labels: [job], target_label: job}", true, &base),
        ("{action: keepequal, source_labels: [job], target_label: env}", false, &[]),
        ("{action: dropequal, source_labels: [job], target_label: job}", false, &[]),
        ("{action: dropequal, source_labels: [job], target_label: env}", true, &base),
        (
            "{action: labelmap, regex: '__meta_(.+)'}",
            true,
            &[("__address__", "10.0.0.1:9100"), ("job", "node"), ("env", "Prod"), ("__meta_team", "db"), ("team", "db")],
        ),
        ("{action: labeldrop, regex: '__.*'}", true, &[("job", "node"), ("env", "Prod")]),
        ("{action: labelkeep, regex: 'job|env'}", true, &[("job", "node"), ("env", "Prod")]),
        (
            "{action: lowercase, source_labels: [env], target_label: env_lower}",
            true,
            &[("__address__", "10.0.0.1:9100"), ("job", "node"), ("env", "Prod"), ("__meta_team", "db"), ("env_lower", "prod")],
        ),
        (
            "{action: uppercase, source_labels: [job], target_label: job}",
            true,
            &[("__address__", "10.0.0.1:9100"), ("job", "NODE"), ("env", "Prod"), ("__meta_team", "db")],
        ),
        // Target label from a capture group.
        (
            "{source_labels: [__meta_team], regex: '(.*)', target_label: 'team_${1}', replacement: yes}",
            true,
            &[("__address__", "10.0.0.1:9100"), ("job", "node"), ("env", "Prod"), ("__meta_team", "db"), ("team_db", "yes")],
        ),
    ];
    for (yaml, kept, expected) in cases {
        let mut set = labels(&base);
        assert_eq!(rule(yaml).apply(&mut set), *kept, "{yaml}");
        if *kept {
            assert_eq!(sorted(set), sorted(labels(expected)), "{yaml}");
        }
    }
}

#[test]
fn invalid_rules_are_refused() {
    for yaml in [
        "{action: replace, source_labels: [a]}",
        "{action: hashmod, source_labels: [a], target_label: b}",
        "{action: labeldrop, regex: a, source_labels: [x]}",
        "{regex: '(', target_label: x}",
        "{action: keepequal, source_labels: [a], target_label: b, regex: x}",
        "{action: lowercase, source_labels: ['0bad'], target_label: x}",
    ] {
        let config: RelabelConfig = serde_yaml_ng::from_str(yaml).unwrap();
        assert!(Rule::new(config).is_err(), "{yaml}");
    }
    assert!(serde_yaml_ng::from_str::<RelabelConfig>("{action: explode}").is_err());
}
