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

use std::future::Future;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::catalog::{self, ForeignKeyInfo, IndexInfo};

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

/// A schema object a migration may create. Names are those of our own schema; they
/// are still quoted wherever they reach SQL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SchemaObject {
    Table(String),
    Column {
        table: String,
        column: String,
    },
    Index {
        table: String,
        name: String,
    },
    /// A named constraint added to an existing table (PostgreSQL; SQLite cannot add one).
    Constraint {
        table: String,
        name: String,
    },
    Trigger {
        table: String,
        name: String,
    },
}

impl SchemaObject {
    pub(crate) fn table(table: impl ToString) -> Self {
        Self::Table(table.to_string())
    }

    pub(crate) fn column(table: impl ToString, column: impl ToString) -> Self {
        Self::Column {
            table: table.to_string(),
            column: column.to_string(),
        }
    }

    pub(crate) fn index(table: impl ToString, name: impl ToString) -> Self {
        Self::Index {
            table: table.to_string(),
            name: name.to_string(),
        }
    }

    pub(crate) fn constraint(table: impl ToString, name: impl ToString) -> Self {
        Self::Constraint {
            table: table.to_string(),
            name: name.to_string(),
        }
    }

    pub(crate) fn trigger(table: impl ToString, name: impl ToString) -> Self {
        Self::Trigger {
            table: table.to_string(),
            name: name.to_string(),
        }
    }

    /// (kind, table, name) as recorded.
    fn parts(&self) -> (&'static str, &str, &str) {
        match self {
            Self::Table(table) => ("table", table, table),
            Self::Column { table, column } => ("column", table, column),
            Self::Index { table, name } => ("index", table, name),
            Self::Constraint { table, name } => ("constraint", table, name),
            Self::Trigger { table, name } => ("trigger", table, name),
        }
    }

    fn from_parts(kind: &str, table: String, name: String) -> Result<Self, DbErr> {
        Ok(match kind {
            "table" => Self::Table(table),
            "column" => Self::Column {
                table,
                column: name,
            },
            "index" => Self::Index { table, name },
            "constraint" => Self::Constraint { table, name },
            "trigger" => Self::Trigger { table, name },
            other => {
                return Err(DbErr::Migration(format!(
                    "{MIGRATION_OBJECTS_TABLE} names an object of unknown kind `{other}`"
                )));
            }
        })
    }

    async fn exists(&self, manager: &SchemaManager<'_>) -> Result<bool, DbErr> {
        let backend = manager.get_database_backend();
        let (sql, table, name) = match (self, backend) {
            (Self::Table(table), _) => return manager.has_table(table).await,
            (Self::Column { table, column }, _) => return manager.has_column(table, column).await,
            (Self::Index { table, name }, _) => return manager.has_index(table, name).await,
            (Self::Constraint { .. }, DbBackend::Sqlite) => return Ok(false),
            (Self::Constraint { table, name }, DbBackend::MySql) => (
                "SELECT 1 FROM information_schema.table_constraints \
                 WHERE constraint_name = ? AND table_name = ? AND table_schema = DATABASE()",
                table,
                name,
            ),
            (Self::Constraint { table, name }, _) => (
                "SELECT 1 FROM pg_catalog.pg_constraint \
                 WHERE conname = $1 AND conrelid = to_regclass(quote_ident($2))",
                table,
                name,
            ),
            (Self::Trigger { table, name }, DbBackend::Sqlite) => (
                "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = ? AND tbl_name = ?",
                table,
                name,
            ),
            (Self::Trigger { table, name }, DbBackend::MySql) => (
                "SELECT 1 FROM information_schema.triggers \
                 WHERE trigger_name = ? AND event_object_table = ? AND trigger_schema = DATABASE()",
                table,
                name,
            ),
            (Self::Trigger { table, name }, _) => (
                "SELECT 1 FROM pg_catalog.pg_trigger \
                 WHERE tgname = $1 AND tgrelid = to_regclass(quote_ident($2))",
                table,
                name,
            ),
        };
        let probe =
            Statement::from_sql_and_values(backend, sql, [name.as_str().into(), table.into()]);
        Ok(manager
            .get_connection()
            .query_one_raw(probe)
            .await?
            .is_some())
    }

