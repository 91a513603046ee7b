//! counter-compared-raw: a gate compares a counter's raw value.
//!
//! A counter (`_total`, `_count`, `_sum`, `_bucket`, or a known unsuffixed counter) only grows
//! while its process lives; Flagger compares the query's value with `thresholdRange` at every
//! check (`pkg/controller/scheduler_metrics.go`), Argo evaluates its conditions on it
//! (`metricproviders/prometheus`). Without `rate`/`irate`/`increase`/`delta` the value is the
//! pods' lifetime total: the gate flips once and never back. The shared analysis is in
//! `crate::promql::counters`.

use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::promql::counters::raw_counters;
use crate::promql::query::Query;
use crate::promql::{Dialect, Issue, QueryCx, run_query_rule};

pub struct CounterComparedRaw;

static META: RuleMeta = RuleMeta {
    id: "counter-compared-raw",
    severity: Severity::Warning,
    kinds: crate::promql::gates::KINDS,
    doc: include_str!("../../rules/counter-compared-raw.md"),
    options: &[],
    builtin: false,
};

impl Rule for CounterComparedRaw {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        run_query_rule(&META, object, cx, out, analyse);
    }
}

fn analyse(q: &Query, cx: &QueryCx<'_>) -> Vec<Issue> {
    if !cx.structure_known() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for c in raw_counters(q) {
        // The metric name must be what the controller sends, not a placeholder.
        if !cx.exact(&c.name_span) {
            continue;
        }
        let how = match c.function {
            Some(f) => format!(" (inside {f}())"),
            None => String::new(),
        };
        let message = if c.in_ratio {
            format!(
                "counter {}{how} is used without rate/irate/increase/delta, and so is the other side of its division: the ratio of two raw counters is the ratio over the pods' whole lifetime, which moves ever more slowly, not the ratio of the current traffic the canary serves",
                c.metric
            )
        } else {
            format!(
                "counter {}{how} is compared without rate/irate/increase/delta: its value only grows over the pods' lifetime, so the gate flips once and never back, unrelated to what the canary does now",
                c.metric
            )
        };
        out.push(Issue {
            span: c.span.clone(),
            severity: META.severity,
            message,
            fix: None,
            help: Some(match cx.dialect {
                Dialect::Flagger => format!(
                    "compare the rate over the check's window, e.g. rate({}[{{{{ interval }}}}]), or increase() for a count",
                    c.metric
                ),
                _ => format!(
                    "compare the rate over a recent window, e.g. rate({}[5m]), or increase() for a count",
                    c.metric
                ),
            }),
        });
    }
    out
}
