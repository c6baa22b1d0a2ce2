//! The `kafka` exporter and receiver: OTLP through a Kafka-protocol broker, the field's
//! standard buffer between an agent tier and a gateway tier (the Collector's `kafka`
//! components, with their keys, in both the older top-level form (`topic`, `encoding`)
//! and the newer per-signal one (`traces: {topic, encoding}`, ...)).
//!
//! The client is librdkafka through the `rdkafka` crate, built from its vendored source:
//! consumer groups with committed offsets, every compression codec, SASL and TLS, and
//! the behaviour every Kafka operator already knows (see README.md for the choice).
//!
//! The receiver commits a message's offset only after the data read from it has an
//! outcome downstream (its acknowledgement handle is released): a crash replays what had
//! no outcome yet, so nothing is lost; what was replayed may arrive twice.

mod client;
mod encoding;
mod exporter;
mod messages;
mod receiver;

use std::sync::Arc;

use weir_api::{
    BuildContext, BuildError, BuiltExporter, ComponentProblem, ExporterFactory, ExporterSettings,
    FactoryInfo, Receiver, ReceiverFactory, Signal, Stability, Value,
};

pub use client::{ClientSettings, Encoding};
pub use exporter::ExporterConfig;
pub use receiver::ReceiverConfig;

/// The exporter's factory.
pub fn exporter_factory() -> Arc<dyn ExporterFactory> {
    Arc::new(KafkaExporterFactory)
}

/// The receiver's factory.
pub fn receiver_factory() -> Arc<dyn ReceiverFactory> {
    Arc::new(KafkaReceiverFactory)
}

const SIGNALS: &[Signal] = &[Signal::Traces, Signal::Metrics, Signal::Logs];

struct KafkaExporterFactory;

impl ExporterFactory for KafkaExporterFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: "kafka",
            aliases: &[],
            signals: SIGNALS,
            stability: Stability::Beta,
            description:
                "Writes traces, metrics and logs to Kafka topics as OTLP (protobuf or JSON).",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<ExporterConfig>(config)
    }

    fn build(&self, ctx: BuildContext, config: &Value) -> Result<BuiltExporter, BuildError> {
        let config: ExporterConfig = weir_api::config::parse_valid(config)?;
        let settings = ExporterSettings {
            timeout: config.timeout,
            retry: config.retry_on_failure.clone(),
            queue: config.sending_queue.clone(),
        };
        let exporter = exporter::KafkaExporter::new(&ctx, config).map_err(BuildError)?;
        Ok(BuiltExporter {
            exporter: Arc::new(exporter),
            settings,
        })
    }
}

struct KafkaReceiverFactory;

impl ReceiverFactory for KafkaReceiverFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: "kafka",
            aliases: &[],
            signals: SIGNALS,
            stability: Stability::Beta,
            description: "Reads OTLP traces, metrics and logs from Kafka topics in a consumer group, committing after delivery.",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<ReceiverConfig>(config)
    }

    fn build(&self, ctx: BuildContext, config: &Value) -> Result<Box<dyn Receiver>, BuildError> {
        let config: ReceiverConfig = weir_api::config::parse_valid(config)?;
        Ok(Box::new(receiver::KafkaReceiver::new(ctx, config)))
    }
}

#[cfg(test)]
mod tests;
