//! The readers: where datagrams and stream bytes come in.
//!
//! UDP and unixgram sockets are read by dedicated threads with blocking receives and a
//! short read timeout (to notice shutdown). UDP uses `recvmmsg` (through `nix`, which
//! wraps it safely) to take up to 32 datagrams per system call. A thread per socket,
//! rather than tokio tasks, keeps the receive buffers and nix's message headers (which
//! are not `Send`) on one stack and avoids a wake-up per datagram. TCP connections are
//! tokio tasks. Every reader aggregates into its own [`Shard`].

use std::io::IoSliceMut;
use std::net::{IpAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use nix::errno::Errno;
use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::aggregator::{Aggregator, Interval, LineMap, Settings};
use crate::line::MAX_LINE_BYTES;
use crate::reason::Reason;

/// Datagrams taken per `recvmmsg` call.
const BATCH: usize = 32;
/// Receive buffer per datagram: the largest UDP payload fits.
const DATAGRAM_BYTES: usize = 65_536;
/// Bytes read per TCP `read`.
const STREAM_CHUNK: usize = 64 * 1024;

/// One reader's aggregation state.
pub type Shard = Arc<Mutex<Aggregator>>;

fn lock(shard: &Shard) -> MutexGuard<'_, Aggregator> {
    // A reader that panicked mid-line leaves at worst one line half-applied.
    shard
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Every reader's shard; the flusher drains them all at the end of each interval.
#[derive(Debug, Default)]
pub struct Shards {
    list: Mutex<Vec<Shard>>,
}

impl Shards {
    /// A new shard, registered for draining.
    pub fn create(&self, settings: &Arc<Settings>) -> Shard {
        let shard = Arc::new(Mutex::new(Aggregator::new(Arc::clone(settings))));
        self.list
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::clone(&shard));
        shard
    }

    /// Takes every shard's interval; forgets shards whose reader has gone (closed TCP
    /// connections) once they are drained. Each shard is locked only for a swap of maps.
    pub fn drain(&self) -> Vec<Interval> {
        let mut list = self.list.lock().unwrap_or_else(|p| p.into_inner());
        let parts = list.iter().map(|shard| lock(shard).take()).collect();
        list.retain(|shard| Arc::strong_count(shard) > 1);
        parts
    }

    /// Gives the flusher's emptied maps back to shards that have no spare; the rest are
    /// freed here, on the flusher's thread.
    pub fn recycle(&self, maps: Vec<LineMap>) {
        let list = self.list.lock().unwrap_or_else(|p| p.into_inner());
        let mut maps = maps.into_iter();
        for shard in list.iter() {
            let mut aggregator = lock(shard);
            if aggregator.has_spare() {
                continue;
            }
            match maps.next() {
                Some(map) => aggregator.recycle(map),
                None => break,
            }
        }
    }
}

/// Running readers, stopped through the shutdown token.
#[derive(Debug, Default)]
pub struct Readers {
    pub threads: Vec<JoinHandle<()>>,
    pub tasks: TaskTracker,
}

