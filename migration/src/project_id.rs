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
//! triggers (`SIGNAL SQLSTATE '45000'`). The SQL of each is its dialect's.
//!
//! Table names given to the public functions are checked against [`MEMORY_TABLES`]
//! before they reach SQL; values are bound as parameters.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbErr, Statement};

use crate::dialect;
use crate::{MEMORY_TABLES, project_id_check_name};

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
    let dialect = dialect::of(backend)?;
    if let Some(probe) = dialect.project_id_validation_probe() {
        let probe = Statement::from_sql_and_values(
            backend,
            probe,
            [project_id_check_name(table).into(), table.into()],
        );
        return Ok(match db.query_one_raw(probe).await? {
            None => ProjectIdCheck::Missing,
            Some(row) if row.try_get::<bool>("", "convalidated")? => ProjectIdCheck::Enforced,
            Some(_) => ProjectIdCheck::NotValidated,
        });
    }
    for (part, _) in dialect.project_id_check(table) {
        if !part.attached_exists(db).await? {
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
    if project_id_check_state(db, table).await? != ProjectIdCheck::Missing {
        return Ok(false);
    }
    let dialect = dialect::of(db.get_database_backend())?;
    for (part, create) in dialect.project_id_check(table) {
        // A trigger created before a failure half-way is kept (MySQL DDL commits as
        // it goes); the run that repeats the step adds only the one still missing.
        if !part.attached_exists(db).await? {
            db.execute_unprepared(&create).await?;
        }
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
