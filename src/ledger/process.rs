//! Which process works a run, and whether it is still there: a process of this host is
//! looked up by its pid; one of another host is trusted while its heartbeat is fresh.

use chrono::{DateTime, FixedOffset, Utc};

/// A run whose heartbeat is older than this is taken for dead even if its process
/// cannot be checked (it ran on another host).
const STALE_AFTER_SECS: i64 = 600;

pub fn is_alive(host: &str, pid: i32, heartbeat: DateTime<FixedOffset>) -> bool {
    let age = Utc::now().signed_duration_since(heartbeat).num_seconds();
    if age > STALE_AFTER_SECS {
        return false;
    }
    if host == host_name() {
        return pid as u32 != std::process::id()
            && std::path::Path::new(&format!("/proc/{pid}")).exists();
    }
    true
}

/// Whether process `pid` of `host` is known to be gone: it ran on this host and is
/// no longer there.
pub fn is_gone(host: &str, pid: i32) -> bool {
    host == host_name()
        && pid as u32 != std::process::id()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}
