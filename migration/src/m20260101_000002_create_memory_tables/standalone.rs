//! The memory tables no key links to another table.

use sea_orm_migration::prelude::*;

use crate::column::{
    array, created_at, double, double_null, generated_uuid, integer_null, jsonb, jsonb_null,
    serial_id, text, text_null, timestamp_null, varchar_null,
};
use crate::dialect::SchemaDialect;

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

pub(super) fn working_memory(dialect: &dyn SchemaDialect) -> TableCreateStatement {
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

pub(super) fn episode_memory(dialect: &dyn SchemaDialect) -> TableCreateStatement {
    Table::create()
        .table(EpisodeMemory::Table)
        .if_not_exists()
        .col(serial_id(EpisodeMemory::Id))
        .col(text(dialect, EpisodeMemory::Query))
        .col(double(EpisodeMemory::Reward))
        .col(text(dialect, EpisodeMemory::Reflection))
        .col(array(dialect, EpisodeMemory::Embedding, ColumnType::Float).not_null())
        .col(created_at(EpisodeMemory::CreatedAt))
        .take()
}

pub(super) fn l0_raw(dialect: &dyn SchemaDialect) -> TableCreateStatement {
    Table::create()
        .table(L0Raw::Table)
        .if_not_exists()
        .col(serial_id(L0Raw::Id))
        .col(text(dialect, L0Raw::SessionId))
        .col(text(dialect, L0Raw::Speaker))
        .col(text(dialect, L0Raw::Content))
        .col(created_at(L0Raw::Timestamp))
        .col(jsonb_null(L0Raw::Metadata))
        .col(varchar_null(L0Raw::Energy, 20))
        .col(text_null(dialect, L0Raw::State))
        .col(text_null(dialect, L0Raw::Location))
        .col(array(dialect, L0Raw::Intentions, ColumnType::Text).null())
        .take()
}

pub(super) fn ground_truth(dialect: &dyn SchemaDialect) -> TableCreateStatement {
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

pub(super) fn stale_memory(dialect: &dyn SchemaDialect) -> TableCreateStatement {
    Table::create()
        .table(StaleMemory::Table)
        .if_not_exists()
        .col(serial_id(StaleMemory::Id))
        .col(text(dialect, StaleMemory::OriginalContent))
        .col(double(StaleMemory::Importance))
        .col(text(dialect, StaleMemory::Reason))
        .col(text(dialect, StaleMemory::Content))
        .col(created_at(StaleMemory::ArchivedAt))
        .take()
}

pub(super) fn smf_proposals(dialect: &dyn SchemaDialect) -> TableCreateStatement {
    Table::create()
        .table(SmfProposals::Table)
        .if_not_exists()
        .col(serial_id(SmfProposals::Id))
        .col(text(dialect, SmfProposals::TriggerType))
        .col(jsonb(SmfProposals::ProposedAction))
        .col(array(dialect, SmfProposals::AffectedEdges, ColumnType::Uuid).not_null())
        .col(text(dialect, SmfProposals::Reasoning))
        .col(text(dialect, SmfProposals::ApprovalLevel))
        .col(text(dialect, SmfProposals::Status))
        .col(created_at(SmfProposals::CreatedAt))
        .col(timestamp_null(SmfProposals::ResolvedAt))
        .col(text_null(dialect, SmfProposals::ResolvedBy))
        .take()
}

pub(super) fn ief_feedback(dialect: &dyn SchemaDialect) -> TableCreateStatement {
    Table::create()
        .table(IefFeedback::Table)
        .if_not_exists()
        .col(serial_id(IefFeedback::Id))
        .col(generated_uuid(dialect, IefFeedback::QueryId))
        .col(text(dialect, IefFeedback::QueryText))
        .col(double(IefFeedback::ConstitutiveWeightUsed))
        .col(ColumnDef::new(IefFeedback::Helpful).boolean().null())
        .col(text_null(dialect, IefFeedback::FeedbackReason))
        .col(integer_null(IefFeedback::ResultCount))
        .col(integer_null(IefFeedback::ConflictCount))
        .col(created_at(IefFeedback::CreatedAt))
        .take()
}
