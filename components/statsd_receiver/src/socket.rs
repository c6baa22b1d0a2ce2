//! Socket set-up and the kernel's drop counter.
//!
//! Several UDP sockets can share one port with SO_REUSEPORT; the kernel spreads clients
//! across them by a hash of the address pair, so each reader thread gets its own
//! stream of datagrams (and one client always lands on the same reader, which keeps
//! its gauge updates in order).
//!
//! Kernel drops: when a socket's receive buffer is full, Linux drops the datagram and
//! counts it in the `drops` column of `/proc/net/udp` (and `udp6`) for that socket's
//! inode. We read that column for our sockets' inodes at every flush and add the
//! increase to `weir_statsd_receiver_kernel_drops`. This needs no socket option and no
//! unsafe code (SO_RXQ_OVFL would need control-message parsing on every receive). The
//! counter stays at zero where /proc is unavailable.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::fd::AsRawFd;

use prometheus_client::metrics::counter::Counter;
use socket2::{Domain, Protocol, Socket, Type};

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
/// 0), with SO_REUSEPORT when there are several, SO_RCVBUF when configured, and a read
/// timeout so reader threads notice shutdown.
pub fn bind_udp(
    address: SocketAddr,
    count: usize,
    buffer: Option<usize>,
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
        if let Some(size) = buffer {
            socket.set_recv_buffer_size(size)?;
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
        let sockets = bind_udp("127.0.0.1:0".parse().unwrap(), 2, Some(1 << 20)).unwrap();
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
}
