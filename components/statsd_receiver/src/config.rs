//! The receiver's configuration: the Collector's `statsd` keys plus `tag_dialects`,
//! `socket_buffer_size` and `readers`, with the Collector's defaults except where README
//! "Configuration" says Weir does better (timers aggregate into exponential histograms
//! by default; series are not split by client port).

use std::time::Duration;

use serde::Deserialize;
use weir_api::ComponentProblem;

use crate::exphist::DEFAULT_MAX_SIZE;

/// Default UDP/TCP endpoint.
pub const DEFAULT_ENDPOINT: &str = "127.0.0.1:8125";
/// Default unix datagram socket path, as in the Collector.
pub const DEFAULT_SOCKET_PATH: &str = "/var/run/statsd-receiver.sock";
/// More reader sockets than this buys nothing on any machine Weir runs on.
pub const MAX_READERS: usize = 64;
/// The kernel takes SO_RCVBUF as a C int and doubles it; 1 GiB is far past any need.
pub const MAX_SOCKET_BUFFER_BYTES: usize = 1 << 30;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `host:port` for udp/tcp, a socket path for unixgram.
    pub endpoint: Option<String>,
    pub transport: Transport,
    #[serde(with = "weir_api::duration")]
    pub aggregation_interval: Duration,
    /// Adds the attribute `metric_type` (counter, gauge, timing, histogram, distribution, set).
    pub enable_metric_type: bool,
    /// Accepts bare tags (`#mykey`) as a key with an empty value.
    pub enable_simple_tags: bool,
    /// Weir addition: reads tags written in the name in statsd_exporter's dialects
    /// (Librato `name#k=v`, InfluxDB `name,k=v`, SignalFx `na.[k=v]me`). Off: the name
    /// is kept verbatim, as the Collector does.
    pub tag_dialects: bool,
    /// Counters become cumulative monotonic sums (negative increments are rejected).
    pub is_monotonic_counter: bool,
    /// Keeps series of different client IPs apart, with the IP as resource attribute
    /// `server.address` (the Collector's name for it).
    pub enable_ip_only_aggregation: bool,
    pub timer_histogram_mapping: Vec<TimerHistogramMapping>,
    /// SO_RCVBUF in bytes for each socket. When absent: 8 MiB for UDP
    /// ([`crate::socket::DEFAULT_UDP_BUFFER_BYTES`]), the kernel default for TCP and
    /// unixgram.
    pub socket_buffer_size: Option<usize>,
    /// Number of UDP sockets bound with SO_REUSEPORT, each read by its own thread.
    pub readers: usize,
    /// Permissions of the unixgram socket file, octal text as in the Collector.
    pub socket_permissions: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            endpoint: None,
            transport: Transport::Udp,
            aggregation_interval: Duration::from_secs(60),
            enable_metric_type: false,
            enable_simple_tags: false,
            tag_dialects: true,
            is_monotonic_counter: false,
            enable_ip_only_aggregation: false,
            timer_histogram_mapping: Vec::new(),
            socket_buffer_size: None,
            readers: 1,
            socket_permissions: "0622".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Udp,
    Tcp,
    Unixgram,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Unixgram => "unixgram",
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TimerHistogramMapping {
    pub statsd_type: StatsdType,
    pub observer_type: ObserverType,
    #[serde(default)]
    pub histogram: HistogramConfig,
    #[serde(default)]
    pub summary: SummaryConfig,
}

