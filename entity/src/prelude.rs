//! Every entity under the name of its table, for `use entity::prelude::*`.

pub use super::backfill_anomalies::Entity as BackfillAnomalies;
pub use super::backfill_journal::Entity as BackfillJournal;
pub use super::backfill_ranges::Entity as BackfillRanges;
pub use super::backfill_runs::Entity as BackfillRuns;
pub use super::backfill_samples::Entity as BackfillSamples;
pub use super::backfill_settings::Entity as BackfillSettings;
pub use super::bugs::Entity as Bugs;
pub use super::edges::Entity as Edges;
pub use super::episode_memory::Entity as EpisodeMemory;
pub use super::ground_truth::Entity as GroundTruth;
pub use super::ief_feedback::Entity as IefFeedback;
pub use super::l0_raw::Entity as L0Raw;
pub use super::l2_insight_history::Entity as L2InsightHistory;
pub use super::l2_insights::Entity as L2Insights;
pub use super::nodes::Entity as Nodes;
pub use super::smf_proposals::Entity as SmfProposals;
pub use super::stale_memory::Entity as StaleMemory;
pub use super::test_features::Entity as TestFeatures;
pub use super::tests::Entity as Tests;
pub use super::working_memory::Entity as WorkingMemory;
