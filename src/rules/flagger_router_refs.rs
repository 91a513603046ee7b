//! flagger-router-refs: the references a Canary's router reads must be there.
//!
//! Flagger builds one router per Canary from the provider string (`spec.provider`, else the
//! controller's `-mesh-provider`), matched exactly and case-sensitively
//! (`pkg/router/factory.go` `MeshRouter`; anything else: "unknown mesh router provider", the
//! Istio router). Each router reads its own references and fails its `Reconcile` without them:
//! `ingressRef` for nginx (`pkg/router/ingress.go`: "ingress selector is empty") and skipper
//! (`skipper.go`), `service.gatewayRefs` for Gateway API (`gateway_api.go`,
//! `gateway_api_v1beta1.go`: "GatewayRefs must be specified"), `routeRef` for APISIX
//! (`apisix.go`), `service.meshName` for App Mesh v1beta1 (`appmesh.go`: "mesh name cannot be
//! empty"); a Knative Service target and `provider: knative` go together
//! (`pkg/controller/controller.go` `verifyKnativeCanary`). The references other routers read
//! are ignored (except as `{{ ingress }}`/`{{ route }}` of metric templates, `toMetricModel`).

use serde_json::Value;

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};

use super::common::flagger::{ProviderSource, Router, meant, provider, router};
use super::common::{at, str_at};

pub struct FlaggerRouterRefs;

static META: RuleMeta = RuleMeta {
    id: "flagger-router-refs",
    severity: Severity::Error,
    kinds: &[("flagger.app", "Canary")],
    doc: include_str!("../../rules/flagger-router-refs.md"),
    options: &[],
    builtin: false,
};

/// A reference a router needs: where, what it is called, the kind it names.
struct Needed {
    pointer: &'static str,
    field: &'static str,
    kind: Option<&'static str>,
    /// Whether it is a list that must not be empty (else an object with a `name`).
    list: bool,
}

fn needed(r: Router) -> Option<Needed> {
    let n = |pointer, field, kind, list| {
        Some(Needed {
            pointer,
            field,
            kind,
            list,
        })
    };
    match r {
        Router::Nginx | Router::Skipper => n(
            "/spec/ingressRef",
            "spec.ingressRef",
            Some("Ingress"),
            false,
        ),
        Router::GatewayApi => n(
            "/spec/service/gatewayRefs",
            "spec.service.gatewayRefs",
            None,
            true,
        ),
        Router::Apisix => n(
            "/spec/routeRef",
            "spec.routeRef",
            Some("ApisixRoute"),
            false,
        ),
        Router::AppMesh => n(
            "/spec/service/meshName",
            "spec.service.meshName",
            None,
            false,
        ),
        _ => None,
    }
}

/// References only some routers read: (pointer, field, the routers that read it).
const ROUTER_ONLY: &[(&str, &str, &[Router], &str)] = &[
    (
        "/spec/ingressRef",
        "spec.ingressRef",
        &[Router::Nginx, Router::Skipper],
        "nginx and skipper",
    ),
    (
        "/spec/service/gatewayRefs",
        "spec.service.gatewayRefs",
        &[Router::GatewayApi],
        "gatewayapi:v1 and gatewayapi:v1beta1",
    ),
    (
        "/spec/routeRef",
        "spec.routeRef",
        &[Router::Apisix],
        "apisix",
    ),
    (
        "/spec/upstreamRef",
        "spec.upstreamRef",
        &[Router::Gloo],
        "gloo",
    ),
];

fn present(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(_) => true,
    }
}

