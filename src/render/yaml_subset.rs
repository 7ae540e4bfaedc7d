//! A fast reader for the block-style YAML that templates write: block mappings and
//! sequences, plain, quoted and literal-block scalars, one-line flow collections, comments
//! and `---` separators. It reads what it is sure of and answers `None` for everything else
//! (anchors, tags, folded or multi-line scalars, tabs, anything invalid), and the caller then
//! reads the text with serde_yaml, so results and errors are serde_yaml's either way; only
//! the time differs (the rendered text is read on every render). Plain scalars are resolved
//! as serde_yaml resolves them: null, booleans and decimal integers here, anything else that
//! starts like a number by serde_yaml itself.

use serde_json::{Map, Number, Value};

/// The documents of `text` that are not empty, as serde_yaml would read them with
/// [`super::yaml::parse_documents`], or `None` when `text` uses anything outside the subset.
pub(crate) fn documents(text: &str) -> Option<Vec<Value>> {
    if !printable(text) {
        return None;
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let mut documents = Vec::new();
    let mut start = 0;
    for (index, line) in lines.iter().enumerate() {
        if let Some(rest) = marker(line, "---") {
            if !blank_or_comment(rest) {
                return None;
            }
            document(&lines[start..index], &mut documents)?;
            start = index + 1;
        } else if marker(line, "...").is_some() || line.starts_with('%') {
            return None;
        }
    }
    document(&lines[start..], &mut documents)?;
    Some(documents)
}

/// Tabs, carriage returns, controls and the characters YAML 1.1 reads as line breaks or
/// refuses are left to serde_yaml.
fn printable(text: &str) -> bool {
    let ascii_ok = text
        .bytes()
        .all(|b| b == b'\n' || (b' '..=b'~').contains(&b) || b >= 0x80);
    ascii_ok
        && (text.is_ascii()
            || text.chars().all(|c| {
                !matches!(
                    c,
                    '\u{80}'
                        ..='\u{9f}'
                            | '\u{2028}'
                            | '\u{2029}'
                            | '\u{feff}'
                            | '\u{fffe}'
                            | '\u{ffff}'
                )
            }))
}

/// What follows a document marker (`---` or `...`) at the start of `line`.
fn marker<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(marker)?;
    (rest.is_empty() || rest.starts_with(' ')).then_some(rest)
}

fn blank_or_comment(rest: &str) -> bool {
    let rest = rest.trim_start_matches(' ');
    rest.is_empty() || rest.starts_with('#')
}

fn document(lines: &[&str], documents: &mut Vec<Value>) -> Option<()> {
    let mut parser = Parser { lines, pos: 0 };
    let Some((indent, _)) = parser.peek() else {
        return Some(());
    };
    let value = parser.node(indent)?;
    if parser.peek().is_some() {
        return None;
    }
    documents.push(value);
    Some(())
}

struct Parser<'a> {
    lines: &'a [&'a str],
    pos: usize,
}

impl<'a> Parser<'a> {
    /// The next line that is neither blank nor a comment, as (indentation, content); the
    /// lines skipped are consumed, the returned one is not.
    fn peek(&mut self) -> Option<(usize, &'a str)> {
        while let Some(line) = self.lines.get(self.pos) {
            let content = line.trim_start_matches(' ');
            if !content.is_empty() && !content.starts_with('#') {
                return Some((line.len() - content.len(), content));
            }
            self.pos += 1;
        }
        None
    }

    /// A block node whose first line (not yet consumed) is indented by `indent`.
    fn node(&mut self, indent: usize) -> Option<Value> {
        let (_, content) = self.peek()?;
        self.pos += 1;
        if sequence_entry(content).is_some() {
            self.sequence(indent, content)
        } else {
            self.mapping(indent, content)
        }
    }

