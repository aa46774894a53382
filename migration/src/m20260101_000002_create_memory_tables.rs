//! The eleven agent-memory tables (SPEC §4.2) with their real columns, foreign keys
//! and unique keys, without `project_id` (added by `m20260101_000003_add_project_id`).
//! A table created elsewhere gets the unique and foreign keys it lacks where the
//! database can add them (see `ownership::create_table`).
//!
//! PostgreSQL gets native `uuid`, `jsonb`, `real[]`, `integer[]` and `uuid[]`;
//! SQLite stores UUIDs as hyphenated text and JSON and arrays as JSON text, MySQL
//! UUIDs as `BINARY(16)` and arrays as `JSON` (see `dialect`). Integer ids are
//! `integer` identity columns on PostgreSQL and `integer PRIMARY KEY AUTOINCREMENT`
//! on SQLite.

use sea_orm_migration::prelude::*;

use crate::column::{self, array, created_at, generated_uuid, key_text};
use crate::dialect::{self, SchemaDialect};
use crate::ownership::{create_table, drop_created};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let dialect = dialect::of(manager.get_database_backend())?;
        // Parents before the tables that reference them.
        for table in [
            l2_insights(dialect),
            nodes(dialect),
            edges(dialect),
            working_memory(dialect),
            episode_memory(dialect),
            l0_raw(dialect),
            ground_truth(dialect),
            stale_memory(dialect),
            smf_proposals(dialect),
            ief_feedback(dialect),
            l2_insight_history(dialect),
        ] {
            create_table(manager, self, table).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Newest first: dependents (edges, nodes, history) before l2_insights.
        drop_created(manager, self).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
enum L2Insights {
    #[sea_orm(iden = "l2_insights")]
    Table,
    Id,
    Content,
    Embedding,
    SourceIds,
    CreatedAt,
    Metadata,
    IoCategory,
    IsIdentity,
    SourceFile,
    MemoryStrength,
}

#[derive(DeriveIden)]
enum Nodes {
    Table,
    Id,
    Label,
    Name,
    Properties,
    VectorId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Edges {
    Table,
    Id,
    SourceId,
    TargetId,
    Relation,
    Weight,
    Properties,
    CreatedAt,
    ModifiedAt,
    LastAccessed,
    AccessCount,
    LastEngaged,
    MemorySector,
}

#[derive(DeriveIden)]
enum WorkingMemory {
    Table,
    Id,
    Content,
    Importance,
    LastAccessed,
    CreatedAt,
}

#[derive(DeriveIden)]
enum EpisodeMemory {
    Table,
    Id,
    Query,
    Reward,
    Reflection,
    Embedding,
    CreatedAt,
}

#[derive(DeriveIden)]
enum L0Raw {
    #[sea_orm(iden = "l0_raw")]
    Table,
    Id,
    SessionId,
    Speaker,
    Content,
    Timestamp,
    Metadata,
    Energy,
    State,
    Location,
    Intentions,
}

#[derive(DeriveIden)]
enum GroundTruth {
    Table,
    Id,
    Query,
    ExpectedDocs,
    #[sea_orm(iden = "judge1_model")]
    Judge1Model,
    #[sea_orm(iden = "judge2_model")]
    Judge2Model,
    Kappa,
    CreatedAt,
    Metadata,
}

#[derive(DeriveIden)]
enum StaleMemory {
    Table,
    Id,
    OriginalContent,
    Importance,
    Reason,
    Content,
    ArchivedAt,
}

#[derive(DeriveIden)]
enum SmfProposals {
    Table,
    Id,
    TriggerType,
    ProposedAction,
    AffectedEdges,
    Reasoning,
    ApprovalLevel,
    Status,
    CreatedAt,
    ResolvedAt,
    ResolvedBy,
}

#[derive(DeriveIden)]
enum IefFeedback {
    Table,
    Id,
    QueryId,
    QueryText,
    ConstitutiveWeightUsed,
    Helpful,
    FeedbackReason,
    ResultCount,
    ConflictCount,
    CreatedAt,
}

#[derive(DeriveIden)]
enum L2InsightHistory {
    #[sea_orm(iden = "l2_insight_history")]
    Table,
    Id,
    InsightId,
    Action,
    Actor,
    Reason,
    OldContent,
    NewContent,
    CreatedAt,
}

/// `integer` auto-increment primary key: an identity column on PostgreSQL,
/// `integer PRIMARY KEY AUTOINCREMENT` on SQLite.
fn serial_id(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name)
        .integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .take()
}

fn text(dialect: &dyn SchemaDialect, name: impl IntoIden) -> ColumnDef {
    column::text(dialect, name).not_null().take()
}

fn text_null(dialect: &dyn SchemaDialect, name: impl IntoIden) -> ColumnDef {
    column::text(dialect, name).null().take()
}

fn double_null(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).double().null().take()
}

