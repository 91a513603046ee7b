//! istio-subset-not-found: a VirtualService destination's `subset` must be defined by a
//! DestinationRule for that host (istioctl analyze IST0101; istiod's webhook does not check it).
//!
//! Hosts are resolved like istiod does (`ResolveShortnameToFQDN`): a short name is a Service of
//! the object's own namespace. DestinationRules are looked up where istiod looks for them: the
//! VirtualService's namespace, the Service's namespace and the root namespace `istio-system`
//! (`pilot/pkg/model/sidecar.go`, `destination_rule.go`). A route to an undefined subset has no
//! Envoy cluster: requests get 503 with response flag NC.

use serde_json::Value;

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};

use super::common::{
    Referent, absent, at, display, host_namespace, istio_fqdn, istio_hosts_match, namespaces_phrase,
};

pub struct IstioSubsetNotFound;

static META: RuleMeta = RuleMeta {
    id: "istio-subset-not-found",
    severity: Severity::Error,
    kinds: &[("networking.istio.io", "VirtualService")],
    doc: include_str!("../../rules/istio-subset-not-found.md"),
    options: &[],
    builtin: false,
};

const ROOT_NAMESPACE: &str = "istio-system";

/// Pointers of every destination of the VirtualService (routes, mirrors).
fn destinations(spec: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for section in ["http", "tcp", "tls"] {
        let Some(routes) = spec.get(section).and_then(Value::as_array) else {
            continue;
        };
        for (ri, route) in routes.iter().enumerate() {
            let base = format!("/spec/{section}/{ri}");
            if let Some(ds) = route.get("route").and_then(Value::as_array) {
                out.extend((0..ds.len()).map(|di| format!("{base}/route/{di}/destination")));
            }
            if route.get("mirror").is_some_and(Value::is_object) {
                out.push(format!("{base}/mirror"));
            }
            if let Some(ms) = route.get("mirrors").and_then(Value::as_array) {
                out.extend((0..ms.len()).map(|mi| format!("{base}/mirrors/{mi}/destination")));
            }
        }
    }
    out
}

impl Rule for IstioSubsetNotFound {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, cx: &Context<'_>, out: &mut Vec<Finding>) {
        let Some(spec) = object.spec() else { return };
        let vs_ns = object.ns();
        for d in destinations(spec) {
            let Some(dest) = at(object, &d) else { continue };
            let (Some(host), Some(subset)) = (
                dest.get("host").and_then(Value::as_str),
                dest.get("subset").and_then(Value::as_str),
            ) else {
                continue;
            };
            if subset.is_empty() || host.is_empty() {
                continue;
            }
            let fqdn = istio_fqdn(host, vs_ns);
            let mut searched: Vec<&str> = vec![vs_ns];
            for ns in [host_namespace(&fqdn), Some(ROOT_NAMESPACE)]
                .into_iter()
                .flatten()
            {
                if !searched.contains(&ns) {
                    searched.push(ns);
                }
            }
            let rules: Vec<&Object> = searched
                .iter()
                .flat_map(|ns| {
                    cx.world
                        .list("networking.istio.io", "DestinationRule", Some(ns))
                })
                .filter(|dr| {
                    at(dr, "/spec/host")
                        .and_then(Value::as_str)
                        .is_some_and(|h| istio_hosts_match(&istio_fqdn(h, dr.ns()), &fqdn))
                })
                .collect();
            let defined = |dr: &Object| -> Vec<String> {
                at(dr, "/spec/subsets")
                    .and_then(Value::as_array)
                    .map(|ss| {
                        ss.iter()
                            .filter_map(|s| s.get("name").and_then(Value::as_str))
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            if rules
                .iter()
                .any(|dr| defined(dr).iter().any(|s| s == subset))
            {
                continue;
            }
            let pointer = format!("{d}/subset");
            if rules.is_empty() {
                // DestinationRules are usually named after their host's short name.
                let short = fqdn.split('.').next().unwrap_or(&fqdn);
                let referent = Referent {
                    referrer: object,
                    groups: &["networking.istio.io"],
                    kind: "DestinationRule",
                    namespace: Some(host_namespace(&fqdn).unwrap_or(vs_ns)),
                    name: short,
                };
                let (severity, message, outside) = absent(
                    cx,
                    referent,
                    &format!("subset \"{subset}\": a DestinationRule for host {fqdn}"),
                    &namespaces_phrase(&searched),
                    "requests routed to this subset fail with 503 (no cluster for the subset)",
                );
                let mut f = finding(&META, object, pointer, message)
                    .with_help("define the subset in a DestinationRule for this host, with labels that select the version's pods");
                f.severity = severity;
                f.outside = outside;
                out.push(f);
                continue;
            }
            let mut all: Vec<String> = Vec::new();
            for dr in &rules {
                for s in defined(dr) {
                    if !all.contains(&s) {
                        all.push(s);
                    }
                }
            }
            let names: Vec<String> = rules.iter().map(|r| display(r)).collect();
            let mut f = finding(
                &META,
                object,
                pointer,
                format!(
                    "subset \"{subset}\" is not defined by {} for host {fqdn} ({}); requests routed to it fail with 503 (no cluster for the subset)",
                    names.join(", "),
                    if all.is_empty() {
                        "it defines no subsets".to_owned()
                    } else {
                        format!(
                            "defined: {}",
                            all.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ")
                        )
                    }
                ),
            )
            .with_help("add the subset to the DestinationRule, or route to one of its subsets");
            for dr in rules.iter().take(3) {
                let p = if at(dr, "/spec/subsets").is_some() {
                    "/spec/subsets"
                } else {
                    "/spec/host"
                };
                f = f.with_related(dr, p, format!("subsets of {}", display(dr)));
            }
            out.push(f);
        }
    }
}
