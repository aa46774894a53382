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
//! `object` says what an object is and how to probe and drop it, `record` creates
//! and records, `adopt` completes a table created elsewhere, `remove` is `down`.

mod adopt;
mod object;
mod record;
mod remove;

use sea_orm_migration::prelude::*;

pub(crate) use adopt::create_table;
pub use object::SchemaObject;
pub(crate) use record::{create_missing, create_steps};
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
