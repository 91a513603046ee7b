//! Which cached objects' findings may change when another object changes: recorded, not
//! declared.
//!
//! While the background audit checks an object, the world it hands the engine is a
//! [`Recorder`] that notes every lookup the rules make (`get` by name, `list` of a namespace,
//! `list` of the whole cluster). An object depends on exactly what it looked up, so a watch
//! event on (kind, namespace, name) makes dirty: the object itself, every object that looked it
//! up by name, listed its kind in its namespace, or listed its kind cluster-wide
//! ([`DepIndex::dirty`]). That covers both directions the issue names — a ServiceMonitor listed
//! the Services of its namespaces (a deleted Service dirties it), a DestinationRule listed the
//! workloads whose pods its subsets select (a relabelled Deployment dirties it), a Canary got
//! its MetricTemplate by name (an edited template dirties it) and a template's check looked at
//! the Canaries that reference it (an edited Canary dirties the template) — without a table of
//! who references whom that every new rule would have to keep up to date (salsa's recorded
//! reads, not rust-analyzer's declared ones).
//!
//! Run-wide indexes: `Context` builds some indexes over the world once per run (the Canaries
//! by template, the Flagger Deployment's flags, Prometheus objects) with a cluster-wide `list`,
//! on the first object that asks, and serves later objects from memory, unseen by the recorder.
//! So a cluster-wide list is *sticky*: it is recorded for the object that made it and for every
//! later object checked with the same `Context` (the objects before it did not ask, or they
//! would have built it). The audit uses one `Context` per (namespace, kind) chunk, so the
//! over-approximation stays within objects of one kind.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use super::cache::{Key, WATCHED};
use crate::engine::{Absence, Facet, Inventory, LabelSelector, Object};

/// Index of a kind in [`WATCHED`] (only watched kinds change; lookups of others, e.g. CRDs,
/// never make anything dirty).
pub type KindId = u8;

pub fn kind_id(group: &str, kind: &str) -> Option<KindId> {
    WATCHED
        .iter()
        .position(|(g, k)| *g == group && *k == kind)
        .and_then(|i| u8::try_from(i).ok())
}

/// One lookup a check made.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dep {
    /// `get` of one name, in one namespace or (`None`) in every namespace.
    Name {
        kind: KindId,
        namespace: Option<Box<str>>,
        name: Box<str>,
    },
    /// `list` (or a selection) of one namespace.
    Namespace { kind: KindId, namespace: Box<str> },
    /// `list` of every namespace.
    All { kind: KindId },
    /// A facet's objects under one key ([`crate::engine::Facet`], kept by
    /// [`super::facts::Facts`]): dirty when an object gains or loses that key.
    Facet {
        kind: KindId,
        facet: &'static str,
        key: Box<str>,
    },
}

/// An inventory that notes the lookups made through it (see the module comment).
pub struct Recorder<'a> {
    inner: &'a dyn Inventory,
    /// Off: a plain pass-through (`rollgate audit`, which re-checks nothing).
    enabled: bool,
    log: Mutex<Log>,
}

#[derive(Default)]
struct Log {
    deps: Vec<Dep>,
    /// Cluster-wide lists made with this recorder's `Context`: every later object depends on
    /// them.
    sticky: Vec<Dep>,
}

impl<'a> Recorder<'a> {
    pub fn new(inner: &'a dyn Inventory, enabled: bool) -> Recorder<'a> {
        Recorder {
            inner,
            enabled,
            log: Mutex::new(Log::default()),
        }
    }

    fn note(&self, dep: Dep) {
        if !self.enabled {
            return;
        }
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(dep, Dep::All { .. }) && !log.sticky.contains(&dep) {
            log.sticky.push(dep.clone());
        }
        log.deps.push(dep);
    }

    /// A listing of `group`/`kind` in `namespace` (all namespaces: `None`), by `list`, `scan`,
    /// `select` or `select_pods`.
    fn note_listing(&self, group: &str, kind: &str, namespace: Option<&str>) {
        if let Some(kind) = kind_id(group, kind) {
            self.note(match namespace {
                Some(ns) => Dep::Namespace {
                    kind,
                    namespace: ns.into(),
                },
                None => Dep::All { kind },
            });
        }
    }

    /// The lookups made since the last call (an object's check), the sticky ones included,
    /// without repeats.
    pub fn take(&self) -> Vec<Dep> {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let mut deps = std::mem::take(&mut log.deps);
        deps.extend(log.sticky.iter().cloned());
        let mut seen = HashSet::new();
        deps.retain(|d| seen.insert(d.clone()));
        deps
    }
}

impl Inventory for Recorder<'_> {
    fn facet(&self, facet: &'static Facet, key: &str) -> Option<Vec<&Object>> {
        let found = self.inner.facet(facet, key)?;
        if let Some(kind) = kind_id(facet.group, facet.kind) {
            self.note(Dep::Facet {
                kind,
                facet: facet.id,
                key: key.into(),
            });
        }
        Some(found)
    }

