//! Counters in gate queries: which selectors hand a counter's raw, ever-growing value to the
//! comparison (rule `counter-compared-raw`), and whether a query is recognisably a success
//! ratio (rule `flagger-threshold-is-maximum`).
//!
//! A Prometheus counter only grows while the process lives (`_total`, `_count`, `_sum` and
//! `_bucket` by the exposition conventions, `prometheus/docs/practices/naming.md`, plus the
//! unsuffixed counters the builtin Flagger queries read). Only the range functions that
//! differentiate it — `rate`, `irate`, `increase`, `delta`, `idelta`, `deriv`, `resets`,
//! `changes` — make its value describe a recent window.

use std::ops::Range;

use promql_parser::label::MatchOp;
use promql_parser::parser::{Expr, VectorSelector};

use super::lex::Op;
use super::query::{Query, aggregate_name, binary_op, contains};

/// Counters without a conventional suffix that gate queries commonly read (the envoy, NGINX
/// and APISIX counters of Flagger's builtin queries, `pkg/metrics/observers/*.go`).
const UNSUFFIXED_COUNTERS: &[&str] = &[
    "envoy_cluster_upstream_rq",
    "envoy_cluster_upstream_rq_xx",
    "envoy_cluster_upstream_rq_completed",
    "nginx_ingress_controller_requests",
    "apisix_http_status",
];

/// Whether `name` is (by convention or by name) a counter or a histogram/summary counter series.
pub fn is_counter(name: &str) -> bool {
    ["_total", "_count", "_sum", "_bucket"]
        .iter()
        .any(|s| name.len() > s.len() && name.ends_with(s))
        || UNSUFFIXED_COUNTERS.contains(&name)
}

/// Functions after which a counter's value describes a recent window, or after which the value
/// does not matter (`absent`, `timestamp`, counting series or samples).
fn consumes(function: &str) -> bool {
    matches!(
        function,
        "rate"
            | "irate"
            | "increase"
            | "delta"
            | "idelta"
            | "deriv"
            | "resets"
            | "changes"
            | "absent"
            | "absent_over_time"
            | "present_over_time"
            | "count_over_time"
            | "timestamp"
    )
}

/// A counter selector whose raw value reaches the comparison.
#[derive(Debug, Clone)]
pub struct RawCounter<'q> {
    pub metric: &'q str,
    /// The selector in the query text.
    pub span: Range<usize>,
    /// The metric name in the query text.
    pub name_span: Range<usize>,
    /// The innermost function around it (`sum_over_time`, `histogram_quantile`, …).
    pub function: Option<&'static str>,
    /// Whether it is part of a division whose other side also holds a raw counter.
    pub in_ratio: bool,
    /// The selector node.
    pub expr: &'q Expr,
}

/// Every counter selector of `q` whose value reaches the result without being differentiated.
pub fn raw_counters(q: &Query) -> Vec<RawCounter<'_>> {
    let mut out = Vec::new();
    q.walk(&mut |e, anc| {
        let (vs, range): (&VectorSelector, bool) = match e {
            Expr::VectorSelector(vs) => (vs, false),
            Expr::MatrixSelector(ms) => (&ms.vs, true),
            _ => return,
        };
        let Some(metric) = selector_metric(vs) else {
            return;
        };
        if !is_counter(metric) {
            return;
        }
        // Walk outwards: the first function decides; a subquery passes its parent's verdict
        // through (`rate(x_total[5m:1m])`).
        let mut function = None;
        let mut child: &Expr = e;
        let _ = range;
        for a in anc.iter().rev() {
            match a {
                Expr::Call(c) => {
                    if consumes(c.func.name) {
                        return;
                    }
                    function.get_or_insert(c.func.name);
                    // `histogram_quantile(φ, b)`, `label_replace(v, …)`: the value passes.
                }
                Expr::Aggregate(ag) => {
                    let name = aggregate_name(ag);
                    if matches!(name, "count" | "group" | "count_values") {
                        return;
                    }
                    // The parameter of topk/quantile is not the vector.
                    if ag.param.as_deref().is_some_and(|p| std::ptr::eq(p, child)) {
                        return;
                    }
                }
                Expr::Binary(b) => {
                    let filter = matches!(binary_op(b), Some(Op::And | Op::Unless));
                    if filter && std::ptr::eq(&*b.rhs, child) {
                        // Only the label sets of the right side of `and`/`unless` matter.
                        return;
                    }
                }
                _ => {}
            }
            child = a;
        }
        let loc = q.loc(vs).or_else(|| q.loc(e));
        let name_span = loc.map(|l| l.head.clone()).unwrap_or_default();
        let span = [q.span(e), loc.map(|l| l.span.clone()).unwrap_or_default()]
            .into_iter()
            .find(|r| !r.is_empty())
            .unwrap_or_else(|| name_span.clone());
        out.push(RawCounter {
            metric,
            span,
            name_span,
            function,
            in_ratio: false,
            expr: e,
        });
    });
    // Ratios: a division with a raw counter on both sides.
    q.walk(&mut |e, _| {
        let Expr::Binary(b) = e else { return };
        if binary_op(b) != Some(Op::Div) {
            return;
        }
        let (lhs, rhs): (&Expr, &Expr) = (&b.lhs, &b.rhs);
        let both =
            out.iter().any(|c| contains(lhs, c.expr)) && out.iter().any(|c| contains(rhs, c.expr));
        if both {
            for c in out.iter_mut() {
                if contains(e, c.expr) {
                    c.in_ratio = true;
                }
            }
        }
    });
    out
}

