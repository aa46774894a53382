//! The integration tests of `backfill`, in one binary: the real `backfill` binary (and,
//! for a few properties, the library) against real SQLite files and the real PostgreSQL
//! and MariaDB servers, each test on a database of its own. A module per topic; each
//! scenario declares its backends just above it (`scenario!`), so a test is named
//! `topic::…::scenario::backend`. Run them through `scripts/test.sh`, or a part with
//! `cargo test --test it project_id::rollback`.

mod support;

mod citus;
mod console;
mod demo;
mod examples;
mod faults;
mod features;
mod hostile;
mod lifecycle;
mod messages;
mod migrations;
mod project_id;
mod runs;
mod validate;
mod workers;
