//! argo-vacuous-all: `all(result, …)` passes when the query returns no series.
//!
//! expr's `all` is true on an empty array; a vector result is a `[]float64` with one element per
//! series (`metricproviders/prometheus/prometheus.go` `processResponse`), so a query that returns
//! nothing makes the measurement Successful (`utils/evaluate/evaluate.go`).

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::promql::condition::{
    ARGO_ANALYSIS_KINDS, Eval, Input, Shape, argo_metrics, eval, first_all, guards_len, parse,
};
use crate::promql::gates::push_unique;

pub struct ArgoVacuousAll;

static META: RuleMeta = RuleMeta {
    id: "argo-vacuous-all",
    severity: Severity::Warning,
    kinds: ARGO_ANALYSIS_KINDS,
    doc: include_str!("../../rules/argo-vacuous-all.md"),
    options: &[],
    builtin: false,
};

impl Rule for ArgoVacuousAll {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        let mut found = Vec::new();
        let empty = Input::Vector(Vec::new());
        for m in argo_metrics(object, cx) {
            if m.provider != Some("prometheus") {
                continue;
            }
            for v in &m.variants {
                if !matches!(
                    v.shape,
                    Some(Shape::Vector {
                        may_be_empty: true,
                        ..
                    })
                ) {
                    continue;
                }
                let parsed = |t: &Option<String>| t.as_deref().map(parse);
                let (s, f) = (parsed(&v.success), parsed(&v.failure));
                if matches!(s, Some(Err(_))) || matches!(f, Some(Err(_))) {
                    continue;
                }
                let s = s.and_then(Result::ok);
                let f = f.and_then(Result::ok);
                // Passes on empty: the success condition is true (or absent) and the failure
                // condition false (or absent), and at least one of them is an unguarded all().
                let s_ok = s
                    .as_ref()
                    .is_none_or(|c| eval(c, &empty) == Eval::Value(true));
                let f_ok = f
                    .as_ref()
                    .is_none_or(|c| eval(c, &empty) == Eval::Value(false));
                if !(s_ok && f_ok) {
                    continue;
                }
                for (key, c, text) in [
                    ("successCondition", &s, &v.success),
                    ("failureCondition", &f, &v.failure),
                ] {
                    let (Some(c), Some(text)) = (c, text) else {
                        continue;
                    };
                    if guards_len(c) {
                        continue;
                    }
                    let Some(span) = first_all(c) else { continue };
                    let mut fi = finding(
                        &META,
                        object,
                        format!("{}/{key}", m.pointer),
                        format!(
                            "`{}` is true when the query returns no series, so the measurement is Successful without any data (no traffic, a label that matches nothing)",
                            text.get(span.clone()).unwrap_or("all(result, …)")
                        ),
                    )
                    .with_help("require data: `len(result) > 0 && all(result, …)`");
                    if m.raw(key) == Some(text.as_str()) {
                        fi = fi.with_range(span);
                    }
                    push_unique(&mut found, fi);
                }
            }
        }
        out.extend(found);
    }
}