impl Readers {
    /// Waits until every reader has stopped (they watch the shutdown token).
    pub async fn join(self) {
        for thread in self.threads {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// Starts one thread per UDP socket.
pub fn start_udp(
    sockets: Vec<UdpSocket>,
    shards: &Shards,
    settings: &Arc<Settings>,
    stop: &CancellationToken,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    sockets
        .into_iter()
        .enumerate()
        .map(|(i, socket)| {
            let shard = shards.create(settings);
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(format!("statsd-udp-{i}"))
                .spawn(move || read_udp(socket, shard, stop))
        })
        .collect()
}

fn source_ip(address: Option<SockaddrStorage>) -> Option<IpAddr> {
    let address = address?;
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(IpAddr::V4(v4.ip()));
    }
    address.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
}

fn read_udp(socket: UdpSocket, shard: Shard, stop: CancellationToken) {
    let mut buffers = vec![0u8; BATCH * DATAGRAM_BYTES];
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut received = [(0usize, None::<IpAddr>); BATCH];
    while !stop.is_cancelled() {
        let count = {
            let mut slices: Vec<[IoSliceMut<'_>; 1]> = buffers
                .chunks_exact_mut(DATAGRAM_BYTES)
                .map(|chunk| [IoSliceMut::new(chunk)])
                .collect();
            // MSG_WAITFORONE: block (up to the read timeout) for the first datagram,
            // then take whatever else is already queued.
            match recvmmsg(
                socket.as_raw_fd(),
                &mut headers,
                slices.iter_mut(),
                MsgFlags::MSG_WAITFORONE,
                None,
            ) {
                Ok(messages) => {
                    let mut count = 0;
                    for message in messages {
                        received[count] = (message.bytes, source_ip(message.address));
                        count += 1;
                    }
                    count
                }
                Err(Errno::EAGAIN | Errno::EINTR) => continue,
                Err(err) => {
                    tracing::warn!(error = %err, "statsd: UDP receive failed");
                    std::thread::sleep(crate::READ_TIMEOUT);
                    continue;
                }
            }
        };
        let mut aggregator = lock(&shard);
        for (i, &(len, source)) in received[..count].iter().enumerate() {
            let start = i * DATAGRAM_BYTES;
            aggregator.ingest(&buffers[start..start + len.min(DATAGRAM_BYTES)], source);
        }
    }
}

/// Starts the thread reading a unix datagram socket.
pub fn start_unixgram(
    socket: UnixDatagram,
    shards: &Shards,
    settings: &Arc<Settings>,
    stop: &CancellationToken,
) -> std::io::Result<JoinHandle<()>> {
    let shard = shards.create(settings);
    let stop = stop.clone();
    std::thread::Builder::new()
        .name("statsd-unixgram".into())
        .spawn(move || {
            let mut buffer = vec![0u8; DATAGRAM_BYTES];
            while !stop.is_cancelled() {
                match socket.recv(&mut buffer) {
                    Ok(len) => {
                        lock(&shard).ingest(&buffer[..len], None);
                    }
                    Err(err)
                        if matches!(
                            err.kind(),
                            std::io::ErrorKind::WouldBlock
                                | std::io::ErrorKind::TimedOut
                                | std::io::ErrorKind::Interrupted
                        ) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, "statsd: unixgram receive failed");
                        std::thread::sleep(crate::READ_TIMEOUT);
                    }
                }
            }
        })
}

/// Accepts TCP connections until shutdown; each connection is a task with its own shard.
pub fn start_tcp(
    listener: TcpListener,
    shards: Arc<Shards>,
    settings: Arc<Settings>,
    stop: CancellationToken,
    tasks: TaskTracker,
) {
    let spawner = tasks.clone();
    tasks.spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = stop.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    let shard = shards.create(&settings);
                    spawner.spawn(read_stream(stream, peer.ip(), shard, stop.clone()));
                }
                Err(err) => {
                    tracing::warn!(error = %err, "statsd: TCP accept failed");
                    tokio::time::sleep(crate::READ_TIMEOUT).await;
                }
            }
        }
    });
}

/// Reads newline-separated lines from a stream. Complete lines are aggregated as they
/// arrive; a line longer than the maximum is skipped up to its newline and counted.
async fn read_stream(mut stream: TcpStream, peer: IpAddr, shard: Shard, stop: CancellationToken) {
    let mut buffer = vec![0u8; STREAM_CHUNK.max(MAX_LINE_BYTES + 1)];
    let mut filled = 0usize;
    let mut skipping = false;
    loop {
        let read = tokio::select! {
            _ = stop.cancelled() => break,
            read = stream.read(&mut buffer[filled..]) => read,
        };
        let n = match read {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let end = filled + n;
        let mut start = 0;
        if skipping {
            match buffer[filled..end].iter().position(|b| *b == b'\n') {
                Some(pos) => {
                    start = filled + pos + 1;
                    skipping = false;
                }
                None => {
                    filled = 0;
                    continue;
                }
            }
        }
        let complete = buffer[start..end]
            .iter()
            .rposition(|b| *b == b'\n')
            .map(|p| start + p);
        if let Some(last_newline) = complete {
            lock(&shard).ingest(&buffer[start..last_newline], Some(peer));
            start = last_newline + 1;
        }
        let rest = end - start;
        if rest > MAX_LINE_BYTES {
            lock(&shard).reject(Reason::TooLong, &buffer[start..start + 200]);
            skipping = true;
            filled = 0;
        } else {
            buffer.copy_within(start..end, 0);
            filled = rest;
        }
    }
    // The last line may lack its newline.
    if filled > 0 && !skipping {
        lock(&shard).ingest(&buffer[..filled], Some(peer));
    }
}
