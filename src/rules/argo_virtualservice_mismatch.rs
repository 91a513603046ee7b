//! argo-virtualservice-mismatch: the Istio VirtualService an Argo Rollout routes through must
//! have the routes the Rollout names, each with both the stable and the canary destination.
//!
//! Argo Rollouts validates the VirtualServices of `trafficRouting.istio` before reconciling
//! (`pkg/apis/rollouts/validation/validation_references.go` `ValidateVirtualService`,
//! `rollout/trafficrouting/istio/istio.go` `ValidateHTTPRoutes`, `getHttpRouteIndexesToPatch`,
//! `validateVirtualServiceRouteDestinations`, `validateDestinationRule`). A named route that is
//! missing, a patched route without the stable or the canary host (or, with `destinationRule`,
//! subset), or more than one unmanaged unnamed route when `routes` is omitted makes the Rollout
//! `InvalidSpec`: nothing rolls out. Only `http` routes are checked here (TLS and TCP routes are
//! matched by port and SNI, not compared).

use serde_json::Value;

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};

use super::common::{Referent, absent, at, display, namespaces_phrase, referent};

pub struct ArgoVirtualserviceMismatch;

static META: RuleMeta = RuleMeta {
    id: "argo-virtualservice-mismatch",
    severity: Severity::Error,
    kinds: &[("argoproj.io", "Rollout")],
    doc: include_str!("../../rules/argo-virtualservice-mismatch.md"),
    options: &[],
    builtin: false,
};

fn name_of(route: &Value) -> &str {
    route.get("name").and_then(Value::as_str).unwrap_or("")
}

const CONSEQUENCE: &str = "Argo Rollouts marks the Rollout InvalidSpec and does not roll out";

/// `istioutil.GetVirtualServiceNamespaceName`: `name` or `name.namespace`.
fn vs_name_ns<'s>(name: &'s str, default_ns: &'s str) -> (&'s str, &'s str) {
    match name.split_once('.') {
        Some((n, ns)) => (n, ns),
        None => (name, default_ns),
    }
}

/// Whether a destination host names this Service: `istio.go` `getHost` compares the text before
/// the first dot (short name, `name.ns`, FQDN).
fn host_is(host: &str, svc: &str) -> bool {
    !svc.is_empty() && host.split('.').next() == Some(svc)
}

