//! istio-ingress-bypasses-split: a gateway-bound route sends a host's traffic straight to its
//! Service while a mesh VirtualService splits that host between versions.
//!
//! A gateway's Envoy applies only the VirtualServices bound to that gateway; the mesh-bound one
//! that splits `reviews` between `stable` and `canary` subsets is used by the sidecars, not by the
//! gateway (istio `pilot/pkg/networking/core/route/route.go` builds gateway routes from the
//! gateway's VirtualServices; `pilot/pkg/model/push_context.go` indexes VirtualServices by
//! gateway). A gateway route to `reviews` without a subset load-balances over every pod behind the
//! Service: ingress traffic reaches the canary by its share of pods, not by the split's weight
//! (issue 20 item 6, "ingress bypass").

use serde_json::Value;

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};

use super::common::{at, display, istio_fqdn, istio_hosts_match};

pub struct IstioIngressBypassesSplit;

static META: RuleMeta = RuleMeta {
    id: "istio-ingress-bypasses-split",
    severity: Severity::Warning,
    kinds: &[("networking.istio.io", "VirtualService")],
    doc: include_str!("../../rules/istio-ingress-bypasses-split.md"),
    options: &[],
    builtin: false,
};

/// Mesh VirtualServices looked at per checked one (bounded work).
const MAX_COMPARED: usize = 5_000;

fn gateways(vs: &Object) -> Vec<&str> {
    at(vs, "/spec/gateways")
        .and_then(Value::as_array)
        .map(|g| g.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// A route of a mesh VirtualService that splits `fqdn` by weight between several destinations.
fn split_of(vs: &Object, fqdn: &str) -> Option<String> {
    let routes = at(vs, "/spec/http").and_then(Value::as_array)?;
    for (ri, r) in routes.iter().enumerate() {
        let Some(ds) = r.get("route").and_then(Value::as_array) else {
            continue;
        };
        if ds.len() < 2 {
            continue;
        }
        let to_host = ds.iter().all(|d| {
            d.get("destination")
                .and_then(|x| x.get("host"))
                .and_then(Value::as_str)
                .is_some_and(|h| istio_hosts_match(&istio_fqdn(h, vs.ns()), fqdn))
        });
        let weighted = ds
            .iter()
            .filter(|d| {
                d.get("weight")
                    .and_then(Value::as_i64)
                    .is_some_and(|w| w > 0)
            })
            .count()
            >= 2;
        let subsets = ds.iter().any(|d| d.at_subset().is_some());
        if to_host && weighted && subsets {
            return Some(format!("/spec/http/{ri}/route"));
        }
    }
    None
}

trait Subset {
    fn at_subset(&self) -> Option<&str>;
}

impl Subset for Value {
    fn at_subset(&self) -> Option<&str> {
        self.get("destination")?
            .get("subset")?
            .as_str()
            .filter(|s| !s.is_empty())
    }
}

impl Rule for IstioIngressBypassesSplit {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, cx: &Context<'_>, out: &mut Vec<Finding>) {
        let gws = gateways(object);
        if gws.is_empty() || gws.contains(&"mesh") {
            return;
        }
        let Some(routes) = at(object, "/spec/http").and_then(Value::as_array) else {
            return;
        };
        let mut mesh: Option<Vec<&Object>> = None;
        for (ri, r) in routes.iter().enumerate() {
            let Some(ds) = r.get("route").and_then(Value::as_array) else {
                continue;
            };
            for (di, d) in ds.iter().enumerate() {
                if d.at_subset().is_some() {
                    continue;
                }
                let Some(host) = d
                    .get("destination")
                    .and_then(|x| x.get("host"))
                    .and_then(Value::as_str)
                    .filter(|h| !h.is_empty() && !h.contains('*'))
                else {
                    continue;
                };
                let fqdn = istio_fqdn(host, object.ns());
                let mesh = mesh.get_or_insert_with(|| {
                    cx.world
                        .list("networking.istio.io", "VirtualService", None)
                        .into_iter()
                        .take(MAX_COMPARED)
                        .filter(|v| {
                            let g = gateways(v);
                            g.is_empty() || g.contains(&"mesh")
                        })
                        .collect()
                });
                let Some((vs, ptr)) = mesh
                    .iter()
                    .find_map(|v| split_of(v, &fqdn).map(|p| (*v, p)))
                else {
                    continue;
                };
                out.push(
                    finding(
                        &META,
                        object,
                        format!("/spec/http/{ri}/route/{di}/destination"),
                        format!(
                            "this gateway route sends {fqdn} to every pod of the Service, while {} splits that host by weight for the mesh: the gateway does not apply mesh VirtualServices, so ingress traffic skips the split and reaches the canary by its share of pods",
                            display(vs)
                        ),
                    )
                    .with_help("apply the split to the gateway too: add the gateway to the splitting VirtualService's `gateways` (with `mesh`), or repeat its weighted destinations here")
                    .with_related(vs, ptr, "the mesh split"),
                );
            }
        }
    }
}