    /// A block sequence at `indent` whose first entry is `first` (already consumed).
    fn sequence(&mut self, indent: usize, first: &'a str) -> Option<Value> {
        let mut items = Vec::new();
        let mut entry = first;
        loop {
            let (spaces, rest) = sequence_entry(entry)?;
            let column = indent + 1 + spaces;
            let item = if blank_or_comment(rest) {
                self.nested(indent)?
            } else if sequence_entry(rest).is_some() {
                self.sequence(column, rest)?
            } else if split_entry(rest).is_some() {
                self.mapping(column, rest)?
            } else {
                self.inline(rest, indent)?
            };
            items.push(item);
            match self.peek() {
                Some((i, content)) if i == indent && sequence_entry(content).is_some() => {
                    self.pos += 1;
                    entry = content;
                }
                Some((i, _)) if i > indent => return None,
                _ => return Some(Value::Array(items)),
            }
        }
    }

    /// A block mapping at `indent` whose first entry is `first` (already consumed).
    fn mapping(&mut self, indent: usize, first: &'a str) -> Option<Value> {
        let mut map = Map::new();
        let mut entry = first;
        loop {
            let (key, rest) = split_entry(entry)?;
            let value = if blank_or_comment(rest) {
                match self.peek() {
                    Some((i, content)) if i == indent && sequence_entry(content).is_some() => {
                        self.pos += 1;
                        self.sequence(indent, content)?
                    }
                    _ => self.nested(indent)?,
                }
            } else {
                self.inline(rest, indent)?
            };
            match map.entry(key) {
                serde_json::map::Entry::Vacant(slot) => slot.insert(value),
                serde_json::map::Entry::Occupied(_) => return None, // a duplicate key
            };
            match self.peek() {
                Some((i, content)) if i == indent && sequence_entry(content).is_none() => {
                    self.pos += 1;
                    entry = content;
                }
                Some((i, _)) if i >= indent => return None,
                _ => return Some(Value::Object(map)),
            }
        }
    }

    /// The value on the lines after a key or entry with nothing after it: a node indented
    /// more than `parent`, or null.
    fn nested(&mut self, parent: usize) -> Option<Value> {
        match self.peek() {
            Some((i, _)) if i > parent => self.node(i),
            _ => Some(Value::Null),
        }
    }

    /// A value that starts on the entry's line (`text`, comments included).
    fn inline(&mut self, text: &'a str, parent: usize) -> Option<Value> {
        let first = text.as_bytes()[0];
        match first {
            b'"' => {
                let (value, tail) = double_quoted(text)?;
                tail_is_empty(tail).then_some(Value::String(value))
            }
            b'\'' => {
                let (value, tail) = single_quoted(text)?;
                tail_is_empty(tail).then_some(Value::String(value))
            }
            b'[' | b'{' => {
                let (value, tail) = flow(text)?;
                tail_is_empty(tail).then_some(value)
            }
            b'|' => {
                let header = &text[1..];
                let (strip, after) = match header.strip_prefix('-') {
                    Some(after) => (true, after),
                    None => (false, header),
                };
                if !(after.is_empty() || after.starts_with(' ') && blank_or_comment(after)) {
                    return None;
                }
                self.literal(parent, strip)
            }
            _ => {
                let value = plain_text(text)?;
                if value.contains(": ") || value.ends_with(':') {
                    return None;
                }
                resolve(value)
            }
        }
    }

    /// A literal block scalar (`|` or, with `strip`, `|-`) whose lines follow, indented more
    /// than `parent`.
    fn literal(&mut self, parent: usize, strip: bool) -> Option<Value> {
        let lines = &self.lines[self.pos..];
        let indent = lines.iter().find_map(|line| {
            let content = line.trim_start_matches(' ');
            (!content.is_empty()).then_some(line.len() - content.len())
        })?;
        if indent <= parent {
            return None;
        }
        let mut out = String::new();
        let mut empty_lines = 0;
        let mut taken = 0;
        for line in lines {
            let content = line.trim_start_matches(' ');
            if content.is_empty() {
                // Spaces beyond the indentation on an empty line would be content.
                if line.len() > indent {
                    return None;
                }
                empty_lines += 1;
            } else if line.len() - content.len() < indent {
                break;
            } else {
                for _ in 0..empty_lines {
                    out.push('\n');
                }
                empty_lines = 0;
                out.push_str(&line[indent..]);
                out.push('\n');
            }
            taken += 1;
        }
        self.pos += taken;
        if strip {
            out.pop();
        }
        Some(Value::String(out))
    }
}

