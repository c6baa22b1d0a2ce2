//! Test helpers: OTLP structs into batches, in both of a batch's representations.

use prost::Message;
use weir_api::batch::Batch;
use weir_api::Signal;
use weir_proto::collector::metrics::v1::ExportMetricsServiceRequest;
use weir_proto::common::v1::KeyValue;
use weir_proto::metrics::v1::{metric, Metric, ResourceMetrics, ScopeMetrics};
use weir_proto::resource::v1::Resource;

/// The same resources as a batch of decoded structs and as a batch of received bytes.
pub fn both(resources: Vec<ResourceMetrics>) -> [Batch; 2] {
    let bytes = ExportMetricsServiceRequest {
        resource_metrics: resources.clone(),
    }
    .encode_to_vec();
    let wire = Batch::from_protobuf(Signal::Metrics, bytes.into()).expect("valid protobuf");
    [Batch::from_metrics(resources), wire]
}

/// One resource with these attributes and no metrics.
pub fn resource_with(attributes: Vec<KeyValue>) -> ResourceMetrics {
    ResourceMetrics {
        resource: Some(Resource {
            attributes,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One resource holding one metric with this data.
pub fn metric_with(data: metric::Data) -> ResourceMetrics {
    ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![Metric {
                name: "m".into(),
                data: Some(data),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}
