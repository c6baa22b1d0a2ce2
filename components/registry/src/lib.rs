//! Every component this build of Weir knows, one line each.
//!
//! The engine never names a component; the binary passes it this registry. Adding a
//! component is one crate and one line here: `weir_<folder>::factory(),` in its kind's
//! list. The line also says where the component's README is: the crate `weir_<folder>`
//! lives in `components/<folder>/`, so its README is `components/<folder>/README.md`
//! (a test checks that file exists for every line).

use weir_api::{FactoryInfo, Kind, Registry};

/// `factories![crates, kind; weir_x::factory(), ...]`: the factories in order, each one's
/// crate recorded in `crates` for [`readmes`].
macro_rules! factories {
    ($crates:ident, $kind:expr; $($krate:ident :: $factory:ident ()),* $(,)?) => {{
        $( $crates.push(($kind, stringify!($krate))); )*
        vec![$( $krate::$factory() ),*]
    }};
}

/// The registry of all built-in components.
pub fn registry() -> Registry {
    with_crates().0
}

/// Every component with its README's path in the repository, e.g.
/// `components/filter_processor/README.md`, in registry order.
pub fn readmes() -> Vec<(Kind, FactoryInfo, String)> {
    let (registry, crates) = with_crates();
    let all = registry.all();
    let mut out = Vec::new();
    for kind in [
        Kind::Receiver,
        Kind::Processor,
        Kind::Exporter,
        Kind::Connector,
        Kind::Extension,
    ] {
        let infos = all
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, info)| info.clone());
        let folders = crates
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, krate)| krate.strip_prefix("weir_").unwrap_or(krate));
        for (info, folder) in infos.zip(folders) {
            out.push((kind, info, format!("components/{folder}/README.md")));
        }
    }
    out
}

/// The README of the component of this kind and type name (or alias).
pub fn readme(kind: Kind, type_name: &str) -> Option<String> {
    readmes()
        .into_iter()
        .find(|(k, info, _)| {
            *k == kind && (info.type_name == type_name || info.aliases.contains(&type_name))
        })
        .map(|(_, _, readme)| readme)
}

/// The registry, and the crate of each factory by kind, in order.
fn with_crates() -> (Registry, Vec<(Kind, &'static str)>) {
    let mut crates = Vec::new();
    let registry = Registry {
        receivers: factories![crates, Kind::Receiver;
            weir_otlp_receiver::factory(),
            weir_statsd_receiver::factory(),
            weir_prometheus_receiver::factory(),
            weir_kafka::receiver_factory(),
        ],
        processors: factories![crates, Kind::Processor;
            weir_memory_limiter::factory(),
            weir_batch_processor::factory(),
            weir_probabilistic_sampler::factory(),
            weir_cardinality_limiter::factory(),
            weir_error_rate_limiter::factory(),
            weir_transform_processor::factory(),
            weir_attributes_processor::factory(),
            weir_resource_processor::factory(),
            weir_filter_processor::factory(),
            weir_load_shedder::factory(),
            weir_tail_sampling::factory(),
            weir_resourcedetection_processor::factory(),
            weir_aggregation_processor::aggregation_factory(),
            weir_aggregation_processor::interval_factory(),
            weir_aggregation_processor::deltatocumulative_factory(),
            weir_aggregation_processor::cumulativetodelta_factory(),
        ],
        exporters: factories![crates, Kind::Exporter;
            weir_otlp_exporter::factory(),
            weir_otlphttp_exporter::factory(),
            weir_debug_exporter::factory(),
            weir_file_exporter::factory(),
            weir_prometheusremotewrite_exporter::factory(),
            weir_loki_exporter::factory(),
            weir_loadbalancing_exporter::factory(),
            weir_kafka::exporter_factory(),
        ],
        extensions: factories![crates, Kind::Extension;
            weir_health_check::factory(),
            weir_pprof_extension::factory(),
            weir_bearertokenauth_extension::factory(),
            weir_basicauth_extension::factory(),
            weir_file_storage_extension::factory(),
            weir_memory_limiter::extension_factory(),
            weir_zpages_extension::factory(),
        ],
        connectors: factories![crates, Kind::Connector;
            weir_forward_connector::factory(),
            weir_routing_connector::factory(),
            weir_spanmetrics_connector::factory(),
            weir_heartbeat_connector::factory(),
        ],
    };
    (registry, crates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_component_has_its_readme_where_the_registry_says() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let readmes = readmes();
        let registry = registry();
        assert_eq!(readmes.len(), registry.all().len());
        for (kind, info, readme) in &readmes {
            assert!(
                root.join(readme).is_file(),
                "{} {}: no {readme}; a component's crate `weir_<folder>` lives in \
                 components/<folder>/ with a README.md",
                kind.as_str(),
                info.type_name
            );
        }
    }

    #[test]
    fn readmes_by_kind_and_type() {
        assert_eq!(
            readme(Kind::Exporter, "otlp").as_deref(),
            Some("components/otlp_exporter/README.md")
        );
        assert_eq!(
            readme(Kind::Receiver, "otlp").as_deref(),
            Some("components/otlp_receiver/README.md")
        );
        assert_eq!(
            readme(Kind::Extension, "memory_limiter").as_deref(),
            Some("components/memory_limiter/README.md")
        );
        assert_eq!(readme(Kind::Receiver, "nope"), None);
    }
}
