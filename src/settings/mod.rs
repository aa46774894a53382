//! The settings of a run that change while it works (SPEC §5.10): `batch-size`,
//! `batch-time`, `sleep`, `max-lag`, `max-load` and `window`. Each is written `K=V` the
//! same way by `runs set`, by the console and in `backfill_settings`, which keeps the
//! history of a run's changes (who, when, from what to what) and from which every
//! process of the run takes them before its next batch.
//!
//! | module | owns |
//! |---|---|
//! | `window` | the times of day a run may work |
//! | `duration` | how a duration is read, here and in the flags |

pub mod duration;
mod window;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use entity::backfill_settings::{self, Column};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

use crate::backend::Db;
use crate::error::UsageError;
use crate::ledger::{self, RunStatus};
use duration::{parse_duration, parse_positive_duration};

pub use window::{Window, hh_mm};

/// The key under which a run records the values it started with (`backfill_runs.arguments`).
pub const STARTED_WITH: &str = "pace";

/// The smallest and largest batch an adaptive run uses (spec §5.10); no batch is larger.
pub const MIN_BATCH: u64 = 10;
pub const MAX_BATCH: u64 = 100_000;

/// What turns a setting off (`batch-time=off`, `window=off`).
const OFF: &str = "off";

/// One setting of a run and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    BatchSize(u64),
    /// None: every batch has the batch size.
    BatchTime(Option<Duration>),
    Sleep(Duration),
    MaxLag(Duration),
    MaxLoad(u64),
    /// None: any time of day.
    Window(Option<Window>),
}

impl Setting {
    /// Every setting's name, as `runs set` takes it.
    pub const NAMES: [&'static str; 6] = [
        "batch-size",
        "batch-time",
        "sleep",
        "max-lag",
        "max-load",
        "window",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Self::BatchSize(_) => "batch-size",
            Self::BatchTime(_) => "batch-time",
            Self::Sleep(_) => "sleep",
            Self::MaxLag(_) => "max-lag",
            Self::MaxLoad(_) => "max-load",
            Self::Window(_) => "window",
        }
    }

    /// The setting `name` with the value `value` as text.
    pub fn parse(name: &str, value: &str) -> Result<Self, UsageError> {
        let wrong = |why: String| UsageError::new(format!("{name}={value}: {why}"));
        let count = |least: u64, most: u64| match value.trim().parse::<u64>() {
            Ok(n) if (least..=most).contains(&n) => Ok(n),
            _ => Err(wrong(format!("give a whole number from {least} to {most}"))),
        };
        let off = value.trim() == OFF;
        Ok(match name {
            "batch-size" => Self::BatchSize(count(1, MAX_BATCH)?),
            "batch-time" if off => Self::BatchTime(None),
            "batch-time" => Self::BatchTime(Some(parse_positive_duration(value).map_err(wrong)?)),
            "sleep" => Self::Sleep(parse_duration(value).map_err(wrong)?),
            "max-lag" => Self::MaxLag(parse_duration(value).map_err(wrong)?),
            "max-load" => Self::MaxLoad(count(1, u64::from(u32::MAX))?),
            "window" if off => Self::Window(None),
            "window" => Self::Window(Some(value.parse()?)),
            _ => {
                return Err(UsageError::new(format!(
                    "`{name}` is not a setting a run can change: give one of {}",
                    Self::NAMES.join(", ")
                )));
            }
        })
    }

    /// The value as text, in the form `parse` reads back.
    pub fn value(&self) -> String {
        let duration = |duration: &Duration| humantime::format_duration(*duration).to_string();
        match self {
            Self::BatchSize(n) | Self::MaxLoad(n) => n.to_string(),
            Self::BatchTime(Some(time)) => duration(time),
            Self::Sleep(time) | Self::MaxLag(time) => duration(time),
            Self::BatchTime(None) | Self::Window(None) => OFF.to_string(),
            Self::Window(Some(window)) => window.to_string(),
        }
    }
}

impl FromStr for Setting {
    type Err = UsageError;

    /// `K=V`, as `runs set` takes it.
    fn from_str(text: &str) -> Result<Self, UsageError> {
        let (name, value) = text.split_once('=').ok_or_else(|| {
            UsageError::new(format!(
                "`{text}` is not a setting: give NAME=VALUE, such as batch-size=1000 or window=22:00-06:00"
            ))
        })?;
        Self::parse(name.trim(), value.trim())
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name(), self.value())
    }
}

