//! The receiver: bind, start readers, flush at every interval end, and once more at
//! shutdown after the readers have stopped (so nothing received is left behind).
//!
//! A flush (swap the readers' maps out, merge, build OTLP, give the emptied maps back)
//! runs on a blocking-pool thread, not on the async runtime's workers and never on a
//! reader's thread: readers are held only for the swap.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use weir_api::telemetry::Telemetry;
use weir_api::{Receiver, ReceiverContext, ReceiverOutput, RunningComponent, Signal, StartError};

use crate::aggregator::Settings;
use crate::config::{Config, Transport};
use crate::flush::{FlushOptions, Flusher};
use crate::readers::{self, Readers, Shards};
use crate::socket::{self, KernelDrops};

pub struct StatsdReceiver {
    id: String,
    config: Config,
    telemetry: Telemetry,
    bound: Arc<OnceLock<String>>,
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl StatsdReceiver {
    pub fn new(id: String, config: Config, telemetry: Telemetry) -> Self {
        Self {
            id,
            config,
            telemetry,
            bound: Arc::default(),
        }
    }

    /// Filled at start with the address actually bound (useful with port 0).
    pub fn bound_address(&self) -> Arc<OnceLock<String>> {
        Arc::clone(&self.bound)
    }

    fn settings(&self, output: &ReceiverOutput) -> Arc<Settings> {
        Arc::new(Settings::from_config(
            &self.id,
            &self.config,
            output.accepts(Signal::Logs),
            &self.telemetry,
        ))
    }
}

/// What a flush changes, moved to the blocking thread that runs it.
struct FlushState {
    flusher: Flusher,
    drops: Option<KernelDrops>,
}

/// Everything the flush loop owns.
struct Running {
    output: ReceiverOutput,
    shards: Arc<Shards>,
    state: Arc<Mutex<FlushState>>,
    settings: Arc<Settings>,
}

impl Running {
    async fn flush(&mut self) {
        let shards = Arc::clone(&self.shards);
        let state = Arc::clone(&self.state);
        let now = unix_nanos();
        let work = tokio::task::spawn_blocking(move || {
            let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
            let parts = shards.drain();
            let mut flushed = state.flusher.flush(parts, now);
            shards.recycle(std::mem::take(&mut flushed.recycled));
            if let Some(drops) = &mut state.drops {
                drops.update();
            }
            flushed
        });
        let flushed = match work.await {
            Ok(flushed) => flushed,
            Err(err) => {
                tracing::error!(receiver = %self.settings.receiver, error = %err, "statsd: flush failed");
                return;
            }
        };
        self.settings.metrics.series.set(flushed.series as i64);
        for batch in [flushed.metrics, flushed.logs].into_iter().flatten() {
            let signal = batch.signal();
            // The output counts refused items; aggregated data has no client to retry.
            if let Err(err) = self.output.send(batch).await {
                tracing::warn!(receiver = %self.settings.receiver, %signal, error = %err, "statsd: flushed data not taken");
            }
        }
    }
}

#[async_trait]
impl Receiver for StatsdReceiver {
    async fn start(self: Box<Self>, ctx: ReceiverContext) -> Result<RunningComponent, StartError> {
        let transport = self.config.transport;
        let output = ctx.output.for_transport(transport.as_str());
        let settings = self.settings(&output);
        let shards = Arc::new(Shards::default());
        let stop: CancellationToken = ctx.shutdown.child_token();
        let endpoint = self.config.endpoint().to_string();
        let mut readers = Readers::default();
        let mut drops = None;
        let mut socket_path: Option<PathBuf> = None;

        match transport {
            Transport::Udp => {
                let address = resolve(&endpoint)?;
                let buffer = self.config.udp_buffer_size();
                let sockets = socket::bind_udp(address, self.config.readers, buffer)
                    .map_err(|e| StartError(format!("statsd: cannot bind udp {endpoint}: {e}")))?;
                if let Some(Ok(local)) = sockets.first().map(|s| s.local_addr()) {
                    let _ = self.bound.set(local.to_string());
                }
                let inodes = sockets.iter().filter_map(socket::socket_inode).collect();
                drops = Some(KernelDrops::new(
                    inodes,
                    settings.metrics.kernel_drops.clone(),
                ));
                readers.threads = readers::start_udp(sockets, &shards, &settings, &stop)
                    .map_err(|e| StartError(format!("statsd: cannot start reader threads: {e}")))?;
            }
            Transport::Tcp => {
                let address = resolve(&endpoint)?;
                let listener = bind_tcp(address, self.config.socket_buffer_size)
                    .map_err(|e| StartError(format!("statsd: cannot bind tcp {endpoint}: {e}")))?;
                if let Ok(local) = listener.local_addr() {
                    let _ = self.bound.set(local.to_string());
                }
                readers::start_tcp(
                    listener,
                    Arc::clone(&shards),
                    Arc::clone(&settings),
                    stop.clone(),
                    readers.tasks.clone(),
                );
            }
            Transport::Unixgram => {
                let socket = bind_unixgram(&self.config, &endpoint).map_err(|e| {
                    StartError(format!("statsd: cannot bind unixgram {endpoint}: {e}"))
                })?;
                let _ = self.bound.set(endpoint.clone());
                socket_path = Some(PathBuf::from(&endpoint));
                readers.threads.push(
                    readers::start_unixgram(socket, &shards, &settings, &stop).map_err(|e| {
                        StartError(format!("statsd: cannot start reader thread: {e}"))
                    })?,
                );
            }
        }

        let options = FlushOptions::from_config(&self.config);
        let mut running = Running {
            output,
            shards,
            state: Arc::new(Mutex::new(FlushState {
                flusher: Flusher::new(options, unix_nanos()),
                drops,
            })),
            settings,
        };
        let interval = self.config.aggregation_interval;
        let shutdown = ctx.shutdown;
        Ok(Box::pin(async move {
            let mut ticker =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = ticker.tick() => running.flush().await,
                }
            }
            stop.cancel();
            readers.join().await;
            running.flush().await;
            if let Some(path) = socket_path {
                let _ = std::fs::remove_file(path);
            }
        }))
    }
}

fn resolve(endpoint: &str) -> Result<SocketAddr, StartError> {
    socket::resolve(endpoint)
        .map_err(|e| StartError(format!("statsd: cannot resolve {endpoint}: {e}")))
}

fn bind_tcp(
    address: SocketAddr,
    buffer: Option<usize>,
) -> std::io::Result<tokio::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    if let Some(size) = buffer {
        socket.set_recv_buffer_size(size)?;
    }
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(socket.into())
}

/// Binds the unix datagram socket, replacing a stale socket file left by an earlier run
/// (but never a regular file), and applies `socket_permissions`.
fn bind_unixgram(config: &Config, path: &str) -> std::io::Result<std::os::unix::net::UnixDatagram> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_socket() {
            std::fs::remove_file(path)?;
        }
    }
    let socket = std::os::unix::net::UnixDatagram::bind(path)?;
    if let Some(size) = config.socket_buffer_size {
        socket2::SockRef::from(&socket).set_recv_buffer_size(size)?;
    }
    socket.set_read_timeout(Some(crate::READ_TIMEOUT))?;
    let mode = config.permissions().map_err(std::io::Error::other)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(socket)
}

/// How long a reader thread blocks before checking for shutdown.
pub const READ_TIMEOUT: Duration = Duration::from_millis(100);
