//! The JSON payloads the test-management API left in `tests.data` and `bugs.raw_data`,
//! read into typed values. Every way a payload can be wrong becomes a `PayloadProblem`
//! naming the field, never a panic: bad input is data to report, not a crash.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::anomalies::AnomalyKind;

/// One feature listed in a test's payload, typed. `None` for an `enable_*` flag means
/// the payload did not say (keep the stored value on update, false on insert).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeaturePayload {
    pub id: i64,
    pub feature_id: i64,
    pub title: String,
    pub description: Option<String>,
    pub howtofind: Option<String>,
    pub user_stories: Vec<String>,
    pub enable_default: Option<bool>,
    pub enable_content: Option<bool>,
    pub enable_visual: Option<bool>,
}

/// Why a payload, or one feature in it, could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadProblem {
    pub kind: AnomalyKind,
    pub message: String,
}

impl PayloadProblem {
    fn new(kind: AnomalyKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// What a test's payload lists: the features read, and the problem of each one that
/// could not be (with its position in the list).
#[derive(Debug, Default)]
pub struct TestPayload {
    pub features: Vec<FeaturePayload>,
    pub problems: Vec<(usize, PayloadProblem)>,
}

/// Reads `{"features":[…]}` or `{"exploratory_test":{"features":[…]}}` (a non-null
/// top-level `features` wins). A payload that lists no features at all is valid and
/// yields none. Err: the payload as a whole is unusable (not JSON, not an object,
/// `features` not a list).
pub fn parse_test_payload(data: &[u8]) -> Result<TestPayload, PayloadProblem> {
    // Well-formed payloads go straight into typed structs; only a payload that does
    // not fit is read again, field by field, to name what is wrong with it.
    if let Ok(fast) = serde_json::from_slice::<fast::MapOnly<fast::Payload>>(data) {
        return Ok(fast.0.into());
    }
    let root = parse_object(data)?;
    let features = match root.get("features") {
        Some(features) if !features.is_null() => Some(features),
        _ => match root.get("exploratory_test") {
            None | Some(Value::Null) => None,
            Some(Value::Object(inner)) => inner.get("features"),
            Some(other) => {
                return Err(PayloadProblem::new(
                    AnomalyKind::InvalidField,
                    format!(
                        "`exploratory_test` is {}, expected an object",
                        describe(other)
                    ),
                ));
            }
        },
    };
    let list = match features {
        None | Some(Value::Null) => return Ok(TestPayload::default()),
        Some(Value::Array(list)) => list,
        Some(other) => {
            return Err(PayloadProblem::new(
                AnomalyKind::InvalidField,
                format!("`features` is {}, expected a list", describe(other)),
            ));
        }
    };
    let mut payload = TestPayload::default();
    for (index, item) in list.iter().enumerate() {
        match parse_feature(item) {
            Ok(feature) => payload.features.push(feature),
            Err(problem) => payload.problems.push((index, problem)),
        }
    }
    Ok(payload)
}

/// The typed shapes of well-formed payloads. Anything that does not fit them exactly
/// (a missing id, a wrong type) fails here and takes the field-by-field path above,
/// which applies the same rules and names the problem.
mod fast {
    use std::marker::PhantomData;

    use serde::de::{MapAccess, Visitor, value::MapAccessDeserializer};
    use serde::{Deserialize, Deserializer};

    /// `T` read only from a JSON object: serde's derived structs also accept a list of
    /// field values, which the field-by-field rules call a wrong type.
    pub struct MapOnly<T>(pub T);

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for MapOnly<T> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct ObjectVisitor<T>(PhantomData<T>);
            impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
                type Value = T;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                    T::deserialize(MapAccessDeserializer::new(map))
                }
            }
            deserializer
                .deserialize_map(ObjectVisitor(PhantomData))
                .map(MapOnly)
        }
    }

    #[derive(Deserialize)]
    pub struct Payload {
        features: Option<Vec<MapOnly<Feature>>>,
        exploratory_test: Option<MapOnly<Envelope>>,
    }

    #[derive(Deserialize)]
    struct Envelope {
        features: Option<Vec<MapOnly<Feature>>>,
    }

    #[derive(Deserialize)]
    struct Feature {
        id: i64,
        feature_id: i64,
        title: Option<String>,
        description: Option<String>,
        howtofind: Option<String>,
        user_stories: Option<Vec<String>>,
        enable_default: Option<bool>,
        enable_content: Option<bool>,
        enable_visual: Option<bool>,
    }

    impl From<Payload> for super::TestPayload {
        fn from(payload: Payload) -> Self {
            let list = payload
                .features
                .or_else(|| payload.exploratory_test.and_then(|e| e.0.features))
                .unwrap_or_default();
            super::TestPayload {
                features: list
                    .into_iter()
                    .map(|MapOnly(f)| super::FeaturePayload {
                        id: f.id,
                        feature_id: f.feature_id,
                        title: f.title.unwrap_or_default(),
                        description: f.description,
                        howtofind: f.howtofind,
                        user_stories: f.user_stories.unwrap_or_default(),
                        enable_default: f.enable_default,
                        enable_content: f.enable_content,
                        enable_visual: f.enable_visual,
                    })
                    .collect(),
                problems: Vec::new(),
            }
        }
    }

    #[derive(Deserialize)]
    pub struct Bug {
        pub test_feature: Option<MapOnly<BugFeature>>,
    }

    #[derive(Deserialize)]
    pub struct BugFeature {
        pub id: i64,
    }
}

