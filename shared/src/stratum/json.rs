//! Writing JSON by hand (DESIGN.md: server lines are assembled from pieces, not serialized per
//! session), and the few borrowed JSON shapes the request parser reads.
//!
//! Invariant of the writers: nothing they append contains a raw `\n` or `\r`, so a line is
//! always exactly one line.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Appends `text` as a JSON string literal (quotes included), escaping `"`, `\` and every control
/// character.
pub(crate) fn push_string(out: &mut Vec<u8>, text: &str) {
    out.reserve(text.len().saturating_add(2));
    out.push(b'"');
    for &b in text.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x00..=0x1f | 0x7f => {
                out.extend_from_slice(b"\\u00");
                super::hex::push_hex(out, &[b]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// Appends `value` in decimal.
pub(crate) fn push_decimal(out: &mut Vec<u8>, value: u64) {
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{value}");
}

/// Appends raw JSON received from a peer (a request id). Raw JSON can only hold `\r` and `\n` as
/// whitespace between tokens (inside strings they must be escaped), so dropping them keeps the
/// value and the one-line invariant.
pub(crate) fn push_raw(out: &mut Vec<u8>, raw: &str) {
    out.extend(raw.bytes().filter(|&b| b != b'\n' && b != b'\r'));
}

/// One JSON value, as far as a stratum parameter cares: strings are borrowed from the line when
/// they hold no escape; arrays and objects are skipped (iteratively, by serde_json) and only named.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    Number(f64),
    Str(Cow<'a, str>),
    Array,
    Object,
    /// Valid JSON syntax that serde_json cannot decode (a lone UTF-16 surrogate escape).
    Unreadable,
}

impl Scalar<'_> {
    /// The JSON type's name, for error messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Scalar::Null => "null",
            Scalar::Bool(_) => "a boolean",
            Scalar::Number(_) => "a number",
            Scalar::Str(_) => "a string",
            Scalar::Array => "an array",
            Scalar::Object => "an object",
            Scalar::Unreadable => "an undecodable value",
        }
    }
}

impl<'a> Scalar<'a> {
    /// Reads one parameter from its raw JSON, which serde_json has already checked for syntax,
    /// UTF-8 and control characters. Without a backslash a string is its text between the quotes
    /// (borrowed, no second parse); with one, serde_json unescapes it. Numbers parse as f64, so a
    /// number beyond it (`1e400`) reads as infinite and is reported like any other out-of-range
    /// number.
    pub(crate) fn of(raw: &'a RawValue) -> Scalar<'a> {
        let text = raw.get();
        match text.as_bytes().first() {
            Some(b'"') => match text.get(1..text.len().saturating_sub(1)) {
                Some(inner) if !inner.contains('\\') => Scalar::Str(Cow::Borrowed(inner)),
                _ => match serde_json::from_str::<Scalar<'a>>(text) {
                    Ok(scalar) => scalar,
                    // A lone UTF-16 surrogate escape passes the syntax check, not decoding.
                    Err(_) => Scalar::Unreadable,
                },
            },
            Some(b'[') => Scalar::Array,
            Some(b'{') => Scalar::Object,
            Some(b'n') => Scalar::Null,
            Some(b't') => Scalar::Bool(true),
            Some(b'f') => Scalar::Bool(false),
            _ => text
                .parse::<f64>()
                .map_or(Scalar::Unreadable, Scalar::Number),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any json value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }

    // Integers beyond 2^53 lose precision as f64: no stratum number needs them.
    #[allow(clippy::cast_precision_loss)]
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(v as f64))
    }

    #[allow(clippy::cast_precision_loss)]
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(v as f64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(v))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Object)
    }
}

/// An object key, borrowed when it holds no escape.
pub(crate) struct Key<'a>(pub(crate) Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_that_could_break_a_line_or_a_string() {
        let mut out = Vec::new();
        push_string(&mut out, "a\"b\\c\nd\re\tf\u{1}g\u{7f}é");
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#""a\"b\\c\nd\re\tf\u0001g\u007fé""#
        );
        // What we write is JSON that reads back as the same text.
        let back: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, "a\"b\\c\nd\re\tf\u{1}g\u{7f}é");
    }

    #[test]
    fn raw_values_lose_only_line_breaks_between_tokens() {
        let raw: &RawValue = serde_json::from_str("[1,\r\n 2]").unwrap();
        let mut out = Vec::new();
        push_raw(&mut out, raw.get());
        assert_eq!(out, b"[1, 2]");
    }

    #[test]
    fn scalars_borrow_plain_strings_and_name_other_types() {
        let raw: &RawValue = serde_json::from_str(r#""abc""#).unwrap();
        assert!(matches!(Scalar::of(raw), Scalar::Str(Cow::Borrowed("abc"))));
        let raw: &RawValue = serde_json::from_str(r#""a\u0062c""#).unwrap();
        assert!(matches!(Scalar::of(raw), Scalar::Str(Cow::Owned(s)) if s == "abc"));
        for (text, name) in [
            ("null", "null"),
            ("true", "a boolean"),
            ("-3", "a number"),
            ("[1,[2]]", "an array"),
            (r#"{"a":{"b":1}}"#, "an object"),
        ] {
            let raw: &RawValue = serde_json::from_str(text).unwrap();
            assert_eq!(Scalar::of(raw).type_name(), name, "{text}");
        }
        let raw: &RawValue = serde_json::from_str("1e400").unwrap();
        assert!(matches!(Scalar::of(raw), Scalar::Number(n) if n.is_infinite()));
        let raw: &RawValue = serde_json::from_str("-1e400").unwrap();
        assert!(matches!(Scalar::of(raw), Scalar::Number(n) if n.is_infinite()));
        // Raw values are only checked for syntax; a lone surrogate fails to decode later.
        let raw: &RawValue = serde_json::from_str(r#""\ud800""#).unwrap();
        assert_eq!(Scalar::of(raw), Scalar::Unreadable);
        // Deep nesting is skipped iteratively, not recursed into.
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        let raw: &RawValue = serde_json::from_str(&deep).unwrap();
        assert_eq!(Scalar::of(raw), Scalar::Array);
    }
}
