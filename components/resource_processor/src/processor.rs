//! The processor: runs the actions on every resource's attributes. A resource the
//! actions leave as it was records no change and keeps its received bytes; a changed
//! wire resource has only its `Resource` message re-encoded. It never drops.

use weir_api::{Batch, ComponentProblem, Processor};
use weir_attributes_processor::actions::Actions;

use crate::ResourceConfig;

/// One `resource` instance in one pipeline.
#[derive(Debug)]
pub struct ResourceProcessor {
    actions: Actions,
}

impl ResourceProcessor {
    pub fn new(config: &ResourceConfig) -> Result<Self, ComponentProblem> {
        Ok(Self {
            actions: Actions::compile("attributes", &config.attributes)?,
        })
    }

    /// Applies the actions to the batch in place.
    pub fn apply(&self, batch: &mut Batch) {
        let metadata = batch.metadata().clone();
        let actions = &self.actions;
        batch.edit_resources(|edit| {
            let arrived = edit.resource().attributes();
            actions.apply(arrived, &metadata, |op| {
                edit.attributes().apply(op);
            });
            true
        });
    }
}

impl Processor for ResourceProcessor {
    fn process(&mut self, mut batch: Batch, out: &mut Vec<Batch>) {
        self.apply(&mut batch);
        if !batch.is_empty() {
            out.push(batch);
        }
    }
}
