//! The check that forbids a NULL `project_id` in the memory tables (SPEC §4.3).
//!
//! PostgreSQL: a `CHECK (project_id IS NOT NULL) NOT VALID` constraint, which
//! binds new and updated rows at once and old rows only once validated. SQLite can
//! neither add a constraint to a table nor defer validation, so two triggers
//! carrying the check's name reject an INSERT or UPDATE that leaves `project_id`
//! NULL, which is what the `NOT VALID` check enforces. The update trigger fires on
//! any UPDATE, not only of `project_id`, because PostgreSQL re-checks the whole new
//! row version on every UPDATE. MySQL and MariaDB could add a CHECK, but only by
//! validating every row under a table copy that blocks writes, so they get the same two
//! triggers (`SIGNAL SQLSTATE '45000'`).
//!
//! Table names reaching the SQL below are checked against [`MEMORY_TABLES`]
//! first; values are bound as parameters.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use crate::ownership::SchemaObject;

use crate::{
    MEMORY_TABLES, PROJECT_ID_COLUMN, project_id_check_name, project_id_insert_trigger_name,
    project_id_update_trigger_name,
};

/// State of the `project_id` check of one memory table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProjectIdCheck {
    /// PostgreSQL: no constraint of that name on the table. SQLite and MySQL: one or
    /// both triggers missing.
    Missing,
    /// PostgreSQL only: the constraint exists `NOT VALID`: enforced for new and
    /// updated rows, old rows not yet checked.
    NotValidated,
    /// PostgreSQL: the constraint is validated. SQLite and MySQL: both triggers exist
    /// (there is nothing to validate; whether NULLs remain is a separate count).
    Enforced,
}

/// Reads the state of the `project_id` check of `table`, one of [`MEMORY_TABLES`].
pub async fn project_id_check_state<C>(db: &C, table: &str) -> Result<ProjectIdCheck, DbErr>
where
    C: ConnectionTrait,
{
    let table = known_table(table)?;
    let backend = db.get_database_backend();
    if backend == DbBackend::Postgres {
        let probe = Statement::from_sql_and_values(
            backend,
            "SELECT convalidated FROM pg_catalog.pg_constraint \
             WHERE conname = $1 AND conrelid = to_regclass(quote_ident($2))",
            [project_id_check_name(table).into(), table.into()],
        );
        return Ok(match db.query_one_raw(probe).await? {
            None => ProjectIdCheck::Missing,
            Some(row) if row.try_get::<bool>("", "convalidated")? => ProjectIdCheck::Enforced,
            Some(_) => ProjectIdCheck::NotValidated,
        });
    }
    for (part, _) in check_parts(backend, table)? {
        if !trigger_exists(db, &part).await? {
            return Ok(ProjectIdCheck::Missing);
        }
    }
    Ok(ProjectIdCheck::Enforced)
}

/// Adds the `project_id` check of `table` (one of [`MEMORY_TABLES`]) where it is
/// missing: the `NOT VALID` constraint on PostgreSQL, each missing trigger on SQLite
/// and MySQL. An existing check is left as it is, validated or not. Returns whether
/// anything was added. The table must already have its `project_id` column.
pub async fn ensure_project_id_check<C>(db: &C, table: &str) -> Result<bool, DbErr>
where
    C: ConnectionTrait,
{
    let table = known_table(table)?;
    let backend = db.get_database_backend();
    if project_id_check_state(db, table).await? != ProjectIdCheck::Missing {
        return Ok(false);
    }
    for (part, create) in check_parts(backend, table)? {
        // A trigger created before a failure half-way is kept (MySQL DDL commits as
        // it goes); the run that repeats the step adds only the one still missing.
        if backend == DbBackend::Postgres || !trigger_exists(db, &part).await? {
            db.execute_unprepared(&create).await?;
        }
    }
    Ok(true)
}

/// The objects the check of `table` consists of on `backend`, each with the statement
/// that creates it.
pub(crate) fn check_parts(
    backend: DbBackend,
    table: &str,
) -> Result<Vec<(SchemaObject, String)>, DbErr> {
    let table = known_table(table)?;
    let check = project_id_check_name(table);
    let message = format!("{check}: {PROJECT_ID_COLUMN} may not be NULL");
    let trigger = |name: String, create: String| (SchemaObject::trigger(table, name), create);
    let triggers = [
        (project_id_insert_trigger_name(table), "INSERT"),
        (project_id_update_trigger_name(table), "UPDATE"),
    ];
    Ok(match backend {
        DbBackend::Postgres => vec![(
            SchemaObject::constraint(table, &check),
            format!(
                "ALTER TABLE \"{table}\" ADD CONSTRAINT \"{check}\" \
                 CHECK (\"{PROJECT_ID_COLUMN}\" IS NOT NULL) NOT VALID"
            ),
        )],
        DbBackend::Sqlite => triggers
            .map(|(name, event)| {
                let create = format!(
                    "CREATE TRIGGER \"{name}\" BEFORE {event} ON \"{table}\" \
                     FOR EACH ROW WHEN NEW.\"{PROJECT_ID_COLUMN}\" IS NULL BEGIN \
                     SELECT RAISE(ABORT, '{message}'); END"
                );
                trigger(name, create)
            })
            .into(),
        DbBackend::MySql => triggers
            .map(|(name, event)| {
                let create = format!(
                    "CREATE TRIGGER \"{name}\" BEFORE {event} ON \"{table}\" \
                     FOR EACH ROW BEGIN IF NEW.\"{PROJECT_ID_COLUMN}\" IS NULL THEN \
                     SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{message}'; END IF; END"
                );
                trigger(name, create)
            })
            .into(),
        other => {
            return Err(DbErr::BackendNotSupported {
                db: other.as_str(),
                ctx: "project_id check",
            });
        }
    })
}

/// Whether the trigger `part` exists on its table.
async fn trigger_exists<C: ConnectionTrait>(db: &C, part: &SchemaObject) -> Result<bool, DbErr> {
    let SchemaObject::Trigger { table, name } = part else {
        return Err(DbErr::Custom(format!("BUG: {part:?} is not a trigger")));
    };
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::MySql => {
            "SELECT 1 FROM information_schema.triggers \
             WHERE trigger_name = ? AND event_object_table = ? AND trigger_schema = DATABASE()"
        }
        _ => "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = ? AND tbl_name = ?",
    };
    let probe =
        Statement::from_sql_and_values(backend, sql, [name.as_str().into(), table.as_str().into()]);
    Ok(db.query_one_raw(probe).await?.is_some())
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