    fn list(&self, group: &str, kind: &str, namespace: Option<&str>) -> Vec<&Object> {
        self.note_listing(group, kind, namespace);
        self.inner.list(group, kind, namespace)
    }

    fn get(&self, group: &str, kind: &str, namespace: Option<&str>, name: &str) -> Vec<&Object> {
        if let Some(kind) = kind_id(group, kind) {
            self.note(Dep::Name {
                kind,
                namespace: namespace.map(Into::into),
                name: name.into(),
            });
        }
        self.inner.get(group, kind, namespace, name)
    }

    /// Recorded as the `list` it replaces (see `Inventory::scan`).
    fn scan(&self, group: &str, kind: &str, namespace: Option<&str>, f: &mut dyn FnMut(&Object)) {
        self.note_listing(group, kind, namespace);
        self.inner.scan(group, kind, namespace, f);
    }

    fn select(
        &self,
        group: &str,
        kind: &str,
        namespace: Option<&str>,
        selector: &LabelSelector,
    ) -> Vec<&Object> {
        self.note_listing(group, kind, namespace);
        self.inner.select(group, kind, namespace, selector)
    }

    fn services_selecting(
        &self,
        namespace: &str,
        pod_labels: &serde_json::Map<String, serde_json::Value>,
    ) -> Vec<&Object> {
        self.note_listing("", "Service", Some(namespace));
        self.inner.services_selecting(namespace, pod_labels)
    }

    fn select_pods(
        &self,
        namespace: Option<&str>,
        selector: &LabelSelector,
    ) -> Vec<crate::engine::inventory::PodTemplate<'_>> {
        for (g, k, _) in crate::engine::inventory::POD_TEMPLATE_KINDS {
            self.note_listing(g, k, namespace);
        }
        self.inner.select_pods(namespace, selector)
    }

    fn describe(&self) -> &str {
        self.inner.describe()
    }

    fn complete(&self) -> bool {
        self.inner.complete()
    }

    fn reported(&self, object: &Object) -> bool {
        self.inner.reported(object)
    }

    fn distance(&self, referrer: &Object, candidate: &Object) -> u32 {
        self.inner.distance(referrer, candidate)
    }

    fn applied_together(&self, a: &Object, b: &Object) -> bool {
        self.inner.applied_together(a, b)
    }

    fn absence(
        &self,
        referrer: &Object,
        group: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Absence {
        // The answer depends on what else of that kind is there (`Absence::Suspect`).
        if let (Some(k), Some(ns)) = (kind_id(group, kind), namespace) {
            self.note(Dep::Namespace {
                kind: k,
                namespace: ns.into(),
            });
        }
        self.inner.absence(referrer, group, kind, namespace, name)
    }
}

/// Who depends on what, both ways.
#[derive(Default)]
pub struct DepIndex {
    forward: HashMap<Key, Vec<Dep>>,
    reverse: HashMap<Dep, HashSet<Key>>,
}

impl DepIndex {
    /// Replace what `key` depends on.
    pub fn set(&mut self, key: &Key, deps: Vec<Dep>) {
        self.remove(key);
        for d in &deps {
            self.reverse
                .entry(d.clone())
                .or_default()
                .insert(key.clone());
        }
        self.forward.insert(key.clone(), deps);
    }

    /// Forget `key` (the object is gone).
    pub fn remove(&mut self, key: &Key) {
        let Some(old) = self.forward.remove(key) else {
            return;
        };
        for d in old {
            if let Some(set) = self.reverse.get_mut(&d) {
                set.remove(key);
                if set.is_empty() {
                    self.reverse.remove(&d);
                }
            }
        }
    }