fn selector_metric(vs: &VectorSelector) -> Option<&str> {
    vs.name.as_deref().or_else(|| {
        vs.matchers
            .matchers
            .iter()
            .find(|m| m.name == "__name__" && matches!(m.op, MatchOp::Equal))
            .map(|m| m.value.as_str())
    })
}

// ---------------------------------------------------------------------------------------------
// Success ratios.

/// Labels that carry a response status or outcome.
const STATUS_LABELS: &[&str] = &[
    "status",
    "code",
    "status_code",
    "response_code",
    "envoy_response_code",
    "http_status",
    "http_status_code",
    "grpc_code",
    "grpc_status",
    "classification",
    "outcome",
    "result",
    "response_code_class",
    "envoy_response_code_class",
];

fn strip(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => strip(&p.expr),
        _ => e,
    }
}

fn literal(e: &Expr) -> Option<f64> {
    match strip(e) {
        Expr::NumberLiteral(n) => Some(n.val),
        _ => None,
    }
}

/// The expression with scaling by a literal removed (`X * 100`, `100 * X`, `X / 100`).
fn unscaled(e: &Expr) -> &Expr {
    let e = strip(e);
    if let Expr::Binary(b) = e {
        match binary_op(b) {
            Some(Op::Mul) if literal(&b.rhs).is_some() => return unscaled(&b.lhs),
            Some(Op::Mul) if literal(&b.lhs).is_some() => return unscaled(&b.rhs),
            Some(Op::Div) if literal(&b.rhs).is_some() => return unscaled(&b.lhs),
            _ => {}
        }
    }
    e
}

/// How the selectors of `e` filter on a status label: `Some(true)` when they keep successes
/// (`status!~"5.*"`, `code=~"2.."`, `classification!="failure"`), `Some(false)` when they keep
/// failures (`status=~"5.."`), `None` when they do not filter.
fn status_filter(e: &Expr) -> Option<bool> {
    let mut verdict = None;
    let mut visit = |vs: &VectorSelector| {
        for m in &vs.matchers.matchers {
            if !STATUS_LABELS.contains(&m.name.to_ascii_lowercase().as_str()) {
                continue;
            }
            let v = m.value.to_ascii_lowercase();
            let failure = v.starts_with('5')
                || v.starts_with("4")
                || v.contains("fail")
                || v.contains("error")
                || v.contains("5xx");
            let success =
                v.starts_with('2') || v.contains("success") || v == "ok" || v.contains("2xx");
            let keeps_success = match m.op {
                MatchOp::Equal | MatchOp::Re(_) => success && !failure,
                MatchOp::NotEqual | MatchOp::NotRe(_) => failure && !success,
            };
            let keeps_failure = match m.op {
                MatchOp::Equal | MatchOp::Re(_) => failure && !success,
                MatchOp::NotEqual | MatchOp::NotRe(_) => success && !failure,
            };
            if keeps_success {
                verdict = Some(true);
            } else if keeps_failure && verdict.is_none() {
                verdict = Some(false);
            }
        }
    };
    walk_selectors(e, &mut visit);
    verdict
}

fn walk_selectors<'q>(e: &'q Expr, f: &mut dyn FnMut(&'q VectorSelector)) {
    match e {
        Expr::VectorSelector(vs) => f(vs),
        Expr::MatrixSelector(ms) => f(&ms.vs),
        _ => {
            for c in super::query::children(e) {
                walk_selectors(c, f);
            }
        }
    }
}

