//! What a process holds, read from `/proc` by the shared harness: to show that connections leave
//! nothing behind.

pub use harness::proc_stats::open_fds;

/// The resident memory of process `pid`, in KiB; 0 when it cannot be read.
pub fn resident_kib(pid: u32) -> u64 {
    harness::proc_stats::resident_kib(pid).unwrap_or(0)
}

/// The local ports of the TCP sockets process `pid` holds open.
pub fn tcp_ports(pid: u32) -> Vec<u16> {
    let inodes = socket_inodes(pid);
    tcp_table()
        .into_iter()
        .filter(|entry| inodes.contains(&entry.inode))
        .map(|entry| entry.local_port)
        .collect()
}

/// Whether process `pid` holds a TCP socket connected to a peer on port `peer_port`.
pub fn has_connection_from(pid: u32, peer_port: u16) -> bool {
    let inodes = socket_inodes(pid);
    tcp_table()
        .into_iter()
        .any(|entry| entry.remote_port == peer_port && inodes.contains(&entry.inode))
}

/// One line of `/proc/net/tcp`, as much as the tests need.
struct TcpEntry {
    /// The socket's own port.
    local_port: u16,
    /// The peer's port.
    remote_port: u16,
    /// The socket's inode, as `/proc/PID/fd` links name it.
    inode: u64,
}

/// The IPv4 TCP sockets of the machine.
fn tcp_table() -> Vec<TcpEntry> {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let port = |address: &str| {
        let hex = address.rsplit(':').next().unwrap_or_default();
        u16::from_str_radix(hex, 16).unwrap_or(0)
    };
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            Some(TcpEntry {
                local_port: port(fields.get(1)?),
                remote_port: port(fields.get(2)?),
                inode: fields.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// The inodes of the sockets process `pid` holds open.
fn socket_inodes(pid: u32) -> Vec<u64> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let target = std::fs::read_link(entry.ok()?.path()).ok()?;
        let target = target.to_str()?;
        target
            .strip_prefix("socket:[")?
            .strip_suffix(']')?
            .parse()
            .ok()
    })
    .collect()
}
