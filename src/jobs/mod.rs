//! The two backfills, each a folder: what is its own (its tables, which table it
//! walks, what it reads of a batch and writes) on the shared engine
//! (`crate::engine`), and the life of a run they share (`run`).

pub mod features;
pub mod project_id;
pub mod run;
