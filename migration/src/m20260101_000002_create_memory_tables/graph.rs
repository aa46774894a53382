//! `l2_insights` and the tables that reference it: the graph (`nodes`, `edges`) and
//! the history of insights, with their unique and foreign keys.

use sea_orm_migration::prelude::*;

use crate::column::{
    array, created_at, double_null, foreign_key, generated_uuid, integer, integer_null, jsonb_null,
    key_text, serial_id, text, text_null, timestamp_null, unique_key, uuid,
};
use crate::dialect::SchemaDialect;

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

pub(super) fn l2_insights(dialect: &dyn SchemaDialect) -> TableCreateStatement {
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

pub(super) fn nodes(dialect: &dyn SchemaDialect) -> TableCreateStatement {
    Table::create()
        .table(Nodes::Table)
        .if_not_exists()
        .col(generated_uuid(dialect, Nodes::Id).primary_key())
        .col(key_text(dialect, Nodes::Label))
        .col(key_text(dialect, Nodes::Name))
        .col(jsonb_null(Nodes::Properties))
        .col(integer_null(Nodes::VectorId))
        .col(created_at(Nodes::CreatedAt))
        .index(&mut unique_key(Nodes::Table, [Nodes::Label, Nodes::Name]))
        .foreign_key(&mut foreign_key(
            Nodes::Table,
            Nodes::VectorId,
            L2Insights::Table,
            L2Insights::Id,
            ForeignKeyAction::SetNull,
        ))
        .take()
}

pub(super) fn edges(dialect: &dyn SchemaDialect) -> TableCreateStatement {
    Table::create()
        .table(Edges::Table)
        .if_not_exists()
        .col(generated_uuid(dialect, Edges::Id).primary_key())
        .col(uuid(Edges::SourceId))
        .col(uuid(Edges::TargetId))
        .col(key_text(dialect, Edges::Relation))
        .col(double_null(Edges::Weight))
        .col(jsonb_null(Edges::Properties))
        .col(created_at(Edges::CreatedAt))
        .col(timestamp_null(Edges::ModifiedAt))
        .col(timestamp_null(Edges::LastAccessed))
        .col(integer_null(Edges::AccessCount).default(0))
        .col(timestamp_null(Edges::LastEngaged))
        .col(text_null(dialect, Edges::MemorySector))
        .index(&mut unique_key(
            Edges::Table,
            [Edges::SourceId, Edges::TargetId, Edges::Relation],
        ))
        .foreign_key(&mut foreign_key(
            Edges::Table,
            Edges::SourceId,
            Nodes::Table,
            Nodes::Id,
            ForeignKeyAction::Cascade,
        ))
        .foreign_key(&mut foreign_key(
            Edges::Table,
            Edges::TargetId,
            Nodes::Table,
            Nodes::Id,
            ForeignKeyAction::Cascade,
        ))
        .take()
}

pub(super) fn l2_insight_history(dialect: &dyn SchemaDialect) -> TableCreateStatement {
    Table::create()
        .table(L2InsightHistory::Table)
        .if_not_exists()
        .col(serial_id(L2InsightHistory::Id))
        .col(integer(L2InsightHistory::InsightId))
        .col(text(dialect, L2InsightHistory::Action))
        .col(text(dialect, L2InsightHistory::Actor))
        .col(text(dialect, L2InsightHistory::Reason))
        .col(text_null(dialect, L2InsightHistory::OldContent))
        .col(text_null(dialect, L2InsightHistory::NewContent))
        .col(created_at(L2InsightHistory::CreatedAt))
        .foreign_key(&mut foreign_key(
            L2InsightHistory::Table,
            L2InsightHistory::InsightId,
            L2Insights::Table,
            L2Insights::Id,
            ForeignKeyAction::Cascade,
        ))
        .take()
}
