//! `migrate`: the action the flags name, and the confirmation that comes before any
//! action that drops data.

use std::io::{IsTerminal, Write};

use anyhow::{Context, Result};

use super::NO_SUMMARY;
use crate::backend::Db;
use crate::cli::{MigrateAction, MigrateArgs};
use crate::error::{Outcome, UsageError};
use crate::migrate::{self as schema, Action, DroppedData};
use crate::report::Reporter;

pub(super) async fn run(
    db: &Db,
    args: &MigrateArgs,
    reporter: &mut Reporter<impl Write>,
) -> Result<Outcome> {
    let action = action_of(&args.action);
    if action.drops_data() {
        let dropped = schema::data_dropped_by(db, action).await?;
        confirm_drop(db, action, &dropped, args.yes)?;
    }
    let (report, outcome) = schema::run(db, action).await?;
    reporter.migrate(&report).context(NO_SUMMARY)?;
    Ok(outcome)
}

/// Goes on with a migrate command that drops `dropped` only with `--yes`, or when a
/// person at a terminal types `drop`; names the database and the data first. Nothing
/// dropped: nothing to ask.
fn confirm_drop(db: &Db, action: Action, dropped: &[DroppedData], yes: bool) -> Result<()> {
    if dropped.is_empty() || yes {
        return Ok(());
    }
    let name = action.name();
    let listed: Vec<String> = dropped.iter().map(ToString::to_string).collect();
    let at_terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if at_terminal {
        let mut stderr = std::io::stderr();
        let _ = writeln!(stderr, "migrate {name} drops data of `{}`:", db.url());
        for data in &listed {
            let _ = writeln!(stderr, "  {data}");
        }
        let _ = write!(stderr, "Type `drop` to go on, anything else to stop: ");
        let mut answer = String::new();
        if std::io::stdin().read_line(&mut answer).is_ok() && answer.trim() == "drop" {
            return Ok(());
        }
    }
    anyhow::bail!(UsageError::new(format!(
        "migrate {name} would drop data of `{}`: {}; nothing was dropped: add --yes to drop it{}",
        db.url(),
        listed.join(", "),
        if at_terminal {
            ""
        } else {
            " (or answer at a terminal)"
        },
    )))
}

fn action_of(action: &MigrateAction) -> Action {
    match *action {
        MigrateAction::Up { num, distribute } => Action::Up { num, distribute },
        MigrateAction::Down { num } => Action::Down(num),
        MigrateAction::Status => Action::Status,
        MigrateAction::Fresh => Action::Fresh,
        MigrateAction::Refresh => Action::Refresh,
        MigrateAction::Reset => Action::Reset,
        MigrateAction::Check => Action::Check,
    }
}
