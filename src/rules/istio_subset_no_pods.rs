//! istio-subset-no-pods: a DestinationRule subset whose labels select none of the pods behind
//! its host's Service.
//!
//! istiod builds a subset's endpoints from the host's endpoints whose labels also carry the
//! subset's labels; with none, the subset's cluster is empty and requests routed to it fail with
//! 503 (`no healthy upstream`, response flag UH). `istioctl analyze` reports it as IST0173
//! (`pkg/config/analysis/analyzers/destinationrule/podnotselected.go`: the Service's selector
//! merged with the subset's labels must match some pod; node topology labels are added to the
//! pods' labels), Kiali as KIA0203 (`business/checkers/destinationrules/no_dest_checker.go`).
//!
//! Offline the pods are the pod templates of the input. The rule only speaks when the host's
//! Service and some workload it selects are in the input (otherwise the pods may be elsewhere),
//! ignores topology labels (they come from the node) and `rollouts-pod-template-hash` (set at
//! runtime), and skips DestinationRules that an Argo Rollout manages
//! (`trafficRouting.istio.destinationRule`: Argo writes the subsets' labels).

use serde_json::{Map, Value};

use crate::engine::rule::finding;
use crate::engine::selector::LabelSelector;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};

use super::common::{at, display, host_namespace, istio_fqdn, istio_hosts_match, referent};

pub struct IstioSubsetNoPods;

static META: RuleMeta = RuleMeta {
    id: "istio-subset-no-pods",
    severity: Severity::Warning,
    kinds: &[("networking.istio.io", "DestinationRule")],
    doc: include_str!("../../rules/istio-subset-no-pods.md"),
    options: &[],
    builtin: false,
};

/// Labels istiod adds to endpoints from the node or the mesh (`pkg/kube/labels`,
/// `pilot/pkg/serviceregistry/util/label.AugmentLabels`), and Argo's runtime hash label.
fn ignored_label(key: &str) -> bool {
    key.starts_with("topology.kubernetes.io/")
        || key.starts_with("topology.istio.io/")
        || key == "kubernetes.io/hostname"
        || key == "failure-domain.beta.kubernetes.io/region"
        || key == "failure-domain.beta.kubernetes.io/zone"
        || key == "rollouts-pod-template-hash"
}

/// Whether an Argo Rollout of the world routes through this DestinationRule.
fn managed_by_argo(dr: &Object, cx: &Context<'_>) -> bool {
    cx.world
        .list("argoproj.io", "Rollout", Some(dr.ns()))
        .iter()
        .any(|r| {
            at(
                r,
                "/spec/strategy/canary/trafficRouting/istio/destinationRule/name",
            )
            .and_then(Value::as_str)
                == Some(dr.name.as_str())
        })
}

/// A VirtualService route of the world that sends traffic to this subset of `fqdn`.
fn routed_by<'a>(cx: &Context<'a>, fqdn: &str, subset: &str) -> Option<(&'a Object, String)> {
    for vs in cx
        .world
        .list("networking.istio.io", "VirtualService", None)
        .into_iter()
        .take(5_000)
    {
        for section in ["http", "tcp", "tls"] {
            let Some(routes) = at(vs, &format!("/spec/{section}")).and_then(Value::as_array) else {
                continue;
            };
            for (ri, r) in routes.iter().enumerate() {
                let Some(ds) = r.get("route").and_then(Value::as_array) else {
                    continue;
                };
                for (di, d) in ds.iter().enumerate() {
                    let dest = d.get("destination");
                    let s = |k: &str| dest.and_then(|x| x.get(k)).and_then(Value::as_str);
                    if s("subset") == Some(subset)
                        && s("host")
                            .is_some_and(|h| istio_hosts_match(&istio_fqdn(h, vs.ns()), fqdn))
                    {
                        return Some((
                            vs,
                            format!("/spec/{section}/{ri}/route/{di}/destination/subset"),
                        ));
                    }
                }
            }
        }
    }
    None
}

impl Rule for IstioSubsetNoPods {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        let Some(subsets) = at(object, "/spec/subsets").and_then(Value::as_array) else {
            return;
        };
        let Some(host) = at(object, "/spec/host").and_then(Value::as_str) else {
            return;
        };
        let fqdn = istio_fqdn(host, object.ns());
        let (Some(name), Some(ns)) = (fqdn.split('.').next(), host_namespace(&fqdn)) else {
            return;
        };
        if name == "*" || name.is_empty() {
            return;
        }
        let services = cx.world.get("", "Service", Some(ns), name);
        let Some(svc) = referent(cx, object, &services) else {
            return;
        };
        let Some(svc_selector) = at(svc, "/spec/selector")
            .and_then(Value::as_object)
            .filter(|m| !m.is_empty())
        else {
            return;
        };
        let behind = cx
            .world
            .select_pods(Some(ns), &LabelSelector::from_map(svc_selector));
        if behind.is_empty() || managed_by_argo(object, cx) {
            return;
        }
        for (i, subset) in subsets.iter().enumerate() {
            let Some(labels) = subset.get("labels").and_then(Value::as_object) else {
                continue;
            };
            let mut merged: Map<String, Value> = svc_selector.clone();
            for (k, v) in labels {
                if !ignored_label(k) {
                    merged.insert(k.clone(), v.clone());
                }
            }
            if merged
                .values()
                .any(|v| v.as_str().is_some_and(|s| s.contains("{{")))
            {
                continue;
            }
            let selector = LabelSelector::from_map(&merged);
            if behind.iter().any(|t| selector.matches(t.labels())) {
                continue;
            }
            let subset_name = subset.get("name").and_then(Value::as_str).unwrap_or("");
            let shown: Vec<String> = labels
                .iter()
                .filter(|(k, _)| !ignored_label(k))
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("?")))
                .collect();
            if shown.is_empty() {
                continue;
            }
            let workloads: Vec<String> =
                behind.iter().take(3).map(|t| display(t.workload)).collect();
            let mut f = finding(
                &META,
                object,
                format!("/spec/subsets/{i}/labels"),
                format!(
                    "subset \"{subset_name}\" selects {} among the pods of {} ({}{}), and none carries them: requests routed to the subset fail with 503 (no healthy upstream)",
                    shown.join(", "),
                    display(svc),
                    workloads.join(", "),
                    if behind.len() > 3 { ", …" } else { "" }
                ),
            )
            .with_help("give the subset the labels of the version's pod template (often `version`), or deploy that version");
            // A label key no pod behind the Service carries is a likely mistake (a typo, a label
            // on the Deployment's metadata instead of its pods): a warning. Pods with the key but
            // not the value are a version that is not deployed from this input (bookinfo's `v2`,
            // `v3` subsets): an assumption, info.
            let unknown_key = labels.keys().filter(|k| !ignored_label(k)).find(|k| {
                !behind
                    .iter()
                    .any(|t| t.labels().is_some_and(|l| l.contains_key(k.as_str())))
            });
            if let Some((vs, ptr)) = routed_by(cx, &fqdn, subset_name) {
                f = f.with_related(vs, ptr, "routes traffic to this subset");
            }
            match unknown_key {
                Some(k) => {
                    f.message = format!(
                        "{} (no pod behind the Service has a label `{k}`)",
                        f.message
                    );
                }
                None => {
                    f.severity = Severity::Info;
                    f.message = f.message.replace(
                        ", and none carries them: requests routed to the subset fail",
                        ", and none carries them in the input (that version may be deployed from elsewhere); if none is deployed, requests routed to the subset fail",
                    );
                }
            }
            out.push(f);
        }
    }
}
