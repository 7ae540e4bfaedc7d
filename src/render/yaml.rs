//! The only place that touches `serde_yaml`: rendered text → JSON values, JSON values → YAML.
//!
//! serde_yaml is archived upstream; keeping it behind these two functions makes replacing it a
//! one-file change.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A YAML document that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct YamlError {
    /// 1-based index of the document in the stream.
    pub(crate) document: usize,
    /// The parser's message, including line and column within the rendered text.
    pub(crate) message: String,
    /// 1-based line of the rendered text where the parser stopped, when it says.
    pub(crate) line: Option<usize>,
}

/// Parses a multi-document YAML stream into JSON values, skipping empty documents.
/// Duplicate mapping keys are errors: YAML parsers would silently keep the last one.
///
/// # Errors
/// The first document that is not valid YAML, or maps a key twice.
pub(crate) fn parse_documents(text: &str) -> Result<Vec<Value>, YamlError> {
    let mut documents = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = Strict::deserialize(document).map_err(|e| YamlError {
            document: index + 1,
            line: e.location().map(|l| l.line()),
            message: e.to_string(),
        })?;
        if !value.0.is_null() {
            documents.push(value.0);
        }
    }
    Ok(documents)
}

/// Serialises one value as a YAML document body (no leading `---`), keys in their given order.
#[must_use]
pub(crate) fn to_string(value: &Value) -> String {
    // Serialising a serde_json::Value cannot fail: keys are strings and numbers are finite.
    serde_yaml::to_string(value).unwrap_or_default()
}

/// A JSON value built from YAML that rejects duplicate keys.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("infinite or NaN numbers are not allowed"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Strict::deserialize(d).map(|s| s.0)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Strict>()? {
            items.push(item.0);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<Strict>()? {
            let key = match key.0 {
                Value::String(s) => s,
                // Kubernetes keys are strings; YAML would allow `1: x`, JSON cannot.
                other => other.to_string(),
            };
            let value = map.next_value::<Strict>()?;
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            }
            object.insert(key, value.0);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_document_and_skips_empty_ones() {
        let docs =
            parse_documents("---\na: 1\n---\n# only a comment\n---\nb: [x, true]\n").unwrap();
        assert_eq!(docs, [json!({"a": 1}), json!({"b": ["x", true]})]);
    }

    #[test]
    fn duplicate_keys_are_errors_with_the_document_index() {
        let err = parse_documents("a: 1\n---\nspec:\n  replicas: 1\n  replicas: 2\n").unwrap_err();
        assert_eq!(err.document, 2);
        assert!(
            err.message.contains("duplicate key `replicas`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let err = parse_documents("a: [1\n").unwrap_err();
        assert_eq!(err.document, 1);
        assert!(err.message.contains("line"), "{}", err.message);
    }

    #[test]
    fn round_trip_keeps_key_order_and_quotes_ambiguous_strings() {
        let value = json!({"z": "8080", "a": "yes", "n": 3});
        let text = to_string(&value);
        assert_eq!(parse_documents(&text).unwrap(), [value]);
        assert!(text.starts_with("z: '8080'\n"), "{text}");
    }
}
