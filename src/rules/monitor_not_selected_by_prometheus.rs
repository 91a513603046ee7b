//! monitor-not-selected-by-prometheus: a ServiceMonitor or PodMonitor that no `Prometheus` of the
//! input picks up (checked only when the input has a `Prometheus` or `PrometheusAgent`).
//!
//! prometheus-operator `pkg/prometheus/resource_selector.go` `selectObjects`: the monitor
//! selector is a pointer (`nil` → `LabelSelectorAsSelector` selects nothing, `{}` → everything);
//! `pkg/operator/operator.go` `SelectNamespacesFromCache`: a nil namespace selector means the
//! Prometheus' own namespace only, otherwise Namespaces are selected by their labels.

use serde_json::{Map, Value};

use crate::engine::inventory::ELSEWHERE;
use crate::engine::inventory::labels_of;
use crate::engine::rule::finding;
use crate::engine::selector::LabelSelector;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};

use super::common::{at, display, field};

pub struct MonitorNotSelectedByPrometheus;

static META: RuleMeta = RuleMeta {
    id: "monitor-not-selected-by-prometheus",
    severity: Severity::Warning,
    kinds: &[
        ("monitoring.coreos.com", "ServiceMonitor"),
        ("monitoring.coreos.com", "PodMonitor"),
        ("monitoring.coreos.com", "Prometheus"),
        ("monitoring.coreos.com", "PrometheusAgent"),
    ],
    doc: include_str!("../../rules/monitor-not-selected-by-prometheus.md"),
    options: &[],
    builtin: false,
};

const SCRAPERS: &[&str] = &["Prometheus", "PrometheusAgent"];

/// The selector fields of a Prometheus for one monitor kind.
fn fields(kind: &str) -> Option<(&'static str, &'static str)> {
    match kind {
        "ServiceMonitor" => Some(("serviceMonitorSelector", "serviceMonitorNamespaceSelector")),
        "PodMonitor" => Some(("podMonitorSelector", "podMonitorNamespaceSelector")),
        _ => None,
    }
}

/// Why one Prometheus does not select the monitor.
enum Verdict {
    Selected,
    /// Cannot tell offline (the namespace's labels are not in the input).
    Unknown,
    Not {
        pointer: String,
        why: String,
    },
}

impl Rule for MonitorNotSelectedByPrometheus {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, cx: &Context<'_>, out: &mut Vec<Finding>) {
        if SCRAPERS.contains(&object.kind.as_str()) {
            check_selectors(object, out);
            return;
        }
        let Some((sel_field, ns_field)) = fields(&object.kind) else {
            return;
        };
        let mut scrapers = Vec::new();
        // A Prometheus with no name cannot be applied (kubectl: "resource name may not be
        // empty"): a fragment of documentation (prometheus-operator's user guides show only the
        // fields they explain), no evidence about which Prometheus scrapes the monitor.
        for k in SCRAPERS {
            scrapers.extend(
                cx.world
                    .list("monitoring.coreos.com", k, None)
                    .into_iter()
                    .filter(|p| !p.name.is_empty()),
            );
        }
        // Any Prometheus that selects the monitor clears it; only one applied with the monitor
        // (its file, build, folder or a folder above or below) is evidence against it: one in a
        // sibling folder (another example or environment of the repository) says nothing about
        // the Prometheus that scrapes this monitor.
        let near = |p: &&Object| cx.world.distance(object, p) < ELSEWHERE;
        if !scrapers.iter().any(near) {
            return;
        }
        if scrapers.is_empty() {
            return;
        }
        let mut reasons = Vec::new();
        for p in &scrapers {
            match verdict(cx, p, object, sel_field, ns_field) {
                Verdict::Selected | Verdict::Unknown => return,
                Verdict::Not { pointer, why } if near(p) => reasons.push((*p, pointer, why)),
                Verdict::Not { .. } => {}
            }
        }
        let pointer = if labels_of(object).is_some() {
            "/metadata/labels"
        } else {
            "/metadata"
        };
        scrapers.retain(near);
        let names: Vec<String> = scrapers.iter().take(3).map(|p| display(p)).collect();
        let mut f = finding(
            &META,
            object,
            pointer,
            format!(
                "no Prometheus in {} selects this {} ({}{}); its targets are never scraped and queries on its metrics return no data",
                cx.world.describe(),
                object.kind,
                names.join(", "),
                if scrapers.len() > 3 { ", …" } else { "" }
            ),
        )
        .with_help(format!(
            "give the {} the labels the Prometheus' {sel_field} asks for, in a namespace its {ns_field} covers",
            object.kind
        ));
        for (p, pointer, why) in reasons.into_iter().take(3) {
            f = f.with_related(p, pointer, format!("{}: {why}", display(p)));
        }
        out.push(f);
    }
}

