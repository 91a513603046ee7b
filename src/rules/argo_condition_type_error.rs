//! argo-condition-type-error: a condition that cannot evaluate on the query's result type.
//!
//! A vector result is a `[]float64`, a scalar a `float64`
//! (`metricproviders/prometheus/prometheus.go` `processResponse`). `result >= 0.9` on a vector,
//! `result[0]` on a scalar, or a condition that does not yield a bool is an error in expr, so
//! every measurement is an Error (`utils/evaluate/evaluate.go` `EvalCondition`) and the
//! analysis fails after `consecutiveErrorLimit` + 1 of them.

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::promql::condition::{
    ARGO_ANALYSIS_KINDS, Eval, Shape, argo_metrics, eval, parse, sample,
};
use crate::promql::gates::push_unique;

pub struct ArgoConditionTypeError;

static META: RuleMeta = RuleMeta {
    id: "argo-condition-type-error",
    severity: Severity::Error,
    kinds: ARGO_ANALYSIS_KINDS,
    doc: include_str!("../../rules/argo-condition-type-error.md"),
    options: &[],
    builtin: false,
};

impl Rule for ArgoConditionTypeError {
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
                let Some(shape) = &v.shape else { continue };
                let what = match shape {
                    Shape::Scalar => "a scalar (result is a float64)",
                    Shape::Vector { .. } => {
                        "a vector (result is a []float64, one element per series)"
                    }
                };
                for (key, cond) in [
                    ("successCondition", &v.success),
                    ("failureCondition", &v.failure),
                ] {
                    let Some(text) = cond else { continue };
                    let Ok(c) = parse(text) else { continue };
                    // A type error whatever the value: expr checks types when it compiles.
                    let errs: Vec<String> = [0.0, 1.0, f64::NAN]
                        .iter()
                        .filter_map(|x| match eval(&c, &sample(shape, *x)) {
                            Eval::TypeError(e) => Some(e),
                            _ => None,
                        })
                        .collect();
                    if errs.len() < 3 {
                        continue;
                    }
                    push_unique(
                        &mut found,
                        finding(
                            &META,
                            object,
                            format!("{}/{key}", m.pointer),
                            format!(
                                "`{text}` cannot be evaluated: the query returns {what}, and expr fails with \"{}\"; every measurement is an Error and the analysis fails after 5 of them",
                                errs[0]
                            ),
                        )
                        .with_help(match shape {
                            Shape::Scalar => "compare `result` itself, e.g. `result < 0.5`",
                            Shape::Vector { .. } => "index the vector (`len(result) > 0 && result[0] >= 0.9`) or use `all(result, # >= 0.9)`",
                        }),
                    );
                }
            }
        }
        out.extend(found);
    }
}
