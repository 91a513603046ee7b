//! Gate queries: where they live ([`gates`]), how the controllers render them ([`template`]),
//! and the PromQL analysis the query rules share ([`query`], [`labels`], [`scrape`]).
//!
//! For rules: [`gates::gates`] lists the gates whose findings belong on an object; each gate
//! carries its [`analysis::Analysis`] (template, rendered text, parsed [`query::Query`] with node
//! spans, maps back to the YAML scalar), its thresholds or conditions, bindings and target. A
//! finding about a range of the parsed text is made with [`gates::Gate::finding`], which points
//! at the exact characters inside the scalar. Query-shape rules implement an [`Analyse`]
//! function and call [`run_query_rule`]; `rollgate check-query` runs the same functions on a
//! bare query ([`check_bare`]).

pub mod analysis;
pub mod builtin;
pub mod check;
pub mod condition;
pub mod gates;
pub mod labels;
pub mod lex;
pub mod query;
pub mod scrape;
pub mod srcmap;
pub mod template;

use std::ops::Range;

pub use analysis::Analysis;
pub use gates::{Gate, GateKind, Target, Thresholds, gates, push_unique};
pub use query::Query;
pub use scrape::ScrapeInterval;
pub use template::Dialect;

use crate::engine::{Context, Finding, Object, RuleMeta, Severity};

/// A problem a query rule found in a query, as a range of the query text (the text the
/// controller sends, i.e. `Analysis::sent`).
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub span: Range<usize>,
    pub severity: Severity,
    pub message: String,
    pub help: Option<String>,
    /// Edits of the query text that resolve the issue.
    pub fix: Option<QueryFix>,
}

/// A fix as edits of the parsed query text (ranges of [`Query::text`]); the gate maps them to the
/// template and the string that holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryFix {
    pub message: String,
    pub applicability: crate::engine::Applicability,
    pub edits: Vec<(Range<usize>, String)>,
}

/// What a query analysis may look at besides the query.
pub struct QueryCx<'a> {
    pub dialect: Dialect,
    pub analysis: &'a Analysis,
    pub thresholds: &'a Thresholds,
    scrape: std::cell::OnceCell<ScrapeInterval>,
    scrape_of: Box<dyn Fn() -> ScrapeInterval + 'a>,
}

impl<'a> QueryCx<'a> {
    pub fn new(
        dialect: Dialect,
        analysis: &'a Analysis,
        thresholds: &'a Thresholds,
        scrape: impl Fn() -> ScrapeInterval + 'a,
    ) -> Self {
        QueryCx {
            dialect,
            analysis,
            thresholds,
            scrape: std::cell::OnceCell::new(),
            scrape_of: Box::new(scrape),
        }
    }

    /// The effective scrape interval of the gate's metric (looked up on first use).
    pub fn scrape(&self) -> &ScrapeInterval {
        self.scrape.get_or_init(|| (self.scrape_of)())
    }

    /// Whether a range of the query is exactly what the controller evaluates (no placeholder).
    pub fn exact(&self, r: &Range<usize>) -> bool {
        self.analysis.is_exact(r)
    }

    /// Whether findings about the query's structure hold whatever the placeholders stand for.
    pub fn structure_known(&self) -> bool {
        self.analysis.structure_known()
    }

    /// What the controller does when the query returns no series, for messages.
    pub fn on_empty(&self) -> &'static str {
        match self.dialect {
            Dialect::Flagger => {
                "Flagger reports \"no values found\" and fails the check every interval"
            }
            Dialect::Argo => {
                "Argo gets an empty result: result[0] errors every measurement and all(result, …) passes vacuously"
            }
            Dialect::Plain => {
                "a Flagger gate fails every check (\"no values found\"); an Argo gate errors on result[0] and passes all(result, …) vacuously"
            }
        }
    }

    /// What the controller does with several series, for messages.
    pub fn on_many(&self) -> &'static str {
        match self.dialect {
            Dialect::Flagger => "Flagger compares only the last series of the result",
            Dialect::Argo => "Argo's result[0] is an arbitrary one of them",
            Dialect::Plain => {
                "Flagger compares only the last series, Argo's result[0] is an arbitrary one"
            }
        }
    }
}

/// A query rule's analysis.
pub type Analyse = fn(&Query, &QueryCx<'_>) -> Vec<Issue>;

/// Run a query rule's analysis on every parsed gate query of `object` and report its issues.
pub fn run_query_rule<'a>(
    meta: &'static RuleMeta,
    object: &'a Object,
    cx: &Context<'a>,
    out: &mut Vec<Finding>,
    analyse: Analyse,
) {
    let mut found = Vec::new();
    for gate in cx.gates(object).iter() {
        if !gate.promql {
            continue;
        }
        let Some(q) = gate.analysis.query() else {
            continue;
        };
        let monitors = cx.monitors();
        let g = gate;
        let qcx = QueryCx::new(gate.dialect, &gate.analysis, &gate.thresholds, move || {
            scrape::for_gate(g, monitors)
        });
        for issue in analyse(q, &qcx) {
            let mut f = gate.finding(meta, &issue.span, issue.message);
            f.severity = issue.severity;
            if let Some(h) = issue.help {
                f = f.with_help(h);
            }
            if let Some(fix) = issue.fix.and_then(|x| gate.fix(&x)) {
                f = f.with_fix(fix);
            }
            push_unique(&mut found, f);
        }
    }
    out.extend(found);
}

/// The query rules `rollgate check-query` runs, with their analyses.
pub fn query_rules() -> Vec<(&'static RuleMeta, Analyse)> {
    use crate::rules::{
        quantile_without_le_aggregation as q, query_returns_many_series as m,
        rate_window_too_short as r, vector_match_never_matches as v,
    };
    vec![
        (q::meta(), q::analyse as Analyse),
        (m::meta(), m::analyse as Analyse),
        (v::meta(), v::analyse as Analyse),
        (r::meta(), r::analyse as Analyse),
    ]
}

/// A finding about a bare query (`rollgate check-query`): rule, severity, range in the query.
#[derive(Debug, Clone, PartialEq)]
pub struct BareFinding {
    pub rule: &'static str,
    pub issue: Issue,
}

/// Analyse a bare query as `rollgate check-query` does.
pub fn check_bare(text: &str, scrape: ScrapeInterval, thresholds: Thresholds) -> Vec<BareFinding> {
    let a = gates::bare(text);
    let mut out = Vec::new();
    if let Some(e) = a.parse_error() {
        out.push(BareFinding {
            rule: crate::rules::promql_parse_error::meta().id,
            issue: Issue {
                fix: None,
                span: e.span.clone(),
                severity: if e.kind == query::ParseErrorKind::Invalid {
                    Severity::Error
                } else {
                    Severity::Warning
                },
                message: crate::rules::promql_parse_error::message(e, Dialect::Plain),
                help: None,
            },
        });
        return out;
    }
    let Some(q) = a.query() else { return out };
    let qcx = QueryCx::new(Dialect::Plain, &a, &thresholds, move || scrape.clone());
    for (meta, analyse) in query_rules() {
        for issue in analyse(q, &qcx) {
            out.push(BareFinding {
                rule: meta.id,
                issue,
            });
        }
    }
    out.sort_by_key(|f| (f.issue.span.start, f.rule));
    out
}
