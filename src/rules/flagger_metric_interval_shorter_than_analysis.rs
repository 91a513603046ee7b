//! flagger-metric-interval-shorter-than-analysis: a metric's query window is shorter than the
//! time between checks, so part of the canary's traffic is never looked at.
//!
//! The metric `interval` is the range of the builtin queries and of `{{ interval }}` in
//! MetricTemplates (`pkg/controller/scheduler_metrics.go` `toMetricModel`, builtins default to
//! 1m); checks run once per `analysis.interval` (`GetAnalysisInterval`, default 60s, at least
//! 10s). With a 30s window every 2m, three quarters of the requests are never measured.

use serde_json::Value;

use crate::engine::inventory::ValueAt as _;
use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::timeline::duration::{format, parse_go};
use crate::timeline::flagger::{analysis, interval};

pub struct FlaggerMetricIntervalShorterThanAnalysis;

static META: RuleMeta = RuleMeta {
    id: "flagger-metric-interval-shorter-than-analysis",
    severity: Severity::Warning,
    kinds: &[("flagger.app", "Canary")],
    doc: include_str!("../../rules/flagger-metric-interval-shorter-than-analysis.md"),
    options: &[],
    builtin: false,
};

impl Rule for FlaggerMetricIntervalShorterThanAnalysis {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, cx: &Context<'_>, out: &mut Vec<Finding>) {
        let Some((base, a)) = analysis(object) else {
            return;
        };
        let every = interval(a);
        let Some(ms) = a.get("metrics").and_then(Value::as_array) else {
            return;
        };
        for (i, m) in ms.iter().enumerate() {
            let name = m.get("name").and_then(Value::as_str).unwrap_or("");
            let builtin = matches!(name, "request-success-rate" | "request-duration");
            // Does the metric's interval reach the query? Builtins: always; templates: when
            // they use {{ interval }}; inline queries are not rendered.
            let windowed = builtin
                || m.at("/templateRef/name")
                    .and_then(Value::as_str)
                    .is_some_and(|t| {
                        let ns = m
                            .at("/templateRef/namespace")
                            .and_then(Value::as_str)
                            .filter(|n| !n.is_empty())
                            .unwrap_or(object.ns());
                        let found = cx.world.get("flagger.app", "MetricTemplate", Some(ns), t);
                        !found.is_empty()
                            && found.iter().all(|tpl| {
                                tpl.at("/spec/query")
                                    .and_then(Value::as_str)
                                    .is_some_and(|q| q.contains("interval"))
                            })
                    });
            if !windowed {
                continue;
            }
            let (window, ptr) = match m.get("interval").and_then(Value::as_str) {
                Some(s) if !s.is_empty() => match parse_go(s) {
                    Some(w) => (w, format!("{base}/metrics/{i}/interval")),
                    None => continue,
                },
                _ if builtin => (60.0, format!("{base}/metrics/{i}/name")),
                _ => continue,
            };
            if window <= 0.0 || window >= every {
                continue;
            }
            let missed = 100.0 * (1.0 - window / every);
            out.push(
                finding(
                    &META,
                    object,
                    ptr,
                    format!(
                        "metric \"{name}\" looks at the last {} but checks run every {} (analysis.interval): about {missed:.0}% of the canary's requests between checks are never measured",
                        format(window),
                        format(every)
                    ),
                )
                .with_help("make the metric interval at least the analysis interval"),
            );
        }
    }
}
