//! The world rules see during admission: a base inventory (the cluster cache, or nothing) with
//! the object under admission overlaid.
//!
//! Admission ordering: `kubectl apply -f dir/` creates objects one request at a time, so the
//! object a reference points at may legitimately arrive *after* the object that references it.
//! The admission world therefore never claims to be complete (`complete() == false`): reference
//! rules report an absent referent as a warning, and only contradictions with objects that do
//! exist can deny.

use crate::engine::inventory::{labels_of, service_selects};
use crate::engine::{Facet, Inventory, LabelSelector, Object};

/// A source of admission worlds. The world borrows from the source only for the duration of
/// `f` (the cache holds a read lock that long), which keeps the decision a plain function call.
pub trait World: Send + Sync {
    fn with_world(&self, object: &Object, f: &mut dyn FnMut(&dyn Inventory));

    /// Whether the world is ready to answer (the cache has listed every installed kind once).
    fn synced(&self) -> bool {
        true
    }
}

/// `--no-cluster`: the object under admission is the whole world.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoCluster;

impl World for NoCluster {
    fn with_world(&self, object: &Object, f: &mut dyn FnMut(&dyn Inventory)) {
        f(&Overlay::new(
            None,
            object,
            "the admission request (--no-cluster)",
        ));
    }
}

/// `base` with `object` overlaid: an UPDATE replaces the cached version of the same object.
pub struct Overlay<'a> {
    base: Option<&'a dyn Inventory>,
    object: &'a Object,
    description: &'a str,
}

impl<'a> Overlay<'a> {
    pub fn new(base: Option<&'a dyn Inventory>, object: &'a Object, description: &'a str) -> Self {
        Overlay {
            base,
            object,
            description,
        }
    }

    fn is_admitted(&self, o: &Object) -> bool {
        o.group == self.object.group
            && o.kind == self.object.kind
            && o.ns() == self.object.ns()
            && o.name == self.object.name
    }

    /// `base` (an answer of the base for `group`/`kind`) without the cached version of the
    /// admitted object, then the admitted object when `wanted` says so: `list`'s order.
    fn overlaid<'s>(
        &'s self,
        mut base: Vec<&'s Object>,
        group: &str,
        kind: &str,
        wanted: impl FnOnce(&Object) -> bool,
    ) -> Vec<&'s Object> {
        let o = self.object;
        if o.group == group && o.kind == kind {
            base.retain(|c| !self.is_admitted(c));
            if wanted(o) {
                base.push(o);
            }
        }
        base
    }
}

