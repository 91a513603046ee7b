//! argo-nan-passes: a metric with only a `failureCondition` passes when the query returns NaN.
//!
//! Every comparison with NaN is false, and with no `successCondition` a measurement whose
//! failure condition is false is Successful (`utils/evaluate/evaluate.go` `EvaluateResult`).
//! Ratios such as `errors / requests` are NaN (0/0) when there is no traffic.

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::promql::condition::{
    ARGO_ANALYSIS_KINDS, Eval, argo_metrics, eval, mentions_nan, parse, sample,
};
use crate::promql::gates::push_unique;

pub struct ArgoNanPasses;

static META: RuleMeta = RuleMeta {
    id: "argo-nan-passes",
    severity: Severity::Warning,
    kinds: ARGO_ANALYSIS_KINDS,
    doc: include_str!("../../rules/argo-nan-passes.md"),
    options: &[],
    builtin: false,
};

impl Rule for ArgoNanPasses {
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
                let (None, Some(text), Some(shape)) = (&v.success, &v.failure, &v.shape) else {
                    continue;
                };
                let Ok(c) = parse(text) else { continue };
                if mentions_nan(&c) {
                    continue;
                }
                if eval(&c, &sample(shape, f64::NAN)) != Eval::Value(false) {
                    continue;
                }
                // The condition must be able to fail at all, or NaN is not the problem.
                let can_fail = [-1e12, -1.0, 0.0, 0.5, 1.0, 1e12]
                    .iter()
                    .any(|x| eval(&c, &sample(shape, *x)) == Eval::Value(true));
                if !can_fail {
                    continue;
                }
                push_unique(
                    &mut found,
                    finding(
                        &META,
                        object,
                        format!("{}/failureCondition", m.pointer),
                        format!(
                            "with only a failureCondition, a NaN result passes: `{text}` is false for NaN (every comparison with NaN is), so the measurement is Successful when the query yields NaN (e.g. 0/0 with no traffic)"
                        ),
                    )
                    .with_help("add a successCondition, or fail NaN explicitly: `isNaN(result[0]) || …`"),
                );
            }
        }
        out.extend(found);
    }
}
