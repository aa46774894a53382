//! Hostile input (SPEC §5.4.4, §5.5.1, §6): the payload parsers under arbitrary bytes
//! and arbitrary JSON, payloads built to hurt (huge, deep, not UTF-8, out of range,
//! mistyped) in real databases, and SQL injection through every flag that reaches SQL.
//! Bad input is an anomaly or one sentence with exit 2, never a panic or a lost table.

mod injection;
mod parsers;
mod payloads;
