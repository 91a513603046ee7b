//! quantile-without-le-aggregation: `histogram_quantile(φ, X)` where X loses `le` (always empty)
//! or is not aggregated at all (one quantile per series).
//!
//! Prometheus groups the buckets by all labels except `le` (`promql/functions.go`
//! `funcHistogramQuantile`); an aggregation without `le` leaves no bucket series, and since
//! v2.48 the query carries the warning `bucket label "le" is missing`. Flagger then reports
//! "no values found" (`pkg/metrics/providers/prometheus.go` `RunQuery`); with several series it
//! keeps the last one it iterates. Argo's `result` is a list with one value per series.

use promql_parser::parser::{Expr, LabelModifier};

use crate::engine::Applicability;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::promql::labels::{self, Le};
use crate::promql::query::{Query, aggregate_name, contains};
use crate::promql::{Issue, QueryCx, QueryFix, run_query_rule};

pub struct QuantileWithoutLeAggregation;

static META: RuleMeta = RuleMeta {
    id: "quantile-without-le-aggregation",
    severity: Severity::Error,
    kinds: crate::promql::gates::KINDS,
    doc: include_str!("../../rules/quantile-without-le-aggregation.md"),
    options: &[],
    builtin: false,
};

pub fn meta() -> &'static RuleMeta {
    &META
}

impl Rule for QuantileWithoutLeAggregation {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        run_query_rule(&META, object, cx, out, analyse);
    }
}

/// Whether every selector under `e` reads a classic histogram's `_bucket` series (native
/// histograms need no `le`).
fn classic_buckets(e: &Expr) -> bool {
    fn each(e: &Expr, all: &mut bool, any: &mut bool) {
        let vs = match e {
            Expr::VectorSelector(vs) => Some(vs),
            Expr::MatrixSelector(ms) => Some(&ms.vs),
            _ => None,
        };
        if let Some(vs) = vs {
            *any = true;
            *all &= vs.name.as_deref().is_some_and(|n| n.ends_with("_bucket"));
        }
        for c in crate::promql::query::children(e) {
            each(c, all, any);
        }
    }
    let (mut all, mut any) = (true, false);
    each(e, &mut all, &mut any);
    any && all
}

fn first_metric<'q>(q: &'q Query, e: &Expr) -> Option<&'q str> {
    q.selectors()
        .into_iter()
        .find(|s| contains(e, s.expr))
        .and_then(|s| s.vs.name.as_deref())
}

pub fn analyse(q: &Query, cx: &QueryCx<'_>) -> Vec<Issue> {
    let mut out = Vec::new();
    if !cx.structure_known() {
        return out;
    }
    let text = q.text();
    for hq in q.histogram_quantiles() {
        match labels::le(hq.arg) {
            Le::Dropped(node) => {
                if !classic_buckets(hq.arg) {
                    continue;
                }
                let loc = q.loc(node);
                let span = loc
                    .and_then(|l| {
                        l.grouping
                            .clone()
                            .map(|g| l.head.start.min(g.start)..g.end.max(l.head.end))
                    })
                    .or_else(|| loc.map(|l| l.head.clone()))
                    .unwrap_or_else(|| q.span(node));
                let mut fix = None;
                let (what, help) = match node {
                    Expr::Aggregate(a) => {
                        let op = aggregate_name(a);
                        fix = loc.and_then(|l| keep_le_fix(text, l, &a.modifier));
                        let help = match &a.modifier {
                            Some(LabelModifier::Include(l)) => {
                                let mut keep: Vec<&str> =
                                    l.labels.iter().map(String::as_str).collect();
                                keep.push("le");
                                format!("keep `le`: `{op} by ({}) (…)`", keep.join(", "))
                            }
                            Some(LabelModifier::Exclude(_)) => {
                                "do not list `le` in `without (…)`".to_owned()
                            }
                            None => format!("aggregate by le: `{op} by (le) (…)`"),
                        };
                        (format!("`{}`", one_line(&text[span.clone()])), help)
                    }
                    _ => (
                        format!("`{}`", one_line(&text[span.clone()])),
                        "keep `le` in the matching labels".to_owned(),
                    ),
                };
                out.push(Issue {
                    span,
                    severity: Severity::Error,
                    message: format!(
                        "{what} drops the `le` label before histogram_quantile, so no bucket series are left and the query always returns nothing; {}",
                        cx.on_empty()
                    ),
                    help: Some(help),
                    fix,
                });
            }
            Le::Kept { aggregated: false } => {
                let span = q
                    .loc(hq.expr)
                    .map_or_else(|| q.span(hq.expr), |l| l.head.clone());
                let metric = first_metric(q, hq.arg).unwrap_or("the buckets");
                out.push(Issue {
                    span,
                    severity: Severity::Error,
                    message: format!(
                        "histogram_quantile over `{metric}` is not aggregated, so it computes one quantile per series (per pod, instance, …) instead of one for the gate; {}",
                        cx.on_many()
                    ),
                    help: Some(format!(
                        "aggregate keeping le: histogram_quantile({}, sum by (le) (rate({metric}[…])))",
                        hq.phi.map_or("φ".to_owned(), |p| p.to_string())
                    )),
                    fix: q.loc(hq.arg).map(|l| QueryFix {
                        message: "aggregate the buckets keeping `le`: `sum by (le) (…)`".into(),
                        applicability: Applicability::Unsafe,
                        edits: vec![
                            (l.span.start..l.span.start, "sum by (le) (".into()),
                            (l.span.end..l.span.end, ")".into()),
                        ],
                    }),
                });
            }
            _ => {}
        }
    }
    out
}

/// Keep `le` in an aggregation: add it to `by (…)`, or aggregate `by (le)` when there is no
/// grouping. Unsafe: the query's result changes (from nothing to a quantile), as intended.
fn keep_le_fix(
    text: &str,
    loc: &crate::promql::query::Loc,
    modifier: &Option<LabelModifier>,
) -> Option<QueryFix> {
    let (at, content) = match modifier {
        Some(LabelModifier::Include(l)) => {
            let g = loc.grouping.clone()?;
            let inner = text.get(g.clone())?;
            let close = g.start + inner.rfind(')')?;
            let sep = if l.labels.is_empty() { "" } else { ", " };
            // After the last label (before white space and a trailing comma).
            let before = text.get(g.start..close)?;
            let trimmed = before.trim_end();
            let at = if l.labels.is_empty() {
                close
            } else {
                g.start + trimmed.len()
            };
            let sep = if trimmed.ends_with(',') { " " } else { sep };
            (at, format!("{sep}le"))
        }
        None => (loc.head.end, " by (le)".to_owned()),
        Some(LabelModifier::Exclude(_)) => return None,
    };
    Some(QueryFix {
        message: "keep `le` in the aggregation".into(),
        applicability: Applicability::Unsafe,
        edits: vec![(at..at, content)],
    })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
