//! One queued batch on its way to the tier.
//!
//! The first attempt splits the batch over the tier of that moment and sends every part
//! at once. A part that fails with a retryable error waits, with its batch, for the
//! engine's next attempt; if its backend has left the tier by then, the part is split
//! again over the new tier (re-homed) instead of waiting for a backend that will not come
//! back. Parts that succeeded are not sent again, unless an attempt is cancelled by the
//! timeout before its results are in (at-least-once).

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::future::join_all;
use weir_api::telemetry::Counter;
use weir_api::{Batch, ExportError, ExportRequest};

use crate::config::RoutingKey;
use crate::membership::{prepare_on, Backend, Membership, Tier};
use crate::split::{split, Rule};

/// What every request of one exporter shares.
pub struct Shared {
    pub membership: Arc<Membership>,
    pub routing_key: RoutingKey,
    pub routing_attributes: Vec<String>,
    pub rehomed: Counter,
}

/// A part bound to one backend, prepared for it.
struct Part {
    backend: Arc<Backend>,
    batch: Batch,
    request: Box<dyn ExportRequest>,
}

pub struct LoadBalancedRequest {
    shared: Arc<Shared>,
    items: usize,
    encoded_len: usize,
    /// The batch before its first split.
    unsplit: Option<Batch>,
    /// Parts not yet delivered.
    pending: Vec<Part>,
    /// Items refused for good by some backend so far.
    rejected: usize,
    rejection: Option<String>,
}

impl LoadBalancedRequest {
    pub fn new(shared: Arc<Shared>, batch: Batch) -> Self {
        Self {
            shared,
            items: batch.item_count(),
            encoded_len: batch.encoded_len(),
            unsplit: Some(batch),
            pending: Vec::new(),
            rejected: 0,
            rejection: None,
        }
    }

    fn rule(&self) -> Rule<'_> {
        Rule {
            key: self.shared.routing_key,
            attributes: &self.shared.routing_attributes,
        }
    }

    /// Splits `batch` over `tier` into prepared parts. A part that cannot be prepared is
    /// refused for good (counted as rejected).
    fn assign(&mut self, batch: Batch, tier: &Tier) {
        for (index, part) in split(batch, &tier.hashes, self.rule()) {
            let backend = tier.backends[index].clone();
            let items = part.item_count();
            match prepare_on(&backend, part.clone()) {
                Ok(request) => self.pending.push(Part {
                    backend,
                    batch: part,
                    request,
                }),
                Err(err) => self.reject(items, err.to_string()),
            }
        }
    }

    fn reject(&mut self, items: usize, message: String) {
        self.rejected += items;
        self.rejection.get_or_insert(message);
    }
}

#[async_trait]
impl ExportRequest for LoadBalancedRequest {
    fn items(&self) -> usize {
        self.items
    }

    fn encoded_len(&self) -> usize {
        self.encoded_len
    }

    async fn send(&mut self) -> Result<(), ExportError> {
        let tier = self.shared.membership.tier();
        if tier.backends.is_empty() {
            return Err(ExportError::retryable(
                "loadbalancing: the resolver has found no backend yet",
            ));
        }
        if let Some(batch) = self.unsplit.take() {
            self.assign(batch, &tier);
        }
        // Parts whose backend left the tier go to their keys' new owners.
        let (staying, leaving): (Vec<Part>, Vec<Part>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|part| tier.index_of(&part.backend.endpoint).is_some());
        self.pending = staying;
        for part in leaving {
            let items = part.batch.item_count();
            tracing::info!(endpoint = %part.backend.endpoint, items,
                "loadbalancing: the backend left the tier; its data goes to the keys' new owners");
            self.shared.rehomed.inc_by(items as u64);
            self.assign(part.batch, &tier);
        }

        let results = join_all(self.pending.iter_mut().map(|part| part.request.send())).await;
        let mut retry: Option<ExportError> = None;
        let mut still_pending = Vec::new();
        let mut refused = Vec::new();
        for (part, result) in std::mem::take(&mut self.pending).into_iter().zip(results) {
            match result {
                Ok(()) => {
                    part.backend.succeeded.inc();
                }
                Err(err @ ExportError::Retryable { .. }) => {
                    part.backend.failed.inc();
                    tracing::debug!(endpoint = %part.backend.endpoint, error = %err, "loadbalancing: a part will be retried");
                    retry.get_or_insert(err);
                    still_pending.push(part);
                }
                Err(ExportError::Permanent { message, rejected }) => {
                    part.backend.failed.inc();
                    let items = part.batch.item_count();
                    refused.push((rejected.unwrap_or(items).min(items), message));
                }
            }
        }
        for (items, message) in refused {
            self.reject(items, message);
        }
        self.pending = still_pending;
        if let Some(err) = retry {
            return Err(err);
        }
        match self.rejected {
            0 => Ok(()),
            rejected => Err(ExportError::Permanent {
                message: self
                    .rejection
                    .clone()
                    .unwrap_or_else(|| "refused by a backend".into()),
                rejected: Some(rejected),
            }),
        }
    }
}
