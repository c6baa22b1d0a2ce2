//! The set of component factories the binary was built with. The engine and `weir
//! validate` look types up here; `components/registry` fills it, one line per component.

use std::sync::Arc;

use crate::component::{
    ConnectorFactory, ExporterFactory, ExtensionFactory, ProcessorFactory, ReceiverFactory,
};
use crate::{FactoryInfo, Kind};

/// Factories by kind.
#[derive(Clone, Default)]
pub struct Registry {
    pub receivers: Vec<Arc<dyn ReceiverFactory>>,
    pub processors: Vec<Arc<dyn ProcessorFactory>>,
    pub exporters: Vec<Arc<dyn ExporterFactory>>,
    pub extensions: Vec<Arc<dyn ExtensionFactory>>,
    pub connectors: Vec<Arc<dyn ConnectorFactory>>,
}

fn matches(info: &FactoryInfo, type_name: &str) -> bool {
    info.type_name == type_name || info.aliases.contains(&type_name)
}

impl Registry {
    pub fn receiver(&self, type_name: &str) -> Option<&Arc<dyn ReceiverFactory>> {
        self.receivers
            .iter()
            .find(|f| matches(&f.info(), type_name))
    }

    pub fn processor(&self, type_name: &str) -> Option<&Arc<dyn ProcessorFactory>> {
        self.processors
            .iter()
            .find(|f| matches(&f.info(), type_name))
    }

    pub fn exporter(&self, type_name: &str) -> Option<&Arc<dyn ExporterFactory>> {
        self.exporters
            .iter()
            .find(|f| matches(&f.info(), type_name))
    }

    pub fn extension(&self, type_name: &str) -> Option<&Arc<dyn ExtensionFactory>> {
        self.extensions
            .iter()
            .find(|f| matches(&f.info(), type_name))
    }

    pub fn connector(&self, type_name: &str) -> Option<&Arc<dyn ConnectorFactory>> {
        self.connectors
            .iter()
            .find(|f| matches(&f.info(), type_name))
    }

    /// The info of a type of any kind.
    pub fn info(&self, kind: Kind, type_name: &str) -> Option<FactoryInfo> {
        match kind {
            Kind::Receiver => self.receiver(type_name).map(|f| f.info()),
            Kind::Processor => self.processor(type_name).map(|f| f.info()),
            Kind::Exporter => self.exporter(type_name).map(|f| f.info()),
            Kind::Extension => self.extension(type_name).map(|f| f.info()),
            Kind::Connector => self.connector(type_name).map(|f| f.info()),
        }
    }

    /// Every factory's info with its kind, for `weir components`.
    pub fn all(&self) -> Vec<(Kind, FactoryInfo)> {
        let mut all = Vec::new();
        all.extend(self.receivers.iter().map(|f| (Kind::Receiver, f.info())));
        all.extend(self.processors.iter().map(|f| (Kind::Processor, f.info())));
        all.extend(self.exporters.iter().map(|f| (Kind::Exporter, f.info())));
        all.extend(self.connectors.iter().map(|f| (Kind::Connector, f.info())));
        all.extend(self.extensions.iter().map(|f| (Kind::Extension, f.info())));
        all
    }
}