    /// Drops the object if it is still there.
    async fn drop(&self, manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        if !self.exists(manager).await? {
            return Ok(());
        }
        let mysql = manager.get_database_backend() == DbBackend::MySql;
        let sql = match self {
            Self::Table(table) => format!("DROP TABLE {}", quoted(table)),
            Self::Column { table, column } => {
                format!(
                    "ALTER TABLE {} DROP COLUMN {}",
                    quoted(table),
                    quoted(column)
                )
            }
            Self::Index { table, name } if mysql => {
                format!("DROP INDEX {} ON {}", quoted(name), quoted(table))
            }
            Self::Index { name, .. } => format!("DROP INDEX {}", quoted(name)),
            // The only constraint added to an existing MySQL table is a foreign key.
            Self::Constraint { table, name } if mysql => {
                format!(
                    "ALTER TABLE {} DROP FOREIGN KEY {}",
                    quoted(table),
                    quoted(name)
                )
            }
            Self::Constraint { table, name } => {
                format!(
                    "ALTER TABLE {} DROP CONSTRAINT {}",
                    quoted(table),
                    quoted(name)
                )
            }
            Self::Trigger { table, name } => match manager.get_database_backend() {
                DbBackend::Sqlite | DbBackend::MySql => format!("DROP TRIGGER {}", quoted(name)),
                _ => format!("DROP TRIGGER {} ON {}", quoted(name), quoted(table)),
            },
        };
        manager.get_connection().execute_unprepared(&sql).await?;
        Ok(())
    }
}

