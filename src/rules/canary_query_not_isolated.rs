//! canary-query-not-isolated: a gate query with no matcher tied to the canary measures the
//! primary (or stable) and the canary together, or a whole fleet.
//!
//! Flagger: a custom query (MetricTemplate or inline) rendered for a Canary whose matchers
//! never mention the target, its Service or its selector label value (error). Builtin queries
//! always match `{{ target }}`. On ingress-nginx's `nginx_ingress_controller_*` metrics, a
//! `canary` label that cannot be empty together with the Canary's ingress
//! (`ingress="{{ ingress }}"`) is isolation, as in Flagger's NGINX builtin
//! (`pkg/metrics/observers/nginx.go`): ingress-nginx sets `canary` to the alternative
//! upstream's name only on requests it routed to the canary upstream, and to "" on the others
//! (`rootfs/etc/nginx/lua/monitor.lua`: `canary = ngx.var.proxy_alternative_upstream_name`).
//!
//! Argo Rollouts: canary and stable pods are both `<rollout>-<hash>-<suffix>` and report the
//! same workload name, so only the `rollouts-pod-template-hash` label (an argument with
//! `valueFrom.podTemplateHashValue: Latest`), a canary-only Service (`canaryService`, or
//! `previewService` for blue-green) or `canaryMetadata` labels separate them
//! (`utils/analysis/factory.go`, docs/features/ephemeral-metadata.md). A query tied to none of
//! them is reported as a warning.

use std::ops::Range;

use serde_json::Value;

use promql_parser::label::{MatchOp as PMatchOp, Matcher as PMatcher};

use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::promql::gates::{Gate, GateKind, push_unique};
use crate::promql::query::{Query, Selector};
use crate::promql::template::ValueSource;
use crate::rules::canary_query_includes_primary::{conjunctions, flagger_names};

pub struct CanaryQueryNotIsolated;

static META: RuleMeta = RuleMeta {
    id: "canary-query-not-isolated",
    severity: Severity::Error,
    kinds: crate::promql::gates::KINDS,
    doc: include_str!("../../rules/canary-query-not-isolated.md"),
    options: &[],
    builtin: false,
};

pub fn meta() -> &'static RuleMeta {
    &META
}

impl Rule for CanaryQueryNotIsolated {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        let mut found = Vec::new();
        for gate in cx.gates(object).iter() {
            match gate.kind {
                GateKind::FlaggerTemplate | GateKind::FlaggerInline => {
                    flagger(gate, cx, &mut found)
                }
                GateKind::Argo => argo(gate, &mut found),
                GateKind::FlaggerBuiltin(_) => {}
            }
        }
        out.extend(found);
    }
}

/// Every matcher of the query with its selector: (name, value, range of the quoted value).
fn matchers(q: &Query) -> Vec<(String, String, Option<Range<usize>>)> {
    let mut out = Vec::new();
    for sel in q.selectors() {
        for conj in conjunctions(&sel) {
            for m in conj {
                let at = sel.matcher_loc(m).map(|l| l.value_span.clone());
                out.push((m.name.clone(), m.value.clone(), at));
            }
        }
    }
    out
}

/// Where to point: the first selector.
fn first_selector(q: &Query) -> Option<(Range<usize>, String)> {
    let sels: Vec<Selector<'_>> = q.selectors();
    let sel = sels.first()?;
    let span = q.span(sel.expr);
    let text = q.text().get(span.clone()).unwrap_or("").to_owned();
    Some((span, text))
}

fn flagger(gate: &Gate<'_>, cx: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(names) = flagger_names(gate, cx.world) else {
        return;
    };
    let Some(q) = gate.analysis.query() else {
        return;
    };
    let target = names.target();
    // The target, its Service and its selector label value (each usually the target's name).
    let ties = [target, names.service(), names.label_value()];
    if matchers(q)
        .iter()
        .any(|(_, v, _)| ties.iter().any(|t| !t.is_empty() && v.contains(t)))
    {
        return;
    }
    let ingress = gate
        .binder
        .as_ref()
        .and_then(|b| b.object.at("/spec/ingressRef/name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if nginx_canary_isolated(q, ingress) {
        return;
    }
    let Some((span, shown)) = first_selector(q) else {
        return;
    };
    let message = format!(
        "no matcher of the query is tied to the canary (target {target}): `{shown}` measures the primary and the canary together (or every workload it selects), so a failing canary at a small traffic weight barely moves the result"
    );
    let help = "add a matcher on the canary: `kubernetes_pod_name=~\"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)\"`, or the workload label `destination_workload=\"{{ target }}\"` (Istio) / `deployment=\"{{ target }}\"` (Linkerd)";
    push_unique(out, gate.finding(&META, &span, message).with_help(help));
}

