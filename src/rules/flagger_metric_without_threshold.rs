//! flagger-metric-without-threshold: a custom Canary metric with neither `thresholdRange` nor
//! `threshold`.
//!
//! `runMetricChecks` (`pkg/controller/scheduler_metrics.go`) compares a custom metric's value
//! with `thresholdRange`, else with the deprecated `threshold` (`val > metric.Threshold` fails).
//! `threshold` is a float that defaults to 0, so any positive value fails the check.

use serde_json::Value;

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::timeline::flagger::analysis;

pub struct FlaggerMetricWithoutThreshold;

static META: RuleMeta = RuleMeta {
    id: "flagger-metric-without-threshold",
    severity: Severity::Warning,
    kinds: &[("flagger.app", "Canary")],
    doc: include_str!("../../rules/flagger-metric-without-threshold.md"),
    options: &[],
    builtin: false,
};

impl Rule for FlaggerMetricWithoutThreshold {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        let Some((base, a)) = analysis(object) else {
            return;
        };
        let Some(ms) = a.get("metrics").and_then(Value::as_array) else {
            return;
        };
        for (i, m) in ms.iter().enumerate() {
            let custom = m.get("templateRef").is_some_and(Value::is_object)
                || m.get("query")
                    .and_then(Value::as_str)
                    .is_some_and(|q| !q.trim().is_empty());
            if !custom {
                continue;
            }
            let has_range = m
                .get("thresholdRange")
                .and_then(Value::as_object)
                .is_some_and(|r| {
                    r.get("min").is_some_and(|v| !v.is_null())
                        || r.get("max").is_some_and(|v| !v.is_null())
                });
            let has_threshold = m.get("threshold").is_some_and(|v| !v.is_null());
            if has_range || has_threshold {
                continue;
            }
            let name = m.get("name").and_then(Value::as_str).unwrap_or("?");
            let ptr = if m.get("name").is_some() {
                format!("{base}/metrics/{i}/name")
            } else {
                format!("{base}/metrics/{i}")
            };
            out.push(
                finding(
                    &META,
                    object,
                    ptr,
                    format!(
                        "metric \"{name}\" has no thresholdRange, so Flagger compares it with the deprecated threshold, which defaults to 0: any value above 0 fails the check"
                    ),
                )
                .with_help("add `thresholdRange: {max: …}` (or `min`) with the bound you mean"),
            );
        }
    }
}
