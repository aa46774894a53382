//! SeaORM entities of every table `backfill` reads or writes: one module per table,
//! named after the table.
//!
//! * Analytics (test-management cache): [`tests`], [`bugs`], [`test_features`].
//! * Agent memory (the eleven tables that carry `project_id`): [`l2_insights`],
//!   [`nodes`], [`edges`], [`working_memory`], [`episode_memory`], [`l0_raw`],
//!   [`ground_truth`], [`stale_memory`], [`smf_proposals`], [`ief_feedback`],
//!   [`l2_insight_history`].
//! * Bookkeeping of the tool itself: [`backfill_anomalies`], [`backfill_runs`],
//!   [`backfill_journal`], [`backfill_ranges`], [`backfill_settings`],
//!   [`backfill_samples`].
//!
//! The schema is owned by the `migration` crate; these models mirror it.
//! Backend caveats (see each module): on SQLite, array columns are JSON text and
//! UUID columns hyphenated text, which SeaORM's `Vec<T>` and `Uuid` values do not
//! encode that way, so code that writes those columns on SQLite binds text itself.

pub mod prelude;

pub mod backfill_anomalies;
pub mod backfill_journal;
pub mod backfill_ranges;
pub mod backfill_runs;
pub mod backfill_samples;
pub mod backfill_settings;
pub mod bugs;
pub mod edges;
pub mod episode_memory;
pub mod ground_truth;
pub mod ief_feedback;
pub mod l0_raw;
pub mod l2_insight_history;
pub mod l2_insights;
pub mod nodes;
pub mod smf_proposals;
pub mod stale_memory;
pub mod test_features;
pub mod tests;
pub mod working_memory;