/// For a block sequence entry (`-` alone or followed by a space), the spaces after the dash
/// and what follows them.
fn sequence_entry(content: &str) -> Option<(usize, &str)> {
    let after = content.strip_prefix('-')?;
    if !(after.is_empty() || after.starts_with(' ')) {
        return None;
    }
    let rest = after.trim_start_matches(' ');
    Some((after.len() - rest.len(), rest))
}

/// A block mapping entry's key and what follows its `: ` (comments included).
fn split_entry(content: &str) -> Option<(String, &str)> {
    let (key, after) = match content.as_bytes()[0] {
        b'"' => {
            let (key, tail) = double_quoted(content)?;
            (key, tail.trim_start_matches(' ').strip_prefix(':')?)
        }
        b'\'' => {
            let (key, tail) = single_quoted(content)?;
            (key, tail.trim_start_matches(' ').strip_prefix(':')?)
        }
        _ => {
            let bytes = content.as_bytes();
            let colon = (0..bytes.len())
                .find(|&i| bytes[i] == b':' && bytes.get(i + 1).is_none_or(|&b| b == b' '))?;
            let text = plain_text(&content[..colon])?;
            if text.len() != content[..colon].trim_end_matches(' ').len() || text.len() > 1000 {
                return None; // a comment inside the key, or a key YAML would not take
            }
            let key = match resolve(text)? {
                Value::String(s) => s,
                // As the serde_yaml path does: Kubernetes keys are strings.
                other => other.to_string(),
            };
            (key, &content[colon + 1..])
        }
    };
    if !(after.is_empty() || after.starts_with(' ')) {
        return None;
    }
    Some((key, after.trim_start_matches(' ')))
}

/// A plain scalar in block context without its trailing comment and spaces, or `None` when
/// it starts with an indicator.
fn plain_text(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    match bytes[0] {
        b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
        | b'"' | b'%' | b'@' | b'`' | b' ' => return None,
        b'-' | b'?' | b':' if bytes.len() == 1 || bytes[1] == b' ' => return None,
        _ => {}
    }
    let end = text.find(" #").unwrap_or(text.len());
    Some(text[..end].trim_end_matches(' '))
}

/// The value of a plain scalar, as serde_yaml resolves it.
fn resolve(text: &str) -> Option<Value> {
    Some(match text {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ => match text.as_bytes()[0] {
            b'0'..=b'9' | b'-' | b'+' | b'.' => match decimal(text) {
                Some(number) => Value::Number(number),
                None if quantity(text) => Value::String(text.to_owned()),
                None => by_serde_yaml(text)?,
            },
            _ => Value::String(text.to_owned()),
        },
    })
}

/// `0`, or a decimal integer without leading zeros that fits in 18 digits.
fn decimal(text: &str) -> Option<Number> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, text),
    };
    let plain = !digits.is_empty()
        && digits.len() <= 18
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !plain || (negative && digits == "0") {
        return None;
    }
    let magnitude: i64 = digits.parse().ok()?;
    Some(if negative {
        Number::from(-magnitude)
    } else {
        Number::from(magnitude.unsigned_abs())
    })
}