fn parse_feature(item: &Value) -> Result<FeaturePayload, PayloadProblem> {
    let Value::Object(object) = item else {
        return Err(PayloadProblem::new(
            AnomalyKind::InvalidField,
            format!("a listed feature is {}, expected an object", describe(item)),
        ));
    };
    Ok(FeaturePayload {
        id: required_id(object, "id")?,
        feature_id: required_id(object, "feature_id")?,
        title: field(object, "title")?.unwrap_or_default(),
        description: field(object, "description")?,
        howtofind: field(object, "howtofind")?,
        user_stories: field(object, "user_stories")?.unwrap_or_default(),
        enable_default: field(object, "enable_default")?,
        enable_content: field(object, "enable_content")?,
        enable_visual: field(object, "enable_visual")?,
    })
}

/// What a bug's payload says about its test feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BugFeature {
    /// No `test_feature` (or null): a valid bug that stays unattributed.
    None,
    Id(i64),
}

/// Reads `raw_data.test_feature.id`.
pub fn parse_bug_payload(data: &[u8]) -> Result<BugFeature, PayloadProblem> {
    if let Ok(fast::MapOnly(fast)) = serde_json::from_slice::<fast::MapOnly<fast::Bug>>(data) {
        return Ok(fast
            .test_feature
            .map_or(BugFeature::None, |f| BugFeature::Id(f.0.id)));
    }
    let root = parse_object(data)?;
    match root.get("test_feature") {
        None | Some(Value::Null) => Ok(BugFeature::None),
        Some(Value::Object(feature)) => required_id(feature, "id")
            .map(BugFeature::Id)
            .map_err(|p| PayloadProblem::new(p.kind, format!("test_feature: {}", p.message))),
        Some(other) => Err(PayloadProblem::new(
            AnomalyKind::InvalidField,
            format!("`test_feature` is {}, expected an object", describe(other)),
        )),
    }
}

fn parse_object(data: &[u8]) -> Result<Map<String, Value>, PayloadProblem> {
    let text = std::str::from_utf8(data).map_err(|e| {
        PayloadProblem::new(
            AnomalyKind::InvalidJson,
            format!("the payload is not valid UTF-8 ({e})"),
        )
    })?;
    // serde_json stops at 128 levels of nesting, so hostile depth is an error, not a
    // stack overflow.
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => Err(PayloadProblem::new(
            AnomalyKind::InvalidJson,
            format!(
                "the payload is {}, expected a JSON object",
                describe(&other)
            ),
        )),
        Err(err) => Err(PayloadProblem::new(
            AnomalyKind::InvalidJson,
            format!("the payload is not valid JSON ({err})"),
        )),
    }
}

