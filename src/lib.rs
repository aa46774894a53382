//! `backfill`: batched, resumable, journaled data backfills on live SQLite and
//! PostgreSQL databases, with the validation that proves them.
//!
//! `cli` parses, `commands` dispatches; each command is a module of its own; `engine`
//! is the batch engine both backfills share.

pub mod anomalies;
pub mod cli;
pub mod commands;
pub mod db;
pub mod demo;
pub mod engine;
pub mod error;
pub mod features;
pub mod logging;
pub mod migrate;
pub mod payload;
pub mod project_id;
pub mod report;
pub mod runs;
pub mod schema;
pub mod seed;
pub mod validate;
