//! flagger-analysis-cannot-protect: a Canary analysis that cannot stop a bad canary in time.
//!
//! - No metrics and no gating webhooks: `runAnalysis` (`pkg/controller/scheduler.go`) has
//!   nothing that can fail, so every check passes and the canary is promoted on a timer.
//! - A `threshold` so large that a canary failing every check is rolled back later than a
//!   healthy one would be fully promoted: failed checks halt the weight where it is, and the
//!   rollback comes only after `threshold` of them (`checkCanaryStatus`/`advanceCanary`).
//! - Promotion before the metrics' windows have seen the canary: Flagger promotes after the
//!   check of the last weight step or iteration (`runCanary`, `runAB`, `runBlueGreen`); when
//!   all of them run before one window of the metric has elapsed since the canary got traffic,
//!   no check measured a full window of canary traffic.
//!
//! Times are those of `rollgate explain-rollout` (`crate::timeline::flagger::times`).

use serde_json::Value;

use crate::buckets::extract::gates_for;
use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::timeline::duration::format;
use crate::timeline::flagger::times;

use super::common::flagger::run_analysis;

pub struct FlaggerAnalysisCannotProtect;

static META: RuleMeta = RuleMeta {
    id: "flagger-analysis-cannot-protect",
    severity: Severity::Warning,
    kinds: &[("flagger.app", "Canary")],
    doc: include_str!("../../rules/flagger-analysis-cannot-protect.md"),
    options: &[],
    builtin: false,
};

/// Webhook types whose failure stops or holds the canary (`pkg/apis/flagger/v1beta1/canary.go`
/// hook types; `event`, `post-rollout` and `rollback` hooks cannot fail a check).
fn gating(hook: &Value) -> bool {
    matches!(
        hook.get("type").and_then(Value::as_str).unwrap_or(""),
        "" | "rollout"
            | "pre-rollout"
            | "confirm-rollout"
            | "confirm-traffic-increase"
            | "confirm-promotion"
    )
}

impl Rule for FlaggerAnalysisCannotProtect {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        let Some((base, a)) = run_analysis(object) else {
            return;
        };
        let metrics = a.get("metrics").and_then(Value::as_array);
        let n_metrics = metrics.map_or(0, Vec::len);
        let hooks = a.get("webhooks").and_then(Value::as_array);
        let n_gating = hooks.map_or(0, |h| h.iter().filter(|w| gating(w)).count());
        let t = times(a);
        if n_metrics == 0 && n_gating == 0 {
            let when = match t.promotion {
                Some(p) => format!(" about {} after detection", format(p)),
                None => String::new(),
            };
            let hooks_note = if hooks.is_some_and(|h| !h.is_empty()) {
                " (its webhooks are event, post-rollout or rollback hooks, which cannot fail a check)"
            } else {
                ""
            };
            out.push(
                finding(
                    &META,
                    object,
                    base,
                    format!(
                        "the analysis has no metrics and no webhooks that can fail{hooks_note}: every check passes and the canary is promoted on a timer{when}, however it behaves"
                    ),
                )
                .at_key()
                .with_help("add metrics (e.g. the builtin request-success-rate and request-duration) or a rollout webhook that tests the canary"),
            );
            return;
        }
        if n_metrics == 0 {
            return;
        }
        // A threshold that outlasts the whole promotion.
        if let Some(promotion) = t.promotion {
            if t.rollback > promotion && t.threshold > 1 {
                // Up to twice the promotion time it is a matter of taste (Flagger's own e2e
                // tests use threshold 15 with five 15s steps): information. Beyond, a warning.
                let severity = if t.rollback > 2.0 * promotion {
                    Severity::Warning
                } else {
                    Severity::Info
                };
                let ptr = if a.get("threshold").is_some() {
                    format!("{base}/threshold")
                } else {
                    base.to_owned()
                };
                let mut f = finding(
                        &META,
                        object,
                        ptr,
                        format!(
                            "threshold {}: a canary failing every check keeps its traffic until it is rolled back {} after detection ({} failed checks, one every {}), longer than a healthy canary takes to be fully promoted ({}); the analysis holds a bad canary longer than it tests a good one",
                            t.threshold,
                            format(t.rollback),
                            t.threshold,
                            format(t.interval),
                            format(promotion)
                        ),
                    )
                    .with_help(format!(
                        "lower the threshold to at most {} (failed checks are counted over the whole analysis, not consecutively)",
                        max_threshold(t.steps.unwrap_or(0.0))
                    ));
                f.severity = severity;
                out.push(f);
            }
        }
        // Promotion before the metrics' windows have seen canary traffic.
        let Some(traffic) = t.traffic_before_promotion else {
            return;
        };
        let mut worst: Option<(f64, String)> = None;
        for (g, _) in gates_for(object, cx) {
            if !std::ptr::eq(g.metric.object, object) {
                continue;
            }
            let Some(q) = g.analysis.query() else {
                continue;
            };
            let window = q
                .range_windows()
                .iter()
                .map(|w| w.range.as_secs_f64())
                .fold(0.0f64, f64::max);
            if window > traffic && worst.as_ref().is_none_or(|(w, _)| window > *w) {
                worst = Some((window, g.metric.pointer.clone()));
            }
        }
        if let Some((window, metric_ptr)) = worst {
            let name = object
                .at(&format!("{metric_ptr}/name"))
                .and_then(Value::as_str)
                .unwrap_or("?");
            let (ptr, what) = if a.get("iterations").is_some() {
                (format!("{base}/iterations"), "iterations")
            } else if a.get("stepWeights").is_some() {
                (format!("{base}/stepWeights"), "stepWeights")
            } else if a.get("stepWeight").is_some() {
                (format!("{base}/stepWeight"), "stepWeight")
            } else {
                (base.to_owned(), "analysis")
            };
            let steps = t.steps.unwrap_or(0.0);
            // With a ratio or a quantile, the time before the canary's traffic adds nothing
            // to either side: the checks measure all the canary traffic there was, just little
            // of it. Only a window more than twice the whole canary traffic is a warning.
            let severity = if traffic * 2.0 < window {
                Severity::Warning
            } else {
                Severity::Info
            };
            let mut f = finding(
                    &META,
                    object,
                    ptr,
                    format!(
                        "with these {what} the canary is promoted after {steps} check{} over {} of canary traffic, less than the {} window of metric \"{name}\": every check's window reaches back before the canary received traffic, so no check measured a full window of it",
                        if steps == 1.0 { "" } else { "s" },
                        format(traffic),
                        format(window)
                    ),
                )
                .with_related(object, metric_ptr, format!("metric \"{name}\" looks back {}", format(window)))
                .with_help(format!(
                    "make the analysis last at least one window: more steps or iterations, a longer analysis.interval (now {}), or a shorter metric interval",
                    format(t.interval)
                ));
            f.severity = severity;
            out.push(f);
        }
    }
}

/// The largest threshold whose rollback comes no later than promotion after `steps` steps:
/// `(threshold + 2) ≤ steps + 3`.
fn max_threshold(steps: f64) -> String {
    let m = (steps + 1.0).max(1.0);
    if m.is_finite() && m < 1e15 {
        format!("{}", m as i64)
    } else {
        "the number of steps".to_owned()
    }
}
