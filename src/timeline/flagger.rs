//! Flagger Canary analysis facts (`pkg/apis/flagger/v1beta1/canary.go`,
//! `pkg/controller/scheduler.go`).

use serde_json::Value;

use super::duration::parse_go;
use crate::engine::Object;

/// `spec.analysis`, else the deprecated `spec.canaryAnalysis` (`Canary.GetAnalysis`).
pub fn analysis(c: &Object) -> Option<(&'static str, &Value)> {
    if let Some(a) = c.at("/spec/analysis").filter(|v| v.is_object()) {
        return Some(("/spec/analysis", a));
    }
    c.at("/spec/canaryAnalysis")
        .filter(|v| v.is_object())
        .map(|a| ("/spec/canaryAnalysis", a))
}

/// `GetAnalysisInterval`: 60s when unset or unparsable, at least 10s.
pub fn interval(a: &Value) -> f64 {
    match a.get("interval").and_then(Value::as_str).and_then(parse_go) {
        Some(d) if d < 10.0 => 10.0,
        Some(d) => d,
        None => 60.0,
    }
}

/// `GetAnalysisThreshold`: the number of failed checks before rollback (default 1).
pub fn threshold(a: &Value) -> i64 {
    match a.get("threshold").and_then(Value::as_i64) {
        Some(t) if t > 0 => t,
        _ => 1,
    }
}

pub fn int(a: &Value, key: &str) -> Option<i64> {
    a.get(key).and_then(Value::as_i64)
}

pub fn step_weights(a: &Value) -> Vec<i64> {
    a.get("stepWeights")
        .and_then(Value::as_array)
        .map(|v| v.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

/// The canary weights Flagger sets, in order, and the weight at which it promotes
/// (`scheduler.go` `nextStepWeight`, `maxWeight`: the last `stepWeights` entry, else
/// `maxWeight`, default 100). `None` when the weights never reach the promotion weight.
pub fn weights(a: &Value) -> Option<(Vec<i64>, i64)> {
    let sw = step_weights(a);
    if !sw.is_empty() {
        let max = *sw.last()?;
        let mut out = Vec::new();
        let mut w = 0;
        for _ in 0..=sw.len() {
            if w >= max {
                return Some((out, max));
            }
            let next = sw.iter().copied().find(|x| *x > w)?;
            w = next;
            out.push(w);
        }
        return if w >= max { Some((out, max)) } else { None };
    }
    let max = int(a, "maxWeight").filter(|m| *m > 0).unwrap_or(100);
    let step = int(a, "stepWeight")?;
    if step <= 0 || max > 100 {
        return None;
    }
    let mut out = Vec::new();
    let mut w = 0;
    while w < max && out.len() < 1000 {
        w = (w + step).min(max);
        out.push(w);
    }
    Some((out, max))
}
