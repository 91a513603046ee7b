//! flagger-weights-stall: Canary weights that never reach promotion.
//!
//! `pkg/controller/scheduler.go`: the promotion weight is the last `stepWeights` entry, else
//! `maxWeight` (default 100); each interval the canary weight moves to the next `stepWeights`
//! entry above it (`nextStepWeight`), else up by `stepWeight`, and the canary is promoted once
//! the weight reaches the promotion weight. The router sets primary = 100 − canary, so a
//! weight above 100 cannot be applied; `maxWeight` is not used when `stepWeights` is set.

use serde_json::Value;

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::timeline::flagger::analysis;

pub struct FlaggerWeightsStall;

static META: RuleMeta = RuleMeta {
    id: "flagger-weights-stall",
    severity: Severity::Error,
    kinds: &[("flagger.app", "Canary")],
    doc: include_str!("../../rules/flagger-weights-stall.md"),
    options: &[],
    builtin: false,
};

impl Rule for FlaggerWeightsStall {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        let Some((base, a)) = analysis(object) else {
            return;
        };
        // A/B testing and blue/green (`iterations`) do not shift weights.
        if a.get("iterations")
            .and_then(Value::as_i64)
            .is_some_and(|n| n > 0)
        {
            return;
        }
        let max = a.get("maxWeight").and_then(Value::as_i64);
        let step = a.get("stepWeight").and_then(Value::as_i64);
        let steps: Option<Vec<i64>> = a
            .get("stepWeights")
            .and_then(Value::as_array)
            .filter(|v| !v.is_empty())
            .map(|v| v.iter().filter_map(Value::as_i64).collect());
        if let Some(sw) = &steps {
            for (i, w) in sw.iter().enumerate() {
                if *w > 100 || *w <= 0 {
                    out.push(finding(
                        &META,
                        object,
                        format!("{base}/stepWeights/{i}"),
                        format!(
                            "stepWeights[{i}] is {w}: a canary weight must be 1–100 (the primary gets 100 − weight), so the canary never reaches this step and is never promoted"
                        ),
                    ));
                    return;
                }
            }
            if let Some(i) = (1..sw.len()).find(|&i| sw[i] <= sw[i - 1]) {
                out.push(
                    finding(
                        &META,
                        object,
                        format!("{base}/stepWeights/{i}"),
                        format!(
                            "stepWeights are not increasing ({} then {}): Flagger moves to the next entry above the current weight and promotes at the last entry ({}), so the steps do not run as written",
                            sw[i - 1],
                            sw[i],
                            sw[sw.len() - 1]
                        ),
                    )
                    .with_help("list the weights in increasing order, e.g. [5, 10, 20, 50]"),
                );
            }
            if let Some(m) = max {
                let mut f = finding(
                    &META,
                    object,
                    format!("{base}/maxWeight"),
                    format!(
                        "maxWeight {m} is ignored because stepWeights is set: the canary is promoted after the last step weight, {}",
                        sw[sw.len() - 1]
                    ),
                );
                f.severity = Severity::Warning;
                out.push(f.with_help("remove maxWeight, or make it the last stepWeights entry"));
            }
            return;
        }
        if let Some(m) = max {
            if m > 100 {
                out.push(finding(
                    &META,
                    object,
                    format!("{base}/maxWeight"),
                    format!(
                        "maxWeight {m} is above 100: the canary weight can never reach it (the primary gets 100 − weight), so the canary is never promoted"
                    ),
                ).with_help("use maxWeight: 100 or less (e.g. 50)"));
                return;
            }
        }
        let max = max.filter(|m| *m > 0).unwrap_or(100);
        match step {
            Some(s) if s <= 0 => out.push(finding(
                &META,
                object,
                format!("{base}/stepWeight"),
                format!("stepWeight {s} never moves traffic: the canary weight stays at 0 and the canary is never promoted"),
            )),
            Some(s) if s > max => {
                let mut f = finding(
                    &META,
                    object,
                    format!("{base}/stepWeight"),
                    format!(
                        "stepWeight {s} is larger than maxWeight {max}: the first step already reaches the promotion weight, so the canary is promoted after a single check"
                    ),
                );
                f.severity = Severity::Warning;
                out.push(f.with_help("use a stepWeight smaller than maxWeight, e.g. maxWeight / 5"));
            }
            _ => {}
        }
    }
}
