//! The payload parsers never panic (proptest): arbitrary bytes, arbitrary JSON,
//! payload-shaped values and damaged ones are typed values or a named problem of a
//! payload kind. Failing cases proptest finds are kept in `parsers.proptest-regressions`
//! beside this file and replayed first.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Map, Value, json};

use crate::support::{
    AnomalyKind, BugFeature, features_listed, parse_bug_payload, parse_test_payload,
};

const PAYLOAD_KINDS: [AnomalyKind; 3] = [
    AnomalyKind::InvalidJson,
    AnomalyKind::MissingId,
    AnomalyKind::InvalidField,
];

/// Object keys: mostly the ones the parsers look for, so generated values reach
/// every field rule, and some arbitrary ones.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "features",
            "exploratory_test",
            "test_feature",
            "id",
            "feature_id",
            "title",
            "description",
            "howtofind",
            "user_stories",
            "enable_default",
            "enable_content",
            "enable_visual",
        ])
        .prop_map(str::to_string),
        1 => "\\PC{0,12}",
    ]
}

/// Any JSON value, nested up to 8 levels: numbers in and out of i64, floats, strings
/// (unicode included), lists and objects.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        "\\PC{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(8, 128, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A feature object whose fields are arbitrary values (or well-typed ones).
fn feature_like() -> impl Strategy<Value = Value> {
    let field = |typed: BoxedStrategy<Value>| {
        prop_oneof![2 => typed, 1 => json_value(), 1 => Just(Value::Null)].prop_map(Some)
    };
    let maybe = |typed: BoxedStrategy<Value>| prop_oneof![1 => Just(None), 4 => field(typed)];
    (
        maybe(any::<i64>().prop_map(Value::from).boxed()),
        maybe(any::<i64>().prop_map(Value::from).boxed()),
        maybe("\\PC{0,10}".prop_map(Value::String).boxed()),
        maybe(
            prop::collection::vec("\\PC{0,5}".prop_map(Value::String), 0..3)
                .prop_map(Value::Array)
                .boxed(),
        ),
        maybe(any::<bool>().prop_map(Value::Bool).boxed()),
    )
        .prop_map(|(id, feature_id, title, stories, flag)| {
            let mut object = Map::new();
            for (name, value) in [
                ("id", id),
                ("feature_id", feature_id),
                ("title", title),
                ("user_stories", stories),
                ("enable_visual", flag),
            ] {
                if let Some(value) = value {
                    object.insert(name.to_string(), value);
                }
            }
            Value::Object(object)
        })
}

/// Test payloads in both shapes with arbitrary listed items, and bug payloads.
fn payload_like() -> impl Strategy<Value = Value> {
    let item = prop_oneof![3 => feature_like(), 1 => json_value()];
    let list = prop::collection::vec(item, 0..6).prop_map(Value::Array);
    prop_oneof![
        list.clone().prop_map(|l| json!({ "features": l })),
        list.prop_map(|l| json!({ "exploratory_test": { "features": l } })),
        feature_like().prop_map(|f| json!({ "test_feature": f })),
        json_value(),
    ]
}

