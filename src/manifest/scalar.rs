//! How a plain YAML scalar becomes a JSON value.
//!
//! Kubernetes reads YAML through `sigs.k8s.io/yaml`, which uses go-yaml v2 (YAML 1.1 resolution):
//! `yes`/`on`/`y` are booleans, `0755` is octal, `~` is null. The linter must see the value the
//! apiserver will see, so plain scalars are resolved the same way (go-yaml v2 `resolve.go`).
//! Quoted and block scalars are always strings. Values JSON cannot hold (`.inf`, `.nan`, floats
//! that overflow) stay strings: rules reading a number then report a type error at that node.

use serde_json::{Number, Value};

pub fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Value::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Value::Bool(false);
        }
        _ => {}
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return Value::String(s.to_owned());
    }
    if let Some(n) = parse_int(s) {
        return Value::Number(n);
    }
    if is_float_syntax(s) {
        if let Ok(f) = s.replace('_', "").parse::<f64>() {
            if let Some(n) = Number::from_f64(f) {
                if f.is_finite() {
                    return Value::Number(n);
                }
            }
        }
    }
    Value::String(s.to_owned())
}

/// Go's `strconv.ParseInt(s, 0, 64)` after removing `_`, then `ParseUint`: decimal, `0x`, `0b`,
/// `0o` and a leading `0` for octal.
fn parse_int(s: &str) -> Option<Number> {
    let cleaned: String = s.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match cleaned.as_bytes().first()? {
        b'-' => (true, &cleaned[1..]),
        b'+' => (false, &cleaned[1..]),
        _ => (false, &cleaned[..]),
    };
    if body.is_empty() {
        return None;
    }
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (2, d)
    } else if let Some(d) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (8, d)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        if magnitude <= i64::MAX as u64 + 1 {
            Some(Number::from((magnitude as i128).wrapping_neg() as i64))
        } else {
            None
        }
    } else {
        Some(Number::from(magnitude))
    }
}

/// go-yaml v2's float pattern: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$` (with `_`).
fn is_float_syntax(s: &str) -> bool {
    let b: Vec<u8> = s.bytes().filter(|&c| c != b'_').collect();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if int_digits == 0 && i == frac_start {
            return false;
        }
    } else if int_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_1_1_resolution_like_go_yaml_v2() {
        assert_eq!(resolve_plain("yes"), json!(true));
        assert_eq!(resolve_plain("off"), json!(false));
        assert_eq!(resolve_plain("~"), json!(null));
        assert_eq!(resolve_plain("0755"), json!(493));
        assert_eq!(resolve_plain("0x1F"), json!(31));
        assert_eq!(resolve_plain("-12"), json!(-12));
        assert_eq!(resolve_plain("1_000"), json!(1000));
        assert_eq!(resolve_plain("95.5"), json!(95.5));
        assert_eq!(resolve_plain("1e3"), json!(1000.0));
        assert_eq!(resolve_plain(".5"), json!(0.5));
        assert_eq!(resolve_plain("1e309"), json!("1e309"));
        assert_eq!(resolve_plain(".inf"), json!(".inf"));
        assert_eq!(resolve_plain("99999999999999999999"), json!(1e20));
        assert_eq!(resolve_plain("v1"), json!("v1"));
        assert_eq!(resolve_plain("1.2.3"), json!("1.2.3"));
        assert_eq!(resolve_plain("-"), json!("-"));
        assert_eq!(resolve_plain("-9223372036854775808"), json!(i64::MIN));
    }
}
