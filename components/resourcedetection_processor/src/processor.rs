//! The processor: the detected attributes on every resource. A resource that already
//! has them (same value, or any value when `override` is false) records no change and
//! keeps its received bytes; it never drops.

use weir_api::batch::view::ValueRef;
use weir_api::{Batch, Processor};

use crate::detect::Attributes;

/// One `resourcedetection` instance in one pipeline.
#[derive(Debug)]
pub struct ResourceDetectionProcessor {
    attributes: Attributes,
    override_: bool,
}

impl ResourceDetectionProcessor {
    pub fn new(attributes: Attributes, override_: bool) -> Self {
        Self {
            attributes,
            override_,
        }
    }

    /// The attributes it sets.
    pub fn attributes(&self) -> &Attributes {
        &self.attributes
    }

    /// Sets the attributes on every resource of the batch.
    pub fn apply(&self, batch: &mut Batch) {
        if self.attributes.is_empty() {
            return;
        }
        let override_ = self.override_;
        let attributes = &self.attributes;
        batch.edit_resources(|edit| {
            let arrived = edit.resource().attributes();
            for (key, value) in attributes {
                match arrived.get(key) {
                    Some(ValueRef::Str(have)) if have == value => {}
                    Some(_) if !override_ => {}
                    _ => {
                        edit.attributes().upsert(key.clone(), value.clone());
                    }
                }
            }
            true
        });
    }
}

impl Processor for ResourceDetectionProcessor {
    fn process(&mut self, mut batch: Batch, out: &mut Vec<Batch>) {
        self.apply(&mut batch);
        if !batch.is_empty() {
            out.push(batch);
        }
    }
}
