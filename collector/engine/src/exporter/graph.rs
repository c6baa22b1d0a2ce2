//! Which pipelines end in a persistent queue, so the engine can make their receivers
//! answer only once data is on disk (`ReceiverOutput::acknowledging`).
//!
//! A pipeline is persistent when one of its exporters has `sending_queue.storage`, or
//! when it exports to a connector that feeds a persistent pipeline: the receiver's data
//! reaches the disk through the connector.

use std::collections::BTreeSet;

use weir_api::{ComponentId, Kind, PipelineId};
use weir_config::Config;

/// The pipelines whose data (directly or through connectors) reaches an exporter in
/// `persistent`.
pub fn persistent_pipelines(
    config: &Config,
    persistent: &BTreeSet<ComponentId>,
) -> BTreeSet<PipelineId> {
    let pipelines = &config.service.pipelines;
    let mut found: BTreeSet<PipelineId> = pipelines
        .iter()
        .filter(|(_, p)| p.exporters.iter().any(|e| persistent.contains(e)))
        .map(|(id, _)| id.clone())
        .collect();
    // Walk upstream through connectors until nothing changes (graphs are small and
    // validated acyclic; the bound guards the engine on its own).
    for _ in 0..=pipelines.len() {
        let mut changed = false;
        for (id, pipeline) in pipelines {
            if found.contains(id) {
                continue;
            }
            let feeds_persistent = pipeline.exporters.iter().any(|exporter| {
                config.component(Kind::Connector, exporter).is_some()
                    && pipelines.iter().any(|(down_id, down)| {
                        found.contains(down_id) && down.receivers.contains(exporter)
                    })
            });
            if feeds_persistent {
                found.insert(id.clone());
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    found
}
