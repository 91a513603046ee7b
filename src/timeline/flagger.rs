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

/// How a Canary's weights progress, simulated with `pkg/controller/scheduler.go`:
/// `maxWeight` (the last `stepWeights` entry capped at 100, else `analysis.maxWeight`, else
/// 100), `nextStepWeight` (with `stepWeights`: the first entry from 0, then the difference to
/// the entry after the current weight, at most 100 − weight), and `runCanary` (advance while
/// the weight is below maxWeight, capped at 100; else promote). `advanceCanary` only calls
/// `runCanary` while `nextStepWeight > 0`.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// The weights set, in order, then promotion.
    Promotes(Vec<i64>),
    /// The weights set, then the weight at which nothing changes any more (never promoted).
    Stalls(Vec<i64>, i64),
}

pub fn progress(a: &Value) -> Progress {
    let sw = step_weights(a);
    let step = int(a, "stepWeight").unwrap_or(0);
    let max = match sw.last() {
        Some(last) => (*last).min(100),
        None => int(a, "maxWeight").filter(|m| *m > 0).unwrap_or(100),
    };
    let next = |w: i64| -> i64 {
        if step > 0 || sw.is_empty() {
            return step;
        }
        let max_step = 100 - w;
        if max_step == 0 {
            return 1;
        }
        if w == 0 {
            return max_step.min(sw[0]);
        }
        for i in 0..sw.len().saturating_sub(1) {
            if sw[i] == w {
                return max_step.min(sw[i + 1].saturating_sub(w));
            }
        }
        max_step
    };
    let mut w = 0;
    let mut out = Vec::new();
    for _ in 0..1000 {
        if next(w) <= 0 {
            return Progress::Stalls(out, w);
        }
        if w >= max {
            return Progress::Promotes(out);
        }
        let nw = w.saturating_add(next(w)).min(100);
        if nw == w {
            return Progress::Stalls(out, w);
        }
        w = nw;
        out.push(w);
    }
    Progress::Stalls(out, w)
}

/// The weights when the canary is promoted, `None` when it stalls.
pub fn weights(a: &Value) -> Option<(Vec<i64>, i64)> {
    match progress(a) {
        Progress::Promotes(ws) => {
            let last = ws.last().copied().unwrap_or(0);
            Some((ws, last))
        }
        Progress::Stalls(..) => None,
    }
}

/// How long a Canary's analysis takes, in seconds, as `rollgate explain-rollout` reports it
/// (`super::flagger_timeline`): one check per `interval`; weight 0 (pre-rollout hooks) first, then
/// one check per weight step or iteration, then promotion and finalisation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Times {
    /// `analysis.interval` (at least 10s).
    pub interval: f64,
    /// `analysis.threshold`.
    pub threshold: i64,
    /// Weight steps or iterations before promotion (`None` when the weights stall).
    pub steps: Option<f64>,
    /// From detection to the rollback of a canary failing every check.
    pub rollback: f64,
    /// From detection to full promotion when every check passes (`None`: never promoted).
    pub promotion: Option<f64>,
    /// How long the canary has received traffic when the last check before promotion runs.
    pub traffic_before_promotion: Option<f64>,
}

/// [`Times`] of an analysis. Plain `f64` arithmetic: huge thresholds and intervals give huge
/// (or infinite) times, never an overflow.
pub fn times(a: &Value) -> Times {
    let iv = interval(a);
    let th = threshold(a);
    let steps = match int(a, "iterations").filter(|i| *i > 0) {
        Some(n) => Some(n as f64),
        None => weights(a).map(|(ws, _)| ws.len() as f64),
    };
    Times {
        interval: iv,
        threshold: th,
        steps,
        rollback: (th as f64 + 2.0) * iv,
        promotion: steps.map(|n| (n + 1.0) * iv + 2.0 * iv),
        traffic_before_promotion: steps.map(|n| n * iv),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scheduler_progression() {
        let p = |v: Value| progress(&v);
        assert_eq!(
            p(json!({"stepWeight": 10, "maxWeight": 50})),
            Progress::Promotes(vec![10, 20, 30, 40, 50])
        );
        assert_eq!(
            p(json!({"stepWeight": 20})),
            Progress::Promotes(vec![20, 40, 60, 80, 100])
        );
        // maxWeight above 100: the weight is capped at 100 and never reaches it.
        assert_eq!(
            p(json!({"stepWeight": 50, "maxWeight": 150})),
            Progress::Stalls(vec![50, 100], 100)
        );
        // A decrease: the next step is negative, so runCanary is never called again.
        assert_eq!(
            p(json!({"stepWeights": [10, 40, 20]})),
            Progress::Stalls(vec![10, 40], 40)
        );
        assert_eq!(
            p(json!({"stepWeights": [10, 10, 20]})),
            Progress::Stalls(vec![10], 10)
        );
        // Entries above 100 are capped.
        assert_eq!(
            p(json!({"stepWeights": [50, 150]})),
            Progress::Promotes(vec![50, 100])
        );
        assert_eq!(p(json!({"stepWeight": 0})), Progress::Stalls(vec![], 0));
        // Absurd input does not overflow.
        assert_eq!(
            p(json!({"stepWeight": i64::MAX, "maxWeight": i64::MAX})),
            Progress::Stalls(vec![100], 100)
        );
        // A last entry <= 0 is the promotion weight: promoted before any traffic moves.
        assert_eq!(
            p(json!({"stepWeights": [10, i64::MIN]})),
            Progress::Promotes(vec![])
        );
        assert_eq!(
            p(json!({"stepWeights": [5, 10, 20, 50], "maxWeight": 10})),
            Progress::Promotes(vec![5, 10, 20, 50])
        );
    }
}
