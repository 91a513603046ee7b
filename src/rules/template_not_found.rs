//! template-not-found: a Flagger Canary metric's `templateRef` must name an existing
//! MetricTemplate.
//!
//! `templateRef.namespace` defaults to the Canary's namespace
//! (`pkg/controller/scheduler_metrics.go` `runMetricChecks`); a missing template fails the metric
//! check on every analysis tick, so the canary is rolled back after `analysis.threshold` ticks.

use serde_json::Value;

use crate::engine::rule::finding;
use crate::engine::{Context, Edit, Finding, Fix, Object, Rule, RuleMeta, Severity};

use super::common::{absent, at, display, str_in};

pub struct TemplateNotFound;

static META: RuleMeta = RuleMeta {
    id: "template-not-found",
    severity: Severity::Error,
    kinds: &[("flagger.app", "Canary")],
    doc: include_str!("../../rules/template-not-found.md"),
    options: &[],
    builtin: false,
};

impl Rule for TemplateNotFound {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, cx: &Context<'_>, out: &mut Vec<Finding>) {
        // `canaryAnalysis` is the v1alpha name of `analysis`; Flagger reads either.
        for section in ["analysis", "canaryAnalysis"] {
            let Some(metrics) =
                at(object, &format!("/spec/{section}/metrics")).and_then(Value::as_array)
            else {
                continue;
            };
            for (i, metric) in metrics.iter().enumerate() {
                let Some(metric_value) = metric.get("templateRef") else {
                    continue;
                };
                let r = metric_value;
                let Some(name) = str_in(r, "name") else {
                    continue;
                };
                let ns = str_in(r, "namespace").unwrap_or(object.ns());
                if !cx
                    .world
                    .get("flagger.app", "MetricTemplate", Some(ns), name)
                    .is_empty()
                {
                    continue;
                }
                let r = format!("/spec/{section}/metrics/{i}/templateRef");
                let metric = str_in(metric, "name").unwrap_or("?");
                let (severity, message) = absent(
                    cx,
                    &format!("metric \"{metric}\": MetricTemplate \"{name}\""),
                    &format!("namespace \"{ns}\""),
                    "the metric check fails on every analysis tick and Flagger rolls the canary back",
                );
                let mut f = finding(&META, object, format!("{r}/name"), message);
                f.severity = severity;
                if let Some(other) = cx
                    .world
                    .get("flagger.app", "MetricTemplate", None, name)
                    .into_iter()
                    .next()
                {
                    f = f
                        .with_help(format!(
                            "{} exists: set templateRef.namespace to \"{}\"",
                            display(other),
                            other.ns()
                        ))
                        .with_related(other, "/metadata/name", "a MetricTemplate with this name")
                        .with_fix(Fix::unsafe_edits(
                            format!(
                                "refer to the MetricTemplate in namespace \"{}\"",
                                other.ns()
                            ),
                            vec![match str_in(metric_value, "namespace") {
                                Some(_) => Edit::set(format!("{r}/namespace"), other.ns()),
                                None => Edit::insert(r.clone(), "namespace", other.ns()),
                            }],
                        ));
                } else {
                    let objects = cx.world.list("flagger.app", "MetricTemplate", Some(ns));
                    let names: Vec<&str> = objects.iter().map(|o| o.name.as_str()).collect();
                    if let Some(near) = crate::engine::config::suggest(name, &names) {
                        f = f.with_help(format!("did you mean \"{near}\"?")).with_fix(
                            Fix::unsafe_edits(
                                format!("refer to \"{near}\""),
                                vec![Edit::set(format!("{r}/name"), near)],
                            ),
                        );
                    }
                }
                out.push(f);
            }
        }
    }
}