impl Inventory for Overlay<'_> {
    fn list(&self, group: &str, kind: &str, namespace: Option<&str>) -> Vec<&Object> {
        let base = self.base.map(|b| b.list(group, kind, namespace));
        self.overlaid(base.unwrap_or_default(), group, kind, |o| {
            namespace.is_none_or(|ns| o.ns() == ns)
        })
    }

    fn get(&self, group: &str, kind: &str, namespace: Option<&str>, name: &str) -> Vec<&Object> {
        let base = self.base.map(|b| b.get(group, kind, namespace, name));
        self.overlaid(base.unwrap_or_default(), group, kind, |o| {
            o.name == name && namespace.is_none_or(|ns| o.ns() == ns)
        })
    }

    /// As `list` then filtered (the base selects its own way: the cache reads labels first).
    fn select(
        &self,
        group: &str,
        kind: &str,
        namespace: Option<&str>,
        selector: &LabelSelector,
    ) -> Vec<&Object> {
        let base = self
            .base
            .map(|b| b.select(group, kind, namespace, selector));
        self.overlaid(base.unwrap_or_default(), group, kind, |o| {
            namespace.is_none_or(|ns| o.ns() == ns) && selector.matches(labels_of(o))
        })
    }

    /// The base's (its own way), then the admitted Service if it selects the pods.
    fn services_selecting(
        &self,
        namespace: &str,
        pod_labels: &serde_json::Map<String, serde_json::Value>,
    ) -> Vec<&Object> {
        let base = self
            .base
            .map(|b| b.services_selecting(namespace, pod_labels));
        self.overlaid(base.unwrap_or_default(), "", "Service", |o| {
            o.ns() == namespace && service_selects(o.at("/spec/selector"), pod_labels)
        })
    }

    /// As `list`: the base's objects but the cached version of the admitted one, then it.
    fn scan(&self, group: &str, kind: &str, namespace: Option<&str>, f: &mut dyn FnMut(&Object)) {
        let o = self.object;
        let same_kind = o.group == group && o.kind == kind;
        if let Some(b) = self.base {
            b.scan(group, kind, namespace, &mut |c| {
                if !(same_kind && self.is_admitted(c)) {
                    f(c);
                }
            });
        }
        if same_kind && namespace.is_none_or(|ns| o.ns() == ns) {
            f(o);
        }
    }

    /// The base's answer (`None` when it keeps no such facet: the rules then index `list`,
    /// which overlays), without the cached version of the admitted object, then the admitted
    /// object when it has `key`: `list`'s order.
    fn facet(&self, facet: &'static Facet, key: &str) -> Option<Vec<&Object>> {
        let base = self.base?.facet(facet, key)?;
        Some(self.overlaid(base, facet.group, facet.kind, |o| {
            let mut keys = Vec::new();
            (facet.keys)(o, &mut keys);
            keys.iter().any(|k| k == key)
        }))
    }

    fn describe(&self) -> &str {
        self.description
    }

    /// Never complete: see the module comment (admission ordering).
    fn complete(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{MemoryInventory, Origin};
    use serde_json::{Value, json};

    fn svc(name: &str, port: u16) -> Object {
        Object::from_value(
            json!({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": name, "namespace": "prod"},
                   "spec": {"ports": [{"port": port}]}}),
            Origin::Cluster,
            "default",
        )
        .expect("object")
    }

    #[test]
    fn update_replaces_the_cached_version() {
        let base = MemoryInventory::new(vec![svc("a", 80), svc("b", 80)], "the cluster", true);
        let admitted = svc("a", 8080);
        let w = Overlay::new(Some(&base), &admitted, "the cluster");
        let got = w.get("", "Service", Some("prod"), "a");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].at("/spec/ports/0/port"), Some(&json!(8080)));
        assert_eq!(w.list("", "Service", Some("prod")).len(), 2);
        assert_eq!(w.list("", "Service", Some("other")).len(), 0);
        let mut scanned = Vec::new();
        w.scan("", "Service", None, &mut |o| {
            scanned.push((o.name.clone(), o.at("/spec/ports/0/port").cloned()))
        });
        let listed: Vec<_> = w
            .list("", "Service", None)
            .into_iter()
            .map(|o| (o.name.clone(), o.at("/spec/ports/0/port").cloned()))
            .collect();
        assert_eq!(scanned, listed);
        assert_eq!(scanned[1], ("a".to_owned(), Some(json!(8080))));
        assert!(!w.complete());
    }

    /// Flagger's flags are read from every Deployment of the cluster on a Canary's admission:
    /// the view parses them for that and keeps none (the issue-23 webhook cost: one admission
    /// held every Deployment parsed, ~9 KB each, for the rest of the request).
    #[test]
    fn flagger_discovery_keeps_no_deployment_parsed() {
        use crate::engine::{Context, Settings};
        use crate::webhook::cache::Store;
        let deployment = |ns: &str, name: &str, args: Value| {
            Object::from_value(
                json!({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": name, "namespace": ns},
                       "spec": {"template": {"spec": {"containers": [
                           {"name": name, "image": format!("ghcr.io/fluxcd/{name}:1.41.0"), "args": args}]}}}}),
                Origin::Cluster,
                "",
            )
            .expect("object")
        };
        let mut store = Store::default();
        for i in 0..50 {
            store.insert(deployment("prod", &format!("app-{i}"), json!([])));
        }
        store.insert(deployment(
            "flagger-system",
            "flagger",
            json!(["-mesh-provider=linkerd"]),
        ));
        let view = store.view();
        let canary = Object::from_value(
            json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
                   "metadata": {"name": "app-0", "namespace": "prod"}}),
            Origin::Admission,
            "",
        )
        .expect("object");
        let world = Overlay::new(Some(&view), &canary, "the cluster");
        let settings = Settings::default();
        let cx = Context::new(&world, &settings);
        let provider = cx.flagger_mesh_provider().expect("discovered");
        assert_eq!(provider.value, "linkerd");
        assert_eq!(
            provider.source,
            "-mesh-provider=linkerd of Deployment flagger-system/flagger"
        );
        assert_eq!(view.parsed(), 0);
        // What is parsed for a lookup is still kept for the request, and scanned from there.
        assert_eq!(
            world.get("apps", "Deployment", Some("prod"), "app-3").len(),
            1
        );
        assert_eq!(view.parsed(), 1);
        let mut seen = 0;
        world.scan("apps", "Deployment", None, &mut |_| seen += 1);
        assert_eq!((seen, view.parsed()), (51, 1));
    }

    /// With the store's kept facts, Flagger's flags come from the Flagger Deployments the
    /// facet names (nothing else is parsed), and an admitted Flagger Deployment (an UPDATE
    /// changing `-mesh-provider`) replaces its cached version.
    #[test]
    fn flagger_flags_from_kept_facts_and_the_admitted_update() {
        use crate::engine::controllers::FLAGGER_DEPLOYMENTS;
        use crate::engine::{Context, Settings};
        use crate::webhook::cache::Store;
        let flagger = |provider: &str, origin: Origin| {
            Object::from_value(
                json!({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": "flagger", "namespace": "flagger-system"},
                       "spec": {"template": {"spec": {"containers": [
                           {"name": "flagger", "image": "ghcr.io/fluxcd/flagger:1.41.0",
                            "args": [format!("-mesh-provider={provider}")]}]}}}}),
                origin,
                "",
            )
            .expect("object")
        };
        let app = |name: &str| {
            Object::from_value(
                json!({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": name, "namespace": "prod"},
                       "spec": {"template": {"spec": {"containers": [
                           {"name": name, "image": "nginx"}]}}}}),
                Origin::Cluster,
                "",
            )
            .expect("object")
        };
        let mut store = Store::default();
        for i in 0..20 {
            store.insert(app(&format!("app-{i}")));
        }
        store.keep_facts();
        // Kept from here on: stored after the index was built.
        store.insert(flagger("linkerd", Origin::Cluster));
        let view = store.view();
        let found = view.facet(&FLAGGER_DEPLOYMENTS, "flagger").expect("kept");
        assert_eq!(found.len(), 1);
        assert_eq!(view.parsed(), 1);
        let view = store.view();
        let update = flagger("nginx", Origin::Admission);
        let world = Overlay::new(Some(&view), &update, "the cluster");
        let settings = Settings::default();
        let cx = Context::new(&world, &settings);
        let provider = cx.flagger_mesh_provider().expect("discovered");
        assert_eq!(provider.value, "nginx");
        // The cached Flagger is parsed (the facet resolves it), no application Deployment.
        assert_eq!(view.parsed(), 1);
        // Without kept facts the rules scan every Deployment (parsed and dropped).
        let mut plain = Store::default();
        plain.insert(flagger("linkerd", Origin::Cluster));
        let view = plain.view();
        assert!(view.facet(&FLAGGER_DEPLOYMENTS, "flagger").is_none());
        // A removed Flagger leaves the facet.
        store.remove("apps", "Deployment", "flagger-system", "flagger");
        let view = store.view();
        let left = view.facet(&FLAGGER_DEPLOYMENTS, "flagger").expect("kept");
        assert!(left.is_empty());
    }

    #[test]
    fn no_cluster_sees_only_the_admitted_object() {
        let admitted = svc("a", 80);
        let mut seen = 0;
        NoCluster.with_world(&admitted, &mut |w| {
            seen = w.list("", "Service", None).len();
            assert!(w.list("apps", "Deployment", None).is_empty());
        });
        assert_eq!(seen, 1);
    }
}
