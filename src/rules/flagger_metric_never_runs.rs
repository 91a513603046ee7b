//! flagger-metric-never-runs: a Canary metric with neither `templateRef` nor `query` whose name
//! is not a builtin.
//!
//! `runMetricChecks` (`pkg/controller/scheduler_metrics.go`) ends its loop over the metrics with
//! `else if metric.Name != "request-success-rate" && metric.Name != "request-duration" &&
//! metric.Query == ""`: it records "no usable metrics template and query were configured" and
//! returns false, so every check fails. The builtin names are the same for every provider: each
//! observer of `pkg/metrics/observers/factory.go` implements both `GetRequestSuccessRate` and
//! `GetRequestDuration` (`observer.go` `Interface`).

use serde_json::Value;

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::promql::builtin::METRICS;
use crate::timeline::flagger::threshold;

use super::common::flagger::run_metrics;

pub struct FlaggerMetricNeverRuns;

static META: RuleMeta = RuleMeta {
    id: "flagger-metric-never-runs",
    severity: Severity::Error,
    kinds: &[("flagger.app", "Canary")],
    doc: include_str!("../../rules/flagger-metric-never-runs.md"),
    options: &[],
    builtin: false,
};

impl Rule for FlaggerMetricNeverRuns {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        let Some((base, a, ms)) = run_metrics(object) else {
            return;
        };
        let limit = threshold(a);
        for (i, m) in ms.iter().enumerate() {
            // `TemplateRef != nil`: any non-null value decodes to a reference.
            let has_template = m.get("templateRef").is_some_and(|v| !v.is_null());
            let has_query = m
                .get("query")
                .is_some_and(|q| !q.is_null() && q.as_str() != Some(""));
            let name = m.get("name").and_then(Value::as_str).unwrap_or("");
            if has_template || has_query || METRICS.contains(&name) {
                continue;
            }
            let ptr = if m.get("name").is_some() {
                format!("{base}/metrics/{i}/name")
            } else {
                format!("{base}/metrics/{i}")
            };
            let looks_like_promql = name.contains('_') || name.contains('{') || name.contains('(');
            let help = if looks_like_promql {
                format!(
                    "\"{name}\" looks like a Prometheus metric: write the PromQL in `query:` (or reference a MetricTemplate with `templateRef:`) and give the check a name of its own"
                )
            } else {
                "reference a MetricTemplate with `templateRef: {name: …}`, write the PromQL in `query:`, or use a builtin name (request-success-rate, request-duration)".to_owned()
            };
            out.push(
                finding(
                    &META,
                    object,
                    ptr,
                    format!(
                        "metric \"{name}\" has neither templateRef nor query and is not a builtin (request-success-rate, request-duration): Flagger records \"no usable metrics template and query were configured\" and fails every check, so the canary is rolled back after {limit} failed check{} whatever it does",
                        if limit == 1 { "" } else { "s" }
                    ),
                )
                .with_help(help),
            );
        }
    }
}
