//! The rules' cluster-wide indexes for the audit, kept as identities and keys, not objects.
//!
//! A rule that looks across the cluster (the Canaries that name a MetricTemplate, the monitors
//! that watch a namespace, the mesh VirtualServices of a host, the Flagger Deployments, the
//! Services a label selects in any namespace) asks its world for a [`Facet`] key. Built over a
//! view, such an index would hold every object of its kind parsed (5–16 KB each as a
//! `serde_json::Value`) for as long as the view lives, and be rebuilt with every view. [`Facts`]
//! keeps, per facet, each object's identity under its keys: built once by scanning the kind
//! (each object parsed for the scan and dropped), shared by every view of a pass, and kept by
//! `rollgate serve`'s background audit across re-checks, updated per changed object
//! ([`Facts::update`]), which also says which keys changed so that exactly the objects that
//! looked them up are checked again (`Dep::Facet`). A lookup resolves the identities through
//! the view (`get`), so only the objects a check asks for are parsed.
//!
//! The admission path keeps the named facets too ([`Facts::kept`], [`ADMISSION_FACETS`]): the
//! cluster cache's store updates them as watch events arrive (each object is parsed then
//! anyway), so a Canary's admission finds the Canaries naming a template, the monitors of a
//! namespace and the Flagger Deployments without parsing every object of those kinds in the
//! cluster (10 ms a Canary at 100,000 objects before). Label facets are not kept there: they
//! would index every object's labels (megabytes at that scale) for lookups no admission makes
//! cluster-wide often enough to pay for them.

use std::collections::HashMap;
use std::sync::Mutex;

use super::cache::{Key, Store, View};
use super::deps::{Dep, kind_id};
use crate::engine::controllers::FLAGGER_DEPLOYMENTS;
use crate::engine::inventory::labels_of;
use crate::engine::rule::MESH_VIRTUALSERVICE_HOSTS;
use crate::engine::selector::label_text;
use crate::engine::{Facet, Inventory, Object};
use crate::promql::gates::{CANARY_TEMPLATES, EXPERIMENT_TEMPLATES, ROLLOUT_TEMPLATES};
use crate::promql::scrape::{POD_MONITOR_NAMESPACES, SERVICE_MONITOR_NAMESPACES};

/// The facets the cluster cache keeps up to date for admissions (see the module comment).
pub static ADMISSION_FACETS: [&Facet; 7] = [
    &CANARY_TEMPLATES,
    &ROLLOUT_TEMPLATES,
    &EXPERIMENT_TEMPLATES,
    &SERVICE_MONITOR_NAMESPACES,
    &POD_MONITOR_NAMESPACES,
    &MESH_VIRTUALSERVICE_HOSTS,
    &FLAGGER_DEPLOYMENTS,
];

/// (namespace, name): sorted as the cache lists.
type Id = (Box<str>, Box<str>);

/// One facet's index.
struct FacetIndex {
    facet: &'static Facet,
    /// Key → identities, sorted.
    by_key: HashMap<Box<str>, Vec<Id>>,
    /// Identity → its keys (for updates).
    of: HashMap<Id, Vec<Box<str>>>,
}

impl FacetIndex {
    fn build(facet: &'static Facet, view: &View<'_>) -> FacetIndex {
        let mut ix = FacetIndex::empty(facet);
        let mut keys = Vec::new();
        view.scan(facet.group, facet.kind, None, &mut |o| {
            ix.add_object(o, &mut keys)
        });
        ix
    }

    fn empty(facet: &'static Facet) -> FacetIndex {
        FacetIndex {
            facet,
            by_key: HashMap::new(),
            of: HashMap::new(),
        }
    }

    fn add_object(&mut self, o: &Object, keys: &mut Vec<String>) {
        keys.clear();
        (self.facet.keys)(o, keys);
        self.add((o.ns().into(), o.name.as_str().into()), keys);
    }

    fn add(&mut self, id: Id, keys: &[String]) {
        if keys.is_empty() {
            return;
        }
        for k in keys {
            let ids = self.by_key.entry(k.as_str().into()).or_default();
            // Scans come in order: the common case is a push.
            match ids.last() {
                Some(last) if *last >= id => {
                    if let Err(at) = ids.binary_search(&id) {
                        ids.insert(at, id.clone());
                    }
                }
                _ => ids.push(id.clone()),
            }
        }
        self.of
            .insert(id, keys.iter().map(|k| k.as_str().into()).collect());
    }

    fn remove(&mut self, id: &Id) -> Vec<Box<str>> {
        let Some(keys) = self.of.remove(id) else {
            return Vec::new();
        };
        for k in &keys {
            if let Some(ids) = self.by_key.get_mut(k) {
                if let Ok(at) = ids.binary_search(id) {
                    ids.remove(at);
                }
                if ids.is_empty() {
                    self.by_key.remove(k);
                }
            }
        }
        keys
    }
}