    /// Objects whose findings may change when `changed` was added, edited or removed: itself
    /// and every object that looked it up.
    pub fn dirty(&self, changed: &Key, out: &mut HashSet<Key>) {
        out.insert(changed.clone());
        let Some(kind) = kind_id(changed.group, changed.kind) else {
            return;
        };
        let namespace: Box<str> = changed.namespace.as_str().into();
        let name: Box<str> = changed.name.as_str().into();
        let keys = [
            Dep::Name {
                kind,
                namespace: Some(namespace.clone()),
                name: name.clone(),
            },
            Dep::Name {
                kind,
                namespace: None,
                name,
            },
            Dep::Namespace { kind, namespace },
            Dep::All { kind },
        ];
        for k in &keys {
            if let Some(set) = self.reverse.get(k) {
                out.extend(set.iter().cloned());
            }
        }
    }

    /// Objects that looked up `dep` (a facet key an object gained or lost: [`Dep::Facet`]).
    pub fn dependents(&self, dep: &Dep, out: &mut HashSet<Key>) {
        if let Some(set) = self.reverse.get(dep) {
            out.extend(set.iter().cloned());
        }
    }

    /// Objects with recorded lookups.
    pub fn len(&self) -> usize {
        self.forward.len()
    }

    pub fn is_empty(&self) -> bool {
        self.forward.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{MemoryInventory, Origin};
    use serde_json::json;

    fn obj(v: serde_json::Value) -> Object {
        Object::from_value(v, Origin::Cluster, "").expect("object")
    }

    #[test]
    fn lookups_are_recorded_and_cluster_wide_lists_stick() {
        let world = MemoryInventory::new(
            vec![obj(json!({"apiVersion": "v1", "kind": "Service",
                            "metadata": {"name": "web", "namespace": "a"}}))],
            "the cluster",
            true,
        );
        let r = Recorder::new(&world, true);
        assert_eq!(r.get("", "Service", Some("a"), "web").len(), 1);
        let svc = kind_id("", "Service").expect("watched");
        assert_eq!(
            r.take(),
            vec![Dep::Name {
                kind: svc,
                namespace: Some("a".into()),
                name: "web".into()
            }]
        );
        r.list("flagger.app", "Canary", None);
        r.list("", "ConfigMap", Some("a"));
        let canary = kind_id("flagger.app", "Canary").expect("watched");
        assert_eq!(r.take(), vec![Dep::All { kind: canary }]);
        // The next object served from a run-wide index depends on it too.
        assert_eq!(r.take(), vec![Dep::All { kind: canary }]);
    }

    #[test]
    fn dirty_follows_the_lookups_both_ways() {
        let svc = kind_id("", "Service").expect("watched");
        let mt = kind_id("flagger.app", "MetricTemplate").expect("watched");
        let canary = kind_id("flagger.app", "Canary").expect("watched");
        let key = |group: &'static str, kind: &'static str, ns: &str, name: &str| Key {
            namespace: ns.into(),
            group,
            kind,
            name: name.into(),
        };
        let mut idx = DepIndex::default();
        let monitor = key("monitoring.coreos.com", "ServiceMonitor", "a", "web");
        idx.set(
            &monitor,
            vec![Dep::Namespace {
                kind: svc,
                namespace: "a".into(),
            }],
        );
        let c = key("flagger.app", "Canary", "a", "podinfo");
        idx.set(
            &c,
            vec![Dep::Name {
                kind: mt,
                namespace: Some("a".into()),
                name: "latency".into(),
            }],
        );
        let t = key("flagger.app", "MetricTemplate", "a", "latency");
        idx.set(&t, vec![Dep::All { kind: canary }]);

        let mut d = HashSet::new();
        idx.dirty(&key("", "Service", "a", "web"), &mut d);
        assert!(d.contains(&monitor) && d.len() == 2, "{d:?}");
        let mut d = HashSet::new();
        idx.dirty(&key("", "Service", "b", "web"), &mut d);
        assert_eq!(d.len(), 1, "another namespace: only the Service itself");
        let mut d = HashSet::new();
        idx.dirty(&t, &mut d);
        assert!(d.contains(&c), "the Canary got the template by name");
        let mut d = HashSet::new();
        idx.dirty(&c, &mut d);
        assert!(d.contains(&t), "the template listed the Canaries");
        idx.remove(&monitor);
        let mut d = HashSet::new();
        idx.dirty(&key("", "Service", "a", "web"), &mut d);
        assert_eq!(d.len(), 1);
        assert_eq!(idx.len(), 2);
    }
}
