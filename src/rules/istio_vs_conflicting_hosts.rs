//! istio-vs-conflicting-hosts: two VirtualServices bound to the mesh for the same host.
//!
//! Sidecars use one VirtualService per host: istiod does not merge VirtualServices of the mesh
//! gateway (only delegates are merged), so when several claim a host one of them wins and the
//! routes of the others are ignored (`istioctl analyze` IST0109
//! `ConflictingMeshGatewayVirtualServiceHosts`,
//! `pkg/config/analysis/analyzers/virtualservice/conflictingmeshgatewayhosts.go`; Kiali KIA1106
//! "more than one VirtualService for the same host"). Hosts are compared as FQDNs resolved in
//! each VirtualService's namespace, and two VirtualServices only conflict where both are visible
//! (`exportTo`: none or `*` is every namespace, `.` the VirtualService's own).

use serde_json::Value;

use crate::engine::inventory::ELSEWHERE;
use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};

use super::common::{at, display, istio_fqdn};

pub struct IstioVsConflictingHosts;

static META: RuleMeta = RuleMeta {
    id: "istio-vs-conflicting-hosts",
    severity: Severity::Warning,
    kinds: &[("networking.istio.io", "VirtualService")],
    doc: include_str!("../../rules/istio-vs-conflicting-hosts.md"),
    options: &[],
    builtin: false,
};

/// VirtualServices of one host that carry a finding.
const MAX_REPORTED: usize = 10;

/// Bound to the sidecars: no `gateways`, or `mesh` among them.
fn mesh_bound(vs: &Object) -> bool {
    match at(vs, "/spec/gateways").and_then(Value::as_array) {
        None => true,
        Some(g) if g.is_empty() => true,
        Some(g) => g.iter().any(|x| x.as_str() == Some("mesh")),
    }
}

/// Namespaces the VirtualService is exported to; `None` is every namespace.
fn scope(vs: &Object) -> Option<Vec<String>> {
    let list = at(vs, "/spec/exportTo").and_then(Value::as_array)?;
    if list.is_empty() || list.iter().any(|x| x.as_str() == Some("*")) {
        return None;
    }
    Some(
        list.iter()
            .filter_map(Value::as_str)
            .map(|n| {
                if n == "." {
                    vs.ns().to_owned()
                } else {
                    n.to_owned()
                }
            })
            .collect(),
    )
}

fn overlap(a: &Option<Vec<String>>, b: &Option<Vec<String>>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x.iter().any(|n| y.contains(n)),
        _ => true,
    }
}

fn hosts(vs: &Object) -> Vec<(usize, String)> {
    at(vs, "/spec/hosts")
        .and_then(Value::as_array)
        .map(|hs| {
            hs.iter()
                .enumerate()
                .filter_map(|(i, h)| {
                    h.as_str()
                        .filter(|h| !h.is_empty() && *h != "*")
                        .map(|h| (i, istio_fqdn(h, vs.ns())))
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Rule for IstioVsConflictingHosts {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, cx: &Context<'_>, out: &mut Vec<Finding>) {
        if !mesh_bound(object) {
            return;
        }
        let mine = hosts(object);
        if mine.is_empty() {
            return;
        }
        let my_scope = scope(object);
        for (i, fqdn) in &mine {
            let group = cx.mesh_virtualservices(fqdn);
            // A host claimed by many VirtualServices: the first ones carry the finding, which
            // counts the rest (the findings stay bounded).
            if group
                .iter()
                .position(|o| std::ptr::eq(*o, object))
                .is_some_and(|p| p >= MAX_REPORTED)
            {
                continue;
            }
            // Rivals: other identities applied with this VirtualService or near it. The same
            // identity is the same object (several versions of it are duplicate-object's
            // business, or alternatives: environments, steps of a tutorial); VirtualServices
            // of sibling folders (other examples, clusters, environments) are not applied with
            // it (`Inventory::distance`, as `absence` judges; found on GoogleCloudPlatform/
            // istio-samples, where two examples route one host: docs/precision.md).
            let mut rivals: Vec<&Object> = Vec::new();
            let mut more = false;
            for other in group.iter() {
                if other.name == object.name && other.ns() == object.ns() {
                    continue;
                }
                if !overlap(&my_scope, &scope(other)) {
                    continue;
                }
                if cx.world.distance(object, other) >= ELSEWHERE {
                    continue;
                }
                if rivals
                    .iter()
                    .any(|r| r.name == other.name && r.ns() == other.ns())
                {
                    continue;
                }
                if rivals.len() == 3 {
                    more = true;
                    break;
                }
                rivals.push(other);
            }
            if rivals.is_empty() {
                continue;
            }
            let names: Vec<String> = rivals.iter().take(3).map(|r| display(r)).collect();
            let mut f = finding(
                &META,
                object,
                format!("/spec/hosts/{i}"),
                format!(
                    "host {fqdn} is also routed for the mesh by {}{}: sidecars use only one VirtualService per host, so the routes of the others are ignored",
                    names.join(", "),
                    if more {
                        format!(" and others ({} mesh VirtualServices in all for this host)", group.len())
                    } else {
                        String::new()
                    }
                ),
            )
            .with_help("merge the routes into one VirtualService per host, or bind one to a gateway, or narrow `exportTo`");
            f = f.with_related(
                rivals[0],
                "/spec/hosts",
                "also routes this host for the mesh",
            );
            out.push(f);
        }
    }
}
