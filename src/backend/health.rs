//! What a database shows of its load and its standbys, and its own statistics of a
//! table (row estimates, key histograms): read between batches, never per row.

use std::time::Duration;

use async_trait::async_trait;
use sea_orm::{DatabaseConnection, DbErr};

/// What the database shows of its health.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    pub standbys: Vec<Standby>,
    /// Other sessions waiting on locks that involve the walked table.
    pub lock_waiters: u64,
    /// Threads running on the server, where the database reports them.
    pub threads_running: Option<u64>,
}

/// One standby (PostgreSQL: as its primary reports it; MySQL/MariaDB: a replica as it
/// reports itself, beside its primary's position).
#[derive(Debug, Clone, Default)]
pub struct Standby {
    pub name: String,
    /// The lag the server reports (refreshed only when replay moves).
    pub lag: Option<Duration>,
    /// How far it has replayed, as a position that grows (PostgreSQL: WAL bytes).
    pub replayed: u64,
    /// How far its replay is behind the primary, in the same unit.
    pub behind: u64,
    /// Why it does not replay at all, if it does not: a replication thread stopped, a
    /// replica that cannot be read. Such a standby lags, whatever its figures say.
    pub stopped: Option<String>,
}

/// The database's view of its own health and of a table's size and keys.
#[async_trait]
pub trait Health: Send + Sync {
    /// The database's own estimate of the rows in `table`, for `runs` (cheap: never
    /// a count). `None` when it has none.
    async fn row_estimate(&self, db: &DatabaseConnection, table: &str) -> Option<u64>;

    /// What the database shows of its health for a walk of `table`: standbys and
    /// their replay, other sessions waiting on locks that involve `table`, load.
    async fn observe_health(
        &self,
        db: &DatabaseConnection,
        table: &str,
    ) -> Result<Observation, DbErr>;

    /// Whether replicas are watched on their own connections (`--replica-url`), since
    /// the primary does not know how far they have replayed (MySQL/MariaDB).
    fn watches_replicas_by_url(&self) -> bool {
        false
    }

    /// How far `replica`, a server replicating from `primary`, has replayed, read on
    /// the replica and named `name`; `None` when it replicates from nowhere. Asked only
    /// where [`Health::watches_replicas_by_url`].
    async fn observe_replica(
        &self,
        _primary: &DatabaseConnection,
        _replica: &DatabaseConnection,
        _name: &str,
    ) -> Result<Option<Standby>, DbErr> {
        Ok(None)
    }

    /// The database's histogram of an integer `column` of `table`, its bounds in
    /// order, to cut a table's key space into ranges of about as many rows each
    /// without reading it. `None` when it keeps none.
    async fn key_histogram(
        &self,
        _db: &DatabaseConnection,
        _table: &str,
        _column: &str,
    ) -> Option<Vec<i64>> {
        None
    }
}