impl Rule for FlaggerRouterRefs {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, cx: &Context<'_>, out: &mut Vec<Finding>) {
        let (p, source) = provider(object, cx);
        let p = p.as_str();
        let knative_target = str_at(object, "/spec/targetRef/kind") == Some("Service")
            && str_at(object, "/spec/targetRef/apiVersion") == Some("serving.knative.dev/v1");
        // `verifyKnativeCanary` compares spec.provider itself, not the controller's default.
        let spec_knative = source == ProviderSource::Spec && p == "knative";
        if knative_target != spec_knative {
            let (ptr, msg) = if knative_target {
                (
                    "/spec/targetRef",
                    format!(
                        "targetRef is a Knative Service but spec.provider is {}: Flagger refuses the Canary (\"can't use {} provider with Knative Service as target\") and nothing routes to the canary",
                        if source == ProviderSource::Spec {
                            format!("\"{p}\"")
                        } else {
                            "unset".to_owned()
                        },
                        if source == ProviderSource::Spec {
                            p
                        } else {
                            ""
                        },
                    ),
                )
            } else {
                (
                    "/spec/provider",
                    "spec.provider is knative but targetRef is not a Knative Service (serving.knative.dev/v1 Service): Flagger refuses the Canary and nothing routes to the canary".to_owned(),
                )
            };
            out.push(finding(&META, object, ptr, msg).with_help(
                "use provider knative exactly with a serving.knative.dev/v1 Service target",
            ));
        }
        if source == ProviderSource::AssumedDefault {
            // The controller's -mesh-provider is unknown (default istio, whose router needs no
            // reference): nothing to check.
            return;
        }
        let note = source.note(p);
        let Some(r) = router(p) else {
            if source != ProviderSource::Spec {
                // A setting of the controller, not of this Canary: the settings are checked
                // where they are written.
                return;
            }
            let (severity, msg, help) = match meant(p) {
                Some(k) if k != "istio" => (
                    Severity::Warning,
                    format!(
                        "spec.provider \"{p}\" is not a provider Flagger knows: it compares the string exactly (case-sensitively), logs \"unknown mesh router provider\" and uses the istio router and istio's builtin metrics, so nothing routes to the canary through {k}"
                    ),
                    format!("write `provider: {k}`"),
                ),
                Some(k) => (
                    Severity::Info,
                    format!(
                        "spec.provider \"{p}\" is not written as Flagger knows it; it falls back to the istio router, which is what \"{k}\" means anyway"
                    ),
                    format!("write `provider: {k}`"),
                ),
                None => (
                    Severity::Info,
                    format!(
                        "spec.provider \"{p}\" is not one of Flagger's providers: Flagger logs \"unknown mesh router provider\" and uses the istio router and istio's builtin metrics"
                    ),
                    "use one of apisix, appmesh, appmesh:v1beta2, contour, gatewayapi:v1, gatewayapi:v1beta1, gloo, istio, knative, kubernetes, kuma, linkerd, nginx, osm, skipper, smi:v1alpha1|2|3, traefik".to_owned(),
                ),
            };
            let mut f = finding(&META, object, "/spec/provider", msg).with_help(help);
            f.severity = severity;
            out.push(f);
            return;
        };
        // A fragment (documentation snippets cut after `provider:`) is not judged on what it
        // lacks: a Canary without a targetRef is not deployable anyway (rule schema).
        let fragment = at(object, "/spec/targetRef").is_none();
        if let Some(need) = needed(r).filter(|_| !fragment) {
            let v = at(object, need.pointer);
            let ok = if need.list {
                v.and_then(Value::as_array).is_some_and(|a| !a.is_empty())
            } else if need.kind.is_some() {
                v.and_then(|r| r.get("name"))
                    .and_then(Value::as_str)
                    .is_some_and(|n| !n.is_empty())
            } else {
                v.and_then(Value::as_str).is_some_and(|n| !n.is_empty())
            };
            if !ok {
                let shape = match v {
                    Some(Value::Null) | None => String::new(),
                    Some(Value::String(s)) if need.kind.is_some() => format!(
                        " ({} is the string \"{s}\", not a reference with a name)",
                        need.field
                    ),
                    Some(_) if need.list => format!(" ({} is empty or not a list)", need.field),
                    Some(_) if need.kind.is_some() => {
                        format!(" ({} has no name)", need.field)
                    }
                    Some(_) => format!(" ({} is empty or not a string)", need.field),
                };
                let ptr = match (v.is_some(), &source) {
                    (true, _) => need.pointer,
                    (false, ProviderSource::Spec) => "/spec/provider",
                    (false, _) => "/spec",
                };
                let help = match r {
                    Router::Nginx | Router::Skipper => {
                        "add `ingressRef: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: <the Ingress of the apex Service>}`"
                    }
                    Router::GatewayApi => {
                        "add `service.gatewayRefs: [{name: <gateway>, namespace: <its namespace>}]`"
                    }
                    Router::Apisix => {
                        "add `routeRef: {apiVersion: apisix.apache.org/v2, kind: ApisixRoute, name: <the route>}`"
                    }
                    _ => "add `service.meshName: <the App Mesh mesh>`",
                };
                out.push(
                    finding(
                        &META,
                        object,
                        ptr,
                        format!(
                            "provider \"{p}\"{note} routes through {} but it is missing{shape}: Flagger's {} router fails to reconcile and nothing routes to the canary",
                            need.field,
                            r.name()
                        ),
                    )
                    .with_help(help),
                );
            } else if let (Some(kind), Some(k)) = (
                need.kind,
                v.and_then(|r| r.get("kind")).and_then(Value::as_str),
            ) {
                if !k.is_empty() && k != kind {
                    let mut f = finding(
                        &META,
                        object,
                        format!("{}/kind", need.pointer),
                        format!(
                            "{}.kind is \"{k}\" but Flagger's {} router reads the {kind} of that name, whatever the kind says",
                            need.field,
                            r.name()
                        ),
                    )
                    .with_help(format!("name the {kind} the router should use, with kind {kind}"));
                    f.severity = Severity::Warning;
                    out.push(f);
                }
            }
        }
        for (ptr, field, readers, names) in ROUTER_ONLY {
            // With the provider from the controller's settings, references of other routers may
            // be meant for another Flagger installation: only spec.provider is judged here.
            if source != ProviderSource::Spec || readers.contains(&r) || !present(at(object, ptr)) {
                continue;
            }
            let templates = match *ptr {
                "/spec/ingressRef" => " (its name is still {{ ingress }} in metric templates)",
                "/spec/routeRef" => " (its name is still {{ route }} in metric templates)",
                _ => "",
            };
            let mut f = finding(
                &META,
                object,
                *ptr,
                format!(
                    "{field} is read only by the {names} routers; provider \"{p}\" uses the {} router, which ignores it{templates}",
                    r.name()
                ),
            )
            .at_key();
            f.severity = Severity::Info;
            out.push(f);
        }
    }
}
