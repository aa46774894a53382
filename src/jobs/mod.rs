//! The two backfills, each a folder: what is its own (which table it walks, what it
//! reads of a batch and writes) on the shared engine (`crate::engine`).

pub mod features;
pub mod project_id;
