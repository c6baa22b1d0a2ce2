//! Socket set-up and the kernel's drop counter.
//!
//! Several UDP sockets can share one port with SO_REUSEPORT; the kernel spreads clients
//! across them by a hash of the address pair, so each reader thread gets its own
//! stream of datagrams (and one client always lands on the same reader, which keeps
//! its gauge updates in order).
//!
//! Receive buffer: a reader that is off its core for a moment (a flush, another process,
//! the scheduler) must find the datagrams that came meanwhile still queued. The kernel's
//! default (`net.core.rmem_default`, 208 KiB on most distributions) holds about 90
//! datagrams of 1 400 bytes, a few milliseconds at a million lines per second, so UDP
//! sockets ask for [`DEFAULT_UDP_BUFFER_BYTES`] unless `socket_buffer_size` says
//! otherwise. Linux caps SO_RCVBUF at `net.core.rmem_max`; when that cap bites, we retry
//! with SO_RCVBUFFORCE (allowed with CAP_NET_ADMIN, as systemd-journald does for its
//! sockets) and otherwise keep the capped size and log a warning naming the sysctl.
//!
//! Kernel drops: when a socket's receive buffer is full, Linux drops the datagram and
//! counts it in the `drops` column of `/proc/net/udp` (and `udp6`) for that socket's
//! inode. We read that column for our sockets' inodes at every flush and add the
//! increase to `weir_statsd_receiver_kernel_drops`. This needs no socket option and no
//! unsafe code (SO_RXQ_OVFL would need control-message parsing on every receive). The
//! counter stays at zero where /proc is unavailable.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::fd::AsRawFd;

use nix::sys::socket::{setsockopt, sockopt::RcvBufForce};
use prometheus_client::metrics::counter::Counter;
use socket2::{Domain, Protocol, Socket, Type};

/// SO_RCVBUF asked for each UDP socket when `socket_buffer_size` is not configured:
/// 8 MiB, which the kernel doubles for its bookkeeping. With 1 400-byte datagrams (each
/// costs about 2.3 KiB of buffer on loopback) it holds about 7 000 datagrams, over 100 ms
/// at 2 M lines/s. Memory is used only while datagrams wait.
pub const DEFAULT_UDP_BUFFER_BYTES: usize = 8 << 20;

/// The receive buffer a socket got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiveBuffer {
    /// What was asked (`socket_buffer_size`).
    pub requested: usize,
    /// What the kernel reports for SO_RCVBUF: twice the size it accepted.
    pub granted: usize,
    /// Whether SO_RCVBUFFORCE was needed (and allowed) to get past `net.core.rmem_max`.
    pub forced: bool,
}

impl ReceiveBuffer {
    /// Whether `net.core.rmem_max` capped the buffer below what was asked.
    pub fn capped(&self) -> bool {
        self.granted / 2 < self.requested
    }
}

/// Sets the receive buffer to `size`; when `net.core.rmem_max` caps it, retries with
/// SO_RCVBUFFORCE, which succeeds only with CAP_NET_ADMIN.
pub fn set_receive_buffer(socket: &Socket, size: usize) -> std::io::Result<ReceiveBuffer> {
    socket.set_recv_buffer_size(size)?;
    let mut buffer = ReceiveBuffer {
        requested: size,
        granted: socket.recv_buffer_size()?,
        forced: false,
    };
    if buffer.capped() && setsockopt(socket, RcvBufForce, &size).is_ok() {
        buffer.granted = socket.recv_buffer_size()?;
        buffer.forced = true;
    }
    Ok(buffer)
}

/// Logs what a capped buffer means and how to lift the cap.
fn warn_if_capped(buffer: &ReceiveBuffer) {
    if buffer.capped() {
        tracing::warn!(
            requested = buffer.requested,
            granted = buffer.granted / 2,
            "statsd: net.core.rmem_max caps the UDP receive buffer below socket_buffer_size; \
             bursts the buffer cannot hold are dropped by the kernel (counted in \
             weir_statsd_receiver_kernel_drops). Raise it with `sysctl -w net.core.rmem_max={}` \
             or give Weir CAP_NET_ADMIN",
            buffer.requested
        );
    }
}

/// Resolves `host:port` (`:8125` means every interface, as in Go) to the first address.
pub fn resolve(endpoint: &str) -> Result<SocketAddr, String> {
    let endpoint = if endpoint.starts_with(':') {
        format!("0.0.0.0{endpoint}")
    } else {
        endpoint.to_string()
    };
    endpoint
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| format!("`{endpoint}` resolves to no address"))
}