/// A number with a unit, as Kubernetes quantities and durations are written (`250m`, `64Mi`,
/// `1.5Gi`, `30s`): digits, an optional fraction, then letters. serde_yaml reads these as
/// strings: its integers take letters only after a `0x`/`0o`/`0b` prefix (excluded: no
/// letter right after a leading `0`), its floats only an exponent's `e` (excluded).
fn quantity(text: &str) -> bool {
    let bytes = text.as_bytes();
    let whole = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let mut at = whole;
    if bytes.get(at) == Some(&b'.') {
        let fraction = bytes[at + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if fraction == 0 {
            return false;
        }
        at += 1 + fraction;
    }
    let unit = &bytes[at..];
    whole > 0
        && !(bytes[0] == b'0' && at == 1)
        && !unit.is_empty()
        && unit
            .iter()
            .all(|&b| b.is_ascii_alphabetic() && b != b'e' && b != b'E')
}

/// Everything else that starts like a number (floats, other bases, signs, versions such as
/// `1.2.3`) is read by serde_yaml as a one-scalar document.
fn by_serde_yaml(text: &str) -> Option<Value> {
    let value = super::yaml::parse_one(text)?;
    (!value.is_array() && !value.is_object()).then_some(value)
}

/// After a quoted scalar or a flow collection: nothing, or a comment after a space.
fn tail_is_empty(tail: &str) -> bool {
    tail.is_empty() || (tail.starts_with(' ') && blank_or_comment(tail))
}

/// A double-quoted scalar that ends on this line, and what follows it.
fn double_quoted(text: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = text.char_indices().skip(1);
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return Some((out, &text[index + 1..])),
            '\\' => {
                let (_, escape) = chars.next()?;
                let hex_digits = match escape {
                    'x' => 2,
                    'u' => 4,
                    'U' => 8,
                    _ => 0,
                };
                if hex_digits > 0 {
                    let mut code = 0u32;
                    for _ in 0..hex_digits {
                        code = code * 16 + chars.next()?.1.to_digit(16)?;
                    }
                    out.push(char::from_u32(code)?);
                    continue;
                }
                out.push(match escape {
                    '0' => '\0',
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    't' => '\t',
                    'n' => '\n',
                    'v' => '\u{b}',
                    'f' => '\u{c}',
                    'r' => '\r',
                    'e' => '\u{1b}',
                    ' ' => ' ',
                    '"' => '"',
                    '/' => '/',
                    '\\' => '\\',
                    'N' => '\u{85}',
                    '_' => '\u{a0}',
                    'L' => '\u{2028}',
                    'P' => '\u{2029}',
                    _ => return None,
                });
            }
            c => out.push(c),
        }
    }
    None
}

/// A single-quoted scalar that ends on this line, and what follows it.
fn single_quoted(text: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut rest = &text[1..];
    loop {
        let quote = rest.find('\'')?;
        out.push_str(&rest[..quote]);
        rest = &rest[quote + 1..];
        match rest.strip_prefix('\'') {
            Some(after) => {
                out.push('\'');
                rest = after;
            }
            None => return Some((out, rest)),
        }
    }
}

/// A flow sequence or mapping that ends on this line, and what follows it. Inside, plain
/// scalars are limited to letters, digits and `_ . / - +`; anything else is left to serde_yaml.
fn flow(text: &str) -> Option<(Value, &str)> {
    let (close, is_map) = match text.as_bytes()[0] {
        b'[' => (b']', false),
        _ => (b'}', true),
    };
    let mut rest = text[1..].trim_start_matches(' ');
    let mut items = Vec::new();
    let mut map = Map::new();
    if rest.as_bytes().first() != Some(&close) {
        loop {
            if is_map {
                let (key, after) = flow_node(rest)?;
                let Value::String(key) = key else {
                    return None;
                };
                let after = after.trim_start_matches(' ').strip_prefix(':')?;
                if !after.starts_with(' ') {
                    return None;
                }
                let (value, after) = flow_node(after.trim_start_matches(' '))?;
                if map.insert(key, value).is_some() {
                    return None;
                }
                rest = after;
            } else {
                let (value, after) = flow_node(rest)?;
                items.push(value);
                rest = after;
            }
            rest = rest.trim_start_matches(' ');
            match rest.as_bytes().first() {
                Some(b',') => {
                    rest = rest[1..].trim_start_matches(' ');
                    if rest.as_bytes().first() == Some(&close) {
                        return None;
                    }
                }
                Some(&b) if b == close => break,
                _ => return None,
            }
        }
    }
    let tail = &rest[1..];
    Some((
        if is_map {
            Value::Object(map)
        } else {
            Value::Array(items)
        },
        tail,
    ))
}

