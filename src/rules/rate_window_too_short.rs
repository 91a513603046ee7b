//! rate-window-too-short: `rate`/`irate`/`increase` over a window that holds too few samples for
//! the effective scrape interval.
//!
//! These functions need at least two samples in the window (Prometheus `promql/functions.go`
//! `extrapolatedRate`, `instantValue`), else the series is dropped from the result. Below 2× the
//! scrape interval a window often holds one sample; below 4× a single missed scrape does it
//! (the Robust Perception / Grafana rule of thumb; pint reports 2× as a bug). Flagger issue
//! #1123: a 1m window over a 1m scrape fails canaries. The scrape interval comes from the
//! workload's ServiceMonitor/PodMonitor, else `prometheus.scrape-interval` in `.rollgate.yaml`,
//! else the Prometheus object (then findings are one level lower: it may not be the interval of
//! this metric), else the operator default 30s is assumed (then findings are `info` and say so).

use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::promql::query::Query;
use crate::promql::scrape::format_duration;
use crate::promql::template::Dialect;
use crate::promql::{Issue, QueryCx, run_query_rule};

pub struct RateWindowTooShort;

static META: RuleMeta = RuleMeta {
    id: "rate-window-too-short",
    severity: Severity::Warning,
    kinds: crate::promql::gates::KINDS,
    doc: include_str!("../../rules/rate-window-too-short.md"),
    options: &[],
    builtin: false,
};

pub fn meta() -> &'static RuleMeta {
    &META
}

impl Rule for RateWindowTooShort {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        run_query_rule(&META, object, cx, out, analyse);
    }
}

pub fn analyse(q: &Query, cx: &QueryCx<'_>) -> Vec<Issue> {
    let mut out = Vec::new();
    let scrape = cx.scrape();
    if scrape.value.is_zero() {
        return out;
    }
    for w in q.range_windows() {
        let Some(f) = w
            .function
            .filter(|f| matches!(*f, "rate" | "irate" | "increase"))
        else {
            continue;
        };
        let span = w.span.clone().unwrap_or_else(|| q.span(w.expr));
        if !cx.exact(&span) {
            continue;
        }
        let (mut severity, why) = if w.range < scrape.value * 2 {
            (
                Severity::Error,
                format!(
                    "shorter than twice the scrape interval {}",
                    format_duration(scrape.value)
                ),
            )
        } else if w.range < scrape.value * 4 {
            (
                Severity::Warning,
                format!(
                    "less than 4× the scrape interval {}",
                    format_duration(scrape.value)
                ),
            )
        } else {
            continue;
        };
        if scrape.unknown {
            // Nothing says the interval: the finding rests on an assumption.
            severity = Severity::Info;
        } else if scrape.assumed {
            severity = match severity {
                Severity::Error => Severity::Warning,
                _ => Severity::Info,
            };
        }
        let effect = if w.range < scrape.value * 2 {
            "the window often holds a single sample, so the series drops out of the result"
        } else {
            "one missed or late scrape leaves a single sample in the window and the series drops out of the result"
        };
        let runtime = match cx.dialect {
            Dialect::Flagger => "; Flagger then fails the check (\"no values found\")",
            Dialect::Argo => "; Argo then gets an empty result",
            Dialect::Plain => "",
        };
        let suggest = format_duration(scrape.value * 4);
        out.push(Issue {
            span,
            severity,
            message: format!(
                "{f}() window {} is {why} ({}): {effect}{runtime}",
                format_duration(w.range),
                scrape.source
            ),
            help: Some(if cx.dialect == Dialect::Flagger {
                format!("use a window of at least {suggest} (the metric's `interval` when the query uses {{{{ interval }}}})")
            } else {
                format!("use a window of at least {suggest}")
            }),
        });
    }
    out
}
