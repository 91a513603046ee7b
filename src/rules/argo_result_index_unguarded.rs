//! argo-result-index-unguarded: `result[0]` in a condition of a query that can return no series.
//!
//! Argo passes a vector result as `[]float64` (`metricproviders/prometheus/prometheus.go`
//! `processResponse`); on an empty vector `result[0]` is an expr runtime error, the measurement
//! is an Error (`utils/evaluate/evaluate.go` `EvaluateResult`), and more than
//! `consecutiveErrorLimit` (default 4) consecutive errors fail the analysis and abort the rollout.

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::promql::condition::{
    ARGO_ANALYSIS_KINDS, Eval, Input, Shape, argo_metrics, eval, first_index, parse, sample,
};
use crate::promql::gates::push_unique;

pub struct ArgoResultIndexUnguarded;

static META: RuleMeta = RuleMeta {
    id: "argo-result-index-unguarded",
    severity: Severity::Warning,
    kinds: ARGO_ANALYSIS_KINDS,
    doc: include_str!("../../rules/argo-result-index-unguarded.md"),
    options: &[],
    builtin: false,
};

impl Rule for ArgoResultIndexUnguarded {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        let mut found = Vec::new();
        for m in argo_metrics(object, cx) {
            if m.provider != Some("prometheus") {
                continue;
            }
            for v in &m.variants {
                let Some(
                    shape @ Shape::Vector {
                        may_be_empty: true, ..
                    },
                ) = &v.shape
                else {
                    continue;
                };
                for (key, cond) in [
                    ("successCondition", &v.success),
                    ("failureCondition", &v.failure),
                ] {
                    let Some(text) = cond else { continue };
                    let Ok(c) = parse(text) else { continue };
                    if !matches!(eval(&c, &sample(shape, 1.0)), Eval::Value(_)) {
                        continue;
                    }
                    if !matches!(eval(&c, &Input::Vector(Vec::new())), Eval::IndexError(_)) {
                        continue;
                    }
                    let Some(span) = first_index(&c) else {
                        continue;
                    };
                    let mut f = finding(
                        &META,
                        object,
                        format!("{}/{key}", m.pointer),
                        format!(
                            "`{}` fails with \"index out of range\" when the query returns no series (no traffic yet, a label that matches nothing): each such measurement is an Error, and 5 consecutive errors (consecutiveErrorLimit 4) fail the analysis and abort the rollout",
                            text.get(span.clone()).unwrap_or("result[…]")
                        ),
                    )
                    .with_help("guard the index, e.g. `len(result) > 0 && result[0] < 0.5`, or make the query never empty with `or vector(0)`");
                    if m.raw(key) == Some(text.as_str()) {
                        f = f.with_range(span);
                    }
                    push_unique(&mut found, f);
                }
            }
        }
        out.extend(found);
    }
}
