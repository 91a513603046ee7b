//! argo-analysis-runs-forever: a step analysis whose metric has an `interval` but no `count`.
//!
//! Without `count`, a metric with an `interval` is measured until the run is terminated. In a
//! step, the rollout would wait on it forever, so the controller rejects it: the Rollout gets
//! `InvalidSpec` ("AnalysisTemplate … has metric … which runs indefinitely. Invalid value for
//! count", `pkg/apis/rollouts/validation/validation_references.go`
//! `ValidateAnalysisTemplatesWithType`, called from `rollout/controller.go`) and does not
//! progress. Background analysis (`strategy.canary.analysis`) may run indefinitely.

use serde_json::Value;

use crate::engine::inventory::ValueAt as _;
use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::timeline::duration::templated;

pub struct ArgoAnalysisRunsForever;

static META: RuleMeta = RuleMeta {
    id: "argo-analysis-runs-forever",
    severity: Severity::Error,
    kinds: &[("argoproj.io", "Rollout")],
    doc: include_str!("../../rules/argo-analysis-runs-forever.md"),
    options: &[],
    builtin: false,
};

/// Whether the controller's validation sees no count (`Metric.EffectiveCount` is nil: count
/// unset or 0 with an interval). The validation resolves `{{args.X}}` with the *template's*
/// own argument values only, a missing value or a `valueFrom` becoming "dummy-value"
/// (`setArgValuePlaceHolder`, `validateAnalysisMetrics`), and a count that is not an integer
/// string counts as 0 (`intstr.IntValue`). Returns the reason, if any.
fn count_missing(m: &Value, template: &Object) -> Option<String> {
    let int_value = |s: &str| s.trim().parse::<i64>().unwrap_or(0);
    match m.get("count") {
        None | Some(Value::Null) => Some("no count".into()),
        Some(Value::Number(n)) => (n.as_i64() == Some(0)).then(|| "count 0".into()),
        Some(v @ Value::String(s)) if templated(v) => {
            let name = s
                .trim()
                .strip_prefix("{{")
                .and_then(|r| r.strip_suffix("}}"))
                .map(str::trim)
                .and_then(|r| r.strip_prefix("args."))?;
            let arg = template
                .at("/spec/args")
                .and_then(Value::as_array)?
                .iter()
                .find(|a| a.get("name").and_then(Value::as_str) == Some(name))?;
            match arg.get("value").and_then(Value::as_str) {
                Some(v) if int_value(v) != 0 => None,
                Some(v) => Some(format!(
                    "count {s} whose template default \"{v}\" is not a positive integer"
                )),
                None => Some(format!(
                    "count {s} whose argument has no value in the template (the controller validates it as \"dummy-value\", i.e. 0; values passed by the Rollout are not used for this check)"
                )),
            }
        }
        Some(Value::String(s)) => (int_value(s) == 0).then(|| format!("count \"{s}\"")),
        _ => None,
    }
}

impl Rule for ArgoAnalysisRunsForever {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, cx: &Context<'_>, out: &mut Vec<Finding>) {
        let Some(steps) = object
            .at("/spec/strategy/canary/steps")
            .and_then(Value::as_array)
        else {
            return;
        };
        for (i, s) in steps.iter().enumerate() {
            let Some(ts) = s.at("/analysis/templates").and_then(Value::as_array) else {
                continue;
            };
            for (j, t) in ts.iter().enumerate() {
                let Some(name) = t.get("templateName").and_then(Value::as_str) else {
                    continue;
                };
                let cluster = t.get("clusterScope").and_then(Value::as_bool) == Some(true);
                let found = if cluster {
                    cx.world
                        .get("argoproj.io", "ClusterAnalysisTemplate", None, name)
                } else {
                    cx.world
                        .get("argoproj.io", "AnalysisTemplate", Some(object.ns()), name)
                };
                // Several copies (doc snippets): only when every copy has the problem.
                let bad: Vec<(&str, usize, String, &Object)> = found
                    .iter()
                    .filter_map(|tpl| {
                        let ms = tpl.at("/spec/metrics").and_then(Value::as_array)?;
                        ms.iter().enumerate().find_map(|(k, m)| {
                            let has_interval = m
                                .get("interval")
                                .is_some_and(|v| !v.is_null() && v.as_str() != Some(""));
                            if !has_interval {
                                return None;
                            }
                            let why = count_missing(m, tpl)?;
                            let metric = m.get("name").and_then(Value::as_str).unwrap_or("?");
                            Some((metric, k, why, *tpl))
                        })
                    })
                    .collect();
                if bad.is_empty() || bad.len() != found.len() {
                    continue;
                }
                let (metric, k, why, tpl) = &bad[0];
                out.push(
                    finding(
                        &META,
                        object,
                        format!("/spec/strategy/canary/steps/{i}/analysis/templates/{j}"),
                        format!(
                            "step analysis uses template \"{name}\" whose metric \"{metric}\" has an interval and {why}, so it would run forever; the controller rejects this (InvalidSpec: \"runs indefinitely\") and the rollout does not progress"
                        ),
                    )
                    .with_related(
                        tpl,
                        format!("/spec/metrics/{k}/interval"),
                        "interval without an effective count",
                    )
                    .with_help("give the metric a `count` (and `failureLimit`), or run it as background analysis"),
                );
            }
        }
    }
}
