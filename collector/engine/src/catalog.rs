//! The registry seen through the config crate's eyes: what `weir validate` needs to know
//! about component types, without the config crate depending on any component.

use weir_api::{ComponentProblem, Kind, Registry, Signal, Value};

/// Adapts a [`Registry`] to [`weir_config::Catalog`].
pub struct RegistryCatalog<'a>(pub &'a Registry);

impl weir_config::Catalog for RegistryCatalog<'_> {
    fn canonical_type(&self, kind: Kind, type_name: &str) -> Option<&'static str> {
        self.0.info(kind, type_name).map(|info| info.type_name)
    }

    fn known_types(&self, kind: Kind) -> Vec<&'static str> {
        self.0
            .all()
            .into_iter()
            .filter(|(k, _)| *k == kind)
            .flat_map(|(_, info)| {
                std::iter::once(info.type_name).chain(info.aliases.iter().copied())
            })
            .collect()
    }

    fn signals(&self, kind: Kind, type_name: &'static str) -> &'static [Signal] {
        self.0
            .info(kind, type_name)
            .map(|info| info.signals)
            .unwrap_or(&[])
    }

    fn check(&self, kind: Kind, type_name: &'static str, section: &Value) -> Vec<ComponentProblem> {
        match kind {
            Kind::Receiver => self.0.receiver(type_name).map(|f| f.check(section)),
            Kind::Processor => self.0.processor(type_name).map(|f| f.check(section)),
            Kind::Exporter => self.0.exporter(type_name).map(|f| f.check(section)),
            Kind::Extension => self.0.extension(type_name).map(|f| f.check(section)),
            Kind::Connector => self.0.connector(type_name).map(|f| f.check(section)),
        }
        .unwrap_or_default()
    }

    fn connector_pairs(&self, type_name: &'static str) -> &'static [(Signal, Signal)] {
        self.0
            .connector(type_name)
            .map(|f| f.pairs())
            .unwrap_or(&[])
    }
}
