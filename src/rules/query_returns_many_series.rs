//! query-returns-many-series: the gate query can return several series where the controller
//! compares one value.
//!
//! Flagger iterates the result vector and keeps the last value (`pkg/metrics/providers/
//! prometheus.go` `RunQuery`); Argo exposes `result` as a list, one value per series, and
//! `result[0]` is whichever Prometheus returned first (`metricproviders/prometheus/
//! prometheus.go` `processResponse`).

use promql_parser::parser::{Expr, LabelModifier};

use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::promql::labels::{self, Card, Le};
use crate::promql::query::{Query, aggregate_name, contains};
use crate::promql::{Issue, QueryCx, Thresholds, run_query_rule};

pub struct QueryReturnsManySeries;

static META: RuleMeta = RuleMeta {
    id: "query-returns-many-series",
    severity: Severity::Warning,
    kinds: crate::promql::gates::KINDS,
    doc: include_str!("../../rules/query-returns-many-series.md"),
    options: &[],
    builtin: false,
};

pub fn meta() -> &'static RuleMeta {
    &META
}

impl Rule for QueryReturnsManySeries {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        run_query_rule(&META, object, cx, out, analyse);
    }
}

/// Whether Argo's conditions look at one indexed value (`result[0]`); conditions over the whole
/// list (`all(result, …)`, `len(result)`) handle several series on purpose.
fn argo_indexes(t: &Thresholds) -> bool {
    match t {
        Thresholds::Argo { success, failure } => [success, failure]
            .iter()
            .any(|c| c.as_deref().is_some_and(|c| c.contains("result["))),
        _ => true,
    }
}

pub fn analyse(q: &Query, cx: &QueryCx<'_>) -> Vec<Issue> {
    if !cx.structure_known() || !argo_indexes(cx.thresholds) {
        return Vec::new();
    }
    let Card::Many(node) = labels::card(q, q.expr(), false) else {
        return Vec::new();
    };
    // Inside histogram_quantile: an unaggregated one is quantile-without-le-aggregation's
    // finding, and one that loses `le` returns nothing at all.
    let quantiles = q.histogram_quantiles();
    let in_quantile = quantiles.iter().find(|h| contains(h.arg, node));
    if in_quantile.is_some_and(|h| !matches!(labels::le(h.arg), Le::Kept { aggregated: true })) {
        return Vec::new();
    }
    let text = q.text();
    let loc = q.loc(node);
    let (span, what, help) = match node {
        Expr::Aggregate(a) => {
            let op = aggregate_name(a);
            let span = loc.map_or_else(
                || q.span(node),
                |l| match &l.grouping {
                    Some(g) => l.head.start.min(g.start)..g.end.max(l.head.end),
                    None => l.head.clone(),
                },
            );
            let what = match &a.modifier {
                Some(LabelModifier::Include(l)) => {
                    // histogram_quantile folds `le` away.
                    let per: Vec<&str> = l
                        .labels
                        .iter()
                        .map(String::as_str)
                        .filter(|x| in_quantile.is_none() || *x != "le")
                        .collect();
                    format!(
                        "`{}` keeps one series per {}",
                        one_line(&text[span.clone()]),
                        per.join(", ")
                    )
                }
                _ => format!(
                    "`{}` can keep several series",
                    one_line(&text[span.clone()])
                ),
            };
            (
                span,
                what,
                format!(
                    "aggregate to one series, e.g. `{op}(…)` without grouping, or pin the grouping labels with = matchers"
                ),
            )
        }
        _ => {
            let span = q.span(node);
            let shown = one_line(&text[span.clone()]);
            (
                span,
                format!(
                    "`{shown}` is not aggregated, so the query returns one series per label set (pod, instance, …)"
                ),
                "aggregate to one series, e.g. sum(…) over the selector".to_owned(),
            )
        }
    };
    vec![Issue {
        fix: None,
        span,
        severity: Severity::Warning,
        message: format!("{what}; {}", cx.on_many()),
        help: Some(help),
    }]
}

fn one_line(s: &str) -> String {
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(77).collect::<String>())
    } else {
        s
    }
}
