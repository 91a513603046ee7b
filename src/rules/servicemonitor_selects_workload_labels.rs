//! servicemonitor-selects-workload-labels: a ServiceMonitor whose selector matches no Service but
//! matches a workload's labels or its pods' labels.
//!
//! A ServiceMonitor selects Services by the Service's own `metadata.labels`
//! (prometheus-operator `pkg/prometheus/promcfg.go` `generateServiceMonitorConfig`: relabelings on
//! `__meta_kubernetes_service_label_*`). With no Service selected Prometheus has no target and no
//! error: the canary gate's query returns nothing.

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};

use super::common::display;
use super::common::wiring::{self, Namespaces};

pub struct ServicemonitorSelectsWorkloadLabels;

static META: RuleMeta = RuleMeta {
    id: "servicemonitor-selects-workload-labels",
    severity: Severity::Error,
    kinds: &[("monitoring.coreos.com", "ServiceMonitor")],
    doc: include_str!("../../rules/servicemonitor-selects-workload-labels.md"),
    options: &[],
    builtin: false,
};

impl Rule for ServicemonitorSelectsWorkloadLabels {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        // An invalid selector is reported by servicemonitor-no-matching-service.
        let Ok(selector) = wiring::monitor_selector(object) else {
            return;
        };
        if selector.is_everything() {
            return;
        }
        let namespaces = Namespaces::of_monitor(object);
        if !cx.monitor_services(object).is_empty() {
            return;
        }
        let matched = wiring::workloads(cx, &namespaces, &selector);
        let Some(first) = matched.first() else {
            return;
        };
        let workload = first.template.workload;
        let whose = if first.pod_labels {
            format!("the pod labels of {}", display(workload))
        } else {
            format!("the labels of {}", display(workload))
        };
        let pod_labels = first.template.labels().cloned().unwrap_or_default();
        let services = wiring::services_selecting(cx, workload.ns(), &pod_labels);
        let mut f = finding(
            &META,
            object,
            "/spec/selector",
            format!(
                "spec.selector ({selector}) matches no Service in {} but matches {whose}; a ServiceMonitor selects Services by their own labels, so Prometheus scrapes nothing and queries on these metrics return no data",
                namespaces.phrase()
            ),
        );
        let help = match services.first() {
            Some(svc) => {
                let labels: Vec<String> = svc
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default()))
                    .collect();
                format!(
                    "select the labels of {}, which sends traffic to these pods ({}), or scrape the pods directly with a PodMonitor",
                    svc.describe(),
                    if labels.is_empty() {
                        "it has no labels yet".to_owned()
                    } else {
                        labels.join(", ")
                    }
                )
            }
            None => {
                // No Service of the input selects these pods: the one that does may be defined
                // elsewhere and may carry these very labels.
                if !cx.world.complete() {
                    f.severity = Severity::Warning;
                }
                f.message.push_str(&format!(
                    " (no Service in {} selects these pods; if one defined elsewhere has these labels, this is fine)",
                    cx.world.describe()
                ));
                "select the labels of the Service in front of these pods, or scrape the pods directly with a PodMonitor".to_owned()
            }
        };
        f = f.with_help(help).with_related(
            workload,
            &first.labels_pointer,
            format!("{} matched here", whose.trim_start_matches("the ")),
        );
        for m in matched.iter().skip(1).take(4) {
            f = f.with_related(
                m.template.workload,
                &m.labels_pointer,
                format!("also matches {}", display(m.template.workload)),
            );
        }
        if let Some(svc) = services.first() {
            f = f.with_related(
                svc.object,
                svc.labels_pointer(),
                format!("{} selects these pods", svc.describe()),
            );
        }
        out.push(f);
    }
}
