//! Both payload parsers on arbitrary bytes: never a panic, and every problem is one of
//! the payload kinds (invalid_json, missing_id, invalid_field).

#![no_main]

use backfill::anomalies::AnomalyKind;
use backfill::jobs::features::payload::{parse_bug_payload, parse_test_payload};
use libfuzzer_sys::fuzz_target;

fn payload_kind(kind: AnomalyKind) -> bool {
    matches!(
        kind,
        AnomalyKind::InvalidJson | AnomalyKind::MissingId | AnomalyKind::InvalidField
    )
}

fuzz_target!(|data: &[u8]| {
    match parse_test_payload(data) {
        Ok(parsed) => {
            for (_, problem) in &parsed.problems {
                assert!(payload_kind(problem.kind), "{problem:?}");
            }
        }
        Err(problem) => assert!(payload_kind(problem.kind), "{problem:?}"),
    }
    if let Err(problem) = parse_bug_payload(data) {
        assert!(payload_kind(problem.kind), "{problem:?}");
    }
});
