//! A schema object a migration may create, by kind, table and name: what each
//! dialect's steps make, and what the ownership records, probes and drops. A leaf: the
//! dialects build these, so it knows none of them.

/// A schema object a migration may create. Names are those of our own schema; they
/// are still quoted wherever they reach SQL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SchemaObject {
    Table(String),
    Column {
        table: String,
        column: String,
    },
    Index {
        table: String,
        name: String,
    },
    /// A named constraint added to an existing table (not on SQLite, which cannot).
    Constraint {
        table: String,
        name: String,
    },
    Trigger {
        table: String,
        name: String,
    },
}

impl SchemaObject {
    pub(crate) fn table(table: impl ToString) -> Self {
        Self::Table(table.to_string())
    }

    pub(crate) fn column(table: impl ToString, column: impl ToString) -> Self {
        Self::Column {
            table: table.to_string(),
            column: column.to_string(),
        }
    }

    pub(crate) fn index(table: impl ToString, name: impl ToString) -> Self {
        Self::Index {
            table: table.to_string(),
            name: name.to_string(),
        }
    }

    pub(crate) fn constraint(table: impl ToString, name: impl ToString) -> Self {
        Self::Constraint {
            table: table.to_string(),
            name: name.to_string(),
        }
    }

    pub(crate) fn trigger(table: impl ToString, name: impl ToString) -> Self {
        Self::Trigger {
            table: table.to_string(),
            name: name.to_string(),
        }
    }

    /// (kind, table, name) as recorded.
    pub(crate) fn parts(&self) -> (&'static str, &str, &str) {
        match self {
            Self::Table(table) => ("table", table, table),
            Self::Column { table, column } => ("column", table, column),
            Self::Index { table, name } => ("index", table, name),
            Self::Constraint { table, name } => ("constraint", table, name),
            Self::Trigger { table, name } => ("trigger", table, name),
        }
    }
}
