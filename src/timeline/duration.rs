//! Durations as the controllers parse them.

use serde_json::Value;

/// Go's `time.ParseDuration` (`1.5s`, `500ms`, `1m30s`, `-2h`, `0`), in seconds. `None` when Go
/// would reject it.
pub fn parse_go(s: &str) -> Option<f64> {
    let s = s.trim();
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0.0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 {
            return None;
        }
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[u..];
        total += num * scale;
    }
    Some(if neg { -total } else { total })
}

/// Argo's `DurationString`: a Go duration, or an integer number of seconds.
pub fn parse_argo(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.trim().parse::<i64>() {
            Ok(i) => Some(i as f64),
            Err(_) => parse_go(s),
        },
        _ => None,
    }
}

/// Whether a string is an unrendered Argo template (`{{args.n}}`): accepted by the controller
/// once substituted, unknown to us.
pub fn templated(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.contains("{{"))
}

/// `90s` → `1m30s`, `0.5` → `500ms`.
pub fn format(secs: f64) -> String {
    if !secs.is_finite() {
        return "∞".into();
    }
    if secs == 0.0 {
        return "0s".into();
    }
    if secs.abs() < 1.0 {
        let ms = secs * 1000.0;
        return format!("{}ms", trim(ms));
    }
    let mut out = String::new();
    let mut rest = secs;
    let h = (rest / 3600.0).floor();
    if h >= 1.0 {
        out.push_str(&format!("{h}h"));
        rest -= h * 3600.0;
    }
    let m = (rest / 60.0).floor();
    if m >= 1.0 {
        out.push_str(&format!("{m}m"));
        rest -= m * 60.0;
    }
    if rest > 1e-9 {
        out.push_str(&format!("{}s", trim(rest)));
    }
    out
}

fn trim(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go("1.5s"), Some(1.5));
        assert_eq!(parse_go("500ms"), Some(0.5));
        assert_eq!(parse_go("1m30s"), Some(90.0));
        assert_eq!(parse_go("0"), Some(0.0));
        assert_eq!(parse_go("10"), None);
        assert_eq!(parse_go("1d"), None);
        assert_eq!(parse_go(""), None);
        assert_eq!(parse_argo(&Value::from(10)), Some(10.0));
        assert_eq!(parse_argo(&Value::from("10")), Some(10.0));
        assert_eq!(parse_argo(&Value::from("1h")), Some(3600.0));
        assert_eq!(format(90.0), "1m30s");
        assert_eq!(format(0.25), "250ms");
        assert_eq!(format(3600.0), "1h");
    }
}