/// Whether `q` is recognisably a success (availability) ratio: `good / total` where `good`
/// keeps successful responses by a status label, or `1 - bad / total` (also scaled by 100).
/// `name` (the gate's metric name) counts when the query is a ratio of the same counter
/// without a status filter on either side.
pub fn success_ratio(q: &Query, name: &str) -> bool {
    let e = unscaled(q.expr());
    if let Expr::Binary(b) = e {
        match binary_op(b) {
            Some(Op::Div) => {
                let num = status_filter(&b.lhs);
                let den = status_filter(&b.rhs);
                if num == Some(true) && den.is_none() {
                    return true;
                }
                if num.is_none() && den.is_none() {
                    let n = name.to_ascii_lowercase();
                    return n.contains("success") || n.contains("availab");
                }
            }
            Some(Op::Sub) if matches!(literal(&b.lhs), Some(v) if v == 1.0 || v == 100.0) => {
                if let Expr::Binary(inner) = unscaled(&b.rhs) {
                    if binary_op(inner) == Some(Op::Div)
                        && status_filter(&inner.lhs) == Some(false)
                        && status_filter(&inner.rhs).is_none()
                    {
                        return true;
                    }
                }
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(q: &str) -> Vec<(String, bool)> {
        let q = Query::parse(q).unwrap();
        raw_counters(&q)
            .into_iter()
            .map(|c| (c.metric.to_owned(), c.in_ratio))
            .collect()
    }

    #[test]
    fn raw_counter_selectors() {
        assert!(raw("sum(rate(http_requests_total[1m]))").is_empty());
        assert!(raw("histogram_quantile(0.99, sum(rate(x_bucket[1m])) by (le))").is_empty());
        assert!(raw("sum(increase(x_total[5m])) > 3").is_empty());
        assert!(raw("rate(x_total[5m:1m])").is_empty());
        assert!(raw("count(x_total)").is_empty());
        assert!(raw("absent(x_total)").is_empty());
        assert!(raw("up and on() x_total").is_empty());
        assert!(raw("sum(rate(http_server_requests_seconds_count[1m]))").is_empty());
        assert!(raw("avg(memory_usage_bytes)").is_empty());
        assert_eq!(raw("sum(x_total)"), vec![("x_total".into(), false)]);
        assert_eq!(
            raw("sum_over_time(x_total[5m])"),
            vec![("x_total".into(), false)]
        );
        assert_eq!(
            raw("histogram_quantile(0.99, sum(x_bucket) by (le))"),
            vec![("x_bucket".into(), false)]
        );
        assert_eq!(
            raw("sum(x_total{code=~\"5..\"}) / sum(x_total)"),
            vec![("x_total".into(), true), ("x_total".into(), true)]
        );
        assert_eq!(
            raw("sum(nginx_ingress_controller_requests)"),
            vec![("nginx_ingress_controller_requests".into(), false)]
        );
        // One raw side only: not a ratio of counters.
        assert_eq!(
            raw("sum(x_total) / sum(rate(y_total[1m]))"),
            vec![("x_total".into(), false)]
        );
        assert!(!is_counter("_total"));
        let q = Query::parse("sum(x_total{a=\"b\"}) / sum(x_total)").unwrap();
        let spans: Vec<_> = raw_counters(&q).into_iter().map(|c| c.span).collect();
        assert_eq!(spans, vec![4..18, 26..33]);
    }

    #[test]
    fn success_ratios() {
        let s = |q: &str, n: &str| success_ratio(&Query::parse(q).unwrap(), n);
        assert!(s(
            "sum(rate(x_total{status!~\"5.*\"}[1m])) / sum(rate(x_total[1m])) * 100",
            "sr"
        ));
        assert!(s(
            "100 * (sum(rate(x_total{code=~\"2..\"}[1m])) / sum(rate(x_total[1m])))",
            "sr"
        ));
        assert!(s(
            "1 - sum(rate(x_total{status=~\"5..\"}[1m])) / sum(rate(x_total[1m]))",
            "x"
        ));
        assert!(!s(
            "sum(rate(x_total{status=~\"5..\"}[1m])) / sum(rate(x_total[1m])) * 100",
            "success-rate"
        ));
        assert!(s(
            "sum(rate(ok_total[1m])) / sum(rate(all_total[1m]))",
            "availability"
        ));
        assert!(!s(
            "sum(rate(ok_total[1m])) / sum(rate(all_total[1m]))",
            "latency"
        ));
        assert!(!s(
            "histogram_quantile(0.99, sum(rate(x_bucket[1m])) by (le))",
            "success"
        ));
    }
}
