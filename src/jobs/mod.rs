//! The two backfills, each a folder: what is its own (its tables, which table it
//! walks, what it reads of a batch and writes) on the shared engine
//! (`crate::engine`), the life of a run they share (`run`), and what their rollbacks
//! share (`undo`).

pub mod features;
pub mod project_id;
pub mod run;
pub mod undo;