fn timestamp_null(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .null()
        .take()
}

fn jsonb_null(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).json_binary().null().take()
}

fn l2_insights(dialect: &dyn SchemaDialect) -> TableCreateStatement {
    Table::create()
        .table(L2Insights::Table)
        .if_not_exists()
        .col(serial_id(L2Insights::Id))
        .col(text(dialect, L2Insights::Content))
        .col(array(dialect, L2Insights::Embedding, ColumnType::Float).not_null())
        .col(array(dialect, L2Insights::SourceIds, ColumnType::Integer).not_null())
        .col(created_at(L2Insights::CreatedAt))
        .col(jsonb_null(L2Insights::Metadata))
        .col(text_null(dialect, L2Insights::IoCategory))
        .col(
            ColumnDef::new(L2Insights::IsIdentity)
                .boolean()
                .null()
                .default(false),
        )
        .col(text_null(dialect, L2Insights::SourceFile))
        .col(double_null(L2Insights::MemoryStrength))
        .take()
}

fn nodes(dialect: &dyn SchemaDialect) -> TableCreateStatement {
    Table::create()
        .table(Nodes::Table)
        .if_not_exists()
        .col(generated_uuid(dialect, Nodes::Id).primary_key())
        .col(key_text(dialect, Nodes::Label))
        .col(key_text(dialect, Nodes::Name))
        .col(jsonb_null(Nodes::Properties))
        .col(ColumnDef::new(Nodes::VectorId).integer().null())
        .col(created_at(Nodes::CreatedAt))
        .index(
            Index::create()
                .name("uq_nodes_label_name")
                .col(Nodes::Label)
                .col(Nodes::Name)
                .unique(),
        )
        .foreign_key(
            ForeignKey::create()
                .name("fk_nodes_vector_id")
                .from(Nodes::Table, Nodes::VectorId)
                .to(L2Insights::Table, L2Insights::Id)
                .on_delete(ForeignKeyAction::SetNull),
        )
        .take()
}