fn flow_node(text: &str) -> Option<(Value, &str)> {
    match *text.as_bytes().first()? {
        b'"' => double_quoted(text).map(|(s, tail)| (Value::String(s), tail)),
        b'\'' => single_quoted(text).map(|(s, tail)| (Value::String(s), tail)),
        b'[' | b'{' => flow(text),
        _ => {
            let end = text
                .find(|c: char| {
                    !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-' | '+'))
                })
                .unwrap_or(text.len());
            let word = &text[..end];
            if word.is_empty() || word == "-" {
                return None;
            }
            Some((resolve(word)?, &text[end..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// serde_yaml's reading of `text`, the reference for every answer of [`documents`].
    fn reference(text: &str) -> Result<Vec<Value>, String> {
        super::super::yaml::parse_with_serde_yaml(text).map_err(|e| e.message)
    }

    fn same_as_serde_yaml(text: &str) {
        let ours = documents(text);
        assert!(ours.is_some(), "not read by the subset reader:\n{text}");
        assert_eq!(ours.map(Ok), Some(reference(text)), "{text}");
    }

    #[test]
    fn what_templates_write_is_read_here() {
        same_as_serde_yaml(
            "# a comment\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: \"web\"\n  labels:\n    app.kubernetes.io/name: 'it''s'\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n        - name: app # trailing\n          args: [\"serve\", x, 1, true]\n          env:\n          - name: A\n            value: \"0.0.0.0:8080\"\n          -   name: B\n              value:\n          ports: []\n          resources: {}\n---\n---\nkind: Secret\ndata: {\"a\": \"YQ==\", b: 1}\nscript: |\n  set -e\n\n  run # not a comment\nnote: |-\n    kept\n      indented\nlast: ~\n",
        );
        same_as_serde_yaml("- - a\n  - b\n- c: [[], {}]\n  d: -1\n  e: 0\n  f: 12345\n");
        same_as_serde_yaml("key:\n- a\n- b\nother: x:y\n\"q\\n\\u00e9\\t\": v\n");
    }

    #[test]
    fn the_built_in_templates_are_read_here() {
        for environment in ["development", "staging", "production"] {
            let config =
                crate::config::load_from(crate::config::Source::Embedded, environment).unwrap();
            let options = crate::render::RenderOptions::default();
            let (env, ctx, _) = super::super::prepare(&config, &options).unwrap();
            let mut read = 0;
            for template in config.templates.iter().filter(|t| t.is_manifest()) {
                let text = env
                    .get_template(&template.name)
                    .and_then(|t| t.render(&ctx))
                    .unwrap();
                same_as_serde_yaml(&text);
                read += 1;
            }
            assert!(read >= 5, "{environment}: {read} templates");
        }
    }

    #[test]
    fn quantities_are_strings_read_without_serde_yaml() {
        for word in ["250m", "64Mi", "1.5Gi", "30s", "1Ki", "10d"] {
            assert!(quantity(word), "{word}");
            assert_eq!(resolve(word), Some(Value::String(word.to_owned())));
        }
        // Left to serde_yaml: a base prefix, an exponent, no digits or no fraction digits.
        for word in [
            "0x1F", "0b1", "0o7", "0s", "1e3", "2E", "1.Gi", "Mi", ".5m", "-1m", "12h30m",
        ] {
            assert!(!quantity(word), "{word}");
        }
    }

    #[test]
    fn numbers_and_words_resolve_as_serde_yaml_resolves_them() {
        for word in [
            "1",
            "-1",
            "0",
            "-0",
            "007",
            "1.5",
            "-.5",
            ".inf",
            "0x1F",
            "0o17",
            "+3",
            "1e3",
            "1_000",
            "1.2.3",
            "99999999999999999999",
            "true",
            "False",
            "NULL",
            "~",
            "yes",
            "-x",
            "?x",
            ":x",
            "1:20",
            "2001-12-14",
            "+",
            ".",
            "é",
            "250m",
            "64Mi",
            "1.5Gi",
            "30s",
            "0s",
            "0b1",
            "2E",
            "1.Gi",
            "1inf",
            "12h30m",
        ] {
            let text = format!("a: {word}\n");
            assert_eq!(
                documents(&text).map(Ok),
                documents(&text).and(Some(reference(&text))),
                "{word}"
            );
        }
    }

    #[test]
    fn constructs_outside_the_subset_are_left_to_serde_yaml() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: >\n  folded\n",
            "a: |+\n  kept\n\n",
            "a: |2\n   x\n",
            "a: multi\n  line\n",
            "a: \"multi\n  line\"\n",
            "a:\tb\n",
            "? a\n: b\n",
            "a: 1\na: 2\n",
            "a: [1\n",
            "a: b: c\n",
            "plain scalar\n",
            "%YAML 1.2\n---\na: 1\n",
            "a: 1\n...\n",
            "a: [1, ]\n",
            "a:\n  b: 1\n c: 2\n",
        ] {
            assert_eq!(documents(text), None, "{text}");
        }
    }

    /// Pieces of lines: structure, scalars in every style, comments and the constructs the
    /// reader must leave alone.
    fn any_line() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let scalar = prop_oneof![
            Just("x"),
            Just("a b"),
            Just("1"),
            Just("-2"),
            Just("0"),
            Just("007"),
            Just("1.5"),
            Just("0x1F"),
            Just("250m"),
            Just("64Mi"),
            Just("1.5Gi"),
            Just("30s"),
            Just("0s"),
            Just("0b1"),
            Just("1e3"),
            Just("2E"),
            Just("1.e3"),
            Just("1.Gi"),
            Just("1inf"),
            Just("1.5.3m"),
            Just("12h30m"),
            Just("~"),
            Just("null"),
            Just("True"),
            Just("yes"),
            Just("-x"),
            Just("?x"),
            Just(":x"),
            Just("a:b"),
            Just("a: b"),
            Just("a:"),
            Just("a #c"),
            Just("a#c"),
            Just("\"q\""),
            Just("\"e\\n\\t\\u00e9\\/\\x41\""),
            Just("\"\\q\""),
            Just("'it''s'"),
            Just("''"),
            Just("\"\""),
            Just("[a, 1, \"b\"]"),
            Just("[]"),
            Just("{}"),
            Just("{a: 1, \"b\": [c]}"),
            Just("{\"a\":1}"),
            Just("[a, ]"),
            Just("[[x], {y: z}]"),
            Just("|"),
            Just("|-"),
            Just("|+"),
            Just(">"),
            Just("&a x"),
            Just("*a"),
            Just("!t x"),
            Just("\"open"),
            Just("'open"),
            Just("é"),
            Just("- x"),
            Just("-"),
            Just(""),
            Just("\"a\" # c"),
            Just("\"a\"x"),
            Just("[a] #c"),
        ];
        let key = prop_oneof![
            Just("a"),
            Just("b"),
            Just("k l"),
            Just("\"q\""),
            Just("'s'"),
            Just("1"),
            Just("true"),
            Just("~"),
            Just("-k"),
            Just("a.b/c"),
            Just("#k"),
            Just("a #k"),
        ];
        let indent = 0usize..7;
        prop_oneof![
            (indent.clone(), key.clone(), scalar.clone())
                .prop_map(|(i, k, v)| format!("{}{k}: {v}", " ".repeat(i))),
            (indent.clone(), key.clone()).prop_map(|(i, k)| format!("{}{k}:", " ".repeat(i))),
            (indent.clone(), scalar.clone()).prop_map(|(i, v)| format!("{}- {v}", " ".repeat(i))),
            (indent.clone(), key, scalar.clone())
                .prop_map(|(i, k, v)| format!("{}- {k}: {v}", " ".repeat(i))),
            (indent.clone(), scalar).prop_map(|(i, v)| format!("{}{v}", " ".repeat(i))),
            indent.clone().prop_map(|i| format!("{}-", " ".repeat(i))),
            indent.clone().prop_map(|i| format!("{}# c", " ".repeat(i))),
            indent.prop_map(|i| " ".repeat(i)),
            Just("---".to_owned()),
            Just("--- # c".to_owned()),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        /// Whatever the subset reader answers, serde_yaml answers the same.
        #[test]
        fn every_answer_is_serde_yamls(lines in proptest::collection::vec(any_line(), 1..9)) {
            let text = lines.join("\n") + "\n";
            if let Some(ours) = documents(&text) {
                proptest::prop_assert_eq!(Ok(ours), reference(&text), "{}", text);
            }
        }
    }
}
