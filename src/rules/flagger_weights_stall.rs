//! flagger-weights-stall: Canary weights that never reach promotion.
//!
//! `pkg/controller/scheduler.go`: the promotion weight (`maxWeight`) is the last `stepWeights`
//! entry capped at 100, else `analysis.maxWeight`, else 100. Each interval `advanceCanary`
//! calls `runCanary` only while `nextStepWeight > 0`; `runCanary` raises the weight (capped
//! at 100) while it is below maxWeight, else promotes. With `stepWeights`, `nextStepWeight`
//! is the difference to the entry after the current weight, so an entry that is not larger
//! than the previous one makes it ≤ 0 and the canary stays at that weight forever; a
//! `maxWeight` above 100 is never reached because the weight is capped at 100.

use serde_json::Value;

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::timeline::flagger::{Progress, analysis, progress};

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
        let raw_steps = a.get("stepWeights").and_then(Value::as_array);
        let steps: Vec<i64> = raw_steps
            .map(|v| v.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        // A weight that is not an integer (Flagger's `[]int`): the Canary does not decode at all,
        // which the schema rule reports; positions of the others would be off by the gaps.
        if raw_steps.is_some_and(|v| v.len() != steps.len()) {
            return;
        }
        // Nothing that moves weights: not a weight-based analysis (or the schema's business).
        if step.is_none() && steps.is_empty() {
            return;
        }
        let uses_steps = !steps.is_empty() && step.is_none_or(|s| s <= 0);
        if let Progress::Stalls(ws, at) = progress(a) {
            let path = |w: &[i64]| {
                if w.is_empty() {
                    "0".to_owned()
                } else {
                    w.iter().map(i64::to_string).collect::<Vec<_>>().join(" → ")
                }
            };
            let (ptr, why) = if uses_steps {
                let i = (0..steps.len())
                    .find(|&i| {
                        (i == 0 && steps[0] <= 0)
                            || (i > 0 && steps[i] <= steps[i - 1] && steps[i - 1] == at)
                    })
                    .unwrap_or(0);
                (
                    format!("{base}/stepWeights/{i}"),
                    if i == 0 {
                        format!(
                            "stepWeights[0] is {}: the first step moves no traffic",
                            steps[0]
                        )
                    } else {
                        format!(
                            "stepWeights are not increasing ({} then {}): at {at}% the next step is {} − {at} ≤ 0",
                            steps[i - 1],
                            steps[i],
                            steps[i]
                        )
                    },
                )
            } else if step.is_some_and(|s| s <= 0) {
                (
                    format!("{base}/stepWeight"),
                    format!("stepWeight {} moves no traffic", step.unwrap_or(0)),
                )
            } else {
                (
                    format!("{base}/maxWeight"),
                    format!(
                        "maxWeight {} is above 100: the canary weight is capped at 100 and never reaches it, so the canary takes all the traffic",
                        max.unwrap_or(0)
                    ),
                )
            };
            out.push(
                finding(
                    &META,
                    object,
                    ptr,
                    format!(
                        "{why}; the weight goes {} and then never changes, so the canary is never promoted",
                        path(&ws)
                    ),
                )
                .with_help("use increasing weights that end at 100 or less, e.g. stepWeights [5, 10, 20, 50] or maxWeight 50 with stepWeight 10"),
            );
            return;
        }
        if progress(a) == Progress::Promotes(Vec::new()) {
            let ptr = if uses_steps {
                format!("{base}/stepWeights/{}", steps.len() - 1)
            } else {
                format!("{base}/maxWeight")
            };
            out.push(finding(
                &META,
                object,
                ptr,
                "the promotion weight is 0 or less, so the canary is promoted at the first interval without any traffic shifted to it or any metric checked".to_owned(),
            ));
            return;
        }
        let warn = |ptr: String, msg: String, help: &str| {
            let mut f = finding(&META, object, ptr, msg);
            f.severity = Severity::Warning;
            f.with_help(help.to_owned())
        };
        if uses_steps {
            if let Some(i) = steps.iter().position(|w| *w > 100) {
                out.push(warn(
                    format!("{base}/stepWeights/{i}"),
                    format!(
                        "stepWeights[{i}] is {}: canary weights are capped at 100",
                        steps[i]
                    ),
                    "keep step weights at 100 or less",
                ));
            }
            if let Some(m) = max {
                out.push(warn(
                    format!("{base}/maxWeight"),
                    format!(
                        "maxWeight {m} is ignored because stepWeights is set: the canary is promoted after the last step weight, {}",
                        steps[steps.len() - 1].min(100)
                    ),
                    "remove maxWeight, or make it the last stepWeights entry",
                ));
            }
            return;
        }
        let max = max.filter(|m| *m > 0).unwrap_or(100);
        if let Some(s) = step.filter(|s| *s > max) {
            out.push(warn(
                format!("{base}/stepWeight"),
                format!(
                    "stepWeight {s} is larger than maxWeight {max}: the first step sets the canary weight to {}%, past maxWeight, and the next check promotes it",
                    s.min(100)
                ),
                "use a stepWeight smaller than maxWeight, e.g. maxWeight / 5",
            ));
        }
    }
}
