//! Argo Rollouts canary facts: replica approximation of `setWeight` without traffic routing, and
//! a Rollout's steps.

use serde_json::Value;

use super::duration::{parse_argo, templated};
use crate::engine::Object;

/// `approximateWeightedCanaryStableReplicaCounts` (`utils/replicaset/canary.go`): the canary
/// and stable replica counts Argo picks for `weight` without traffic routing: the option
/// (ceil/floor of `replicas × weight / 100`, over `replicas` or, with surge, `replicas + 1`)
/// closest to the weight; ties pick the larger canary count; with a weight of 1–99 neither
/// side is 0 unless there is a single replica and no surge.
pub fn approximate(spec_replicas: i64, weight: i64, max_surge: i64) -> (i64, i64) {
    // Counts are int32 in the API; anything larger is not a real Rollout.
    if spec_replicas <= 0 || spec_replicas > i64::from(i32::MAX) || !(0..=100).contains(&weight) {
        return (0, 0);
    }
    let exact = (spec_replicas * weight) as f64 / 100.0;
    let ceil = exact.ceil() as i64;
    let floor = exact.floor() as i64;
    let tied = |total: i64| (total as f64 * (weight as f64 / 100.0)).fract() == 0.5;
    let zero_allowed = weight == 100 || weight == 0 || (spec_replicas == 1 && max_surge == 0);
    let mut options: Vec<(i64, i64)> = Vec::new();
    if ceil < spec_replicas || zero_allowed {
        options.push((ceil, spec_replicas));
    }
    if !tied(spec_replicas) && (floor != 0 || zero_allowed) {
        options.push((floor, spec_replicas));
    }
    if max_surge > 0 {
        options.push((ceil, spec_replicas + 1));
        if !tied(spec_replicas + 1) && (floor != 0 || zero_allowed) {
            options.push((floor, spec_replicas + 1));
        }
    }
    let delta = |(c, t): (i64, i64)| ((c * 100) as f64 / t as f64 - weight as f64).abs();
    let Some(&first) = options.first() else {
        return (0, spec_replicas);
    };
    let mut best = first;
    for &o in &options[1..] {
        if delta(o) < delta(best) {
            best = o;
        }
    }
    (best.0, best.1 - best.0)
}

/// An int-or-percent (`maxSurge: 25%`) scaled to `replicas` (`GetScaledValueFromIntOrPercent`,
/// rounding up for surge, down for unavailable).
pub fn scaled(v: Option<&Value>, replicas: i64, default_pct: i64, round_up: bool) -> Option<i64> {
    let pct = |p: i64| {
        let x = replicas as f64 * p as f64 / 100.0;
        Some(if round_up { x.ceil() } else { x.floor() } as i64)
    };
    match v {
        None | Some(Value::Null) => pct(default_pct),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => match s.strip_suffix('%') {
            Some(p) => pct(p.trim().parse().ok()?),
            None => s.trim().parse().ok(),
        },
        _ => None,
    }
}

/// One canary step as written.
#[derive(Debug, Clone)]
pub enum Step {
    SetWeight(Option<i64>),
    /// `None`: indefinite (`pause: {}`); `Some(None)`: a duration we cannot read (templated).
    Pause(Option<Option<f64>>),
    Analysis(Vec<String>),
    Experiment(Option<f64>),
    SetCanaryScale,
    Other(String),
}

pub fn steps(o: &Object) -> Vec<(String, Step)> {
    let Some(arr) = o
        .at("/spec/strategy/canary/steps")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    arr.iter()
        .enumerate()
        .map(|(i, s)| {
            let p = format!("/spec/strategy/canary/steps/{i}");
            let step = if let Some(w) = s.get("setWeight") {
                Step::SetWeight(w.as_i64())
            } else if let Some(pause) = s.get("pause") {
                match pause.get("duration") {
                    None | Some(Value::Null) => Step::Pause(None),
                    Some(d) if templated(d) => Step::Pause(Some(None)),
                    Some(d) => Step::Pause(Some(parse_argo(d))),
                }
            } else if let Some(a) = s.get("analysis") {
                Step::Analysis(template_names(a))
            } else if let Some(e) = s.get("experiment") {
                Step::Experiment(e.get("duration").and_then(parse_argo))
            } else if s.get("setCanaryScale").is_some() {
                Step::SetCanaryScale
            } else {
                let k = s
                    .as_object()
                    .and_then(|m| m.keys().next().cloned())
                    .unwrap_or_default();
                Step::Other(k)
            };
            (p, step)
        })
        .collect()
}

pub fn template_names(a: &Value) -> Vec<String> {
    a.get("templates")
        .and_then(Value::as_array)
        .map(|ts| {
            ts.iter()
                .filter_map(|t| t.get("templateName").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of `CalculateReplicaCountsForBasicCanary`'s doc comment and test table.
    #[test]
    fn argo_rounding() {
        assert_eq!(approximate(1, 5, 1), (1, 1));
        assert_eq!(approximate(1, 95, 1), (1, 1));
        assert_eq!(approximate(1, 50, 0), (1, 0));
        assert_eq!(approximate(10, 10, 1), (1, 9));
        assert_eq!(approximate(3, 50, 0), (2, 1));
        assert_eq!(approximate(10, 25, 3), (3, 8));
        assert_eq!(approximate(4, 20, 1), (1, 4));
        assert_eq!(approximate(5, 100, 2), (5, 0));
        assert_eq!(approximate(5, 0, 2), (0, 5));
    }
}
