//! podmonitor-selects-service-labels: a PodMonitor whose selector matches no pod but matches a
//! Service's labels (the mirror image of servicemonitor-selects-workload-labels), or whose
//! selector is invalid.
//!
//! A PodMonitor selects pods by their labels (prometheus-operator `pkg/prometheus/promcfg.go`
//! `generatePodMonitorConfig`: relabelings on `__meta_kubernetes_pod_label_*`); an invalid
//! selector makes the operator reject the PodMonitor (`pkg/prometheus/resource_selector.go`).

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};

use super::common::wiring::{self, Namespaces};
use super::common::{at, field};

pub struct PodmonitorSelectsServiceLabels;

static META: RuleMeta = RuleMeta {
    id: "podmonitor-selects-service-labels",
    severity: Severity::Error,
    kinds: &[("monitoring.coreos.com", "PodMonitor")],
    doc: include_str!("../../rules/podmonitor-selects-service-labels.md"),
    options: &[],
    builtin: false,
};

impl Rule for PodmonitorSelectsServiceLabels {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        let selector = match wiring::monitor_selector(object) {
            Ok(s) => s,
            Err(e) => {
                let pointer = format!("/spec/selector{}", e.pointer);
                out.push(finding(
                    &META,
                    object,
                    &pointer,
                    format!(
                        "{} {}; prometheus-operator rejects this PodMonitor and scrapes nothing",
                        field(&pointer),
                        e.message
                    ),
                ));
                return;
            }
        };
        if selector.is_everything() {
            return;
        }
        let namespaces = Namespaces::of_monitor(object);
        if !wiring::pods(cx, &namespaces, &selector).is_empty() {
            return;
        }
        let services = cx.monitor_services(object);
        let Some(svc) = services.first() else {
            return;
        };
        // The Service sends traffic to pods carrying its `spec.selector` labels: when those
        // labels satisfy this selector, the pods behind the Service are selected too (their
        // workload is just not in the world). KubeRay's `ray_cluster_pod_monitor.yaml` selects
        // `app.kubernetes.io/name: kuberay`, which the operator's Service also selects by.
        if !svc.by_flagger
            && at(svc.object, "/spec/selector")
                .and_then(serde_json::Value::as_object)
                .is_some_and(|pods| !pods.is_empty() && selector.matches(Some(pods)))
        {
            return;
        }
        let pods = svc
            .pod_selector
            .as_ref()
            .map(|sel| wiring::pods(cx, &Namespaces::Names(vec![svc.namespace.to_owned()]), sel))
            .unwrap_or_default();
        let mut f = finding(
            &META,
            object,
            "/spec/selector",
            format!(
                "spec.selector ({selector}) matches no pod in {} but matches the labels of {}; a PodMonitor selects pods by their own labels, so Prometheus scrapes nothing and queries on these metrics return no data",
                namespaces.phrase(),
                svc.describe()
            ),
        )
        .with_related(
            svc.object,
            svc.labels_pointer(),
            format!("labels of {} matched here", svc.describe()),
        );
        match pods.first() {
            Some(p) => {
                let labels: Vec<String> = p
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default()))
                    .collect();
                f = f
                    .with_help(format!(
                        "select the pod labels of {} ({}), or scrape through the Service with a ServiceMonitor",
                        p.describe(),
                        labels.join(", ")
                    ))
                    .with_related(
                        p.template.workload,
                        p.template.labels_pointer(),
                        format!("labels of the {}", p.describe()),
                    );
            }
            None => {
                if !cx.world.complete() {
                    f.severity = Severity::Warning;
                }
                f.message.push_str(&format!(
                    " (the pods of {} are not in {}; if they have these labels, this is fine)",
                    svc.describe(),
                    cx.world.describe()
                ));
                f = f.with_help(
                    "select the labels of the pods (the workload's spec.template.metadata.labels), or use a ServiceMonitor",
                );
            }
        }
        out.push(f);
    }
}
