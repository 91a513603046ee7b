//! promql-parse-error: a gate query that is not PromQL after rendering (or too big to analyse).
//!
//! Parsed with promql-parser 0.11.1 (the Prometheus grammar); positions come from
//! `crate::promql::query`. Flagger collapses white space before sending the query
//! (`pkg/metrics/providers/prometheus.go` `trimQuery`), so a `#` comment swallows the rest.

use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::promql::query::{ParseError, ParseErrorKind};
use crate::promql::template::ValueSource;
use crate::promql::{Dialect, push_unique};

pub struct PromqlParseError;

static META: RuleMeta = RuleMeta {
    id: "promql-parse-error",
    severity: Severity::Error,
    kinds: crate::promql::gates::KINDS,
    doc: include_str!("../../rules/promql-parse-error.md"),
    options: &[],
    builtin: false,
};

pub fn meta() -> &'static RuleMeta {
    &META
}

/// The message for a parse error of a query run by `dialect`.
pub fn message(e: &ParseError, dialect: Dialect) -> String {
    if e.kind == ParseErrorKind::NotAnalysed {
        return e.message.clone();
    }
    let runtime = match dialect {
        Dialect::Flagger => {
            "Prometheus rejects the query and Flagger fails the check every interval"
        }
        Dialect::Argo => {
            "Prometheus rejects the query and every measurement errors until the AnalysisRun fails"
        }
        Dialect::Plain => "Prometheus rejects the query",
    };
    format!("query is not valid PromQL: {}; {runtime}", e.message)
}

impl Rule for PromqlParseError {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        let mut found = Vec::new();
        for gate in cx.gates(object).iter() {
            let a = &gate.analysis;
            let Some(e) = a.parse_error() else { continue };
            let severity = match e.kind {
                ParseErrorKind::Invalid => Severity::Error,
                ParseErrorKind::NotAnalysed => Severity::Warning,
            };
            // `{{ interval }}` rendered empty: the metric has no interval (templates get no
            // default, `runMetricChecks`), so the range is `[]`.
            let rendered = a.to_rendered(&e.span);
            let empty_interval = a.rendered.substitutions.iter().find(|s| {
                s.name == "interval"
                    && s.out.is_empty()
                    && s.exact
                    && s.source == ValueSource::Model("interval")
                    && rendered.start <= s.out.start
                    && s.out.start <= rendered.end
            });
            let mut f = if let Some(s) = empty_interval {
                let who = gate.binder_label.as_deref().unwrap_or("the Canary metric");
                gate.template_finding(
                    &META,
                    severity,
                    &s.src,
                    format!(
                        "{{{{ interval }}}} renders empty because {who} sets no interval (MetricTemplate metrics get no default), so the range is `[]`; Prometheus rejects the query and Flagger fails the check every interval"
                    ),
                )
                .with_help("set `interval: 1m` (or longer) on the Canary metric")
            } else {
                gate.finding(&META, &e.span, message(e, gate.dialect))
            };
            f.severity = severity;
            push_unique(&mut found, f);
        }
        out.extend(found);
    }
}
