//! Flagger Canary facts shared by the Flagger rules: which provider a Canary runs with, which
//! router Flagger builds for it (`pkg/router/factory.go` `MeshRouter`), and what that router
//! reads and generates.

use serde_json::Value;

use super::{at, str_at};
use crate::engine::{Context, Object};

/// Where the provider string of a Canary comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderSource {
    /// `spec.provider`.
    Spec,
    /// Not set: Flagger's `-mesh-provider`, known from `flagger.mesh-provider` in
    /// `.rollgate.yaml` or a Flagger Deployment in the world (the text says which).
    Setting(String),
    /// Not set and the `-mesh-provider` unknown: Flagger's default, `istio`
    /// (`cmd/flagger/main.go`), is assumed.
    AssumedDefault,
}

impl ProviderSource {
    /// Words for messages about a provider that `spec.provider` does not set.
    pub fn note(&self, provider: &str) -> String {
        match self {
            ProviderSource::Spec => String::new(),
            ProviderSource::Setting(source) => {
                format!(" (spec.provider is unset; Flagger's mesh provider is {provider}: {source})")
            }
            ProviderSource::AssumedDefault => " (spec.provider is unset: assumed Flagger's default mesh provider istio, as no flagger.mesh-provider in .rollgate.yaml and no Flagger Deployment in the input say otherwise)".to_owned(),
        }
    }
}

/// The provider Flagger hands to the router factory for a Canary (`pkg/controller/scheduler.go`:
/// `provider := c.meshProvider; if cd.Spec.Provider != "" { provider = cd.Spec.Provider }`).
pub fn provider(canary: &Object, cx: &Context<'_>) -> (String, ProviderSource) {
    if let Some(p) = str_at(canary, "/spec/provider") {
        return (p.to_owned(), ProviderSource::Spec);
    }
    match cx.flagger_mesh_provider() {
        Some(s) if !s.value.is_empty() => (s.value, ProviderSource::Setting(s.source)),
        _ => ("istio".to_owned(), ProviderSource::AssumedDefault),
    }
}

/// The routers of `MeshRouter`, matched exactly as Flagger does (case-sensitive; some by prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Router {
    AppMesh,
    AppMeshV1beta2,
    /// The SMI TrafficSplit routers (`linkerd`, `osm`, `smi:v1alpha1|2|3:<mesh>`).
    Smi,
    Istio,
    Contour,
    Knative,
    Gloo,
    /// NGINX ingress (`IngressRouter`).
    Nginx,
    Skipper,
    Traefik,
    Apisix,
    Kuma,
    GatewayApi,
    /// `kubernetes`: the `NopRouter` (blue/green by Service selectors only).
    Kubernetes,
}

impl Router {
    pub fn name(self) -> &'static str {
        match self {
            Router::AppMesh => "appmesh",
            Router::AppMeshV1beta2 => "appmesh:v1beta2",
            Router::Smi => "SMI",
            Router::Istio => "istio",
            Router::Contour => "contour",
            Router::Knative => "knative",
            Router::Gloo => "gloo",
            Router::Nginx => "nginx",
            Router::Skipper => "skipper",
            Router::Traefik => "traefik",
            Router::Apisix => "apisix",
            Router::Kuma => "kuma",
            Router::GatewayApi => "gatewayapi",
            Router::Kubernetes => "kubernetes",
        }
    }
}

/// `MeshRouter(provider)`: `None` for a string the factory does not know (Flagger then logs
/// "unknown mesh router provider" and uses the Istio router).
pub fn router(provider: &str) -> Option<Router> {
    let p = provider;
    Some(match p {
        _ if p.starts_with("appmesh:v1beta2") => Router::AppMeshV1beta2,
        "appmesh" => Router::AppMesh,
        "linkerd" | "osm" => Router::Smi,
        "istio" => Router::Istio,
        _ if p.starts_with("smi:v1alpha1")
            || p.starts_with("smi:v1alpha2")
            || p.starts_with("smi:v1alpha3") =>
        {
            Router::Smi
        }
        "contour" => Router::Contour,
        "knative" => Router::Knative,
        _ if p.starts_with("gloo") => Router::Gloo,
        "nginx" => Router::Nginx,
        "skipper" => Router::Skipper,
        "traefik" => Router::Traefik,
        "apisix" => Router::Apisix,
        "kuma" => Router::Kuma,
        _ if p.starts_with("gatewayapi:v1") => Router::GatewayApi,
        "kubernetes" => Router::Kubernetes,
        _ => return None,
    })
}