fn required_id(object: &Map<String, Value>, name: &str) -> Result<i64, PayloadProblem> {
    field::<i64>(object, name)?
        .ok_or_else(|| PayloadProblem::new(AnomalyKind::MissingId, format!("`{name}` is missing")))
}

/// An optional field of type `T`: absent or null is `None`; any other type is an
/// `invalid_field` problem naming the field and what it held.
fn field<T: DeserializeOwned>(
    object: &Map<String, Value>,
    name: &str,
) -> Result<Option<T>, PayloadProblem> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => T::deserialize(value).map(Some).map_err(|_| {
            PayloadProblem::new(
                AnomalyKind::InvalidField,
                format!(
                    "`{name}` is {}, which is not {}",
                    describe(value),
                    expected::<T>()
                ),
            )
        }),
    }
}

fn expected<T>() -> &'static str {
    let name = std::any::type_name::<T>();
    if name.contains("i64") {
        "an integer in the 64-bit range"
    } else if name.contains("bool") {
        "true or false"
    } else if name.contains("Vec") {
        "a list of strings"
    } else {
        "a string"
    }
}

/// A short description of a JSON value for messages, never echoing a huge string.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.len() <= 40 => format!("the string {s:?}"),
        Value::String(s) => format!("a string of {} bytes", s.len()),
        Value::Array(a) => format!("a list of {} items", a.len()),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_shapes() {
        let flat = br#"{"features":[{"id":1,"feature_id":2,"title":"t","user_stories":["a"],"enable_visual":true}]}"#;
        let envelope = br#"{"exploratory_test":{"features":[{"id":1,"feature_id":2,"title":"t","user_stories":["a"],"enable_visual":true}]}}"#;
        let a = parse_test_payload(flat).unwrap();
        let b = parse_test_payload(envelope).unwrap();
        assert_eq!(a.features, b.features);
        assert_eq!(a.features[0].enable_visual, Some(true));
        assert_eq!(a.features[0].enable_default, None);
    }

    #[test]
    fn names_each_problem() {
        let data = br#"{"features":[{"feature_id":2},{"id":"7","feature_id":2},{"id":99999999999999999999,"feature_id":1},{"id":3,"feature_id":4,"user_stories":null}]}"#;
        let parsed = parse_test_payload(data).unwrap();
        let kinds: Vec<_> = parsed.problems.iter().map(|(i, p)| (*i, p.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                (0, AnomalyKind::MissingId),
                (1, AnomalyKind::InvalidField),
                (2, AnomalyKind::InvalidField)
            ]
        );
        assert_eq!(parsed.features[0].user_stories, Vec::<String>::new());
        assert_eq!(
            parse_test_payload(b"{oops").unwrap_err().kind,
            AnomalyKind::InvalidJson
        );
        assert_eq!(
            parse_test_payload(b"[1]").unwrap_err().kind,
            AnomalyKind::InvalidJson
        );
        assert_eq!(
            parse_test_payload(&[0xff, 0xfe]).unwrap_err().kind,
            AnomalyKind::InvalidJson
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(
            parse_test_payload(deep.as_bytes()).unwrap_err().kind,
            AnomalyKind::InvalidJson
        );
    }

    #[test]
    fn null_features_fall_back_to_the_envelope() {
        let data =
            br#"{"features":null,"exploratory_test":{"features":[{"id":1,"feature_id":2}]}}"#;
        assert_eq!(parse_test_payload(data).unwrap().features.len(), 1);
        let bad =
            br#"{"features":null,"exploratory_test":{"features":[{"id":"1","feature_id":2}]}}"#;
        assert_eq!(parse_test_payload(bad).unwrap().problems.len(), 1);
    }

    #[test]
    fn bug_payloads() {
        assert_eq!(
            parse_bug_payload(br#"{"test_feature":{"id":5}}"#).unwrap(),
            BugFeature::Id(5)
        );
        assert_eq!(
            parse_bug_payload(br#"{"title":"x"}"#).unwrap(),
            BugFeature::None
        );
        assert_eq!(
            parse_bug_payload(br#"{"test_feature":{}}"#)
                .unwrap_err()
                .kind,
            AnomalyKind::MissingId
        );
    }
}
