//! servicemonitor-no-matching-service: a ServiceMonitor whose selector matches no Service (and no
//! workload either: that case is servicemonitor-selects-workload-labels), or whose selector is
//! invalid.
//!
//! No Service selected → no target, no error, no `up` series (prometheus-operator
//! Documentation/platform/troubleshooting.md). An invalid selector makes prometheus-operator
//! reject the whole ServiceMonitor (`pkg/prometheus/resource_selector.go`
//! `checkServiceMonitor`: `metav1.LabelSelectorAsSelector`).

use crate::engine::inventory::ELSEWHERE;
use crate::engine::rule::finding;
use crate::engine::{Absence, Context, Finding, Object, Rule, RuleMeta, Severity};

use super::common::wiring::{self, Namespaces};
use super::common::{at, child, display, field};

pub struct ServicemonitorNoMatchingService;

static META: RuleMeta = RuleMeta {
    id: "servicemonitor-no-matching-service",
    severity: Severity::Warning,
    kinds: &[("monitoring.coreos.com", "ServiceMonitor")],
    doc: include_str!("../../rules/servicemonitor-no-matching-service.md"),
    options: &[],
    builtin: false,
};

/// Namespaces whose Services are created by the cluster's and the mesh's installers.
const INSTALLER_NAMESPACES: &[&str] = &["kube-system", "istio-system"];

impl Rule for ServicemonitorNoMatchingService {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        let selector = match wiring::monitor_selector(object) {
            Ok(s) => s,
            Err(e) => {
                let pointer = format!("/spec/selector{}", e.pointer);
                let mut f = finding(
                    &META,
                    object,
                    &pointer,
                    format!(
                        "{} {}; prometheus-operator rejects this ServiceMonitor and scrapes nothing",
                        field(&pointer),
                        e.message
                    ),
                );
                f.severity = Severity::Error;
                out.push(f);
                return;
            }
        };
        let namespaces = Namespaces::of_monitor(object);
        if !cx.monitor_services(object).is_empty()
            || (!selector.is_everything()
                && !wiring::workloads(cx, &namespaces, &selector).is_empty())
        {
            return;
        }
        // The world's policy for an absent referent (`Inventory::absence`): certain in a
        // complete world; a likely mistake when the covered namespaces hold other Services;
        // else most likely a Service defined outside the input (a chart's, an operator's).
        let covered: Vec<Option<&str>> = match &namespaces {
            Namespaces::Any => vec![None],
            Namespaces::Names(n) => n.iter().map(|n| Some(n.as_str())).collect(),
        };
        let mut verdict = Absence::Outside;
        let mut others: Vec<String> = Vec::new();
        let mut installer = false;
        for ns in covered {
            // The cluster's and the mesh's installers fill these namespaces (the kubelet Service
            // prometheus-operator creates, kube-dns, istiod): a repository that adds a few
            // Services there (monitoring addons) says nothing about the installers' ones, so
            // those are no evidence of a mistake. Measured: the 3 warnings of this rule on 25
            // public repositories were all of this kind (docs/precision.md).
            let absence = match cx.world.absence(object, "", "Service", ns, "") {
                Absence::Suspect { .. }
                    if ns.is_some_and(|n| INSTALLER_NAMESPACES.contains(&n)) =>
                {
                    installer = true;
                    Absence::Outside
                }
                // Every namespace (`any: true`): the Services near it are evidence only when
                // some of them are in a namespace no installer fills (Istio's monitoring addon
                // selects istiod from beside its own grafana and kiali Services).
                Absence::Suspect { others: o, .. }
                    if ns.is_none()
                        && cx.world.list("", "Service", None).iter().all(|s| {
                            !o.contains(&s.name) || INSTALLER_NAMESPACES.contains(&s.ns())
                        }) =>
                {
                    installer = true;
                    Absence::Outside
                }
                a => a,
            };
            match absence {
                Absence::Missing => verdict = Absence::Missing,
                a @ Absence::Unknown if verdict == Absence::Outside => verdict = a,
                Absence::Suspect { others: o, .. } if !matches!(verdict, Absence::Missing) => {
                    others.extend(o);
                    verdict = Absence::Suspect {
                        count: others.len(),
                        others: others.clone(),
                        similar: Vec::new(),
                    };
                }
                _ => {}
            }
        }
        let (severity, note) = match &verdict {
            Absence::Missing => (Severity::Error, String::new()),
            Absence::Suspect { .. } => {
                let listed: Vec<String> =
                    others.iter().take(3).map(|n| format!("\"{n}\"")).collect();
                (
                    Severity::Warning,
                    format!(
                        " (which holds other Services there: {}{}; none has these labels)",
                        listed.join(", "),
                        if others.len() > 3 { ", …" } else { "" }
                    ),
                )
            }
            Absence::Unknown => (
                Severity::Warning,
                " (the Service may be defined elsewhere)".to_owned(),
            ),
            Absence::Outside if installer => (
                Severity::Info,
                " (the Services near it are in namespaces the cluster's and the mesh's installers fill, kube-system and istio-system: the Service is most likely an installer's, defined outside the input)"
                    .to_owned(),
            ),
            Absence::Outside => (
                Severity::Info,
                " (it holds no Service there: the Service is most likely defined outside it)"
                    .to_owned(),
            ),
        };
        let mut f = finding(
            &META,
            object,
            "/spec/selector",
            format!(
                "spec.selector ({selector}) matches no Service in {} of {}{note}; with no Service selected Prometheus has no target and queries on these metrics return no data",
                namespaces.phrase(),
                cx.world.describe(),
            ),
        )
        .with_help("give the selector the labels of the Service (metadata.labels) that exposes the metrics port");
        f.severity = severity;
        f.outside = verdict == Absence::Outside;
        if namespaces != Namespaces::Any {
            let elsewhere = cx.world.select("", "Service", None, &selector);
            // A Service with these labels in another namespace, applied with the monitor or
            // near it: a likely mistake. One in a sibling folder (another deployment path of
            // the repository, as KubeRay's kustomize base beside its monitors, which document
            // a Helm install) is no evidence (`Inventory::distance`, as `absence` judges): a
            // hint at info.
            let near = elsewhere
                .iter()
                .find(|s| cx.world.distance(object, s) < ELSEWHERE);
            if let Some(svc) = near.or(elsewhere.first()) {
                if near.is_some() && f.severity == Severity::Info {
                    f.severity = Severity::Warning;
                    f.outside = false;
                }
                f = f
                    .with_help(format!(
                        "{} matches in namespace \"{}\": cover it with spec.namespaceSelector.matchNames",
                        display(svc),
                        svc.ns()
                    ))
                    .with_related(svc, "/metadata/labels", "a Service in another namespace matches");
            }
        }
        if let Some(sel) = at(object, "/spec/namespaceSelector") {
            if sel.is_object() {
                f = f.with_related(
                    object,
                    child("/spec", "namespaceSelector"),
                    format!("covers {}", namespaces.phrase()),
                );
            }
        }
        out.push(f);
    }
}
