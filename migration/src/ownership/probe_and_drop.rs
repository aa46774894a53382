//! How a schema object is read back from its record, probed and dropped, each in its
//! database's dialect.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

use super::MIGRATION_OBJECTS_TABLE;
use crate::dialect::{self, quoted};
use crate::object::SchemaObject;

impl SchemaObject {
    pub(super) fn from_parts(kind: &str, table: String, name: String) -> Result<Self, DbErr> {
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

    /// Whether the object exists: tables, columns and indexes as sea-orm probes them,
    /// constraints and triggers by the dialect's catalog queries.
    pub(crate) async fn exists(&self, manager: &SchemaManager<'_>) -> Result<bool, DbErr> {
        match self {
            Self::Table(table) => manager.has_table(table).await,
            Self::Column { table, column } => manager.has_column(table, column).await,
            Self::Index { table, name } => manager.has_index(table, name).await,
            Self::Constraint { .. } | Self::Trigger { .. } => {
                self.attached_exists(manager.get_connection()).await
            }
        }
    }

    /// Whether a constraint or trigger exists, asked of any connection: the
    /// `project_id` check is read outside migrations too, where there is no
    /// `SchemaManager` to probe a table, column or index.
    pub(crate) async fn attached_exists<C: ConnectionTrait>(&self, db: &C) -> Result<bool, DbErr> {
        let backend = db.get_database_backend();
        let dialect = dialect::of(backend)?;
        let (probe, table, name) = match self {
            Self::Constraint { table, name } => (dialect.constraint_probe(), table, name),
            Self::Trigger { table, name } => (Some(dialect.trigger_probe()), table, name),
            Self::Table(_) | Self::Column { .. } | Self::Index { .. } => {
                return Err(DbErr::Custom(format!(
                    "BUG: {self:?} is probed through a SchemaManager"
                )));
            }
        };
        let Some(probe) = probe else {
            return Ok(false);
        };
        let probe = Statement::from_sql_and_values(
            backend,
            probe,
            [name.as_str().into(), table.as_str().into()],
        );
        Ok(db.query_one_raw(probe).await?.is_some())
    }

    /// Drops the object if it is still there.
    pub(super) async fn drop(&self, manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        if !self.exists(manager).await? {
            return Ok(());
        }
        let dialect = dialect::of(manager.get_database_backend())?;
        let sql = match self {
            Self::Table(table) => format!("DROP TABLE {}", quoted(table)),
            Self::Column { table, column } => {
                format!(
                    "ALTER TABLE {} DROP COLUMN {}",
                    quoted(table),
                    quoted(column)
                )
            }
            Self::Index { table, name } => dialect.drop_index(table, name),
            Self::Constraint { table, name } => match dialect.drop_constraint(table, name) {
                Some(sql) => sql,
                // It exists, yet the database cannot have added it.
                None => return Err(DbErr::Custom(format!("BUG: cannot drop {self:?}"))),
            },
            Self::Trigger { table, name } => dialect.drop_trigger(table, name),
        };
        manager.get_connection().execute_unprepared(&sql).await?;
        Ok(())
    }
}
