//! The JSON contract: every summary is exactly one object on one line, carrying
//! `"schema_version"`, with lists as its fields, never a bare array; a failure is the
//! object `{"error": "<the sentence>", "exit_code": N}`. The fields of each command's
//! object are documented in the README ("JSON output").

use std::io::{self, Write};

use serde::Serialize;

/// The version of the JSON contract; raised when a field is renamed or removed (a
/// field added keeps it).
pub const SCHEMA_VERSION: u32 = 1;

/// A summary with the contract's version first.
#[derive(Serialize)]
struct Versioned<'a, T: ?Sized> {
    schema_version: u32,
    #[serde(flatten)]
    body: &'a T,
}

/// `value` as one JSON object on one line.
pub(super) fn write<T: Serialize + ?Sized>(out: &mut impl Write, value: &T) -> io::Result<()> {
    let versioned = Versioned {
        schema_version: SCHEMA_VERSION,
        body: value,
    };
    serde_json::to_writer(&mut *out, &versioned)?;
    writeln!(out)
}

/// A failure as one JSON object on one line.
pub(super) fn error(out: &mut impl Write, sentence: &str, exit_code: u8) -> io::Result<()> {
    #[derive(Serialize)]
    struct Failure<'a> {
        error: &'a str,
        exit_code: u8,
    }
    write(
        out,
        &Failure {
            error: sentence,
            exit_code,
        },
    )
}

/// The keys that stand twice in one object of `json` (none: the contract holds), or
/// why `json` is no JSON at all. The tests hold every object the tool prints to it.
pub fn duplicate_keys(json: &str) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    let mut reader = serde_json::Deserializer::from_str(json);
    serde::de::DeserializeSeed::deserialize(KeyWalk(&mut found), &mut reader)
        .map_err(|err| err.to_string())?;
    Ok(found)
}

/// Walks a JSON value, noting each key an object repeats.
struct KeyWalk<'a>(&'a mut Vec<String>);

impl<'de> serde::de::DeserializeSeed<'de> for KeyWalk<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, reader: D) -> Result<(), D::Error> {
        reader.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeyWalk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        while items.next_element_seed(KeyWalk(&mut *self.0))?.is_some() {}
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut fields: A) -> Result<(), A::Error> {
        let mut keys = std::collections::HashSet::new();
        while let Some(key) = fields.next_key::<String>()? {
            if !keys.insert(key.clone()) {
                self.0.push(key);
            }
            fields.next_value_seed(KeyWalk(&mut *self.0))?;
        }
        Ok(())
    }
}