/// Binds `count` UDP sockets to `address` (the first one decides the port when it is
/// 0), with SO_REUSEPORT when there are several, a receive buffer of `buffer` bytes
/// (see [`set_receive_buffer`]), and a read timeout so reader threads notice shutdown.
pub fn bind_udp(
    address: SocketAddr,
    count: usize,
    buffer: usize,
) -> std::io::Result<Vec<UdpSocket>> {
    let mut sockets = Vec::with_capacity(count);
    let mut address = address;
    for _ in 0..count.max(1) {
        let socket = Socket::new(
            Domain::for_address(address),
            Type::DGRAM,
            Some(Protocol::UDP),
        )?;
        if count > 1 {
            socket.set_reuse_port(true)?;
        }
        let granted = set_receive_buffer(&socket, buffer)?;
        if sockets.is_empty() {
            warn_if_capped(&granted);
        }
        socket.bind(&address.into())?;
        socket.set_read_timeout(Some(crate::READ_TIMEOUT))?;
        let socket: UdpSocket = socket.into();
        address = socket.local_addr()?;
        sockets.push(socket);
    }
    Ok(sockets)
}

/// The inode of a socket, from `/proc/self/fd/N` -> `socket:[INODE]`.
pub fn socket_inode(socket: &impl AsRawFd) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", socket.as_raw_fd())).ok()?;
    let text = link.to_str()?;
    text.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Sum of the `drops` column for `inodes` in a `/proc/net/udp`-format table.
pub fn drops_in_table(table: &str, inodes: &[u64]) -> u64 {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let inode: u64 = fields.get(9)?.parse().ok()?;
            if !inodes.contains(&inode) {
                return None;
            }
            fields.get(12)?.parse::<u64>().ok()
        })
        .sum()
}

/// Follows the kernel's drop count of our UDP sockets and feeds the counter.
#[derive(Debug)]
pub struct KernelDrops {
    inodes: Vec<u64>,
    last: u64,
    counter: Counter,
}

impl KernelDrops {
    pub fn new(inodes: Vec<u64>, counter: Counter) -> Self {
        let mut tracker = Self {
            inodes,
            last: 0,
            counter,
        };
        // Sockets are new, but start from whatever the kernel says.
        tracker.last = tracker.read();
        tracker
    }

    fn read(&self) -> u64 {
        ["/proc/net/udp", "/proc/net/udp6"]
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .map(|table| drops_in_table(&table, &self.inodes))
            .sum()
    }

    /// Adds drops since the last call to the counter.
    pub fn update(&mut self) {
        let now = self.read();
        if now > self.last {
            self.counter.inc_by(now - self.last);
        }
        self.last = self.last.max(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_column_of_our_inodes() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  1: 0100007F:1FBD 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17\n\
  2: 0100007F:1FBE 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 999 2 0000000000000000 5\n";
        assert_eq!(drops_in_table(table, &[4242]), 17);
        assert_eq!(drops_in_table(table, &[1]), 0);
    }

    #[test]
    fn our_socket_appears_in_proc() {
        let sockets = bind_udp("127.0.0.1:0".parse().unwrap(), 2, 1 << 20).unwrap();
        assert_eq!(
            sockets[0].local_addr().unwrap(),
            sockets[1].local_addr().unwrap()
        );
        let inode = socket_inode(&sockets[0]).expect("inode");
        let table = std::fs::read_to_string("/proc/net/udp").unwrap();
        assert!(table
            .lines()
            .any(|l| l.split_whitespace().nth(9) == Some(&inode.to_string())));
    }

    fn rmem_max() -> usize {
        std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0)
    }

    #[test]
    fn receive_buffer_reaches_the_request_or_the_cap() {
        let sockets =
            bind_udp("127.0.0.1:0".parse().unwrap(), 1, DEFAULT_UDP_BUFFER_BYTES).unwrap();
        let granted = socket2::SockRef::from(&sockets[0])
            .recv_buffer_size()
            .unwrap();
        // Linux reports twice the accepted size; without CAP_NET_ADMIN the request is
        // capped at net.core.rmem_max, never below it.
        let floor = DEFAULT_UDP_BUFFER_BYTES.min(rmem_max());
        assert!(granted >= 2 * floor, "granted {granted}, floor {floor}");
    }

    #[test]
    fn a_buffer_past_rmem_max_is_forced_or_reported_capped() {
        let cap = rmem_max();
        if cap == 0 {
            return; // no /proc: nothing to compare with
        }
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        let buffer = set_receive_buffer(&socket, cap + (1 << 20)).unwrap();
        if buffer.forced {
            assert!(!buffer.capped(), "{buffer:?}");
        } else {
            assert!(buffer.capped(), "{buffer:?}");
            assert_eq!(buffer.granted, 2 * cap);
        }
    }
}
