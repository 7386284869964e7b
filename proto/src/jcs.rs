//! RFC 8785 JSON Canonicalization Scheme (JCS) of a [`serde_json::Value`], written in one pass.
//!
//! Every statement hash, canonical envelope and entry goes through here. The general-purpose
//! `serde_json_canonicalizer` buffers each object member separately and parses every key back
//! to sort it; on the append path that cost more than parsing the statement. This writer
//! walks the value once: members in the order of UTF-16 code units (RFC 8785 §3.2.3), strings
//! escaped as ECMAScript's `JSON.stringify` does (§3.2.2.2), integers up to 2^53 in decimal.
//! Any other number (a fraction, an exponent, an integer past 2^53) is rendered by
//! `serde_json_canonicalizer` (ECMAScript's number-to-string), so the output is the same byte
//! for byte — a property test checks that on arbitrary values.

use serde::Serialize;
use serde_json::{Map, Number, Value};

use crate::predicate::MAX_SAFE_INTEGER;

/// The JCS bytes of `v`.
#[must_use]
pub fn to_vec(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    write_value(&mut out, v);
    out
}

/// The JCS bytes of a serializable value with string keys (a typed statement or receipt).
/// Empty when it does not serialize to JSON (a map with non-string keys), as with
/// `serde_json_canonicalizer`.
#[must_use]
pub fn to_vec_of<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_value(v)
        .map(|v| to_vec(&v))
        .unwrap_or_default()
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(a) => {
            out.push(b'[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(m) => write_object(out, m),
    }
}

fn write_object(out: &mut Vec<u8>, m: &Map<String, Value>) {
    out.push(b'{');
    // Without serde_json's `preserve_order` feature the map iterates in code-point order,
    // which is UTF-16 order unless a key holds a character outside the Basic Multilingual
    // Plane (4 bytes in UTF-8, a surrogate pair in UTF-16, which sorts before
    // U+E000..U+FFFF). The order is checked rather than assumed, so that a dependency
    // enabling `preserve_order` cannot change what is signed.
    let code_point_order = m.keys().is_sorted();
    if !code_point_order || m.keys().any(|k| k.bytes().any(|b| b >= 0xF0)) {
        let mut members: Vec<(&String, &Value)> = m.iter().collect();
        members.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
        write_members(out, members.into_iter());
    } else {
        write_members(out, m.iter());
    }
    out.push(b'}');
}

fn write_members<'v>(out: &mut Vec<u8>, members: impl Iterator<Item = (&'v String, &'v Value)>) {
    for (i, (k, v)) in members.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, k);
        out.push(b':');
        write_value(out, v);
    }
}

fn write_number(out: &mut Vec<u8>, n: &Number) {
    // Integers a double holds exactly print as their decimal digits in ECMAScript.
    if let Some(u) = n.as_u64().filter(|u| *u <= MAX_SAFE_INTEGER) {
        out.extend_from_slice(itoa::Buffer::new().format(u).as_bytes());
    } else if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= MAX_SAFE_INTEGER) {
        out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
    } else {
        // A finite number (a `Value` holds no other): ECMAScript's rendering.
        out.extend_from_slice(
            &serde_json_canonicalizer::to_vec(&Value::Number(n.clone())).unwrap_or_default(),
        );
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn reference(v: &Value) -> Vec<u8> {
        serde_json_canonicalizer::to_vec(v).unwrap()
    }

    #[test]
    fn rfc_8785_examples() {
        // RFC 8785 §3.2.2 (numbers), §3.2.3 (sorting by UTF-16 code units).
        let v: Value = serde_json::from_str(
            r#"{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],
                "string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
                "literals":[null,true,false]}"#,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(to_vec(&v)).unwrap(),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
        let sorted = json!({"\u{20ac}": 1, "\r": 2, "\u{fb33}": 3, "1": 4, "\u{1f600}": 5,
            "\u{0080}": 6, "\u{00f6}": 7});
        assert_eq!(
            String::from_utf8(to_vec(&sorted)).unwrap(),
            "{\"\\r\":2,\"1\":4,\"\u{0080}\":6,\"\u{00f6}\":7,\"\u{20ac}\":1,\"\u{1f600}\":5,\"\u{fb33}\":3}"
        );
        assert_eq!(to_vec(&sorted), reference(&sorted));
    }

    #[test]
    fn integers_at_and_past_2_53() {
        for v in [
            json!(9_007_199_254_740_991_u64),
            json!(9_007_199_254_740_993_u64),
            json!(-9_007_199_254_740_991_i64),
            json!(-9_007_199_254_740_993_i64),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(0),
            json!(-0.0),
            json!(1.0),
            json!(1e21),
        ] {
            assert_eq!(to_vec(&v), reference(&v), "{v}");
        }
    }

    fn any_string() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z_]{0,8}",
            any::<String>(),
            // Controls, quotes, backslashes, and characters on both sides of the surrogates.
            proptest::collection::vec(
                prop_oneof![
                    (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap_or('a')),
                    Just('"'),
                    Just('\\'),
                    Just('/'),
                    Just('\u{7f}'),
                    Just('\u{e000}'),
                    Just('\u{ffff}'),
                    Just('\u{10000}'),
                    Just('\u{1f600}'),
                    any::<char>(),
                ],
                0..6
            )
            .prop_map(|cs| cs.into_iter().collect()),
        ]
    }

    fn any_number() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (0u64..=MAX_SAFE_INTEGER + 10).prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
        ]
    }

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any_number(),
            any_string().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                proptest::collection::btree_map(any_string(), inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]
        /// The one-pass writer renders every value exactly as the reference implementation.
        #[test]
        fn equals_the_reference_canonicalizer(v in any_value()) {
            prop_assert_eq!(to_vec(&v), reference(&v));
        }
    }

    #[test]
    fn statements_and_envelopes_render_as_before() {
        let st = crate::predicate::template();
        assert_eq!(to_vec(&st), reference(&st));
        let typed = crate::predicate::statement_from_value(st).unwrap();
        assert_eq!(
            to_vec_of(&typed),
            serde_json_canonicalizer::to_vec(&typed).unwrap()
        );
    }
}
