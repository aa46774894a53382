//! `l2_insight_history`: audit trail of changes to `l2_insights` (who did what to
//! which insight, and why, with the content before and after).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "l2_insight_history")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub insight_id: i32,
    #[sea_orm(column_type = "Text")]
    pub action: String,
    #[sea_orm(column_type = "Text")]
    pub actor: String,
    #[sea_orm(column_type = "Text")]
    pub reason: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub old_content: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub new_content: Option<String>,
    pub created_at: Option<DateTimeWithTimeZone>,
    #[sea_orm(column_type = "String(StringLen::N(50))", nullable)]
    pub project_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::l2_insights::Entity",
        from = "Column::InsightId",
        to = "super::l2_insights::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    L2Insights,
}

impl Related<super::l2_insights::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::L2Insights.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