/// Which StatsD types a mapping applies to (`timer` and `timing` both mean `ms`).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StatsdType {
    Timing,
    Timer,
    Histogram,
    Distribution,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ObserverType {
    /// The last observation of the interval.
    Gauge,
    /// Quantiles over the interval's observations.
    Summary,
    /// An exponential histogram, or an explicit one when `histogram.explicit_bounds` is set.
    Histogram,
    /// Observations are dropped (and counted as dropped).
    Disabled,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HistogramConfig {
    /// Maximum buckets per sign of the exponential histogram.
    pub max_size: usize,
    /// When set, an explicit-bounds histogram with these upper bounds instead.
    pub explicit_bounds: Option<Vec<f64>>,
}

impl Default for HistogramConfig {
    fn default() -> Self {
        Self {
            max_size: DEFAULT_MAX_SIZE,
            explicit_bounds: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SummaryConfig {
    /// Percentiles in [0, 100].
    pub percentiles: Vec<f64>,
}

impl Default for SummaryConfig {
    fn default() -> Self {
        Self {
            percentiles: vec![0.0, 10.0, 50.0, 90.0, 95.0, 100.0],
        }
    }
}

/// How one StatsD type's observations are aggregated.
#[derive(Clone, Debug, PartialEq)]
pub enum Observer {
    Gauge,
    Summary { percentiles: Vec<f64> },
    Exponential { max_size: usize },
    Explicit { bounds: Vec<f64> },
    Disabled,
}

impl Observer {
    fn from_mapping(mapping: &TimerHistogramMapping) -> Self {
        match mapping.observer_type {
            ObserverType::Gauge => Observer::Gauge,
            ObserverType::Disabled => Observer::Disabled,
            ObserverType::Summary => Observer::Summary {
                percentiles: mapping.summary.percentiles.clone(),
            },
            ObserverType::Histogram => match &mapping.histogram.explicit_bounds {
                Some(bounds) => Observer::Explicit {
                    bounds: bounds.clone(),
                },
                None => Observer::Exponential {
                    max_size: mapping.histogram.max_size,
                },
            },
        }
    }
}

/// Observers for the three observation types.
#[derive(Clone, Debug, PartialEq)]
pub struct Observers {
    pub timer: Observer,
    pub histogram: Observer,
    pub distribution: Observer,
}

impl Config {
    pub fn endpoint(&self) -> &str {
        match (&self.endpoint, self.transport) {
            (Some(endpoint), _) => endpoint,
            (None, Transport::Unixgram) => DEFAULT_SOCKET_PATH,
            (None, _) => DEFAULT_ENDPOINT,
        }
    }

    /// Each type not listed keeps the default, an exponential histogram (the Collector
    /// would disable it instead).
    pub fn observers(&self) -> Observers {
        let default = Observer::Exponential {
            max_size: DEFAULT_MAX_SIZE,
        };
        let mut observers = Observers {
            timer: default.clone(),
            histogram: default.clone(),
            distribution: default,
        };
        for mapping in &self.timer_histogram_mapping {
            let observer = Observer::from_mapping(mapping);
            match mapping.statsd_type {
                StatsdType::Timing | StatsdType::Timer => observers.timer = observer,
                StatsdType::Histogram => observers.histogram = observer,
                StatsdType::Distribution => observers.distribution = observer,
            }
        }
        observers
    }

    /// The receive buffer asked for each UDP socket.
    pub fn udp_buffer_size(&self) -> usize {
        self.socket_buffer_size
            .unwrap_or(crate::socket::DEFAULT_UDP_BUFFER_BYTES)
    }

    pub fn permissions(&self) -> Result<u32, String> {
        u32::from_str_radix(&self.socket_permissions, 8)
            .ok()
            .filter(|mode| *mode <= 0o777)
            .ok_or_else(|| {
                format!(
                    "`{}` is not an octal file mode such as 0622",
                    self.socket_permissions
                )
            })
    }

    /// Semantic checks beyond the types.
    fn semantic_problems(&self) -> Vec<ComponentProblem> {
        let mut problems = Vec::new();
        let mut problem = |path: &[&str], message: String| {
            problems.push(ComponentProblem {
                path: path.iter().map(|s| s.to_string()).collect(),
                message,
                suggestion: None,
            })
        };
        if self.aggregation_interval.is_zero() {
            problem(&["aggregation_interval"], "must be greater than 0".into());
        }
        if self.readers == 0 || self.readers > MAX_READERS {
            problem(&["readers"], format!("must be between 1 and {MAX_READERS}"));
        }
        if self.readers > 1 && self.transport != Transport::Udp {
            problem(&["readers"], "several readers need transport udp".into());
        }
        if let Some(size) = self.socket_buffer_size {
            if size == 0 || size > MAX_SOCKET_BUFFER_BYTES {
                problem(
                    &["socket_buffer_size"],
                    format!("must be between 1 and {MAX_SOCKET_BUFFER_BYTES} (1 GiB)"),
                );
            }
        }
        if self.transport != Transport::Unixgram && crate::socket::resolve(self.endpoint()).is_err()
        {
            problem(
                &["endpoint"],
                format!("`{}` is not a host:port address", self.endpoint()),
            );
        }
        if self.transport == Transport::Unixgram {
            if let Err(message) = self.permissions() {
                problem(&["socket_permissions"], message);
            }
        }
        let mut seen = Vec::new();
        for (i, mapping) in self.timer_histogram_mapping.iter().enumerate() {
            let index = i.to_string();
            let key = match mapping.statsd_type {
                StatsdType::Timing | StatsdType::Timer => "timer",
                StatsdType::Histogram => "histogram",
                StatsdType::Distribution => "distribution",
            };
            if seen.contains(&key) {
                problem(
                    &["timer_histogram_mapping", &index, "statsd_type"],
                    format!("`{key}` is mapped twice"),
                );
            }
            seen.push(key);
            if mapping.histogram.max_size < 2 {
                problem(
                    &["timer_histogram_mapping", &index, "histogram", "max_size"],
                    "must be at least 2".into(),
                );
            }
            if let Some(bounds) = &mapping.histogram.explicit_bounds {
                let increasing = bounds.windows(2).all(|w| w[0] < w[1]);
                if bounds.is_empty() || !increasing || bounds.iter().any(|b| !b.is_finite()) {
                    problem(
                        &[
                            "timer_histogram_mapping",
                            &index,
                            "histogram",
                            "explicit_bounds",
                        ],
                        "must be finite numbers in increasing order".into(),
                    );
                }
            }
            if mapping
                .summary
                .percentiles
                .iter()
                .any(|p| !(0.0..=100.0).contains(p))
            {
                problem(
                    &["timer_histogram_mapping", &index, "summary", "percentiles"],
                    "percentiles must be between 0 and 100".into(),
                );
            }
        }
        problems
    }
}

impl weir_api::config::Validate for Config {
    fn problems(&self) -> Vec<ComponentProblem> {
        self.semantic_problems()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_api::config::Validate;

    fn parse(yaml: &str) -> Result<Config, ComponentProblem> {
        let value: weir_api::Value = serde_yaml_ng::from_str(yaml).expect("yaml");
        weir_api::config::parse::<Config>(&value)
    }

    #[test]
    fn defaults() {
        let config = parse("{}").unwrap();
        assert_eq!(config.endpoint(), "127.0.0.1:8125");
        assert_eq!(config.aggregation_interval, Duration::from_secs(60));
        assert_eq!(
            config.observers().timer,
            Observer::Exponential { max_size: 160 }
        );
        assert!(config.problems().is_empty());
        assert_eq!(config.udp_buffer_size(), 8 << 20);
        assert_eq!(
            parse("socket_buffer_size: 65536")
                .unwrap()
                .udp_buffer_size(),
            65536
        );
    }

    #[test]
    fn collector_example_parses() {
        let config = parse(
            "endpoint: localhost:8127\naggregation_interval: 70s\nenable_metric_type: true\n\
             timer_histogram_mapping:\n  - statsd_type: histogram\n    observer_type: gauge\n\
             \x20 - statsd_type: timing\n    observer_type: histogram\n    histogram:\n      max_size: 100\n\
             \x20 - statsd_type: distribution\n    observer_type: summary\n    summary:\n      percentiles: [0, 10, 50, 90, 95, 100]\n",
        )
        .unwrap();
        let observers = config.observers();
        assert_eq!(observers.histogram, Observer::Gauge);
        assert_eq!(observers.timer, Observer::Exponential { max_size: 100 });
        assert!(matches!(observers.distribution, Observer::Summary { .. }));
        assert!(config.problems().is_empty());
    }

    #[test]
    fn problems_name_the_key() {
        let err = parse("transprt: udp").unwrap_err();
        assert_eq!(err.suggestion.as_deref(), Some("transport"));
        let config = parse(
            "readers: 2\ntransport: tcp\ntimer_histogram_mapping:\n  - statsd_type: timer\n    observer_type: summary\n    summary: {percentiles: [101]}\n",
        )
        .unwrap();
        let paths: Vec<_> = config
            .problems()
            .into_iter()
            .map(|p| p.path.join("."))
            .collect();
        assert!(paths.contains(&"readers".to_string()), "{paths:?}");
        for size in ["0", "2147483648"] {
            let config = parse(&format!("socket_buffer_size: {size}")).unwrap();
            let paths: Vec<_> = config.problems().into_iter().map(|p| p.path).collect();
            assert_eq!(
                paths,
                vec![vec!["socket_buffer_size".to_string()]],
                "{size}"
            );
        }
        assert!(paths.contains(&"timer_histogram_mapping.0.summary.percentiles".to_string()));
    }
}
