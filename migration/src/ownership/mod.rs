//! What each migration created, so that its `down` removes exactly that and no more.
//!
//! `up` adopts what it finds (SPEC §4): a table, column, index, check or trigger may
//! predate it and hold data that `down` must not destroy. So `up` probes each object
//! before creating it and records those it did create in
//! [`MIGRATION_OBJECTS_TABLE`], inside the migration's own transaction: a failed `up`
//! records nothing, and the record lives in the database it describes, so it holds
//! between an `up` and a `down` run by any process. `down` drops the recorded objects
//! newest first and forgets them; the table itself goes once it is empty, so a full
//! `down` leaves nothing behind. A migration applied before this record existed has
//! none, and its `down` keeps everything.
//!
//! Every migration is an [`OwnedMigration`], run as [`Owned`]: it writes only `up`,
//! and its `down` is always [`drop_created`]. `object` says what an object is and how
//! to probe and drop it, `record` creates and records, `adopt` completes a table
//! created elsewhere, `remove` is `down`.

mod adopt;
mod probe_and_drop;
mod record;
mod remove;

use sea_orm_migration::prelude::*;

use crate::dialect::{self, SchemaDialect};

pub(crate) use adopt::create_table;
pub(crate) use record::{create_indexes, create_missing, create_steps};
pub use remove::created_by;
pub(crate) use remove::drop_created;

/// The table that records what each migration's `up` created.
pub const MIGRATION_OBJECTS_TABLE: &str = "backfill_migration_objects";

#[derive(DeriveIden)]
enum MigrationObjects {
    #[sea_orm(iden = "backfill_migration_objects")]
    Table,
    Id,
    Migration,
    Kind,
    TableName,
    ObjectName,
}

/// A migration of this crate: its `up`, which probes each object before it makes it
/// and records what it made (`create_missing`, `create_table`).
#[async_trait::async_trait]
pub(crate) trait OwnedMigration: MigrationName + Send + Sync {
    async fn up(&self, manager: &SchemaManager, dialect: &dyn SchemaDialect) -> Result<(), DbErr>;
}

/// An [`OwnedMigration`] as sea-orm-migration runs it.
pub(crate) struct Owned<M>(pub M);

impl<M: MigrationName> MigrationName for Owned<M> {
    fn name(&self) -> &str {
        self.0.name()
    }
}

#[async_trait::async_trait]
impl<M: OwnedMigration> MigrationTrait for Owned<M> {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let dialect = dialect::of(manager.get_database_backend())?;
        self.0.up(manager, dialect).await
    }

    /// Newest first, so what refers to an object (an index, a trigger, a table with a
    /// foreign key) goes before it: `up` makes what is referred to first.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_created(manager, &self.0).await
    }

    /// One transaction on every database: on SQLite and PostgreSQL a failed `up` or
    /// `down` leaves the schema and the record as they were; on MySQL each DDL
    /// statement still commits as it runs.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
