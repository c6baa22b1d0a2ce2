//! The tier as the exporter sees it now: one `otlp` exporter per backend endpoint.
//!
//! The resolver replaces the whole [`Tier`] when the endpoint list changes; a send takes
//! the tier of its moment (an `Arc`), so an update never changes a split half-way. A
//! backend that stays keeps its exporter (and its connection); one that leaves is dropped
//! once no send holds it.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use weir_api::telemetry::{Counter, Gauge};
use weir_api::Exporter;
use weir_otlp_exporter::OtlpGrpcExporter;

use crate::config::Config;
use crate::routing::backend_hash;

/// One backend of the tier.
pub struct Backend {
    pub endpoint: String,
    pub exporter: Arc<dyn Exporter>,
    /// Sends to this backend that succeeded / failed.
    pub succeeded: Counter,
    pub failed: Counter,
}

/// The backends at one moment, sorted by endpoint, with their hashes for routing.
#[derive(Default)]
pub struct Tier {
    pub backends: Vec<Arc<Backend>>,
    pub hashes: Vec<u64>,
}

impl Tier {
    pub fn index_of(&self, endpoint: &str) -> Option<usize> {
        self.backends
            .binary_search_by(|backend| backend.endpoint.as_str().cmp(endpoint))
            .ok()
    }
}

/// Makes the exporter and counters of a new backend.
pub type BackendMaker = dyn Fn(&str) -> Result<Backend, String> + Send + Sync;

/// The current tier, shared by the resolver (writer) and the sends (readers).
pub struct Membership {
    current: RwLock<Arc<Tier>>,
    make: Box<BackendMaker>,
    backends_gauge: Gauge,
    updates: Counter,
}

impl Membership {
    pub fn new(make: Box<BackendMaker>, backends_gauge: Gauge, updates: Counter) -> Self {
        Self {
            current: RwLock::new(Arc::new(Tier::default())),
            make,
            backends_gauge,
            updates,
        }
    }

    /// The tier of this moment.
    pub fn tier(&self) -> Arc<Tier> {
        match self.current.read() {
            Ok(tier) => tier.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Installs the tier for `endpoints`, when it differs from the current one. A backend
    /// whose exporter cannot be made is left out and logged. Returns whether it changed.
    pub fn update(&self, endpoints: &BTreeSet<String>) -> bool {
        let old = self.tier();
        let same = old.backends.len() == endpoints.len()
            && old
                .backends
                .iter()
                .zip(endpoints)
                .all(|(backend, endpoint)| &backend.endpoint == endpoint);
        if same {
            return false;
        }
        let mut tier = Tier::default();
        for endpoint in endpoints {
            let backend = match old.index_of(endpoint) {
                Some(index) => old.backends[index].clone(),
                None => match (self.make)(endpoint) {
                    Ok(backend) => Arc::new(backend),
                    Err(err) => {
                        tracing::error!(%endpoint, error = %err, "loadbalancing: cannot make an exporter for this backend; left out");
                        continue;
                    }
                },
            };
            tier.hashes.push(backend_hash(endpoint));
            tier.backends.push(backend);
        }
        let added: Vec<&str> = endpoints
            .iter()
            .filter(|endpoint| old.index_of(endpoint).is_none())
            .map(String::as_str)
            .collect();
        let removed: Vec<&str> = old
            .backends
            .iter()
            .filter(|backend| !endpoints.contains(&backend.endpoint))
            .map(|backend| backend.endpoint.as_str())
            .collect();
        tracing::info!(
            ?added,
            ?removed,
            backends = tier.backends.len(),
            "loadbalancing: the tier changed"
        );
        self.backends_gauge.set(tier.backends.len() as i64);
        self.updates.inc();
        match self.current.write() {
            Ok(mut current) => *current = Arc::new(tier),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(tier),
        }
        true
    }
}

/// The maker the exporter uses: an `otlp` exporter from `protocol.otlp` with the
/// backend's endpoint and `protocol.otlp.auth`'s credentials, connected on first use.
pub fn otlp_backend_maker(
    config: Config,
    auth: weir_api::auth::ClientAuth,
    succeeded: impl Fn(&str) -> Counter + Send + Sync + 'static,
    failed: impl Fn(&str) -> Counter + Send + Sync + 'static,
) -> Box<BackendMaker> {
    Box::new(move |endpoint| {
        let exporter = OtlpGrpcExporter::with_auth(&config.backend_config(endpoint), auth.clone())?;
        Ok(Backend {
            endpoint: endpoint.to_string(),
            exporter: Arc::new(exporter),
            succeeded: succeeded(endpoint),
            failed: failed(endpoint),
        })
    })
}

/// Prepares `batch` for `backend`.
pub fn prepare_on(
    backend: &Backend,
    batch: weir_api::Batch,
) -> Result<Box<dyn weir_api::ExportRequest>, weir_api::ExportError> {
    backend.exporter.prepare(batch)
}