/// The facets' indexes of one cluster state (see the module comment).
#[derive(Default)]
pub struct Facts {
    /// By (facet id, group, kind); built on first use, or all at once ([`Facts::kept`]).
    indexes: Mutex<HashMap<(&'static str, &'static str, &'static str), FacetIndex>>,
    /// Only the facets built by [`Facts::kept`] are answered (the cluster cache's store, which
    /// updates them on every change); others are the rules' own business (`None`).
    fixed: bool,
}

impl Facts {
    pub fn new() -> Facts {
        Facts::default()
    }

    /// [`ADMISSION_FACETS`] over `store`, built now; the store keeps them up to date
    /// ([`Facts::object_changed`], [`Facts::kind_replaced`]).
    pub fn kept(store: &Store) -> Facts {
        let view = store.view();
        let indexes = ADMISSION_FACETS
            .iter()
            .map(|f| ((f.id, f.group, f.kind), FacetIndex::build(f, &view)))
            .collect();
        Facts {
            indexes: Mutex::new(indexes),
            fixed: true,
        }
    }

    /// Identities with `key` in `facet`, sorted; the index is built from `view` on first use
    /// (`None`: a kept set without this facet).
    fn ids(&self, facet: &'static Facet, key: &str, view: &View<'_>) -> Option<Vec<Id>> {
        let mut indexes = self.indexes.lock().unwrap_or_else(|p| p.into_inner());
        let id = (facet.id, facet.group, facet.kind);
        let ix = if self.fixed {
            indexes.get(&id)?
        } else {
            indexes
                .entry(id)
                .or_insert_with(|| FacetIndex::build(facet, view))
        };
        Some(ix.by_key.get(key).cloned().unwrap_or_default())
    }

