//! YAML in and out: rendered text → JSON values (the only place that touches `serde_yaml`,
//! which is archived upstream: replacing it is a one-file change), JSON values → YAML
//! (written here, see [`to_string`]).

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
    // What templates write is read by the subset reader, several times faster; the rest,
    // and every error, by serde_yaml.
    match super::yaml_subset::documents(text) {
        Some(documents) => Ok(documents),
        None => parse_with_serde_yaml(text),
    }
}

/// [`parse_documents`] by serde_yaml alone.
pub(crate) fn parse_with_serde_yaml(text: &str) -> Result<Vec<Value>, YamlError> {
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

/// One plain scalar read by serde_yaml (for the subset reader: what serde_yaml makes of
/// `1.5`, `0x1F` or `+3` is, by definition, what it would make of them in a document).
pub(crate) fn parse_one(text: &str) -> Option<Value> {
    serde_yaml::from_str::<Strict>(text)
        .ok()
        .map(|value| value.0)
}

/// Serialises one value as a YAML document body (no leading `---`), keys in their given order,
/// in the block style `kubectl get -o yaml` prints.
///
/// Written here rather than by serde_yaml's emitter: it is several times faster (render
/// prints every object on every run), and it quotes every string that a YAML 1.1 reader
/// would take for something else. kubectl reads manifests as YAML 1.1, where a plain `yes`,
/// `on`, `n` or `1_000` is a boolean or a number; serde_yaml, which follows YAML 1.2,
/// leaves those plain and `kubectl apply -f` then refuses the object.
#[must_use]
pub(crate) fn to_string(value: &Value) -> String {
    let mut out = String::with_capacity(2048);
    match value {
        Value::Object(map) if !map.is_empty() => write_mapping(&mut out, map, 0, false),
        Value::Array(items) if !items.is_empty() => write_sequence(&mut out, items, 0, false),
        scalar => {
            write_scalar(&mut out, scalar, 2);
            out.push('\n');
        }
    }
    out
}

/// Writes `map` as block mapping entries at `indent`; with `inline`, the first entry follows
/// a `- ` already written.
fn write_mapping(out: &mut String, map: &Map<String, Value>, indent: usize, inline: bool) {
    for (index, (key, value)) in map.iter().enumerate() {
        if index > 0 || !inline {
            push_indent(out, indent);
        }
        write_string(out, key, None);
        out.push(':');
        write_value(out, value, indent, true);
    }
}

/// Writes `items` as block sequence entries (`- item`) at `indent`; with `inline`, the first
/// entry follows a `- ` already written.
fn write_sequence(out: &mut String, items: &[Value], indent: usize, inline: bool) {
    for (index, item) in items.iter().enumerate() {
        if index > 0 || !inline {
            push_indent(out, indent);
        }
        out.push('-');
        write_value(out, item, indent, false);
    }
}

/// Writes what follows a key's `:` or an entry's `-` (at `indent`), through the end of line.
/// A sequence under a mapping key is not indented further, as kubectl and libyaml write it.
fn write_value(out: &mut String, value: &Value, indent: usize, in_mapping: bool) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            if in_mapping {
                out.push('\n');
                write_mapping(out, map, indent + 2, false);
            } else {
                out.push(' ');
                write_mapping(out, map, indent + 2, true);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            if in_mapping {
                out.push('\n');
                write_sequence(out, items, indent, false);
            } else {
                out.push(' ');
                write_sequence(out, items, indent + 2, true);
            }
        }
        scalar => {
            out.push(' ');
            write_scalar(out, scalar, indent + 2);
            out.push('\n');
        }
    }
}

fn push_indent(out: &mut String, indent: usize) {
    for _ in 0..indent {
        out.push(' ');
    }
}

/// A scalar (or an empty collection, in flow style); a multi-line string becomes a literal
/// block whose lines are indented by `block_indent`.
fn write_scalar(out: &mut String, value: &Value, block_indent: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = fmt::Write::write_fmt(out, format_args!("{n}"));
        }
        Value::String(s) => write_string(out, s, Some(block_indent)),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

/// Writes a string in the plainest style that reads back as the same string under YAML 1.1
/// and 1.2: plain, single-quoted, a literal block (values only, `block_indent`), or
/// double-quoted with escapes.
fn write_string(out: &mut String, s: &str, block_indent: Option<usize>) {
    if s.chars().any(needs_escape) {
        return write_double_quoted(out, s);
    }
    if s.contains('\n') {
        match block_indent {
            Some(indent) if literal_allowed(s) => write_literal(out, s, indent),
            _ => write_double_quoted(out, s),
        }
        return;
    }
    if plain_allowed(s) {
        out.push_str(s);
    } else {
        out.push('\'');
        for c in s.chars() {
            if c == '\'' {
                out.push('\'');
            }
            out.push(c);
        }
        out.push('\'');
    }
}