fn quoted(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// Creates the table of `statement`; or, when the table exists (created elsewhere),
/// adds the unique keys, indexes and foreign keys of `statement` it lacks. PostgreSQL
/// gets a missing foreign key `NOT VALID` and then validated; SQLite cannot add a
/// foreign key to an existing table, so there `migrate check` reports it. Whatever is
/// added is recorded as created by `migration`.
pub(crate) async fn create_table(
    manager: &SchemaManager<'_>,
    migration: &impl MigrationName,
    statement: TableCreateStatement,
) -> Result<(), DbErr> {
    let Some(TableRef::Table(TableName(_, table), _)) = statement.get_table_name() else {
        return Err(DbErr::Migration(
            "BUG: a CREATE TABLE statement without a table name".into(),
        ));
    };
    let table = &table.to_string();
    let object = SchemaObject::table(table);
    if !object.exists(manager).await? {
        return create_missing(
            manager,
            migration,
            &[object],
            manager.create_table(statement),
        )
        .await;
    }
    let db = manager.get_connection();
    let existing = catalog::indexes(db, table).await?;
    for index in statement.get_indexes() {
        let spec = index.get_index_spec();
        let wanted = IndexInfo {
            name: spec.get_name().unwrap_or_default().to_string(),
            columns: spec.get_column_names(),
            unique: index.is_unique_key(),
        };
        if existing.iter().any(|found| found.serves_as(&wanted))
            || !has_columns(manager, table, &wanted.columns).await?
        {
            continue;
        }
        let mut create = index.clone();
        create.table(Alias::new(table.as_str())).if_not_exists();
        create_missing(
            manager,
            migration,
            &[SchemaObject::index(table, &wanted.name)],
            manager.create_index(create),
        )
        .await
        .map_err(|err| cannot_adopt(table, &wanted.name, &wanted.columns, err))?;
    }
    if manager.get_database_backend() == DbBackend::Sqlite {
        return Ok(());
    }
    let existing = catalog::foreign_keys(db, table).await?;
    for key in statement.get_foreign_key_create_stmts() {
        let spec = key.get_foreign_key();
        let wanted = ForeignKeyInfo {
            name: spec.get_name().unwrap_or_default().to_string(),
            columns: spec.get_columns(),
            referenced_table: match spec.get_ref_table() {
                Some(TableRef::Table(TableName(_, name), _)) => name.to_string(),
                _ => String::new(),
            },
            referenced_columns: spec.get_ref_columns(),
        };
        if existing.iter().any(|found| found.serves_as(&wanted))
            || !has_columns(manager, table, &wanted.columns).await?
        {
            continue;
        }
        let steps = match manager.get_database_backend() {
            // One ALTER: MySQL checks the existing rows as it adds the key.
            DbBackend::MySql => vec![key.to_string(MysqlQueryBuilder)],
            // NOT VALID, then VALIDATE, the order PostgreSQL recommends on a live table.
            // Inside the migration's one transaction the ADD's SHARE ROW EXCLUSIVE lock
            // (writes wait, reads do not) is still held until commit.
            _ => vec![
                format!("{} NOT VALID", key.to_string(PostgresQueryBuilder)),
                format!(
                    "ALTER TABLE {} VALIDATE CONSTRAINT {}",
                    quoted(table),
                    quoted(&wanted.name)
                ),
            ],
        };
        create_missing(
            manager,
            migration,
            &[SchemaObject::constraint(table, &wanted.name)],
            async {
                for step in &steps {
                    db.execute_unprepared(step).await?;
                }
                Ok(())
            },
        )
        .await
        .map_err(|err| cannot_adopt(table, &wanted.name, &wanted.columns, err))?;
    }
    Ok(())
}

/// Whether `table` has all of `columns`. A key over a column the table lacks is not
/// added: the missing column is the drift `migrate check` reports.
async fn has_columns(
    manager: &SchemaManager<'_>,
    table: &str,
    columns: &[String],
) -> Result<bool, DbErr> {
    for column in columns {
        if !manager.has_column(table, column).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The one sentence for a key that cannot be added to an adopted table.
fn cannot_adopt(table: &str, key: &str, columns: &[String], err: DbErr) -> DbErr {
    DbErr::Migration(format!(
        "cannot add {key} on ({}) to `{table}`, a table created elsewhere (do rows break \
         it? fix them, then run up again): {err}",
        columns.join(", ")
    ))
}

/// Runs `create` when one of `objects` is missing, and records as created by
/// `migration` each of them that was missing before and exists after.
pub(crate) async fn create_missing<T>(
    manager: &SchemaManager<'_>,
    migration: &impl MigrationName,
    objects: &[SchemaObject],
    create: impl Future<Output = Result<T, DbErr>>,
) -> Result<(), DbErr> {
    let mut missing = Vec::new();
    for object in objects {
        if !object.exists(manager).await? {
            missing.push(object);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    create.await?;
    for object in missing {
        if object.exists(manager).await? {
            record(manager, migration.name(), object).await?;
        }
    }
    Ok(())
}

async fn record(
    manager: &SchemaManager<'_>,
    migration: &str,
    object: &SchemaObject,
) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(MigrationObjects::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(MigrationObjects::Id)
                        .integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(MigrationObjects::Migration)
                        .string_len(100)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(MigrationObjects::Kind)
                        .string_len(20)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(MigrationObjects::TableName)
                        .string_len(100)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(MigrationObjects::ObjectName)
                        .string_len(100)
                        .not_null(),
                )
                .take(),
        )
        .await?;
    let (kind, table, name) = object.parts();
    manager
        .exec_stmt(
            Query::insert()
                .into_table(MigrationObjects::Table)
                .columns([
                    MigrationObjects::Migration,
                    MigrationObjects::Kind,
                    MigrationObjects::TableName,
                    MigrationObjects::ObjectName,
                ])
                .values_panic([migration.into(), kind.into(), table.into(), name.into()])
                .take(),
        )
        .await
}

/// `down` of `migration`: drops what its `up` recorded as created, newest first, and
/// nothing else.
pub(crate) async fn drop_created(
    manager: &SchemaManager<'_>,
    migration: &impl MigrationName,
) -> Result<(), DbErr> {
    if !manager.has_table(MIGRATION_OBJECTS_TABLE).await? {
        return Ok(());
    }
    let db = manager.get_connection();
    let of_migration = Expr::col(MigrationObjects::Migration).eq(migration.name());
    let rows = db
        .query_all(
            &Query::select()
                .columns([
                    MigrationObjects::Kind,
                    MigrationObjects::TableName,
                    MigrationObjects::ObjectName,
                ])
                .from(MigrationObjects::Table)
                .and_where(of_migration.clone())
                .order_by(MigrationObjects::Id, Order::Desc)
                .take(),
        )
        .await?;
    let mut objects = Vec::with_capacity(rows.len());
    for row in rows {
        let kind: String = row.try_get("", &MigrationObjects::Kind.to_string())?;
        objects.push(SchemaObject::from_parts(
            &kind,
            row.try_get("", &MigrationObjects::TableName.to_string())?,
            row.try_get("", &MigrationObjects::ObjectName.to_string())?,
        )?);
    }
    // What lives on a table the migration created goes with the table: dropped on its
    // own first, an index could be refused (MySQL keeps the one a foreign key uses).
    let created_tables: Vec<String> = objects
        .iter()
        .filter_map(|object| match object {
            SchemaObject::Table(table) => Some(table.clone()),
            _ => None,
        })
        .collect();
    for object in objects {
        let (_, table, _) = object.parts();
        if matches!(object, SchemaObject::Table(_)) || !created_tables.iter().any(|t| t == table) {
            object.drop(manager).await?;
        }
    }
    manager
        .exec_stmt(
            Query::delete()
                .from_table(MigrationObjects::Table)
                .and_where(of_migration)
                .take(),
        )
        .await?;
    let left = db
        .query_one(
            &Query::select()
                .expr(Expr::val(1))
                .from(MigrationObjects::Table)
                .limit(1)
                .take(),
        )
        .await?;
    if left.is_none() {
        manager
            .drop_table(Table::drop().table(MigrationObjects::Table).take())
            .await?;
    }
    Ok(())
}