impl Rule for ArgoVirtualserviceMismatch {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        let Some(istio) = at(object, "/spec/strategy/canary/trafficRouting/istio") else {
            return;
        };
        let stable = at(object, "/spec/strategy/canary/stableService")
            .and_then(Value::as_str)
            .unwrap_or("");
        let canary = at(object, "/spec/strategy/canary/canaryService")
            .and_then(Value::as_str)
            .unwrap_or("");
        // `trafficrouting.GetStableAndCanaryServices(r, false)`: with ping-pong and neither
        // Service set, the ping and pong Services (either may be the stable one).
        let (stable, canary) = match at(object, "/spec/strategy/canary/pingPong") {
            Some(pp) if stable.is_empty() && canary.is_empty() => (
                pp.get("pingService").and_then(Value::as_str).unwrap_or(""),
                pp.get("pongService").and_then(Value::as_str).unwrap_or(""),
            ),
            _ => (stable, canary),
        };
        let dr = istio.get("destinationRule").filter(|d| d.is_object());
        let managed: Vec<&str> = at(object, "/spec/strategy/canary/trafficRouting/managedRoutes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|m| m.get("name").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        let mut refs: Vec<(String, &Value)> = Vec::new();
        if let Some(list) = istio.get("virtualServices").and_then(Value::as_array) {
            for (i, v) in list.iter().enumerate() {
                refs.push((
                    format!("/spec/strategy/canary/trafficRouting/istio/virtualServices/{i}"),
                    v,
                ));
            }
        } else if let Some(v) = istio.get("virtualService").filter(|v| v.is_object()) {
            refs.push((
                "/spec/strategy/canary/trafficRouting/istio/virtualService".to_owned(),
                v,
            ));
        }
        for (ptr, r) in refs {
            let Some(full) = r
                .get("name")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            else {
                continue;
            };
            let (name, ns) = vs_name_ns(full, object.ns());
            let found = cx
                .world
                .get("networking.istio.io", "VirtualService", Some(ns), name);
            if !found.is_empty() && referent(cx, object, &found).is_none() {
                continue;
            }
            let Some(vs) = referent(cx, object, &found) else {
                if cx.world.complete() {
                    let referent = Referent {
                        referrer: object,
                        groups: &["networking.istio.io"],
                        kind: "VirtualService",
                        namespace: Some(ns),
                        name,
                    };
                    let (severity, message, _) = absent(
                        cx,
                        referent,
                        &format!("VirtualService \"{name}\""),
                        &namespaces_phrase(&[ns]),
                        CONSEQUENCE,
                    );
                    let mut f = finding(&META, object, format!("{ptr}/name"), message);
                    f.severity = severity;
                    out.push(f);
                }
                continue;
            };
            let spec = vs.spec();
            let http = spec.and_then(|s| s.get("http")).and_then(Value::as_array);
            let any = ["http", "tls", "tcp"]
                .iter()
                .any(|k| spec.and_then(|s| s.get(*k)).is_some_and(Value::is_array));
            if !any {
                out.push(
                    finding(
                        &META,
                        object,
                        format!("{ptr}/name"),
                        format!(
                            "{} has no http, tcp or tls routes: Argo Rollouts rejects it (\"Unable to get any of the HTTP, TCP or TLS routes for the Istio VirtualService\"); {CONSEQUENCE}",
                            display(vs)
                        ),
                    )
                    .with_related(vs, "/spec", "the VirtualService"),
                );
                continue;
            }
            let Some(http) = http else { continue };
            let route_names: Vec<(usize, &str)> = r
                .get("routes")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .enumerate()
                        .filter_map(|(i, n)| n.as_str().map(|s| (i, s)))
                        .collect()
                })
                .unwrap_or_default();
            let mut patched: Vec<usize> = Vec::new();
            if route_names.is_empty() {
                if http.len() == 1 {
                    patched.push(0);
                } else if let Some(i) = http.iter().position(|route| name_of(route).is_empty()) {
                    patched.push(i);
                }
                let unmanaged = http
                    .iter()
                    .filter(|route| !managed.contains(&name_of(route)))
                    .count();
                if unmanaged > 1 {
                    out.push(
                        finding(
                            &META,
                            object,
                            ptr.clone(),
                            format!(
                                "virtualService names no routes while {} has {unmanaged} http routes: Argo Rollouts rejects it (\"spec.http[] should be set in VirtualService and it must have exactly one route when omitting spec.strategy.canary.trafficRouting.istio.virtualService.routes\"); {CONSEQUENCE}",
                                display(vs)
                            ),
                        )
                        .with_help("list the route Argo should set weights on under `routes:` (by its `name`)")
                        .with_related(vs, "/spec/http", "the VirtualService's routes"),
                    );
                }
            } else {
                for (i, rn) in &route_names {
                    match http.iter().position(|route| name_of(route) == *rn) {
                        Some(idx) => patched.push(idx),
                        None => {
                            let names: Vec<String> = http
                                .iter()
                                .map(name_of)
                                .filter(|n| !n.is_empty())
                                .take(10)
                                .map(|n| format!("\"{n}\""))
                                .collect();
                            out.push(
                                finding(
                                    &META,
                                    object,
                                    format!("{ptr}/routes/{i}"),
                                    format!(
                                        "route \"{rn}\" is not an http route of {} ({}): Argo Rollouts rejects it (\"HTTP Route '{rn}' is not found in the defined Virtual Service.\"); {CONSEQUENCE}",
                                        display(vs),
                                        if names.is_empty() {
                                            "its routes have no names".to_owned()
                                        } else {
                                            format!("named routes: {}", names.join(", "))
                                        }
                                    ),
                                )
                                .with_help("give the VirtualService route that `name`, or name an existing route")
                                .with_related(vs, "/spec/http", "the VirtualService's routes"),
                            );
                        }
                    }
                }
            }
            for idx in patched {
                let Some(dests) = http[idx].get("route").and_then(Value::as_array) else {
                    continue;
                };
                let hosts: Vec<(&str, &str)> = dests
                    .iter()
                    .map(|d| {
                        let dest = d.get("destination");
                        let s = |k: &str| {
                            dest.and_then(|x| x.get(k))
                                .and_then(Value::as_str)
                                .unwrap_or("")
                        };
                        (s("host"), s("subset"))
                    })
                    .collect();
                let missing = match dr {
                    Some(dr) => {
                        let sub = |k: &str| dr.get(k).and_then(Value::as_str).unwrap_or("");
                        let (c, s) = (sub("canarySubsetName"), sub("stableSubsetName"));
                        if !hosts.iter().any(|(_, x)| *x == c && !c.is_empty()) {
                            Some(format!(
                                "Canary DestinationRule subset '{c}' not found in route"
                            ))
                        } else if !hosts.iter().any(|(_, x)| *x == s && !s.is_empty()) {
                            Some(format!(
                                "Stable DestinationRule subset '{s}' not found in route"
                            ))
                        } else {
                            None
                        }
                    }
                    None => {
                        if !hosts.iter().any(|(h, _)| host_is(h, canary)) {
                            Some(format!("Canary Service '{canary}' not found in route"))
                        } else if !hosts.iter().any(|(h, _)| host_is(h, stable)) {
                            Some(format!("Stable Service '{stable}' not found in route"))
                        } else {
                            None
                        }
                    }
                };
                if let Some(argo) = missing {
                    let shown: Vec<String> = hosts
                        .iter()
                        .take(5)
                        .map(|(h, s)| {
                            if s.is_empty() {
                                h.to_string()
                            } else {
                                format!("{h} subset {s}")
                            }
                        })
                        .collect();
                    out.push(
                        finding(
                            &META,
                            object,
                            format!("{ptr}/name"),
                            format!(
                                "http[{idx}] of {} routes to {} and lacks a destination Argo sets weights on: Argo Rollouts rejects it (\"Istio VirtualService has invalid HTTP routes. Error: {argo}\"); {CONSEQUENCE}",
                                display(vs),
                                if shown.is_empty() { "nothing".to_owned() } else { shown.join(", ") }
                            ),
                        )
                        .with_help("the route needs two destinations: the stableService and the canaryService (or the stable and canary subsets of trafficRouting.istio.destinationRule)")
                        .with_related(vs, format!("/spec/http/{idx}/route"), "the route's destinations"),
                    );
                }
            }
        }
    }
}