/// Characters that only a double-quoted scalar can carry: those YAML does not allow
/// printed (controls, tab, DEL, C1, BOM, U+FFFE/U+FFFF) and the line breaks YAML 1.1
/// has besides `\n` (CR, NEL, LS, PS), which a reader would fold.
fn needs_escape(c: char) -> bool {
    match c {
        '\n' => false,
        ' '..='~' => false,
        '\u{a0}'..='\u{d7ff}' => matches!(c, '\u{2028}' | '\u{2029}'),
        '\u{e000}'..='\u{fffd}' => c == '\u{feff}',
        '\u{10000}'.. => false,
        _ => true,
    }
}

fn write_double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let _ = fmt::Write::write_fmt(out, format_args!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A literal block keeps a multi-line string readable; it is used when it needs no
/// indentation or keep indicator: the text starts with neither a space nor a line break,
/// ends with at most one line break, and has no line ending in a space.
fn literal_allowed(s: &str) -> bool {
    !s.starts_with([' ', '\n']) && !s.ends_with("\n\n") && !s.ends_with(' ') && !s.contains(" \n")
}

fn write_literal(out: &mut String, s: &str, indent: usize) {
    let (body, chomp) = match s.strip_suffix('\n') {
        Some(body) => (body, "|"),
        None => (s, "|-"),
    };
    out.push_str(chomp);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            push_indent(out, indent);
            out.push_str(line);
        }
    }
}

/// True when `s` can be written plain (unquoted) in block context and reads back as this
/// string in YAML 1.1 and 1.2. Deliberately strict: anything that might be a null, a
/// boolean, a number or a timestamp in either version, or that holds an indicator where
/// it would act as one, is quoted.
fn plain_allowed(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let second = s[first.len_utf8()..].chars().next();
    let indicator_first = match first {
        '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%'
        | '@' | '`' | ' ' => true,
        // `-` and `?` start a plain scalar only when a non-space follows; a leading `:`
        // is quoted (YAML 1.1 readers differ on it).
        ':' => true,
        '-' | '?' => second.is_none_or(|c| c == ' '),
        _ => false,
    };
    !indicator_first
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.starts_with("---")
        && !s.starts_with("...")
        && !looks_typed(s, first, second)
}

