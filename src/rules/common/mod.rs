//! Helpers shared by rules (not rules themselves: the meta-tests treat every `src/rules/*.rs` as
//! one). Small helpers shared by the cross-resource rules: field names for messages, how an absent
//! referent is reported, Istio host names, Flagger Canary facts.

pub mod wiring;

use serde_json::Value;

use crate::engine::inventory::walk;
use crate::engine::{Context, Object, Origin, Severity};

/// A JSON pointer as a field path for messages: `/spec/endpoints/0/port` → `spec.endpoints[0].port`.
pub fn field(pointer: &str) -> String {
    let mut out = String::with_capacity(pointer.len());
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(&seg);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

/// A JSON pointer with one more segment (escaped).
pub fn child(pointer: &str, seg: &str) -> String {
    let mut p = pointer.to_owned();
    crate::manifest::push_segment(&mut p, seg);
    p
}

/// The value at `pointer` in `object` (`Object::at` without its allocations).
pub fn at<'a>(object: &'a Object, pointer: &str) -> Option<&'a Value> {
    walk(&object.value, pointer)
}

/// `value` if it is a non-empty string.
pub fn non_empty(value: &Value) -> Option<&str> {
    value.as_str().filter(|s| !s.is_empty())
}

/// The string at `pointer` in `object`, if it is a non-empty string.
pub fn str_at<'a>(object: &'a Object, pointer: &str) -> Option<&'a str> {
    at(object, pointer).and_then(non_empty)
}

/// The string under `key` of a JSON object, if it is a non-empty string (`str_at` one level
/// down from a value in hand, without walking from the object's root again).
pub fn str_in<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(non_empty)
}

/// `namespace "a"`, `namespaces "a", "b"`.
pub fn namespaces_phrase<S: AsRef<str>>(names: &[S]) -> String {
    let quoted: Vec<String> = names
        .iter()
        .map(|n| format!("\"{}\"", n.as_ref()))
        .collect();
    match quoted.len() {
        1 => format!("namespace {}", quoted[0]),
        _ => format!("namespaces {}", quoted.join(", ")),
    }
}

/// How a referent that is absent from the world is reported. Offline, an absent referent may be
/// defined in files that were not linted: a warning. In a complete world (`--strict-references`,
/// or the cluster) it is certainly missing: an error. `what` names the referent,
/// `searched` where it was looked for, `consequence` what happens at runtime.
pub fn absent(
    cx: &Context<'_>,
    what: &str,
    searched: &str,
    consequence: &str,
) -> (Severity, String) {
    let world = cx.world.describe();
    if cx.world.complete() {
        (
            Severity::Error,
            format!("{what} does not exist in {world} (searched {searched}): {consequence}"),
        )
    } else {
        (
            Severity::Warning,
            format!(
                "{what} is not in {world} (searched {searched}); unless it is defined elsewhere, {consequence}"
            ),
        )
    }
}

/// Whether two objects come from the same input file (the same source of one lint run).
pub fn same_input(a: &Object, b: &Object) -> bool {
    match (&a.origin, &b.origin) {
        (Origin::File { source: x, .. }, Origin::File { source: y, .. }) => x == y,
        _ => false,
    }
}

/// An Istio host as istiod resolves it in `namespace` (`pkg/config/model.go`
/// `ResolveShortnameToFQDN`): a name without a dot is a Service of that namespace
/// (`reviews` → `reviews.<ns>.svc.cluster.local`); other names are taken as written.
pub fn istio_fqdn(host: &str, namespace: &str) -> String {
    if host.is_empty() || host == "*" || host.contains('.') || host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}.{namespace}.svc.cluster.local")
    }
}

/// The namespace of a Kubernetes Service host (`name.ns`, `name.ns.svc`, `name.ns.svc.<domain>`).
pub fn host_namespace(fqdn: &str) -> Option<&str> {
    let mut parts = fqdn.split('.');
    let _name = parts.next()?;
    let ns = parts.next()?;
    match parts.next() {
        None | Some("svc") if !ns.is_empty() && ns != "*" => Some(ns),
        _ => None,
    }
}

