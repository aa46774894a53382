//! The check that forbids a NULL `project_id` in the memory tables (SPEC §4.3).
//!
//! PostgreSQL: a `CHECK (project_id IS NOT NULL) NOT VALID` constraint, which
//! binds new and updated rows at once and old rows only once validated. SQLite can
//! neither add a constraint to a table nor defer validation, so two triggers
//! carrying the check's name reject an INSERT or UPDATE that leaves `project_id`
//! NULL, which is what the `NOT VALID` check enforces. The update trigger fires on
//! any UPDATE, not only of `project_id`, because PostgreSQL re-checks the whole new
//! row version on every UPDATE.
//!
//! Table names reaching the SQL below are checked against [`MEMORY_TABLES`]
//! first; values are bound as parameters.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use crate::{
    MEMORY_TABLES, PROJECT_ID_COLUMN, project_id_check_name, project_id_insert_trigger_name,
    project_id_update_trigger_name,
};

/// State of the `project_id` check of one memory table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProjectIdCheck {
    /// PostgreSQL: no constraint of that name on the table. SQLite: one or both
    /// triggers missing.
    Missing,
    /// PostgreSQL only: the constraint exists `NOT VALID`: enforced for new and
    /// updated rows, old rows not yet checked.
    NotValidated,
    /// PostgreSQL: the constraint is validated. SQLite: both triggers exist (SQLite
    /// has nothing to validate; whether NULLs remain is a separate count).
    Enforced,
}

/// Reads the state of the `project_id` check of `table`, one of [`MEMORY_TABLES`].
pub async fn project_id_check_state<C>(db: &C, table: &str) -> Result<ProjectIdCheck, DbErr>
where
    C: ConnectionTrait,
{
    let table = known_table(table)?;
    let backend = db.get_database_backend();
    match backend {
        DbBackend::Postgres => {
            let probe = Statement::from_sql_and_values(
                backend,
                "SELECT convalidated FROM pg_catalog.pg_constraint \
                 WHERE conname = $1 AND conrelid = to_regclass(quote_ident($2))",
                [project_id_check_name(table).into(), table.into()],
            );
            Ok(match db.query_one_raw(probe).await? {
                None => ProjectIdCheck::Missing,
                Some(row) if row.try_get::<bool>("", "convalidated")? => ProjectIdCheck::Enforced,
                Some(_) => ProjectIdCheck::NotValidated,
            })
        }
        DbBackend::Sqlite => {
            let probe = Statement::from_sql_and_values(
                backend,
                "SELECT count(*) AS triggers FROM sqlite_master \
                 WHERE type = 'trigger' AND tbl_name = ? AND name IN (?, ?)",
                [
                    table.into(),
                    project_id_insert_trigger_name(table).into(),
                    project_id_update_trigger_name(table).into(),
                ],
            );
            let triggers: i64 = match db.query_one_raw(probe).await? {
                Some(row) => row.try_get("", "triggers")?,
                None => 0,
            };
            Ok(if triggers == 2 {
                ProjectIdCheck::Enforced
            } else {
                ProjectIdCheck::Missing
            })
        }
        other => Err(unsupported(other)),
    }
}

/// Adds the `project_id` check of `table` (one of [`MEMORY_TABLES`]) where it is
/// missing: the `NOT VALID` constraint on PostgreSQL, the missing triggers on
/// SQLite. An existing check is left as it is, validated or not. Returns whether
/// anything was added. The table must already have its `project_id` column.
pub async fn ensure_project_id_check<C>(db: &C, table: &str) -> Result<bool, DbErr>
where
    C: ConnectionTrait,
{
    let table = known_table(table)?;
    if project_id_check_state(db, table).await? != ProjectIdCheck::Missing {
        return Ok(false);
    }
    let check = project_id_check_name(table);
    match db.get_database_backend() {
        DbBackend::Postgres => {
            db.execute_unprepared(&format!(
                "ALTER TABLE \"{table}\" ADD CONSTRAINT \"{check}\" \
                 CHECK (\"{PROJECT_ID_COLUMN}\" IS NOT NULL) NOT VALID"
            ))
            .await?;
        }
        DbBackend::Sqlite => {
            let triggers = [
                (project_id_insert_trigger_name(table), "INSERT"),
                (project_id_update_trigger_name(table), "UPDATE"),
            ];
            for (trigger, event) in triggers {
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER IF NOT EXISTS \"{trigger}\" BEFORE {event} ON \"{table}\" \
                     FOR EACH ROW WHEN NEW.\"{PROJECT_ID_COLUMN}\" IS NULL BEGIN \
                     SELECT RAISE(ABORT, '{check}: {PROJECT_ID_COLUMN} may not be NULL'); END"
                ))
                .await?;
            }
        }
        other => return Err(unsupported(other)),
    }
    Ok(true)
}

/// `table` as one of the eleven constants, or an error: no other name reaches SQL.
fn known_table(table: &str) -> Result<&'static str, DbErr> {
    MEMORY_TABLES
        .iter()
        .copied()
        .find(|known| *known == table)
        .ok_or_else(|| {
            DbErr::Custom(format!(
                "`{table}` is not one of the memory tables that carry project_id"
            ))
        })
}

fn unsupported(backend: DbBackend) -> DbErr {
    DbErr::BackendNotSupported {
        db: backend.as_str(),
        ctx: "project_id check",
    }
}