/// Strings a YAML 1.1 or 1.2 reader may resolve to another type when unquoted: null,
/// booleans (1.1 has `y`, `yes`, `on`, `off`, …), the merge key `<<`, and anything that
/// starts like a number (a digit, or a sign or dot followed by a digit or dot) and holds
/// only characters numbers and timestamps are made of: integers in any base, `1_000`,
/// floats, sexagesimals, dates. `250m` and `1.2.3-rc` stay plain; `1.2.3` is quoted.
fn looks_typed(s: &str, first: char, second: Option<char>) -> bool {
    const WORDS: [&str; 12] = [
        "y", "yes", "n", "no", "true", "false", "on", "off", "null", "~", ".nan", "<<",
    ];
    let word = s.len() <= 5 && {
        let lower = s.to_ascii_lowercase();
        let lower = lower.trim_start_matches(['+', '-']);
        WORDS.contains(&lower) || lower == ".inf"
    };
    let starts_like_a_number = first.is_ascii_digit()
        || (matches!(first, '+' | '-' | '.')
            && second.is_some_and(|c| c.is_ascii_digit() || c == '.'));
    let body = s.trim_start_matches(['+', '-']);
    let radix = body.starts_with("0x")
        || body.starts_with("0X")
        || body.starts_with("0o")
        || body.starts_with("0O")
        || body.starts_with("0b")
        || body.starts_with("0B");
    word || (starts_like_a_number
        && s.chars().all(|c| {
            c.is_ascii_digit()
                || matches!(
                    c,
                    '.' | '_' | ':' | '+' | '-' | ' ' | 'e' | 'E' | 't' | 'T' | 'z' | 'Z'
                )
                || (radix && (c.is_ascii_hexdigit() || matches!(c, 'x' | 'X' | 'o' | 'O')))
        }))
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
    fn strings_a_yaml_1_1_reader_would_retype_are_quoted() {
        for s in [
            "yes",
            "No",
            "ON",
            "off",
            "y",
            "N",
            "true",
            "False",
            "null",
            "~",
            "<<",
            "1_000",
            "0x1F",
            "0o17",
            "0b101",
            "1e3",
            ".5",
            "+1",
            "-1",
            "-.inf",
            ".NaN",
            "2001-12-14",
            "1:20",
            "8080",
            "0123",
            "",
        ] {
            let text = to_string(&json!({ "a": s }));
            assert!(
                text == format!("a: '{s}'\n"),
                "{s:?} must be single-quoted: {text}"
            );
        }
        for s in [
            "yes please",
            "v1.2.3",
            "-Xmx512m",
            "gpt-service",
            "a:b",
            "http://x/#y",
            "é",
        ] {
            assert_eq!(to_string(&json!({ "a": s })), format!("a: {s}\n"), "{s:?}");
        }
    }

    #[test]
    fn block_layout_is_kubectls() {
        let value = json!({
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {}},
            "spec": {"containers": [
                {"name": "app", "args": ["serve", "--listen", ":8080"], "ports": [{"containerPort": 8080}]},
                {"name": "side", "command": [], "env": [["nested", "list"]]}
            ], "script": "set -e\nrun it\n", "note": "line one\n  indented\nlast", "r": 0.5, "x": null, "t": true}
        });
        let expected = "\
kind: Deployment
metadata:
  name: web
  labels:
    app: web
  annotations: {}
spec:
  containers:
  - name: app
    args:
    - serve
    - --listen
    - ':8080'
    ports:
    - containerPort: 8080
  - name: side
    command: []
    env:
    - - nested
      - list
  script: |
    set -e
    run it
  note: |-
    line one
      indented
    last
  r: 0.5
  x: null
  t: true
";
        assert_eq!(to_string(&value), expected);
        assert_eq!(parse_documents(expected).unwrap(), [value]);
    }

    #[test]
    fn built_in_objects_print_as_serde_yaml_printed_them_but_for_quotes() {
        let config =
            crate::config::load_from(crate::config::Source::Embedded, "production").unwrap();
        let rendered =
            crate::render::render(&config, &crate::render::RenderOptions::default()).unwrap();
        assert!(rendered.objects.len() >= 5);
        let mut requoted = Vec::new();
        for object in &rendered.objects {
            let ours = to_string(&object.value);
            let theirs = serde_yaml::to_string(&object.value).unwrap();
            assert_eq!(ours.lines().count(), theirs.lines().count(), "{object}");
            for (a, b) in ours.lines().zip(theirs.lines()) {
                if a != b {
                    // The one difference: a value serde_yaml left plain is quoted here.
                    let (key, value) = b.rsplit_once(": ").unwrap();
                    assert_eq!(a, format!("{key}: '{value}'"), "{object}");
                    requoted.push(value.to_owned());
                }
            }
        }
        assert_eq!(requoted, ["0.0.0.0:8080"]);
    }

    proptest::proptest! {
        #[test]
        fn every_value_reads_back_as_itself(value in any_value()) {
            let text = to_string(&value);
            let back = parse_documents(&text).map_err(|e| format!("{e:?} in:\n{text}"));
            let expected: Vec<Value> = if value.is_null() { vec![] } else { vec![value.clone()] };
            proptest::prop_assert_eq!(back, Ok(expected), "{}", text);
        }
    }

    /// Strings drawn from the characters that matter to YAML's scalar styles.
    fn any_string() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::string::string_regex(
            "[a-zA-Z0-9 \\-?:,#'\"\\[\\]{}&*!|>%@`._<~+=\\n\\t\\r\u{85}\u{a0}\u{2028}\u{feff}é]{0,12}",
        )
        .unwrap()
    }

    fn any_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| Value::Number(n.into())),
            (-1.0e6f64..1.0e6).prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
            any_string().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::vec((any_string(), inner), 0..5).prop_map(|entries| {
                    let mut map = Map::new();
                    for (k, v) in entries {
                        map.entry(k).or_insert(v);
                    }
                    Value::Object(map)
                }),
            ]
        })
    }

    #[test]
    fn round_trip_keeps_key_order_and_quotes_ambiguous_strings() {
        let value = json!({"z": "8080", "a": "yes", "n": 3});
        let text = to_string(&value);
        assert_eq!(parse_documents(&text).unwrap(), [value]);
        assert!(text.starts_with("z: '8080'\n"), "{text}");
    }
}
