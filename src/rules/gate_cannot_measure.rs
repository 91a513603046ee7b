//! gate-cannot-measure: a gate whose result does not depend on the canary.
//!
//! - A query that reads no series (`vector(100)`, `1 > bool 0`, `time()`): Prometheus evaluates it to
//!   the same number every time, so Flagger's threshold check (`pkg/controller/scheduler_metrics.go`)
//!   or Argo's condition (`utils/evaluate/evaluate.go`) passes or fails whatever the canary does.
//! - A fallback that turns *no data* into a value: `X or vector(0)`, `X or on() vector(1)`,
//!   `X or absent(Y)`. With no canary traffic yet, or a label that matches nothing, `X` is empty and
//!   the gate measures the constant: Flagger compares it against the threshold instead of
//!   failing with "no values found" (`pkg/metrics/providers/prometheus.go` `RunQuery`).
//! - An Argo condition that is true on an empty result without going through `all(…)` (that case
//!   is `argo-vacuous-all`): `len(result) == 0 || result[0] < 5` passes every measurement that
//!   finds no data.

use promql_parser::parser::Expr;

use crate::engine::rule::finding;
use crate::engine::{Absence, Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::promql::condition::{Eval, Input, argo_metrics, eval, first_all, guards_len, parse};
use crate::promql::gates::push_unique;
use crate::promql::lex::Op;
use crate::promql::query::{Query, binary_op, children};
use crate::promql::template::ValueSource;
use crate::promql::{Issue, QueryCx, run_query_rule};

pub struct GateCannotMeasure;

static META: RuleMeta = RuleMeta {
    id: "gate-cannot-measure",
    severity: Severity::Warning,
    kinds: crate::promql::gates::KINDS,
    doc: include_str!("../../rules/gate-cannot-measure.md"),
    options: &[],
    builtin: false,
};

impl Rule for GateCannotMeasure {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        run_query_rule(&META, object, cx, out, analyse);
        if object.group == "argoproj.io" {
            argo_conditions(object, cx, out);
        }
        misnamed_services(object, cx, out);
    }
}

/// Whether a sub-expression reads any series.
fn reads_series(e: &Expr) -> bool {
    matches!(e, Expr::VectorSelector(_) | Expr::MatrixSelector(_)) || children(e).any(reads_series)
}

fn is_absent_call(e: &Expr) -> bool {
    match e {
        Expr::Call(c) => c.func.name == "absent" || c.func.name == "absent_over_time",
        Expr::Paren(p) => is_absent_call(&p.expr),
        _ => false,
    }
}

fn one_line(s: &str) -> String {
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(57).collect::<String>())
    } else {
        s
    }
}

pub fn analyse(q: &Query, cx: &QueryCx<'_>) -> Vec<Issue> {
    let mut out = Vec::new();
    if !cx.structure_known() {
        return out;
    }
    let text = q.text();
    if !reads_series(q.expr()) {
        out.push(Issue {
            span: 0..text.len(),
            severity: Severity::Warning,
            message: format!(
                "the query `{}` reads no series: it evaluates to the same value at every check, so the gate passes or fails whatever the canary does",
                one_line(text)
            ),
            help: Some("query the canary's metrics (requests, errors, latency) with a selector for its workload".into()),
            fix: None,
        });
        return out;
    }
    q.walk(&mut |e, _| {
        let Expr::Binary(b) = e else { return };
        if binary_op(b) != Some(Op::Or) {
            return;
        }
        let rhs = &*b.rhs;
        let constant = !reads_series(rhs);
        if !(constant || is_absent_call(rhs)) {
            return;
        }
        let span = q.span(rhs);
        let shown = one_line(text.get(span.clone()).unwrap_or("the fallback"));
        out.push(Issue {
            span,
            severity: Severity::Warning,
            message: format!(
                "`or {shown}` turns no data into a value: with no canary traffic yet (or a selector that matches nothing) the gate measures {} instead of the canary, and no missing data is ever reported",
                if constant { "this constant" } else { "absent()'s 1" }
            ),
            help: Some("drop the fallback so that no data fails the check, or raise the gate's traffic requirement (Flagger `analysis.threshold` counts failed checks)".into()),
            fix: None,
        });
    });
    out
}

