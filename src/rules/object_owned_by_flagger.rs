//! object-owned-by-flagger: a hand-written object under a name Flagger's router generates.
//!
//! Besides the Istio VirtualService (rule `istio-vs-owned-by-flagger`), every router creates
//! its objects under names derived from the Canary and, when an object of that name exists,
//! overwrites its spec on every reconcile (`pkg/router/*.go`: `Get` by name, then `Update` when
//! the spec differs):
//! - every router: Services `<apex>-primary`, `<apex>-canary` (`kubernetes_default.go`
//!   `Initialize`: ports and selector replaced), except for Service targets (`KubernetesNoopRouter`);
//! - istio: DestinationRules `<apex>-canary`, `<apex>-primary` (`istio.go`);
//! - gatewayapi: HTTPRoute `<apex>` (`gateway_api.go`, `gateway_api_v1beta1.go`);
//! - contour: HTTPProxy `<apex>` (`contour.go`); traefik: TraefikService `<apex>` (`traefik.go`);
//! - linkerd, osm, smi: TrafficSplit `<apex>` (`smi.go`, `smi_v1alpha2.go`, `smi_v1alpha3.go`);
//! - nginx, skipper: Ingress `<ingressRef.name>-canary` (`ingress.go`, `skipper.go`);
//! - apisix: ApisixRoute `<routeRef.name>-<apex>-canary` (`apisix.go`);
//! - gloo: RouteTable `<apex>` (`gloo.go`); kuma: TrafficRoute `<apex>`, cluster-scoped (`kuma.go`).

use serde_json::Value;

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};

use super::common::flagger::{
    ProviderSource, Router, owned_by_canary, provider, router, service_names,
};
use super::common::{at, display, str_at};

pub struct ObjectOwnedByFlagger;

static META: RuleMeta = RuleMeta {
    id: "object-owned-by-flagger",
    severity: Severity::Warning,
    kinds: &[
        ("", "Service"),
        ("networking.k8s.io", "Ingress"),
        ("networking.istio.io", "DestinationRule"),
        ("gateway.networking.k8s.io", "HTTPRoute"),
        ("projectcontour.io", "HTTPProxy"),
        ("traefik.containo.us", "TraefikService"),
        ("traefik.io", "TraefikService"),
        ("split.smi-spec.io", "TrafficSplit"),
        ("apisix.apache.org", "ApisixRoute"),
        ("gateway.solo.io", "RouteTable"),
        ("kuma.io", "TrafficRoute"),
    ],
    doc: include_str!("../../rules/object-owned-by-flagger.md"),
    options: &[],
    builtin: false,
};