/// Whether a selector on an ingress-nginx metric keeps only the requests routed to the canary
/// upstream of the Canary's ingress: in one conjunction, a `canary` matcher that no empty value
/// satisfies and an `ingress` matcher naming `ingress` (ingress-nginx labels its request
/// metrics with the Ingress name and `canary`, the alternative upstream's name or "").
fn nginx_canary_isolated(q: &Query, ingress: &str) -> bool {
    if ingress.is_empty() {
        return false;
    }
    q.selectors().iter().any(|sel| {
        let name = sel.vs.name.as_deref().or_else(|| {
            sel.vs.matchers.matchers.iter().find_map(|m| {
                (m.name == "__name__" && m.op == PMatchOp::Equal).then_some(m.value.as_str())
            })
        });
        if !name.is_some_and(|n| n.starts_with("nginx_ingress_controller_")) {
            return false;
        }
        conjunctions(sel).iter().any(|conj| {
            let canary_only = conj
                .iter()
                .any(|m| m.name == "canary" && matcher_accepts(m, "") == Some(false));
            let this_ingress = conj
                .iter()
                .any(|m| m.name == "ingress" && matcher_accepts(m, ingress) == Some(true));
            canary_only && this_ingress
        })
    })
}

/// Whether the matcher `m` accepts the label value `v` (Prometheus anchors regexes:
/// `model/labels/regexp.go`); `None` when its regex does not compile here.
fn matcher_accepts(m: &PMatcher, v: &str) -> Option<bool> {
    let re = |pattern: &str| regex::Regex::new(&format!("^(?s:{pattern})$")).ok();
    Some(match &m.op {
        PMatchOp::Equal => m.value == v,
        PMatchOp::NotEqual => m.value != v,
        PMatchOp::Re(_) => re(&m.value)?.is_match(v),
        PMatchOp::NotRe(_) => !re(&m.value)?.is_match(v),
    })
}

/// Prometheus label name of a Kubernetes label key (kube-state-metrics / relabelling:
/// non-alphanumerics become `_`).
fn sanitize(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn argo(gate: &Gate<'_>, out: &mut Vec<Finding>) {
    let Some(rollout) = gate
        .binder
        .as_ref()
        .map(|b| b.object)
        .filter(|o| o.kind == "Rollout")
    else {
        return;
    };
    let Some(q) = gate.analysis.query() else {
        return;
    };
    let canary_services: Vec<&str> = [
        "/spec/strategy/canary/canaryService",
        "/spec/strategy/blueGreen/previewService",
    ]
    .iter()
    .filter_map(|p| rollout.at(p).and_then(Value::as_str))
    .filter(|s| !s.is_empty())
    .collect();
    let canary_labels: Vec<(String, String)> = rollout
        .at("/spec/strategy/canary/canaryMetadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let rendered = &gate.analysis.rendered;
    let latest_hash = |at: &Option<Range<usize>>| {
        at.as_ref().is_some_and(|r| {
            let r = gate.analysis.to_rendered(r);
            rendered.substitutions.iter().any(|s| {
                s.source == ValueSource::PodTemplateHash("Latest".into())
                    && s.out.start < r.end
                    && r.start < s.out.end
            })
        })
    };
    let tied = matchers(q).iter().any(|(name, value, at)| {
        latest_hash(at)
            || canary_services.iter().any(|s| value.contains(s))
            || canary_labels.iter().any(|(k, v)| {
                let k = sanitize(k);
                (*name == k || *name == format!("label_{k}")) && value.contains(v.as_str())
            })
    });
    if tied {
        return;
    }
    let Some((span, shown)) = first_selector(q) else {
        return;
    };
    let message = format!(
        "no matcher of the query is tied to the canary of Rollout {}/{}: `{shown}` cannot tell canary pods from stable ones (both are `{}-<hash>-<suffix>` and report the same workload), so the gate measures both",
        rollout.ns(),
        rollout.name,
        rollout.name
    );
    let help = "filter on the canary's pod-template-hash (`rollouts_pod_template_hash=\"{{args.canary-hash}}\"` with an argument `valueFrom: {podTemplateHashValue: Latest}`), on the canary-only Service (`canaryService`), or on labels from `canaryMetadata`";
    let mut f = gate.finding(&META, &span, message).with_help(help);
    f.severity = Severity::Warning;
    push_unique(out, f);
}
