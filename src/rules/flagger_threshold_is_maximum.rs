//! flagger-threshold-is-maximum: the deprecated `threshold` of a custom Canary metric is an
//! upper bound.
//!
//! `runMetricChecks` (templateRef) and the inline-query branch of `runBuiltinMetricChecks`
//! (`pkg/controller/scheduler_metrics.go`) compare a custom metric without `thresholdRange` as
//! `else if val > metric.Threshold` → halt: a maximum. Only the builtin `request-success-rate`
//! reads it as a minimum (`metric.Threshold > val` → halt), which is where the habit of writing
//! `threshold: 99` comes from. On a success ratio the custom gate is inverted: 100% fails, 95%
//! passes.

use std::borrow::Cow;

use serde_json::Value;

use crate::buckets::extract::gates_for;
use crate::engine::fix::{Edit, Fix};
use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::promql::GateKind;
use crate::promql::counters::success_ratio;

use super::common::flagger::run_metrics;

pub struct FlaggerThresholdIsMaximum;

static META: RuleMeta = RuleMeta {
    id: "flagger-threshold-is-maximum",
    severity: Severity::Warning,
    kinds: &[("flagger.app", "Canary")],
    doc: include_str!("../../rules/flagger-threshold-is-maximum.md"),
    options: &[],
    builtin: false,
};

fn number(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

impl Rule for FlaggerThresholdIsMaximum {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        let Some((base, _, ms)) = run_metrics(object) else {
            return;
        };
        // Candidates first: most Canaries have none, and their gates are not needed then.
        let candidates: Vec<(usize, &Value, String)> = ms
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                let custom = m.get("templateRef").is_some_and(|v| !v.is_null())
                    || m.get("query")
                        .and_then(Value::as_str)
                        .is_some_and(|q| !q.is_empty());
                let range = m.get("thresholdRange").is_some_and(|v| !v.is_null());
                let t = m.get("threshold").filter(|v| !v.is_null())?;
                (custom && !range).then(|| number(t).map(|t| (i, m, t)))?
            })
            .collect();
        if candidates.is_empty() {
            return;
        }
        let gates = gates_for(object, cx);
        for (i, m, t) in candidates {
            let ptr = format!("{base}/metrics/{i}");
            let name = m.get("name").and_then(Value::as_str).unwrap_or("");
            let ratio = gates.iter().find_map(|(g, _)| {
                let g: &Cow<'_, _> = g;
                let mine = std::ptr::eq(g.metric.object, object)
                    && g.metric.pointer == ptr
                    && matches!(g.kind, GateKind::FlaggerTemplate | GateKind::FlaggerInline);
                if !mine || !g.analysis.structure_known() {
                    return None;
                }
                g.analysis.query().map(|q| success_ratio(q, name))
            });
            let builtin_note = if name == "request-success-rate" {
                " (the builtin request-success-rate check that also runs for this name reads it as a minimum, the custom query does not)"
            } else {
                ""
            };
            let (severity, message) = if ratio == Some(true) {
                (
                    Severity::Error,
                    format!(
                        "threshold {t} of metric \"{name}\" is the deprecated threshold, which Flagger reads as a maximum for a custom query (`val > threshold` halts){builtin_note}; the query is a success ratio, so the gate is inverted: a healthy canary above {t} fails every check and is rolled back, a failing one below it passes"
                    ),
                )
            } else {
                (
                    Severity::Warning,
                    format!(
                        "threshold {t} of metric \"{name}\" is the deprecated threshold, which Flagger reads as a maximum for a custom query (`val > threshold` halts){builtin_note}; only the builtin request-success-rate reads it as a minimum"
                    ),
                )
            };
            let rewrite = if ratio == Some(true) {
                format!("replace `threshold: {t}` with `thresholdRange: {{min: {t}}}`")
            } else {
                format!(
                    "replace `threshold: {t}` with `thresholdRange: {{max: {t}}}` (the same check, without the deprecated field), or `{{min: {t}}}` if the value must stay above it"
                )
            };
            let mut f = finding(&META, object, format!("{ptr}/threshold"), message)
                .at_key()
                .with_help(rewrite);
            // The fix adds the thresholdRange; Flagger then ignores `threshold`
            // (`if metric.ThresholdRange != nil … else if val > metric.Threshold`), which the
            // user may delete (removals are not lowered to text edits yet). As a maximum it is
            // the same check (safe); as the minimum of a success ratio it changes what passes
            // (unsafe).
            if let Some(v) = m.get("threshold").filter(|v| v.is_number()) {
                let bound = if ratio == Some(true) { "min" } else { "max" };
                let mut range = serde_json::Map::new();
                range.insert(bound.to_owned(), v.clone());
                let edits = vec![Edit::insert(
                    ptr.clone(),
                    "thresholdRange",
                    Value::Object(range),
                )];
                let what = format!(
                    "add `thresholdRange: {{{bound}: {t}}}` (Flagger then ignores the deprecated threshold)"
                );
                f = f.with_fix(if ratio == Some(true) {
                    Fix::unsafe_edits(what, edits)
                } else {
                    Fix::safe(what, edits)
                });
            }
            f.severity = severity;
            out.push(f);
        }
    }
}