/// Argo conditions that pass on an empty result without an unguarded `all(…)`.
fn argo_conditions<'a>(object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
    let mut found = Vec::new();
    let empty = Input::Vector(Vec::new());
    for m in argo_metrics(object, cx) {
        if m.provider != Some("prometheus") {
            continue;
        }
        for v in &m.variants {
            let Some(stext) = &v.success else { continue };
            let Ok(s) = parse(stext) else { continue };
            let f = match v.failure.as_deref().map(parse) {
                Some(Err(_)) => continue,
                Some(Ok(f)) => Some(f),
                None => None,
            };
            if eval(&s, &empty) != Eval::Value(true) {
                continue;
            }
            if f.as_ref()
                .is_some_and(|f| eval(f, &empty) != Eval::Value(false))
            {
                continue;
            }
            // `all(result, …)` unguarded is argo-vacuous-all's finding.
            if first_all(&s).is_some() && !guards_len(&s) {
                continue;
            }
            let fi = finding(
                &META,
                object,
                format!("{}/successCondition", m.pointer),
                format!(
                    "successCondition `{}` is true when the query returns no series: with no canary traffic (or a selector that matches nothing) every measurement is Successful",
                    one_line(stext)
                ),
            )
            .with_help("require data: `len(result) > 0 && …`, and let an empty result count as a failure or an inconclusive measurement");
            push_unique(&mut found, fi);
        }
    }
    out.extend(found);
}

/// Labels whose value names the object a gate measures: the label, the kind and the API groups
/// it may be in. Istio's `destination_service_name` and the `service` label prometheus-operator's
/// ServiceMonitors add are a Service's name; Istio's `destination_workload` is the name of the
/// pod's workload (a Deployment, or an Argo Rollout: Istio strips the ReplicaSet hash,
/// `pkg/kube/util.go` `workloadNameFromWorkloadEntry`/`GetDeployMetaFromPod`).
const SELECTED: &[(&str, &str, &[&str])] = &[
    ("destination_service_name", "Service", &[""]),
    ("service", "Service", &[""]),
    (
        "destination_workload",
        "Deployment",
        &["apps", "argoproj.io"],
    ),
];

/// Labels that say which namespace the selected object is in.
const NAMESPACE_LABELS: &[&str] = &[
    "namespace",
    "destination_service_namespace",
    "destination_workload_namespace",
    "kubernetes_namespace",
];

