//! `migration`: applies or rolls back the schema of `backfill` on its own, without
//! the main tool (which offers the same commands as `backfill migrate`).
//!
//! Exit status: 0 on success, 2 on a usage, connection or migration error, reported
//! in one sentence on stderr.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use migration::Migrator;
use sea_orm_migration::MigratorTrait;
use sea_orm_migration::migrator::MigrationStatus;
use sea_orm_migration::sea_orm::{Database, DatabaseConnection, DbErr};

#[derive(Parser)]
#[command(version, about = "Apply or roll back the schema of `backfill`")]
struct Cli {
    /// Database to migrate: `sqlite://FILE?mode=rwc` or `postgres://USER@HOST/DB`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://backfill.db?mode=rwc",
        global = true
    )]
    database_url: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending migrations: all of them, or the first N.
    Up {
        #[arg(short = 'n', long = "num")]
        num: Option<u32>,
    },
    /// Roll back the last N applied migrations (default 1). Drops what they created.
    Down {
        #[arg(short = 'n', long = "num", default_value_t = 1)]
        num: u32,
    },
    /// List every migration and whether it is applied; changes nothing.
    Status,
    /// Drop EVERY table of the database, this schema's or not, then apply all migrations.
    Fresh,
    /// Roll back all applied migrations, then apply all again. Drops this schema's data.
    Refresh,
    /// Roll back all applied migrations. Drops this schema's data.
    Reset,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(sentence) => {
            eprintln!("error: {sentence}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let url = cli.database_url;
    if !["sqlite:", "postgres://", "postgresql://"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
    {
        return Err(format!(
            "unsupported database URL `{}`: use sqlite://FILE?mode=rwc or postgres://USER@HOST/DB",
            migration::redact_url(&url)
        ));
    }
    let db = Database::connect(&url)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", migration::redact_url(&url)))?;

    let before = statuses(&db).await?;
    let (verb, result) = match cli.command {
        Command::Status => {
            for (name, status) in &before {
                println!("{name}  {status}");
            }
            return Ok(());
        }
        Command::Up { num } => ("applying migrations", Migrator::up(&db, num).await),
        Command::Down { num } => (
            "rolling back migrations",
            Migrator::down(&db, Some(num)).await,
        ),
        Command::Fresh => (
            "dropping all tables and re-applying",
            Migrator::fresh(&db).await,
        ),
        Command::Refresh => ("refreshing migrations", Migrator::refresh(&db).await),
        Command::Reset => ("resetting migrations", Migrator::reset(&db).await),
    };
    result.map_err(|e| {
        format!("{verb} failed (the failing migration was rolled back, earlier ones stay): {e}")
    })?;

    let after = statuses(&db).await?;
    let transitions: Vec<_> = before.iter().zip(&after).collect();
    // Roll-backs happened newest first; list them in that order.
    for ((name, old), (_, new)) in transitions.iter().rev() {
        if (old, new) == (&MigrationStatus::Applied, &MigrationStatus::Pending) {
            println!("rolled back {name}");
        }
    }
    for ((name, old), (_, new)) in &transitions {
        if (old, new) == (&MigrationStatus::Pending, &MigrationStatus::Applied) {
            println!("applied {name}");
        }
    }
    if transitions.iter().all(|((_, old), (_, new))| old == new) {
        let applied = after
            .iter()
            .filter(|(_, status)| *status == MigrationStatus::Applied)
            .count();
        println!(
            "nothing to change: {applied} of {} migrations applied",
            after.len()
        );
    }
    Ok(())
}

/// Name and status of every migration, without creating the migrations table.
async fn statuses(db: &DatabaseConnection) -> Result<Vec<(String, MigrationStatus)>, String> {
    Migrator::get_migration_with_status_read_only(db)
        .await
        .map(|migrations| {
            migrations
                .iter()
                .map(|m| (m.name().to_owned(), m.status()))
                .collect()
        })
        .map_err(|e: DbErr| format!("cannot read the migration status: {e}"))
}
