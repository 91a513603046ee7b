//! The world rules see during admission: a base inventory (the cluster cache, or nothing) with
//! the object under admission overlaid.
//!
//! Admission ordering: `kubectl apply -f dir/` creates objects one request at a time, so the
//! object a reference points at may legitimately arrive *after* the object that references it.
//! The admission world therefore never claims to be complete (`complete() == false`): reference
//! rules report an absent referent as a warning, and only contradictions with objects that do
//! exist can deny.

use crate::engine::{Inventory, Object};

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
}

impl Inventory for Overlay<'_> {
    fn list(&self, group: &str, kind: &str, namespace: Option<&str>) -> Vec<&Object> {
        let mut v: Vec<&Object> = match self.base {
            Some(b) => b.list(group, kind, namespace),
            None => Vec::new(),
        };
        let o = self.object;
        if o.group == group && o.kind == kind {
            v.retain(|c| !self.is_admitted(c));
            if namespace.is_none_or(|ns| o.ns() == ns) {
                v.push(o);
            }
        }
        v
    }

    fn get(&self, group: &str, kind: &str, namespace: Option<&str>, name: &str) -> Vec<&Object> {
        let mut v: Vec<&Object> = match self.base {
            Some(b) => b.get(group, kind, namespace, name),
            None => Vec::new(),
        };
        let o = self.object;
        if o.group == group && o.kind == kind && o.name == name {
            v.retain(|c| !self.is_admitted(c));
            if namespace.is_none_or(|ns| o.ns() == ns) {
                v.push(o);
            }
        }
        v
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
    use serde_json::json;

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
        assert!(!w.complete());
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
