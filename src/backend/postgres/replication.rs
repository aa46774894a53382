//! How a PostgreSQL server lists the standbys streaming from it, read alike on the
//! server the tool is connected to and, through Citus, on each worker node.

use std::time::Duration;

use crate::backend::Standby;

/// What a standby is read by, from `pg_stat_replication` of the server it streams from:
/// its name, `replay_lag` (seconds), replay position and distance behind (bytes).
pub(super) const STANDBY_FIELDS: &str = "coalesce(application_name, '') || '@' || coalesce(host(client_addr), 'local'), \
     extract(epoch FROM replay_lag)::float8, \
     pg_wal_lsn_diff(replay_lsn, '0/0')::bigint, \
     pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint";
pub(super) const STANDBY_SOURCE: &str = "FROM pg_stat_replication WHERE replay_lsn IS NOT NULL";

/// A standby as read by [`STANDBY_FIELDS`].
pub(super) fn standby(name: String, lag: Option<f64>, replayed: i64, behind: i64) -> Standby {
    Standby {
        name,
        lag: lag.map(|secs| Duration::from_secs_f64(secs.max(0.0))),
        replayed: u64::try_from(replayed).unwrap_or(0),
        behind: u64::try_from(behind).unwrap_or(0),
        stopped: None,
    }
}