fn edges(dialect: &dyn SchemaDialect) -> TableCreateStatement {
    Table::create()
        .table(Edges::Table)
        .if_not_exists()
        .col(generated_uuid(dialect, Edges::Id).primary_key())
        .col(ColumnDef::new(Edges::SourceId).uuid().not_null())
        .col(ColumnDef::new(Edges::TargetId).uuid().not_null())
        .col(key_text(dialect, Edges::Relation))
        .col(double_null(Edges::Weight))
        .col(jsonb_null(Edges::Properties))
        .col(created_at(Edges::CreatedAt))
        .col(timestamp_null(Edges::ModifiedAt))
        .col(timestamp_null(Edges::LastAccessed))
        .col(
            ColumnDef::new(Edges::AccessCount)
                .integer()
                .null()
                .default(0),
        )
        .col(timestamp_null(Edges::LastEngaged))
        .col(text_null(dialect, Edges::MemorySector))
        .index(
            Index::create()
                .name("uq_edges_source_id_target_id_relation")
                .col(Edges::SourceId)
                .col(Edges::TargetId)
                .col(Edges::Relation)
                .unique(),
        )
        .foreign_key(
            ForeignKey::create()
                .name("fk_edges_source_id")
                .from(Edges::Table, Edges::SourceId)
                .to(Nodes::Table, Nodes::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .foreign_key(
            ForeignKey::create()
                .name("fk_edges_target_id")
                .from(Edges::Table, Edges::TargetId)
                .to(Nodes::Table, Nodes::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .take()
}

fn working_memory(dialect: &dyn SchemaDialect) -> TableCreateStatement {
    Table::create()
        .table(WorkingMemory::Table)
        .if_not_exists()
        .col(serial_id(WorkingMemory::Id))
        .col(text(dialect, WorkingMemory::Content))
        .col(double_null(WorkingMemory::Importance))
        .col(timestamp_null(WorkingMemory::LastAccessed))
        .col(created_at(WorkingMemory::CreatedAt))
        .take()
}

fn episode_memory(dialect: &dyn SchemaDialect) -> TableCreateStatement {
    Table::create()
        .table(EpisodeMemory::Table)
        .if_not_exists()
        .col(serial_id(EpisodeMemory::Id))
        .col(text(dialect, EpisodeMemory::Query))
        .col(ColumnDef::new(EpisodeMemory::Reward).double().not_null())
        .col(text(dialect, EpisodeMemory::Reflection))
        .col(array(dialect, EpisodeMemory::Embedding, ColumnType::Float).not_null())
        .col(created_at(EpisodeMemory::CreatedAt))
        .take()
}

fn l0_raw(dialect: &dyn SchemaDialect) -> TableCreateStatement {
    Table::create()
        .table(L0Raw::Table)
        .if_not_exists()
        .col(serial_id(L0Raw::Id))
        .col(text(dialect, L0Raw::SessionId))
        .col(text(dialect, L0Raw::Speaker))
        .col(text(dialect, L0Raw::Content))
        .col(created_at(L0Raw::Timestamp))
        .col(jsonb_null(L0Raw::Metadata))
        .col(ColumnDef::new(L0Raw::Energy).string_len(20).null())
        .col(text_null(dialect, L0Raw::State))
        .col(text_null(dialect, L0Raw::Location))
        .col(array(dialect, L0Raw::Intentions, ColumnType::Text).null())
        .take()
}

fn ground_truth(dialect: &dyn SchemaDialect) -> TableCreateStatement {
    Table::create()
        .table(GroundTruth::Table)
        .if_not_exists()
        .col(serial_id(GroundTruth::Id))
        .col(text(dialect, GroundTruth::Query))
        .col(array(dialect, GroundTruth::ExpectedDocs, ColumnType::Integer).not_null())
        .col(text_null(dialect, GroundTruth::Judge1Model))
        .col(text_null(dialect, GroundTruth::Judge2Model))
        .col(double_null(GroundTruth::Kappa))
        .col(created_at(GroundTruth::CreatedAt))
        .col(jsonb_null(GroundTruth::Metadata))
        .take()
}

fn stale_memory(dialect: &dyn SchemaDialect) -> TableCreateStatement {
    Table::create()
        .table(StaleMemory::Table)
        .if_not_exists()
        .col(serial_id(StaleMemory::Id))
        .col(text(dialect, StaleMemory::OriginalContent))
        .col(ColumnDef::new(StaleMemory::Importance).double().not_null())
        .col(text(dialect, StaleMemory::Reason))
        .col(text(dialect, StaleMemory::Content))
        .col(created_at(StaleMemory::ArchivedAt))
        .take()
}

fn smf_proposals(dialect: &dyn SchemaDialect) -> TableCreateStatement {
    Table::create()
        .table(SmfProposals::Table)
        .if_not_exists()
        .col(serial_id(SmfProposals::Id))
        .col(text(dialect, SmfProposals::TriggerType))
        .col(
            ColumnDef::new(SmfProposals::ProposedAction)
                .json_binary()
                .not_null(),
        )
        .col(array(dialect, SmfProposals::AffectedEdges, ColumnType::Uuid).not_null())
        .col(text(dialect, SmfProposals::Reasoning))
        .col(text(dialect, SmfProposals::ApprovalLevel))
        .col(text(dialect, SmfProposals::Status))
        .col(created_at(SmfProposals::CreatedAt))
        .col(timestamp_null(SmfProposals::ResolvedAt))
        .col(text_null(dialect, SmfProposals::ResolvedBy))
        .take()
}

fn ief_feedback(dialect: &dyn SchemaDialect) -> TableCreateStatement {
    Table::create()
        .table(IefFeedback::Table)
        .if_not_exists()
        .col(serial_id(IefFeedback::Id))
        .col(generated_uuid(dialect, IefFeedback::QueryId))
        .col(text(dialect, IefFeedback::QueryText))
        .col(
            ColumnDef::new(IefFeedback::ConstitutiveWeightUsed)
                .double()
                .not_null(),
        )
        .col(ColumnDef::new(IefFeedback::Helpful).boolean().null())
        .col(text_null(dialect, IefFeedback::FeedbackReason))
        .col(ColumnDef::new(IefFeedback::ResultCount).integer().null())
        .col(ColumnDef::new(IefFeedback::ConflictCount).integer().null())
        .col(created_at(IefFeedback::CreatedAt))
        .take()
}

fn l2_insight_history(dialect: &dyn SchemaDialect) -> TableCreateStatement {
    Table::create()
        .table(L2InsightHistory::Table)
        .if_not_exists()
        .col(serial_id(L2InsightHistory::Id))
        .col(
            ColumnDef::new(L2InsightHistory::InsightId)
                .integer()
                .not_null(),
        )
        .col(text(dialect, L2InsightHistory::Action))
        .col(text(dialect, L2InsightHistory::Actor))
        .col(text(dialect, L2InsightHistory::Reason))
        .col(text_null(dialect, L2InsightHistory::OldContent))
        .col(text_null(dialect, L2InsightHistory::NewContent))
        .col(created_at(L2InsightHistory::CreatedAt))
        .foreign_key(
            ForeignKey::create()
                .name("fk_l2_insight_history_insight_id")
                .from(L2InsightHistory::Table, L2InsightHistory::InsightId)
                .to(L2Insights::Table, L2Insights::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .take()
}