/// A gate rendered for its binder (a Canary, a Rollout) whose `service="x"`,
/// `destination_service_name="x"` or `destination_workload="x"` matcher names an object the
/// world does not hold: the query returns no series and the gate has no data. Judged like
/// every missing referent (`common::absent`): a warning with evidence (the world holds other
/// Services/workloads in that namespace applied with the binder, or one with a similar name:
/// "did you mean"), an info otherwise (it most likely lives elsewhere), an error with
/// `--strict-references`. Only values written literally or passed whole by an Argo argument or
/// a Flagger template variable are judged; the target and the objects Flagger generates for
/// it are not (target-not-found reports a missing target).
fn misnamed_services<'a>(object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
    let mut found = Vec::new();
    for gate in cx.gates(object).iter() {
        if !gate.promql {
            continue;
        }
        let Some(binder) = gate.binder.as_ref().map(|b| b.object) else {
            continue;
        };
        let Some(q) = gate.analysis.query() else {
            continue;
        };
        let rendered = &gate.analysis.rendered;
        // Names the binder's controller creates or that other rules check.
        let mut known: Vec<String> = Vec::new();
        if binder.group == "flagger.app" {
            let target = crate::rules::common::str_at(binder, "/spec/targetRef/name").unwrap_or("");
            let service =
                crate::rules::common::str_at(binder, "/spec/service/name").unwrap_or(target);
            for n in [target, service] {
                if !n.is_empty() {
                    known.extend([n.to_owned(), format!("{n}-primary"), format!("{n}-canary")]);
                }
            }
        } else {
            known.push(binder.name.clone());
            for p in [
                "/spec/strategy/canary/canaryService",
                "/spec/strategy/canary/stableService",
                "/spec/strategy/blueGreen/activeService",
                "/spec/strategy/blueGreen/previewService",
            ] {
                if let Some(n) = crate::rules::common::str_at(binder, p) {
                    known.push(n.to_owned());
                }
            }
        }
        for sel in q.selectors() {
            let matchers = &sel.vs.matchers.matchers;
            // The namespace the selector names, when it names one exactly.
            let mut ns = Some(binder.ns().to_owned());
            for m in matchers
                .iter()
                .filter(|m| NAMESPACE_LABELS.contains(&m.name.as_str()))
            {
                ns = match m.op {
                    promql_parser::label::MatchOp::Equal if !m.value.is_empty() => {
                        Some(m.value.clone())
                    }
                    _ => None,
                };
            }
            let Some(ns) = ns else { continue };
            for m in matchers {
                let Some(loc) = sel.matcher_loc(m) else {
                    continue;
                };
                let r = gate.analysis.to_rendered(&loc.value_span);
                // What the matcher names: (label, kind, groups, name, its range in the
                // rendered text, namespace).
                // The value's range without its quotes (when written without escapes).
                let quoted = rendered.text.get(r.clone()).is_some_and(|t| {
                    t.len() == m.value.len() + 2 && t.get(1..t.len() - 1) == Some(m.value.as_str())
                });
                if !quoted {
                    continue;
                }
                let r = r.start + 1..r.end - 1;
                let named = if m.name == "destination_service" {
                    // Istio's `destination_service` is the Service's host,
                    // `<name>.<namespace>.svc.cluster.local`; the dots of a regex matcher
                    // match themselves too.
                    let dns = |x: &str| {
                        !x.is_empty()
                            && x.len() <= 63
                            && x.bytes()
                                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    };
                    match m.value.split('.').collect::<Vec<_>>().as_slice() {
                        [name, ns_here, "svc", "cluster", "local"]
                            if dns(name)
                                && dns(ns_here)
                                && rendered.text.get(r.clone()) == Some(m.value.as_str()) =>
                        {
                            let ns_range =
                                r.start + name.len() + 1..r.start + name.len() + 1 + ns_here.len();
                            // The namespace part must be a value, not a placeholder.
                            let ns_exact = rendered
                                .substitutions
                                .iter()
                                .filter(|s| {
                                    s.out.start < ns_range.end && ns_range.start < s.out.end
                                })
                                .all(|s| s.exact);
                            ns_exact.then(|| {
                                (
                                    "destination_service",
                                    "Service",
                                    &[""][..],
                                    (*name).to_owned(),
                                    r.start..r.start + name.len(),
                                    (*ns_here).to_owned(),
                                )
                            })
                        }
                        _ => None,
                    }
                } else {
                    SELECTED
                        .iter()
                        .find(|(l, _, _)| *l == m.name.as_str())
                        .filter(|_| matches!(m.op, promql_parser::label::MatchOp::Equal))
                        .map(|(l, k, g)| (*l, *k, *g, m.value.clone(), r.clone(), ns.clone()))
                };
                let Some((label, kind, groups, name, name_range, ns)) = named else {
                    continue;
                };
                if name.is_empty() || known.contains(&name) {
                    continue;
                }
                // Written literally, or one argument/variable passed whole.
                let subs: Vec<_> = rendered
                    .substitutions
                    .iter()
                    .filter(|s| s.out.start < name_range.end && name_range.start < s.out.end)
                    .collect();
                let judged = match subs.as_slice() {
                    [] => true,
                    [s] => {
                        s.exact
                            && matches!(s.source, ValueSource::ArgValue | ValueSource::Variable(_))
                            && s.out == name_range
                    }
                    _ => false,
                };
                if !judged {
                    continue;
                }
                let present = groups.iter().any(|g| {
                    let k = if *g == "argoproj.io" { "Rollout" } else { kind };
                    !cx.world.get(g, k, Some(&ns), &name).is_empty()
                });
                if present {
                    continue;
                }
                let referent = crate::rules::common::Referent {
                    referrer: binder,
                    groups: &groups[..1],
                    kind,
                    namespace: Some(&ns),
                    name: &name,
                };
                let (severity, message, outside) = crate::rules::common::absent(
                    cx,
                    referent,
                    &format!(
                        "{kind} \"{name}\" (selected by `{label}{}\"{}\"` in {})",
                        if matches!(m.op, promql_parser::label::MatchOp::Equal) {
                            "="
                        } else {
                            "=~"
                        },
                        m.value,
                        gate.describe()
                    ),
                    &format!("namespace \"{ns}\""),
                    &format!(
                        "the query returns no series for {} and the gate has no data",
                        binder.reference()
                    ),
                );
                // `service` is also a label applications set themselves (an app-level name,
                // not a Kubernetes Service): other Services nearby are evidence only with a
                // similar name. In the webhook (the cluster cache, `Absence::Unknown`) a
                // selection is judged only when the namespace holds Services.
                let severity = match cx.world.absence(binder, groups[0], kind, Some(&ns), &name) {
                    Absence::Suspect { similar, .. }
                        if label == "service" && similar.is_empty() =>
                    {
                        Severity::Info
                    }
                    Absence::Unknown if cx.world.list(groups[0], kind, Some(&ns)).is_empty() => {
                        continue;
                    }
                    _ => severity,
                };
                let mut f = gate.finding(&META, &loc.span, message);
                f.severity = severity;
                f.outside = outside;
                let f = f.with_help(if kind == "Service" {
                    "select the Service the canary's traffic goes to (for Argo, the Rollout's canaryService; pass its full name in the analysis args)"
                } else {
                    "select the canary's workload (Flagger: `{{ target }}`)"
                });
                push_unique(&mut found, f);
            }
        }
    }
    out.extend(found);
}