fn verdict(
    cx: &Context<'_>,
    p: &Object,
    monitor: &Object,
    sel_field: &str,
    ns_field: &str,
) -> Verdict {
    let sel_ptr = format!("/spec/{sel_field}");
    let selector = match at(p, &sel_ptr) {
        None | Some(Value::Null) => {
            return Verdict::Not {
                pointer: "/spec".into(),
                why: format!("{sel_field} is not set, which selects no {}", monitor.kind),
            };
        }
        Some(v) => match LabelSelector::parse(v) {
            Ok(s) => s,
            Err(_) => return Verdict::Unknown,
        },
    };
    if !selector.matches(labels_of(monitor)) {
        return Verdict::Not {
            pointer: sel_ptr,
            why: format!("{sel_field} ({selector}) does not match the monitor's labels"),
        };
    }
    let ns_ptr = format!("/spec/{ns_field}");
    let ns_selector = match at(p, &ns_ptr) {
        None | Some(Value::Null) => {
            if p.ns() == monitor.ns() {
                return Verdict::Selected;
            }
            return Verdict::Not {
                pointer: "/spec".into(),
                why: format!(
                    "{ns_field} is not set, which covers only its own namespace \"{}\", not \"{}\"",
                    p.ns(),
                    monitor.ns()
                ),
            };
        }
        Some(v) => match LabelSelector::parse(v) {
            Ok(s) => s,
            Err(_) => return Verdict::Unknown,
        },
    };
    // Every namespace carries `kubernetes.io/metadata.name` (Kubernetes ≥ 1.21).
    let namespace = cx.world.get("", "Namespace", None, monitor.ns());
    let mut labels: Map<String, Value> = namespace
        .first()
        .and_then(|n| labels_of(n))
        .cloned()
        .unwrap_or_default();
    labels.insert(
        "kubernetes.io/metadata.name".into(),
        Value::String(monitor.ns().to_owned()),
    );
    if ns_selector.matches(Some(&labels)) {
        Verdict::Selected
    } else if namespace.is_empty() && !cx.world.complete() {
        Verdict::Unknown
    } else {
        Verdict::Not {
            pointer: ns_ptr,
            why: format!(
                "{ns_field} ({ns_selector}) does not match namespace \"{}\"",
                monitor.ns()
            ),
        }
    }
}

/// An invalid monitor or namespace selector on a Prometheus: the operator fails to reconcile it.
fn check_selectors(p: &Object, out: &mut Vec<Finding>) {
    for f in [
        "serviceMonitorSelector",
        "serviceMonitorNamespaceSelector",
        "podMonitorSelector",
        "podMonitorNamespaceSelector",
    ] {
        let base = format!("/spec/{f}");
        let Some(v) = at(p, &base) else { continue };
        if let Err(e) = LabelSelector::parse(v) {
            let pointer = format!("{base}{}", e.pointer);
            let mut finding = finding(
                &META,
                p,
                &pointer,
                format!(
                    "{} {}; prometheus-operator cannot select monitors for this {} and does not reconcile its configuration",
                    field(&pointer),
                    e.message,
                    p.kind
                ),
            );
            finding.severity = Severity::Error;
            out.push(finding);
        }
    }
}