/// What both parsers make of `data`: never a panic, only typed values or a named
/// problem of one of the payload kinds.
fn check_parsers(data: &[u8]) {
    match parse_test_payload(data) {
        Ok(parsed) => {
            for (_, problem) in &parsed.problems {
                assert!(PAYLOAD_KINDS.contains(&problem.kind), "{problem:?}");
                assert!(!problem.message.is_empty());
            }
        }
        Err(problem) => {
            assert!(PAYLOAD_KINDS.contains(&problem.kind), "{problem:?}");
            assert!(!problem.message.is_empty());
        }
    }
    match parse_bug_payload(data) {
        Ok(BugFeature::None | BugFeature::Id(_)) => {}
        Err(problem) => {
            assert!(PAYLOAD_KINDS.contains(&problem.kind), "{problem:?}");
            assert!(!problem.message.is_empty());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
        check_parsers(&data);
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        check_parsers(value.to_string().as_bytes());
    }

    /// Payload-shaped values reach the field rules: every listed item is either a
    /// feature or a problem at its own index, never lost, never both.
    #[test]
    fn payload_shapes_account_for_every_item(value in payload_like()) {
        let data = value.to_string();
        check_parsers(data.as_bytes());
        let list = features_listed(&value);
        if let (Some(list), Ok(parsed)) = (list, parse_test_payload(data.as_bytes())) {
            prop_assert_eq!(parsed.features.len() + parsed.problems.len(), list.len());
            let indexes: BTreeSet<usize> = parsed.problems.iter().map(|(i, _)| *i).collect();
            prop_assert_eq!(indexes.len(), parsed.problems.len());
            for (item, index) in list.iter().zip(0..) {
                let id = item.get("id").and_then(Value::as_i64);
                let feature_id = item.get("feature_id").and_then(Value::as_i64);
                if id.is_none() || feature_id.is_none() {
                    prop_assert!(indexes.contains(&index), "item {} has no usable ids", index);
                }
            }
            for feature in &parsed.features {
                prop_assert!(list.iter().any(|item| item.get("id").and_then(Value::as_i64) == Some(feature.id)));
            }
        }
        if let Some(feature) = value.get("test_feature") {
            match (feature.get("id").and_then(Value::as_i64), parse_bug_payload(data.as_bytes())) {
                (Some(id), Ok(BugFeature::Id(got))) => prop_assert_eq!(id, got),
                (Some(_), other) => prop_assert!(false, "a usable id was not read: {:?}", other),
                (None, Ok(BugFeature::Id(_))) => prop_assert!(false, "an id out of nothing"),
                (None, _) => {}
            }
        }
    }

    /// Valid JSON cut short or with a byte flipped.
    #[test]
    fn damaged_payloads_never_panic(value in payload_like(), cut in any::<prop::sample::Index>(), flip in any::<(prop::sample::Index, u8)>()) {
        let mut data = value.to_string().into_bytes();
        let at = cut.index(data.len() + 1);
        check_parsers(&data[..at]);
        if !data.is_empty() {
            let i = flip.0.index(data.len());
            data[i] ^= flip.1;
            check_parsers(&data);
        }
    }
}

/// A list where an object belongs is a wrong type, whichever path reads the payload
/// (serde's derived structs would also accept a struct written as a JSON list).
#[test]
fn lists_in_place_of_objects_are_problems() {
    for data in [&b"[null, null]"[..], b"[[], null]", b"[{\"id\":5}]"] {
        assert_eq!(
            parse_test_payload(data).unwrap_err().kind,
            AnomalyKind::InvalidJson,
            "{}",
            String::from_utf8_lossy(data)
        );
        assert_eq!(
            parse_bug_payload(data).unwrap_err().kind,
            AnomalyKind::InvalidJson,
            "{}",
            String::from_utf8_lossy(data)
        );
    }
    assert_eq!(
        parse_bug_payload(br#"{"test_feature":[5]}"#)
            .unwrap_err()
            .kind,
        AnomalyKind::InvalidField
    );
    let parsed =
        parse_test_payload(br#"{"features":[[1,2,"t",null,null,null,null,null,null]]}"#).unwrap();
    assert!(parsed.features.is_empty());
    assert_eq!(parsed.problems[0].1.kind, AnomalyKind::InvalidField);
    let parsed = parse_test_payload(br#"{"exploratory_test":[[]]}"#);
    assert_eq!(parsed.unwrap_err().kind, AnomalyKind::InvalidField);
}

#[test]
fn deep_and_huge_payloads_are_named_problems() {
    for depth in [127, 128, 129, 10_000, 100_000] {
        let deep_list = format!(
            "{{\"features\":{}{}}}",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        check_parsers(deep_list.as_bytes());
        let deep_object = format!(
            "{}{}",
            "{\"test_feature\":".repeat(depth),
            "}".repeat(depth)
        );
        check_parsers(deep_object.as_bytes());
    }
    let huge = format!(
        "{{\"features\":[{{\"id\":\"{}\",\"feature_id\":1}}]}}",
        "x".repeat(10 << 20)
    );
    let parsed = parse_test_payload(huge.as_bytes()).expect("an object");
    assert_eq!(parsed.problems[0].1.kind, AnomalyKind::InvalidField);
    assert!(
        parsed.problems[0].1.message.len() < 200,
        "the message does not echo the 10 MB string"
    );
}