    /// The objects of `facet` with `key`, parsed by `view` (in the cache's order).
    pub fn lookup<'v>(
        &self,
        facet: &'static Facet,
        key: &str,
        view: &'v View<'_>,
    ) -> Vec<&'v Object> {
        self.lookup_kept(facet, key, view).unwrap_or_default()
    }

    /// As [`Facts::lookup`]; `None` for a facet a kept set does not hold.
    pub fn lookup_kept<'v>(
        &self,
        facet: &'static Facet,
        key: &str,
        view: &'v View<'_>,
    ) -> Option<Vec<&'v Object>> {
        let ids = self.ids(facet, key, view)?;
        Some(
            ids.iter()
                .filter_map(|(ns, name)| {
                    view.get(facet.group, facet.kind, Some(ns), name)
                        .into_iter()
                        .next()
                })
                .collect(),
        )
    }

    /// Objects of a watched `group`/`kind` (every namespace) whose labels `selector` selects,
    /// in the cache's order: the identities under the shortest posting list of its `=` / `In`
    /// requirements (an `In` is the union of its values' lists) are parsed and filtered; a
    /// selector with no such requirement lists the kind.
    pub fn select<'v>(
        &self,
        group: &str,
        kind: &str,
        selector: &crate::engine::LabelSelector,
        view: &'v View<'_>,
    ) -> Vec<&'v Object> {
        use crate::engine::selector::Operator;
        let Some(facet) = label_facet(group, kind) else {
            return view.select(group, kind, None, selector);
        };
        let mut best: Option<Vec<Id>> = None;
        for r in &selector.requirements {
            if !matches!(r.operator, Operator::Equals | Operator::In) {
                continue;
            }
            let mut c: Vec<Id> = Vec::new();
            for v in &r.values {
                c.extend(
                    self.ids(facet, &label_key(&r.key, v), view)
                        .unwrap_or_default(),
                );
            }
            if best.as_ref().is_none_or(|b| c.len() < b.len()) {
                c.sort_unstable();
                c.dedup();
                best = Some(c);
            }
        }
        let Some(candidates) = best else {
            return view.select(group, kind, None, selector);
        };
        candidates
            .iter()
            .filter_map(|(ns, name)| view.get(group, kind, Some(ns), name).into_iter().next())
            .filter(|o| selector.matches(labels_of(o)))
            .collect()
    }

    /// Whether an index of `group`/`kind` is built.
    fn indexes_kind(&mut self, group: &str, kind: &str) -> bool {
        let indexes = self.indexes.get_mut().unwrap_or_else(|p| p.into_inner());
        indexes
            .values()
            .any(|ix| ix.facet.group == group && ix.facet.kind == kind)
    }

    /// `changed` was added, edited or removed in `store`: its keys in every built index of its
    /// kind are replaced, and each key it gained or lost is pushed to `out` as the
    /// [`Dep::Facet`] whose objects must be checked again.
    pub fn update(&mut self, store: &Store, changed: &Key, out: &mut Vec<Dep>) {
        if !self.indexes_kind(changed.group, changed.kind) {
            return;
        }
        let object = store.object(
            changed.group,
            changed.kind,
            &changed.namespace,
            &changed.name,
        );
        self.object_changed(
            changed.group,
            changed.kind,
            &changed.namespace,
            &changed.name,
            object.as_ref(),
            Some(out),
        );
    }

    /// The object `group`/`kind` `namespace`/`name` is now `object` (`None`: removed): its keys
    /// in every built index of its kind are replaced; with `out`, each key it gained or lost
    /// is pushed as the [`Dep::Facet`] whose objects must be checked again.
    pub fn object_changed(
        &mut self,
        group: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        object: Option<&Object>,
        mut out: Option<&mut Vec<Dep>>,
    ) {
        // Most stored objects are of kinds no kept facet indexes (Services): nothing to do.
        if !self.indexes_kind(group, kind) {
            return;
        }
        let indexes = self.indexes.get_mut().unwrap_or_else(|p| p.into_inner());
        let of_kind = indexes
            .values_mut()
            .filter(|ix| ix.facet.group == group && ix.facet.kind == kind);
        let id: Id = (namespace.into(), name.into());
        let mut keys = Vec::new();
        for ix in of_kind {
            let old = ix.remove(&id);
            keys.clear();
            if let Some(o) = object {
                (ix.facet.keys)(o, &mut keys);
            }
            ix.add(id.clone(), &keys);
            let (Some(out), Some(kind)) = (out.as_deref_mut(), kind_id(group, kind)) else {
                continue;
            };
            let gained = keys
                .iter()
                .filter(|k| !old.iter().any(|o| &**o == k.as_str()));
            let lost = old
                .iter()
                .filter(|o| !keys.iter().any(|k| k.as_str() == &***o));
            for k in gained.map(String::as_str).chain(lost.map(|k| &**k)) {
                out.push(Dep::Facet {
                    kind,
                    facet: ix.facet.id,
                    key: k.into(),
                });
            }
        }
    }

    /// Every object of `group`/`kind` is now `objects` (a watch's completed relist): the
    /// built indexes of the kind are rebuilt from them.
    pub fn kind_replaced(&mut self, group: &str, kind: &str, objects: &[Object]) {
        let indexes = self.indexes.get_mut().unwrap_or_else(|p| p.into_inner());
        let mut keys = Vec::new();
        for ix in indexes
            .values_mut()
            .filter(|ix| ix.facet.group == group && ix.facet.kind == kind)
        {
            *ix = FacetIndex::empty(ix.facet);
            for o in objects {
                ix.add_object(o, &mut keys);
            }
        }
    }
}

/// The label facet key of `key=value`.
fn label_key(key: &str, value: &str) -> String {
    format!("{key}={value}")
}

fn label_keys(o: &Object, out: &mut Vec<String>) {
    for (k, v) in labels_of(o).into_iter().flatten() {
        if let Some(v) = label_text(v) {
            out.push(label_key(k, &v));
        }
    }
}

const fn labels(group: &'static str, kind: &'static str) -> Facet {
    Facet {
        id: "labels",
        group,
        kind,
        keys: label_keys,
    }
}

/// Objects by label `key=value`, one facet per watched kind (in `cache::WATCHED`'s order).
static LABEL_FACETS: [Facet; 14] = [
    labels("", "Service"),
    labels("apps", "Deployment"),
    labels("apps", "StatefulSet"),
    labels("apps", "DaemonSet"),
    labels("argoproj.io", "Rollout"),
    labels("argoproj.io", "AnalysisTemplate"),
    labels("argoproj.io", "ClusterAnalysisTemplate"),
    labels("flagger.app", "Canary"),
    labels("flagger.app", "MetricTemplate"),
    labels("monitoring.coreos.com", "ServiceMonitor"),
    labels("monitoring.coreos.com", "PodMonitor"),
    labels("monitoring.coreos.com", "Prometheus"),
    labels("networking.istio.io", "VirtualService"),
    labels("networking.istio.io", "DestinationRule"),
];

fn label_facet(group: &str, kind: &str) -> Option<&'static Facet> {
    LABEL_FACETS
        .iter()
        .find(|f| f.group == group && f.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::super::cache::WATCHED;
    use super::*;

    #[test]
    fn a_label_facet_per_watched_kind() {
        let kinds: Vec<(&str, &str)> = LABEL_FACETS.iter().map(|f| (f.group, f.kind)).collect();
        assert_eq!(kinds, WATCHED);
    }
}
