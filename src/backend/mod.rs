//! What differs between databases, at the bottom of the tool: this layer imports no
//! module of the tool but `error`, and the rest never asks which database it is on.
//! A URL picks its backend once, in [`connect`]; the [`Db`] handle carries it from
//! there. What a database answers for is split by concern, a trait each:
//!
//! | trait | concern |
//! |---|---|
//! | [`Session`] | URLs, connections, read-only-ness, a batch's transaction, errors |
//! | [`Dialect`] | keys, values, id lists, payload text, JSON predicates, the clock |
//! | [`Catalog`] | columns and their types, NOT NULL, cluster layouts, scratch databases |
//! | [`Writes`] | journaled updates, pairs, guarded upserts, the `project_id` guard |
//! | [`BulkLoad`] | `seed`'s bulk loads |
//! | [`Health`] | standbys, lock waiters, load, row estimates, key histograms |
//!
//! Each database is a folder (`sqlite/`, `postgres/`, `mysql/`) with a file per
//! concern where it has something of its own; defaults hold where databases agree. A
//! new database does not compile until every method without a default is written.

mod bulk;
mod catalog;
mod connect;
mod db;
mod dialect;
mod health;
mod key;
mod mysql;
mod postgres;
mod session;
mod sql;
mod sqlite;
mod writes;

pub use bulk::{BulkLoad, BulkRows};
pub use catalog::{Catalog, Distributed, Layout, SHARD_TABLE, ShardRows};
pub use connect::{Replica, Schema, connect, connect_replicas, require_schema, require_writable};
pub use db::{CONNECT_TIMEOUT, ConnectSettings, DatabaseUrl, Db, query_flag};
pub use dialect::Dialect;
pub use health::{Health, Observation, Standby};
pub use key::{Key, KeyKind, TableKey};
pub use mysql::Mysql;
pub use postgres::Postgres;
pub use session::{Failure, ProbeFailure, Session, db_message};
pub use sqlite::Sqlite;
pub use writes::{Changed, JournaledUpdate, Writes};

/// Bound values per statement, under SQLite's 32766 and PostgreSQL's and MySQL's 65535.
pub const MAX_BINDS: usize = 30_000;

/// Everything a database answers for.
pub trait Backend: Session + Dialect + Catalog + Writes + BulkLoad + Health {}

impl<T: Session + Dialect + Catalog + Writes + BulkLoad + Health> Backend for T {}

/// The databases the tool speaks, matched against a URL's scheme in this order.
const BACKENDS: [&dyn Backend; 3] = [&Sqlite, &Postgres, &Mysql];
