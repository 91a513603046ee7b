//! istio-vs-owned-by-flagger: a hand-written VirtualService that Flagger's Istio router takes
//! over or competes with.
//!
//! Flagger creates a VirtualService named after the Canary's apex Service (`spec.service.name`,
//! else `targetRef.name`) for hosts `[apex] + spec.service.hosts`, and when one with that name
//! exists it replaces its spec, keeping the original only in the annotation
//! `flagger.kubernetes.io/original-configuration` (`pkg/router/istio.go`
//! `reconcileVirtualService`). Another VirtualService for one of those hosts competes with
//! Flagger's: for sidecars istiod does not merge VirtualServices of the same host, one of them is
//! ignored.

use serde_json::Value;

use crate::engine::controllers::Setting;
use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};

use super::common::flagger::owned_by_canary;
use super::common::{
    at, canary_apex, canary_uses_istio, display, host_namespace, istio_fqdn, istio_hosts_match,
};

pub struct IstioVsOwnedByFlagger;

static META: RuleMeta = RuleMeta {
    id: "istio-vs-owned-by-flagger",
    severity: Severity::Warning,
    kinds: &[("networking.istio.io", "VirtualService")],
    doc: include_str!("../../rules/istio-vs-owned-by-flagger.md"),
    options: &[],
    builtin: false,
};

/// Why the Canary is taken as an Istio one when it does not say so, and the severity: `info`
/// when that rests on Flagger's default mesh provider, assumed (no `flagger.mesh-provider` in
/// `.rollgate.yaml` and no Flagger Deployment in the input).
fn provider_note(canary: &Object, mesh: Option<&Setting>) -> (String, Severity) {
    let unset = matches!(at(canary, "/spec/provider"), None | Some(Value::Null))
        || at(canary, "/spec/provider").and_then(Value::as_str) == Some("");
    match (unset, mesh) {
        (false, _) => (String::new(), META.severity),
        (true, Some(m)) => (
            format!(
                " (spec.provider is unset and Flagger's mesh provider is istio: {})",
                m.source
            ),
            META.severity,
        ),
        (true, None) => (
            " (spec.provider is unset: assumed Flagger's default mesh provider istio, as no flagger.mesh-provider in .rollgate.yaml and no Flagger Deployment in the input say otherwise)".into(),
            Severity::Info,
        ),
    }
}

impl Rule for IstioVsOwnedByFlagger {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, cx: &Context<'_>, out: &mut Vec<Finding>) {
        if owned_by_canary(object) {
            return;
        }
        let ns = object.ns();
        let mesh = cx.flagger_mesh_provider();
        let mesh_value = mesh.as_ref().map(|m| m.value.as_str());
        let istio_canaries = |ns: &str| {
            cx.world
                .list("flagger.app", "Canary", Some(ns))
                .into_iter()
                // A Canary of a sibling folder (another example or environment) is not applied
                // with this VirtualService: no evidence (`Inventory::absence` judges alike).
                .filter(|c| cx.world.distance(object, c) < crate::engine::inventory::ELSEWHERE)
                .filter(|c| canary_uses_istio(c, mesh_value).is_some())
                .filter_map(|c| Some((c, canary_apex(c)?)))
                .collect::<Vec<_>>()
        };
        // Taken over: same namespace, same name as the apex.
        if let Some((canary, apex)) = istio_canaries(ns)
            .into_iter()
            .find(|(_, apex)| *apex == object.name)
        {
            let (note, severity) = provider_note(canary, mesh.as_ref());
            out.push(
                finding(
                    &META,
                    object,
                    "/metadata/name",
                    format!(
                        "name \"{}\" is the apex Service name of {}{}; Flagger takes this VirtualService over and replaces its spec with its own routes, keeping this one only in the annotation flagger.kubernetes.io/original-configuration",
                        object.name,
                        display(canary),
                        note
                    ),
                )
                .with_severity(severity)
                .with_help("let Flagger generate the VirtualService (configure it with the Canary's spec.service: hosts, gateways, match, retries, …) and delete this one")
                .with_related(canary, "/spec/service", format!("{} manages VirtualService \"{apex}\"", display(canary))),
            );
            return;
        }
        // Competing: another VirtualService for a host Flagger's VirtualService serves.
        let Some(hosts) = at(object, "/spec/hosts").and_then(Value::as_array) else {
            return;
        };
        for (k, h) in hosts.iter().enumerate() {
            let Some(h) = h.as_str().filter(|h| !h.is_empty() && *h != "*") else {
                continue;
            };
            let fqdn = istio_fqdn(h, ns);
            let mut namespaces = vec![ns];
            if let Some(hn) = host_namespace(&fqdn) {
                if hn != ns {
                    namespaces.push(hn);
                }
            }
            let hit = namespaces
                .iter()
                .flat_map(|n| istio_canaries(n))
                .find(|(c, apex)| {
                    let apex_host = istio_fqdn(apex, c.ns());
                    let extra = at(c, "/spec/service/hosts")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .any(|x| x != "*" && istio_fqdn(x, c.ns()) == fqdn);
                    // Wildcards do not count: only a host Flagger's VirtualService lists itself.
                    (!fqdn.starts_with('*') && istio_hosts_match(&apex_host, &fqdn)) || extra
                });
            if let Some((canary, apex)) = hit {
                let (note, severity) = provider_note(canary, mesh.as_ref());
                out.push(
                    finding(
                        &META,
                        object,
                        format!("/spec/hosts/{k}"),
                        format!(
                            "host \"{h}\" is also a host of the VirtualService \"{apex}\" that Flagger generates for {}{}; istiod does not merge VirtualServices of one host for sidecars, so one of them is ignored",
                            display(canary),
                            note
                        ),
                    )
                    .with_severity(severity)
                    .with_help("route this host through the Canary's spec.service (hosts, gateways, match) instead of a second VirtualService")
                    .with_related(canary, "/spec/service", format!("{} manages VirtualService \"{apex}\"", display(canary))),
                );
                return;
            }
        }
    }
}
