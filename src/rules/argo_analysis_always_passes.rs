//! argo-analysis-always-passes: an Argo metric that is Successful whatever the query returns.
//!
//! With neither `successCondition` nor `failureCondition`, `EvaluateResult`
//! (`utils/evaluate/evaluate.go`) returns Successful for every measurement that did not error
//! (test `TestEvaluateResultNoFailureConditionAndNoSuccessCondition`; the docs say otherwise).
//! Conditions that are true for every possible result (`true`, `len(result) >= 0`) do the same.

use crate::engine::inventory::ValueAt as _;
use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::promql::condition::{
    ARGO_ANALYSIS_KINDS, Eval, Input, Shape, argo_metrics, eval, parse,
};
use crate::promql::gates::push_unique;

pub struct ArgoAnalysisAlwaysPasses;

static META: RuleMeta = RuleMeta {
    id: "argo-analysis-always-passes",
    severity: Severity::Error,
    kinds: ARGO_ANALYSIS_KINDS,
    doc: include_str!("../../rules/argo-analysis-always-passes.md"),
    options: &[],
    builtin: false,
};

/// Results a metric can see: empty, one or several series, NaN, extremes; scalars alike.
fn samples(shape: Option<&Shape>) -> Vec<Input> {
    let xs = [f64::NAN, -1e12, -1.0, 0.0, 0.5, 1.0, 100.0, 1e12];
    let mut out = Vec::new();
    if !matches!(shape, Some(Shape::Scalar)) {
        out.push(Input::Vector(Vec::new()));
        out.extend(xs.iter().map(|x| Input::Vector(vec![*x])));
        out.push(Input::Vector(vec![0.0, 1e12]));
    }
    if !matches!(shape, Some(Shape::Vector { .. })) {
        out.extend(xs.iter().map(|x| Input::Scalar(*x)));
    }
    out
}

impl Rule for ArgoAnalysisAlwaysPasses {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        let mut found = Vec::new();
        for m in argo_metrics(object, cx) {
            if !m.evaluates {
                continue;
            }
            let dry = m.value.get("dryRun").is_some();
            if dry {
                continue;
            }
            let name_ptr = if m.value.get("name").is_some() {
                format!("{}/name", m.pointer)
            } else {
                m.pointer.clone()
            };
            // A Web metric without conditions still checks that the endpoint answers 2xx (an
            // error status is a measurement Error); a Prometheus metric without a query is a
            // schema problem, not this one.
            let no_query = m.provider == Some("prometheus")
                && m.value
                    .at("/provider/prometheus/query")
                    .and_then(serde_json::Value::as_str)
                    .is_none_or(|q| q.trim().is_empty());
            if m.raw("successCondition").is_none()
                && m.raw("failureCondition").is_none()
                && m.provider != Some("web")
                && !no_query
            {
                let filter = m.variants.iter().find_map(|v| match &v.shape {
                    Some(Shape::Vector {
                        filter: Some(_), ..
                    }) => Some(()),
                    _ => None,
                });
                let extra = if filter.is_some() {
                    ": the query is a filter (a comparison without `bool`), so it returns nothing when unhealthy — and an empty result is Successful too"
                } else {
                    ""
                };
                push_unique(
                    &mut found,
                    finding(
                        &META,
                        object,
                        name_ptr,
                        format!(
                            "metric has neither successCondition nor failureCondition, so Argo marks every measurement Successful whatever the query returns{extra}"
                        ),
                    )
                    .with_help("add a successCondition (and a failureCondition), e.g. `successCondition: len(result) > 0 && result[0] >= 0.95`"),
                );
                continue;
            }
            if m.raw("successCondition").is_none() && m.raw("failureCondition").is_none() {
                continue;
            }
            for v in &m.variants {
                let parse_opt = |t: &Option<String>| t.as_deref().map(parse);
                let (s, f) = (parse_opt(&v.success), parse_opt(&v.failure));
                if matches!(s, Some(Err(_))) || matches!(f, Some(Err(_))) {
                    continue;
                }
                let s = s.and_then(Result::ok);
                let f = f.and_then(Result::ok);
                let passes = |x: &Input| {
                    s.as_ref().is_none_or(|c| eval(c, x) == Eval::Value(true))
                        && f.as_ref().is_none_or(|c| eval(c, x) == Eval::Value(false))
                };
                if samples(v.shape.as_ref()).iter().all(passes) {
                    let key = if s.is_some() {
                        "successCondition"
                    } else {
                        "failureCondition"
                    };
                    push_unique(
                        &mut found,
                        finding(
                            &META,
                            object,
                            format!("{}/{key}", m.pointer),
                            "the conditions hold for every result (empty, NaN, any value), so every measurement is Successful and the metric can never fail the analysis",
                        ),
                    );
                }
            }
        }
        out.extend(found);
    }
}