/// The names of `kind` (group, kind) that Flagger generates for `canary` with router `r`.
fn generated(canary: &Object, r: Router, group: &str, kind: &str) -> Vec<String> {
    let Some((apex, primary, canary_svc)) = service_names(canary) else {
        return Vec::new();
    };
    let target_is_service = str_at(canary, "/spec/targetRef/kind") == Some("Service");
    match (group, kind, r) {
        ("", "Service", r) if !target_is_service && r != Router::Knative => {
            vec![primary, canary_svc]
        }
        ("networking.istio.io", "DestinationRule", Router::Istio) => vec![canary_svc, primary],
        ("gateway.networking.k8s.io", "HTTPRoute", Router::GatewayApi)
        | ("projectcontour.io", "HTTPProxy", Router::Contour)
        | ("traefik.containo.us" | "traefik.io", "TraefikService", Router::Traefik)
        | ("split.smi-spec.io", "TrafficSplit", Router::Smi)
        | ("gateway.solo.io", "RouteTable", Router::Gloo)
        | ("kuma.io", "TrafficRoute", Router::Kuma) => vec![apex],
        ("networking.k8s.io", "Ingress", Router::Nginx | Router::Skipper) => {
            str_at(canary, "/spec/ingressRef/name")
                .map(|i| vec![format!("{i}-canary")])
                .unwrap_or_default()
        }
        ("apisix.apache.org", "ApisixRoute", Router::Apisix) => {
            str_at(canary, "/spec/routeRef/name")
                .map(|rr| vec![format!("{rr}-{apex}-canary")])
                .unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

fn file_of(r: Router, kind: &str) -> &'static str {
    match (r, kind) {
        (_, "Service") => "pkg/router/kubernetes_default.go",
        (Router::Istio, _) => "pkg/router/istio.go",
        (Router::GatewayApi, _) => "pkg/router/gateway_api.go",
        (Router::Contour, _) => "pkg/router/contour.go",
        (Router::Traefik, _) => "pkg/router/traefik.go",
        (Router::Smi, _) => "pkg/router/smi*.go",
        (Router::Nginx, _) => "pkg/router/ingress.go",
        (Router::Skipper, _) => "pkg/router/skipper.go",
        (Router::Apisix, _) => "pkg/router/apisix.go",
        (Router::Gloo, _) => "pkg/router/gloo.go",
        (Router::Kuma, _) => "pkg/router/kuma.go",
        _ => "pkg/router",
    }
}

/// Whether Flagger would change a Service named `<apex>-primary`/`<apex>-canary`: it selects the
/// primary pods with `<label>: <value>-primary` and the canary pods with `<label>: <value>`
/// (`kubernetes_default.go` `Initialize`). A Service that already selects that way (a copy of
/// what Flagger generates, as in docs listing the generated objects) loses nothing.
fn service_differs(svc: &Object) -> bool {
    let selector = at(svc, "/spec/selector").and_then(Value::as_object);
    let selects_primary = selector.is_some_and(|m| {
        m.values()
            .any(|v| v.as_str().is_some_and(|v| v.ends_with("-primary")))
    });
    if svc.name.ends_with("-primary") {
        !selects_primary
    } else {
        selector.is_none_or(|m| m.is_empty()) || selects_primary
    }
}

impl Rule for ObjectOwnedByFlagger {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, cx: &Context<'_>, out: &mut Vec<Finding>) {
        if owned_by_canary(object) {
            return;
        }
        let (group, kind) = (object.group.as_str(), object.kind.as_str());
        // Cheap exits for the common kinds: only these suffixes can be generated names.
        if (kind == "Service"
            && !(object.name.ends_with("-primary") || object.name.ends_with("-canary")))
            || (kind == "Ingress" && !object.name.ends_with("-canary"))
        {
            return;
        }
        if kind == "Service" && !service_differs(object) {
            return;
        }
        let canaries = if kind == "TrafficRoute" {
            // Kuma's TrafficRoute is cluster-scoped: any Canary's apex can name it.
            cx.world.list("flagger.app", "Canary", None)
        } else {
            cx.world.list("flagger.app", "Canary", Some(object.ns()))
        };
        // A Canary of a sibling folder (another example or environment) is not applied with
        // this object: no evidence (`Inventory::absence` judges alike).
        let near = |c: &&Object| cx.world.distance(object, c) < crate::engine::inventory::ELSEWHERE;
        for canary in canaries.into_iter().filter(near) {
            let (p, source) = provider(canary, cx);
            let r = router(&p).unwrap_or(Router::Istio);
            if !generated(canary, r, group, kind).contains(&object.name) {
                continue;
            }
            // Services are generated by every router: no assumption about the provider there.
            let assumed = source == ProviderSource::AssumedDefault && kind != "Service";
            let note = if kind == "Service" {
                String::new()
            } else {
                source.note(&p)
            };
            let what = if kind == "Service" {
                "replaces its ports and selector"
            } else {
                "replaces its spec with its own routes"
            };
            let mut f = finding(
                &META,
                object,
                "/metadata/name",
                format!(
                    "{kind} \"{}\" has the name Flagger's {} router generates for {}{note}: Flagger {what} on every reconcile ({}), so this definition is overwritten or fought over by whoever applies it",
                    object.name,
                    r.name(),
                    display(canary),
                    file_of(r, kind)
                ),
            )
            .with_help(format!(
                "let Flagger generate {kind} \"{}\" (configure it through the Canary's spec.service) and delete this one, or rename it",
                object.name
            ))
            .with_related(canary, "/spec", format!("{} generates {kind} \"{}\"", display(canary), object.name));
            if assumed {
                f.severity = Severity::Info;
            }
            out.push(f);
            return;
        }
    }
}
