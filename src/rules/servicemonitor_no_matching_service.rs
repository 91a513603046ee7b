//! servicemonitor-no-matching-service: a ServiceMonitor whose selector matches no Service (and no
//! workload either: that case is servicemonitor-selects-workload-labels), or whose selector is
//! invalid.
//!
//! No Service selected → no target, no error, no `up` series (prometheus-operator
//! Documentation/platform/troubleshooting.md). An invalid selector makes prometheus-operator
//! reject the whole ServiceMonitor (`pkg/prometheus/resource_selector.go`
//! `checkServiceMonitor`: `metav1.LabelSelectorAsSelector`).

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};

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
        let complete = cx.world.complete();
        let mut f = finding(
            &META,
            object,
            "/spec/selector",
            format!(
                "spec.selector ({selector}) matches no Service in {} of {}{}; with no Service selected Prometheus has no target and queries on these metrics return no data",
                namespaces.phrase(),
                cx.world.describe(),
                if complete {
                    ""
                } else {
                    " (the Service may be defined elsewhere)"
                }
            ),
        )
        .with_help("give the selector the labels of the Service (metadata.labels) that exposes the metrics port");
        if complete {
            f.severity = Severity::Error;
        }
        if namespaces != Namespaces::Any {
            let elsewhere = cx.world.select("", "Service", None, &selector);
            if let Some(svc) = elsewhere.first() {
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