/// The values a run starts with, as text by name, for its record.
pub fn started_with(settings: &[Setting]) -> serde_json::Value {
    settings
        .iter()
        .map(|setting| (setting.name().to_string(), setting.value().into()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Records `changes` to run `id`, made by `by`, and returns them as recorded. A run
/// that has ended is refused: there is nothing left for the settings to steer.
pub async fn change(
    db: &Db,
    id: i64,
    changes: &[Setting],
    by: &str,
) -> Result<Vec<backfill_settings::Model>> {
    let run = ledger::find(db, id).await?;
    if RunStatus::FINISHED.contains(&run.status.as_str()) {
        bail!(UsageError::new(format!(
            "run {id} is {}: it no longer works, so its settings cannot change",
            run.status
        )));
    }
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    // The old values are read first and the changes written in one statement, not in
    // a transaction that reads and then writes: SQLite refuses to turn a read into a
    // write while a run commits its batches (SQLITE_BUSY, which no wait cures), and one
    // INSERT waits for the write lock like any batch.
    let before = history(db, id).await?;
    let mut now: BTreeMap<&str, Option<String>> =
        current(&run.arguments, &before).into_iter().collect();
    let at = Utc::now().fixed_offset();
    let rows = changes.iter().map(|setting| {
        let value = setting.value();
        let old_value = now.insert(setting.name(), Some(value.clone())).flatten();
        backfill_settings::ActiveModel {
            run_id: Set(id),
            setting: Set(setting.name().to_string()),
            old_value: Set(old_value),
            new_value: Set(value),
            changed_by: Set(by.to_string()),
            changed_at: Set(at),
            ..Default::default()
        }
    });
    backfill_settings::Entity::insert_many(rows.collect::<Vec<_>>())
        .exec(db)
        .await
        .context("could not record the change in backfill_settings")?;
    let last_before = before.last().map_or(0, |change| change.id);
    let recorded = backfill_settings::Entity::find()
        .filter(Column::RunId.eq(id))
        .filter(Column::Id.gt(last_before))
        .filter(Column::ChangedBy.eq(by))
        .order_by_asc(Column::Id)
        .all(db)
        .await
        .context("could not read backfill_settings")?;
    Ok(recorded)
}

/// The value of each setting of a run now, by name: the one it started with (its
/// record, `arguments`), as changed by `history` (oldest first); none where the run
/// recorded none.
pub fn current(
    arguments: &serde_json::Value,
    history: &[backfill_settings::Model],
) -> Vec<(&'static str, Option<String>)> {
    Setting::NAMES
        .into_iter()
        .map(|name| {
            let changed = history.iter().rev().find(|change| change.setting == name);
            let value = match changed {
                Some(change) => Some(change.new_value.clone()),
                None => arguments[STARTED_WITH][name].as_str().map(str::to_string),
            };
            (name, value)
        })
        .collect()
}

/// Every change of run `id`'s settings, oldest first.
pub async fn history(db: &Db, id: i64) -> Result<Vec<backfill_settings::Model>> {
    backfill_settings::Entity::find()
        .filter(Column::RunId.eq(id))
        .order_by_asc(Column::Id)
        .all(db)
        .await
        .context("could not read backfill_settings")
}

/// The changes of run `id`'s settings recorded after change `after`, oldest first, each
/// with its id. A value no version of `parse` reads is left out, with a warning.
pub async fn changes_after(
    db: &impl ConnectionTrait,
    id: i64,
    after: i64,
) -> Result<Vec<(i64, Setting)>, DbErr> {
    let changes = backfill_settings::Entity::find()
        .filter(Column::RunId.eq(id))
        .filter(Column::Id.gt(after))
        .order_by_asc(Column::Id)
        .all(db)
        .await?;
    Ok(changes
        .into_iter()
        .filter_map(
            |change| match Setting::parse(&change.setting, &change.new_value) {
                Ok(setting) => Some((change.id, setting)),
                Err(err) => {
                    tracing::warn!("run {id}: change {} is ignored: {err}", change.id);
                    None
                }
            },
        )
        .collect())
}

/// Who makes a change from this process: `user@host`.
pub fn changed_by() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_string());
    format!("{user}@{}", ledger::host_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_reads_back_its_own_value() {
        for text in [
            "batch-size=1000",
            "batch-time=2s",
            "batch-time=off",
            "sleep=0s",
            "sleep=500ms",
            "max-lag=5s",
            "max-load=40",
            "window=22:00-06:00",
            "window=off",
        ] {
            let setting: Setting = text.parse().unwrap();
            assert_eq!(setting.to_string(), text);
            assert_eq!(
                Setting::parse(setting.name(), &setting.value()).unwrap(),
                setting
            );
        }
        assert_eq!(
            "sleep=0.25".parse::<Setting>().unwrap().to_string(),
            "sleep=250ms"
        );
    }

    #[test]
    fn a_wrong_setting_is_one_sentence_naming_it() {
        for (text, says) in [
            ("batch-size", "is not a setting: give NAME=VALUE"),
            (
                "batch-size=0",
                "batch-size=0: give a whole number from 1 to 100000",
            ),
            ("batch-size=many", "give a whole number"),
            ("batch-time=0", "must be more than zero"),
            ("sleep=forever", "is not a duration"),
            ("max-load=-3", "give a whole number from 1"),
            ("window=22:00", "is not a window"),
            (
                "lock-timeout=1s",
                "`lock-timeout` is not a setting a run can change",
            ),
        ] {
            let err = text.parse::<Setting>().unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
            assert!(!err.contains('\n'), "{text}: {err}");
        }
    }
}
