//! The exporter: the membership, the resolver loop that keeps it current, and `prepare`,
//! which wraps each batch in a [`LoadBalancedRequest`] (split at send time).

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use weir_api::telemetry::names::{
    LOADBALANCER_BACKEND_OUTCOME, LOADBALANCER_NUM_BACKENDS, LOADBALANCER_NUM_BACKEND_UPDATES,
    LOADBALANCER_NUM_RESOLUTIONS, LOADBALANCER_REHOMED_ITEMS,
};
use weir_api::telemetry::Telemetry;
use weir_api::{Batch, BuildContext, ExportError, ExportRequest, Exporter, StartError};

use crate::config::Config;
use crate::membership::{otlp_backend_maker, Membership};
use crate::request::{LoadBalancedRequest, Shared};
use crate::resolver::Chosen;

pub struct LoadBalancingExporter {
    shared: Arc<Shared>,
    /// `protocol.otlp.auth`, checked at start (each backend's exporter applies it).
    auth: weir_api::auth::ClientAuth,
    resolver: Chosen,
    telemetry: Telemetry,
    id: String,
    stop: CancellationToken,
}

impl LoadBalancingExporter {
    pub fn new(ctx: &BuildContext, config: Config) -> Result<Self, String> {
        let resolver = config
            .resolver
            .choose()
            .ok_or_else(|| "resolver: a resolver is required".to_string())?;
        let id = ctx.id.to_string();
        let telemetry = ctx.telemetry.clone();
        let label = resolver.label();
        let (ok_id, failed_id) = (id.clone(), id.clone());
        let (ok_telemetry, failed_telemetry) = (telemetry.clone(), telemetry.clone());
        let auth = weir_api::auth::ClientAuth::new(config.protocol.otlp.auth.as_ref(), &telemetry);
        let make = otlp_backend_maker(
            config.clone(),
            auth.clone(),
            move |endpoint| {
                ok_telemetry.counter_of(&LOADBALANCER_BACKEND_OUTCOME, &[&ok_id, endpoint, "true"])
            },
            move |endpoint| {
                failed_telemetry.counter_of(
                    &LOADBALANCER_BACKEND_OUTCOME,
                    &[&failed_id, endpoint, "false"],
                )
            },
        );
        let membership = Membership::new(
            make,
            telemetry.gauge_of(&LOADBALANCER_NUM_BACKENDS, &[&id, label]),
            telemetry.counter_of(&LOADBALANCER_NUM_BACKEND_UPDATES, &[&id, label]),
        );
        if let Chosen::Static(hostnames) = &resolver {
            membership.update(hostnames);
            telemetry
                .counter_of(&LOADBALANCER_NUM_RESOLUTIONS, &[&id, label, "true"])
                .inc();
        }
        Ok(Self {
            shared: Arc::new(Shared {
                membership: Arc::new(membership),
                routing_key: config.routing_key,
                routing_attributes: config.routing_attributes.clone(),
                rehomed: telemetry.counter_of(&LOADBALANCER_REHOMED_ITEMS, &[&id]),
            }),
            auth,
            resolver,
            telemetry,
            id,
            stop: CancellationToken::new(),
        })
    }

    /// Asks the resolver once and installs what it found; a failure keeps the last tier.
    async fn refresh(resolver: &Chosen, membership: &Membership, telemetry: &Telemetry, id: &str) {
        let label = resolver.label();
        match resolver.resolve().await {
            Ok(endpoints) => {
                telemetry
                    .counter_of(&LOADBALANCER_NUM_RESOLUTIONS, &[id, label, "true"])
                    .inc();
                membership.update(&endpoints);
            }
            Err(err) => {
                telemetry
                    .counter_of(&LOADBALANCER_NUM_RESOLUTIONS, &[id, label, "false"])
                    .inc();
                tracing::warn!(exporter = id, resolver = label, error = %err,
                    "loadbalancing: cannot resolve the backends; keeping the last known tier");
            }
        }
    }
}

#[async_trait]
impl Exporter for LoadBalancingExporter {
    async fn start(&self) -> Result<(), StartError> {
        self.auth.start()?;
        let Some(interval) = self.resolver.interval() else {
            return Ok(());
        };
        // The first answer before data flows, so the first batches have somewhere to go;
        // a resolver that fails now is retried by the loop (sends wait as retryable).
        let membership = self.shared.membership.clone();
        Self::refresh(&self.resolver, &membership, &self.telemetry, &self.id).await;
        let (resolver, telemetry, id, stop) = (
            self.resolver.clone(),
            self.telemetry.clone(),
            self.id.clone(),
            self.stop.clone(),
        );
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(interval) => {}
                }
                Self::refresh(&resolver, &membership, &telemetry, &id).await;
            }
        });
        Ok(())
    }

    fn prepare(&self, batch: Batch) -> Result<Box<dyn ExportRequest>, ExportError> {
        Ok(Box::new(LoadBalancedRequest::new(
            self.shared.clone(),
            batch,
        )))
    }

    async fn shutdown(&self) {
        self.stop.cancel();
    }
}