/// The provider strings of `cmd/flagger/main.go`'s `-mesh-provider` help, for suggestions.
pub const KNOWN_PROVIDERS: &[&str] = &[
    "apisix",
    "appmesh",
    "appmesh:v1beta2",
    "contour",
    "gatewayapi:v1",
    "gatewayapi:v1beta1",
    "gloo",
    "istio",
    "knative",
    "kubernetes",
    "kuma",
    "linkerd",
    "nginx",
    "osm",
    "skipper",
    "smi:v1alpha1",
    "smi:v1alpha2",
    "smi:v1alpha3",
    "traefik",
];

/// What a provider string that the factory does not know was probably meant as: the known
/// provider it equals ignoring case, or the versioned spelling of a bare `gatewayapi`.
pub fn meant(provider: &str) -> Option<&'static str> {
    let lower = provider.to_ascii_lowercase();
    if router(&lower).is_some() {
        if let Some(k) = KNOWN_PROVIDERS
            .iter()
            .filter(|k| lower.starts_with(**k))
            .max_by_key(|k| k.len())
        {
            return Some(k);
        }
    }
    match lower.as_str() {
        "gatewayapi" | "gateway-api" | "gateway" => Some("gatewayapi:v1"),
        "smi" => Some("smi:v1alpha3"),
        "ingress-nginx" | "nginx-ingress" => Some("nginx"),
        _ => None,
    }
}

/// Whether an object is already Flagger's: it has an owner reference to a Canary (what the
/// routers set on the objects they create, `setOwnerRefs`).
pub fn owned_by_canary(o: &Object) -> bool {
    at(o, "/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r.get("kind").and_then(Value::as_str) == Some("Canary"))
        })
}

/// `Canary.SkipAnalysis`: `spec.skipAnalysis: true` promotes without running the analysis.
pub fn skips_analysis(canary: &Object) -> bool {
    at(canary, "/spec/skipAnalysis").and_then(Value::as_bool) == Some(true)
}

/// The analysis Flagger runs for a Canary (`spec.analysis`, else `spec.canaryAnalysis`), with
/// its pointer; `None` when `spec.skipAnalysis` promotes without running it.
pub fn run_analysis(canary: &Object) -> Option<(&'static str, &Value)> {
    if skips_analysis(canary) {
        return None;
    }
    crate::timeline::flagger::analysis(canary)
}

/// The metrics of the analysis Flagger runs ([`run_analysis`]), with the analysis.
pub fn run_metrics(canary: &Object) -> Option<(&'static str, &Value, &[Value])> {
    let (base, a) = run_analysis(canary)?;
    let ms = a.get("metrics")?.as_array()?;
    Some((base, a, ms.as_slice()))
}

/// `GetServiceNames`: (apex, primary, canary) Service names.
pub fn service_names(canary: &Object) -> Option<(String, String, String)> {
    let apex = super::canary_apex(canary)?;
    Some((
        apex.to_owned(),
        format!("{apex}-primary"),
        format!("{apex}-canary"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factory_table() {
        assert_eq!(router("nginx"), Some(Router::Nginx));
        assert_eq!(router("NGINX"), None);
        assert_eq!(router("gatewayapi"), None);
        assert_eq!(router("gatewayapi:v1"), Some(Router::GatewayApi));
        assert_eq!(router("gatewayapi:v1beta1"), Some(Router::GatewayApi));
        assert_eq!(router("appmesh:v1beta2"), Some(Router::AppMeshV1beta2));
        assert_eq!(router("smi:v1alpha3:linkerd"), Some(Router::Smi));
        assert_eq!(router("gloo:v1"), Some(Router::Gloo));
        assert_eq!(router(""), None);
        assert_eq!(meant("NGINX"), Some("nginx"));
        assert_eq!(meant("Gatewayapi"), Some("gatewayapi:v1"));
        assert_eq!(meant("GatewayAPI:v1"), Some("gatewayapi:v1"));
        assert_eq!(meant("foo"), None);
    }
}
