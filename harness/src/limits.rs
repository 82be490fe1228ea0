//! The open-file limit: every connection is a descriptor, and the tests and the bench hold
//! thousands.

/// Raises the soft limit on open files as far as the hard limit allows, so that this process
/// and the children it starts (they inherit it) can hold tens of thousands of sockets. Returns
/// the new soft limit.
pub fn raise_fd_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}
