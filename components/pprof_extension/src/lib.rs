//! The `pprof` extension: CPU profiles of the running Weir over HTTP, in the pprof
//! format Go's `net/http/pprof` serves, so `go tool pprof
//! http://127.0.0.1:1777/debug/pprof/profile?seconds=30` works against Weir as against
//! the Collector. Sampling is done by the `pprof` crate (tikv/pprof-rs) with `SIGPROF`;
//! Weir's own code has no `unsafe`.
//!
//! Keys follow the Collector's `pprofextension`; the Go-runtime knobs
//! (`block_profile_fraction`, `mutex_profile_fraction`) are accepted and have no
//! effect. `save_to_file` profiles from start to shutdown and writes the file then. See
//! README.md.

pub mod config;
pub mod profile;
mod server;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use weir_api::{
    BuildContext, BuildError, ComponentId, ComponentProblem, Extension, ExtensionContext,
    ExtensionFactory, FactoryInfo, RunningComponent, Stability, StartError, Value,
};

pub use config::{PprofConfig, DEFAULT_ENDPOINT};
pub use server::{respond, seconds, PprofServer, DEFAULT_SECONDS, MAX_SECONDS};

/// The component type name in configuration.
pub const TYPE_NAME: &str = "pprof";

/// Builds `pprof` extensions.
#[derive(Debug, Default)]
pub struct PprofFactory;

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ExtensionFactory> {
    Arc::new(PprofFactory)
}

impl ExtensionFactory for PprofFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: TYPE_NAME,
            aliases: &[],
            signals: &[],
            stability: Stability::Beta,
            description: "CPU profiles of Weir in pprof format at /debug/pprof/profile.",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<PprofConfig>(config)
    }

    fn build(&self, ctx: BuildContext, config: &Value) -> Result<Box<dyn Extension>, BuildError> {
        let config: PprofConfig = weir_api::config::parse_valid(config)?;
        Ok(Box::new(Pprof { id: ctx.id, config }))
    }
}

/// A built, not yet listening, pprof extension.
#[derive(Debug)]
pub struct Pprof {
    id: ComponentId,
    config: PprofConfig,
}

#[async_trait]
impl Extension for Pprof {
    async fn start(self: Box<Self>, ctx: ExtensionContext) -> Result<RunningComponent, StartError> {
        let server = PprofServer::bind(&self.config.endpoint).await?;
        tracing::info!(extension = %self.id, address = %server.local_addr(), "pprof: listening");
        for (key, value) in [
            ("block_profile_fraction", self.config.block_profile_fraction),
            ("mutex_profile_fraction", self.config.mutex_profile_fraction),
        ] {
            if value != 0 {
                tracing::warn!(extension = %self.id, key, value,
                    "pprof: {key} tunes a Go runtime profiler; it has no effect on Weir");
            }
        }
        let saving = match &self.config.save_to_file {
            Some(path) => Some(save_on_shutdown(
                self.id.clone(),
                PathBuf::from(path),
                ctx.shutdown.clone(),
            )?),
            None => None,
        };
        let serving = server.serve(ctx.shutdown);
        Ok(Box::pin(async move {
            serving.await;
            if let Some(saving) = saving {
                let _ = saving.await;
            }
        }))
    }
}

/// Starts a CPU profile now and writes it to `path` when `shutdown` is cancelled.
fn save_on_shutdown(
    id: ComponentId,
    path: PathBuf,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, StartError> {
    // Open the file first, so a path that cannot be written fails the start.
    let mut file = std::fs::File::create(&path).map_err(|e| {
        StartError(format!(
            "{id}: cannot create save_to_file {}: {e}",
            path.display()
        ))
    })?;
    let started = profile::start().map_err(|e| StartError(format!("{id}: {e}")))?;
    Ok(tokio::spawn(async move {
        shutdown.cancelled().await;
        let written = tokio::task::spawn_blocking(move || {
            let bytes = started.finish().map_err(|e| e.to_string())?;
            file.write_all(&bytes).map_err(|e| e.to_string())
        })
        .await;
        match written {
            Ok(Ok(())) => {
                tracing::info!(extension = %id, file = %path.display(), "pprof: CPU profile saved")
            }
            Ok(Err(err)) => {
                tracing::error!(extension = %id, file = %path.display(), "pprof: cannot save the CPU profile: {err}")
            }
            Err(err) => tracing::error!(extension = %id, "pprof: the save task failed: {err}"),
        }
    }))
}

#[cfg(test)]
mod tests;