/// Whether two resolved Istio hosts name the same service. A wildcard (`*.ns.svc.cluster.local`,
/// `*`) matches the hosts under it. Partial Kubernetes names (`reviews.ns`, `reviews.ns.svc`) are
/// compared as the full name: istiod does not expand them, but rollgate prefers a missed finding
/// to a false one.
pub fn istio_hosts_match(a: &str, b: &str) -> bool {
    let (a, b) = (loose(a), loose(b));
    if a == b || a == "*" || b == "*" {
        return true;
    }
    let wild = |w: &str, h: &str| {
        w.strip_prefix('*')
            .is_some_and(|suffix| h.ends_with(suffix))
    };
    wild(&a, &b) || wild(&b, &a)
}

fn loose(h: &str) -> String {
    let h = h.trim_end_matches('.');
    if h.ends_with(".svc") {
        format!("{h}.cluster.local")
    } else if h.matches('.').count() == 1 && !h.starts_with('*') {
        format!("{h}.svc.cluster.local")
    } else {
        h.to_owned()
    }
}

/// The name of the Service Flagger routes to for a Canary (its "apex"): `spec.service.name`, else
/// `spec.targetRef.name` (`pkg/apis/flagger/v1beta1/canary.go` `GetServiceNames`).
pub fn canary_apex(canary: &Object) -> Option<&str> {
    str_at(canary, "/spec/service/name").or_else(|| str_at(canary, "/spec/targetRef/name"))
}

/// Whether Flagger uses its Istio router for this Canary: `spec.provider: istio`, or no provider
/// and Flagger's `-mesh-provider` (`mesh`: configured or discovered, [`Context::flagger_mesh_provider`])
/// is istio. `Some(true)` when known, `Some(false)` when only assumed (no provider and the mesh
/// provider unknown: Flagger's default is istio, `cmd/flagger/main.go`), `None` for other
/// providers.
///
/// [`Context::flagger_mesh_provider`]: crate::engine::Context::flagger_mesh_provider
pub fn canary_uses_istio(canary: &Object, mesh: Option<&str>) -> Option<bool> {
    match at(canary, "/spec/provider") {
        None | Some(Value::Null) => {}
        Some(Value::String(p)) if p.is_empty() => {}
        Some(Value::String(p)) if p == "istio" => return Some(true),
        _ => return None,
    }
    match mesh {
        None => Some(false),
        Some("istio") => Some(true),
        Some(_) => None,
    }
}

/// `Kind ns/name` of an object, for messages.
pub fn display(object: &Object) -> String {
    object.reference().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        assert_eq!(field("/spec/endpoints/0/port"), "spec.endpoints[0].port");
        assert_eq!(field("/metadata/labels/a~1b"), "metadata.labels.a/b");
        assert_eq!(field(""), "");
    }

    #[test]
    fn istio_hosts() {
        assert_eq!(
            istio_fqdn("reviews", "bookinfo"),
            "reviews.bookinfo.svc.cluster.local"
        );
        assert_eq!(istio_fqdn("reviews.other", "bookinfo"), "reviews.other");
        assert_eq!(istio_fqdn("*", "bookinfo"), "*");
        assert!(istio_hosts_match(
            "reviews.bookinfo.svc.cluster.local",
            &istio_fqdn("reviews", "bookinfo")
        ));
        assert!(istio_hosts_match(
            "reviews.bookinfo",
            "reviews.bookinfo.svc.cluster.local"
        ));
        assert!(istio_hosts_match(
            "reviews.bookinfo.svc",
            "reviews.bookinfo.svc.cluster.local"
        ));
        assert!(istio_hosts_match(
            "*.bookinfo.svc.cluster.local",
            "reviews.bookinfo.svc.cluster.local"
        ));
        assert!(!istio_hosts_match(
            "reviews.a.svc.cluster.local",
            "reviews.b.svc.cluster.local"
        ));
        assert!(!istio_hosts_match(
            "httpbin.org",
            "reviews.b.svc.cluster.local"
        ));
        assert_eq!(
            host_namespace("reviews.bookinfo.svc.cluster.local"),
            Some("bookinfo")
        );
        assert_eq!(host_namespace("reviews.bookinfo"), Some("bookinfo"));
        assert_eq!(host_namespace("api.example.com"), None);
        assert_eq!(host_namespace("reviews"), None);
    }
}
