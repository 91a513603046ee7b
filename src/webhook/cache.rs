//! The cluster cache: one kube-rs watcher per kind the rules look at, feeding a store of engine
//! `Object`s that the admission world reads through the `Inventory` trait.
//!
//! Why not `kube::runtime::reflector::Store`: the inventory hands out `&Object` (the engine's
//! type, a JSON value plus its identity), so the cache must hold `Object`s; converting a
//! reflector's `Arc<DynamicObject>`s on every request would cost O(cluster) per admission. The
//! watcher events are applied exactly as the reflector's writer does (`Init` starts a buffer,
//! `InitApply` fills it, `InitDone` swaps it in atomically, `Apply`/`Delete` edit in place).
//!
//! Memory: objects are stored without `metadata.managedFields`, `status` and the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation (no rule reads them; together
//! they are most of a typical object's size).
//!
//! Kinds whose CRD is not installed are skipped with one log line and looked up again every
//! `rediscover` interval, so installing Argo Rollouts after rollgate is picked up.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, RwLockWriteGuard, TryLockError};
use std::time::{Duration, Instant};

use elsa::sync::FrozenMap;
use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, discovery};

use serde_json::Value;

use super::facts::Facts;
use super::metrics::{KindLabels, Metrics};
use super::world::{Overlay, World};
use crate::engine::{Facet, Inventory, Object, Origin};

/// `(api group, kind)` the cache watches: every kind a rule may look up as a referent.
pub const WATCHED: &[(&str, &str)] = &[
    ("", "Service"),
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("argoproj.io", "Rollout"),
    ("argoproj.io", "AnalysisTemplate"),
    ("argoproj.io", "ClusterAnalysisTemplate"),
    ("flagger.app", "Canary"),
    ("flagger.app", "MetricTemplate"),
    ("monitoring.coreos.com", "ServiceMonitor"),
    ("monitoring.coreos.com", "PodMonitor"),
    ("monitoring.coreos.com", "Prometheus"),
    ("networking.istio.io", "VirtualService"),
    ("networking.istio.io", "DestinationRule"),
];

/// The `WATCHED` entry of a group and kind.
pub fn watched(group: &str, kind: &str) -> Option<(&'static str, &'static str)> {
    WATCHED
        .iter()
        .find(|(g, k)| *g == group && *k == kind)
        .copied()
}

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// One cached object: its stripped JSON, compact. Parsed into an engine `Object` only when a
/// request's rules look at it (see `View`): a `serde_json::Value` costs about ten times its JSON
/// size (every small map is a B-tree node of ~600 bytes), which for 10,000 Services and 2,000
/// Deployments is ~110 MB as values against ~10 MB as bytes.
///
/// Shared (`Arc`): the audit's snapshot (`copy_namespace`) clones entries, which then costs a
/// reference count instead of the cache's JSON size again (47 MB at 100,000 objects); the JSON
/// is never modified in place (a watch event replaces the entry).
#[derive(Clone)]
pub struct Entry {
    json: Arc<[u8]>,
}

type ByName = BTreeMap<String, Entry>;
/// namespace ("" for cluster-scoped) → name → object.
type ByNamespace = BTreeMap<String, ByName>;

/// The identity of a cached object (namespace first: the audit's order).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// "" for cluster-scoped objects.
    pub namespace: String,
    pub group: &'static str,
    pub kind: &'static str,
    pub name: String,
}

/// Objects by group, kind, namespace and name. Lookups borrow (no allocation per request).
#[derive(Default)]
pub struct Store {
    kinds: HashMap<String, HashMap<String, ByNamespace>>,
    /// The admission path's facet indexes ([`Store::keep_facts`]), updated on every change
    /// while the object is parsed anyway; `None` for the audit's snapshots (the audit keeps
    /// its own, with the label facets).
    facts: Option<Facts>,
}

fn entry(o: &Object) -> Option<Entry> {
    serde_json::to_vec(&o.value)
        .ok()
        .map(|v| Entry { json: v.into() })
}

impl Store {
    /// Keep [`ADMISSION_FACETS`](super::facts::ADMISSION_FACETS) from now on (built over
    /// what is stored; nothing when already kept): a Canary's admission then parses the few
    /// objects its cluster-wide lookups find, not every Canary, monitor and Deployment.
    pub fn keep_facts(&mut self) {
        if self.facts.is_none() {
            self.facts = Some(Facts::kept(self));
        }
    }

    pub fn insert(&mut self, o: Object) {
        let Some(e) = entry(&o) else { return };
        if let Some(f) = &mut self.facts {
            f.object_changed(&o.group, &o.kind, o.ns(), &o.name, Some(&o), None);
        }
        self.kinds
            .entry(o.group.clone())
            .or_default()
            .entry(o.kind.clone())
            .or_default()
            .entry(o.ns().to_owned())
            .or_default()
            .insert(o.name.clone(), e);
    }

    pub fn remove(&mut self, group: &str, kind: &str, namespace: &str, name: &str) {
        if let Some(f) = &mut self.facts {
            f.object_changed(group, kind, namespace, name, None, None);
        }
        if let Some(by_ns) = self.kinds.get_mut(group).and_then(|k| k.get_mut(kind)) {
            if let Some(by_name) = by_ns.get_mut(namespace) {
                by_name.remove(name);
                if by_name.is_empty() {
                    by_ns.remove(namespace);
                }
            }
        }
    }

    /// Replace every object of one kind (a completed initial list).
    pub fn replace_kind(&mut self, group: &str, kind: &str, objects: Vec<Object>) {
        if let Some(f) = &mut self.facts {
            f.kind_replaced(group, kind, &objects);
        }
        let mut by_ns = ByNamespace::new();
        for o in objects {
            if let Some(e) = entry(&o) {
                by_ns
                    .entry(o.ns().to_owned())
                    .or_default()
                    .insert(o.name.clone(), e);
            }
        }
        self.kinds
            .entry(group.to_owned())
            .or_default()
            .insert(kind.to_owned(), by_ns);
    }

    /// Whether `o` differs from the stored object of its identity (or is new) in what rules
    /// read: [`same_object`].
    pub fn differs(&self, o: &Object) -> bool {
        let old = self
            .kind(&o.group, &o.kind)
            .and_then(|m| m.get(o.ns()))
            .and_then(|m| m.get(&o.name));
        old.is_none_or(|old| !same_object(old, &o.value))
    }

    /// The (namespace, name) of the objects a relist of one kind to `objects` adds, changes or
    /// removes.
    pub fn diff_kind(&self, group: &str, kind: &str, objects: &[Object]) -> Vec<(String, String)> {
        let old = self.kind(group, kind);
        let mut seen: HashSet<(&str, &str)> = HashSet::new();
        let mut changed = Vec::new();
        for o in objects {
            seen.insert((o.ns(), o.name.as_str()));
            if self.differs(o) {
                changed.push((o.ns().to_owned(), o.name.clone()));
            }
        }
        for (ns, by_name) in old.into_iter().flatten() {
            for name in by_name.keys() {
                if !seen.contains(&(ns.as_str(), name.as_str())) {
                    changed.push((ns.clone(), name.clone()));
                }
            }
        }
        changed
    }

    /// The names of the objects of one kind in one namespace, sorted.
    pub fn names(&self, group: &str, kind: &str, namespace: &str) -> Vec<String> {
        self.kind(group, kind)
            .and_then(|m| m.get(namespace))
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn count(&self, group: &str, kind: &str) -> usize {
        self.kind(group, kind)
            .map_or(0, |m| m.values().map(BTreeMap::len).sum())
    }

    /// Bytes of JSON held (for the memory figures).
    pub fn json_bytes(&self) -> usize {
        self.kinds
            .values()
            .flat_map(HashMap::values)
            .flat_map(BTreeMap::values)
            .flat_map(BTreeMap::values)
            .map(|e| e.json.len())
            .sum()
    }

    /// Namespaces holding objects ("" for cluster-scoped ones), sorted.
    pub fn namespaces(&self) -> std::collections::BTreeSet<String> {
        self.kinds
            .values()
            .flat_map(HashMap::values)
            .flat_map(BTreeMap::keys)
            .cloned()
            .collect()
    }

    /// Copy every object of namespace `ns` ("" for cluster-scoped) into `to` (the audit's
    /// snapshot: compact JSON, copied under a short read lock per namespace).
    pub fn copy_namespace(&self, ns: &str, to: &mut Store) {
        for (group, kinds) in &self.kinds {
            for (kind, by_ns) in kinds {
                if let Some(by_name) = by_ns.get(ns) {
                    to.kinds
                        .entry(group.clone())
                        .or_default()
                        .entry(kind.clone())
                        .or_default()
                        .insert(ns.to_owned(), by_name.clone());
                }
            }
        }
    }

    /// Identities of the objects of the watched kinds `wants` accepts, sorted by namespace
    /// ("" for cluster-scoped), kind and name: the audit's work list.
    pub fn keys(&self, wants: impl Fn(&str, &str) -> bool) -> Vec<Key> {
        let mut out = Vec::new();
        for (group, kind) in WATCHED.iter().copied().filter(|(g, k)| wants(g, k)) {
            for (ns, by_name) in self.kind(group, kind).into_iter().flatten() {
                out.extend(by_name.keys().map(|name| Key {
                    namespace: ns.clone(),
                    group,
                    kind,
                    name: name.clone(),
                }));
            }
        }
        out.sort();
        out
    }

    /// One object, parsed (tests, tools).
    pub fn object(&self, group: &str, kind: &str, namespace: &str, name: &str) -> Option<Object> {
        let e = self.kind(group, kind)?.get(namespace)?.get(name)?;
        parse(e)
    }

    /// An inventory over the store that parses the objects rules look at, once per view.
    pub fn view(&self) -> View<'_> {
        View {
            store: self,
            parsed: FrozenMap::new(),
        }
    }

    fn kind(&self, group: &str, kind: &str) -> Option<&ByNamespace> {
        self.kinds.get(group)?.get(kind)
    }
}

/// Whether a stored entry and a new value are the same object for the rules: equal but for
/// `metadata.resourceVersion`, which every write bumps (a controller updating `status`, which
/// the cache strips, changes nothing a rule reads).
fn same_object(old: &Entry, new: &serde_json::Value) -> bool {
    let Ok(mut old) = serde_json::from_slice::<serde_json::Value>(&old.json) else {
        return false;
    };
    fn strip(v: &mut serde_json::Value) {
        if let Some(m) = v
            .get_mut("metadata")
            .and_then(serde_json::Value::as_object_mut)
        {
            m.remove("resourceVersion");
        }
    }
    strip(&mut old);
    let mut new = new.clone();
    strip(&mut new);
    old == new
}

/// What a selection reads of an entry, without building the rest of the object (most of a
/// parse's cost is allocating its `Value`): `metadata` as `M` and `spec` as `S`, each either
/// the one field a selection needs ([`Labels`], [`Selector`]) or skipped whole (`IgnoredAny`).
/// Absent fields are `None`; JSON not shaped for it is not read (the selection then parses the
/// entry).
#[derive(serde::Deserialize)]
struct Selection<M, S> {
    metadata: Option<M>,
    spec: Option<S>,
}

#[derive(serde::Deserialize)]
struct Labels {
    labels: Option<Value>,
}

#[derive(serde::Deserialize)]
struct Selector {
    selector: Option<Value>,
}

type Ignored = serde::de::IgnoredAny;

impl<M: serde::de::DeserializeOwned, S: serde::de::DeserializeOwned> Selection<M, S> {
    fn of(e: &Entry) -> Option<Self> {
        serde_json::from_slice(&e.json).ok()
    }
}

impl Selection<Labels, Ignored> {
    fn labels(&self) -> Option<&serde_json::Map<String, Value>> {
        self.metadata.as_ref()?.labels.as_ref()?.as_object()
    }
}

impl Selection<Ignored, Selector> {
    fn selector(&self) -> Option<&Value> {
        self.spec.as_ref()?.selector.as_ref()
    }
}

fn parse(e: &Entry) -> Option<Object> {
    let v = serde_json::from_slice(&e.json).ok()?;
    Object::from_value(v, Origin::Cluster, "")
}

/// The store as an `Inventory` for one admission request: objects are parsed on first use and
/// kept for the rest of the request (an entry's address identifies it while the store is
/// read-locked, which it is for the view's whole life).
pub struct View<'a> {
    store: &'a Store,
    parsed: FrozenMap<usize, Box<Object>>,
}

impl<'a> View<'a> {
    fn materialize(&self, e: &'a Entry) -> Option<&Object> {
        let key = e as *const Entry as usize;
        if let Some(o) = self.parsed.get(&key) {
            return Some(o);
        }
        let o = parse(e)?;
        Some(self.parsed.insert(key, Box::new(o)))
    }

    /// `e` if `keeps` accepts it: its parsed object when the view holds it, else first what
    /// `light` decides from a partial read ([`Selection`]; `None`: not readable that way), and
    /// parsed (and kept) only if that passes.
    fn keep_if(
        &self,
        e: &'a Entry,
        light: impl FnOnce(&Entry) -> Option<bool>,
        keeps: impl Fn(&Object) -> bool,
    ) -> Option<&Object> {
        if let Some(o) = self.parsed.get(&(e as *const Entry as usize)) {
            return keeps(o).then_some(o);
        }
        if light(e) == Some(false) {
            return None;
        }
        self.materialize(e).filter(|o| keeps(o))
    }

    /// Objects parsed and held by this view.
    pub fn parsed(&self) -> usize {
        self.parsed.len()
    }
}

impl<'a> Inventory for View<'a> {
    fn list(&self, group: &str, kind: &str, namespace: Option<&str>) -> Vec<&Object> {
        let Some(by_ns) = self.store.kind(group, kind) else {
            return Vec::new();
        };
        match namespace {
            Some(ns) => by_ns
                .get(ns)
                .map(|m| m.values().filter_map(|e| self.materialize(e)).collect())
                .unwrap_or_default(),
            None => by_ns
                .values()
                .flat_map(BTreeMap::values)
                .filter_map(|e| self.materialize(e))
                .collect(),
        }
    }

    fn get(&self, group: &str, kind: &str, namespace: Option<&str>, name: &str) -> Vec<&Object> {
        let Some(by_ns) = self.store.kind(group, kind) else {
            return Vec::new();
        };
        match namespace {
            Some(ns) => by_ns
                .get(ns)
                .and_then(|m| m.get(name))
                .and_then(|e| self.materialize(e))
                .into_iter()
                .collect(),
            None => by_ns
                .values()
                .filter_map(|m| m.get(name))
                .filter_map(|e| self.materialize(e))
                .collect(),
        }
    }

    /// An object not parsed yet is parsed for `f` only and dropped (see `Inventory::scan`).
    fn scan(&self, group: &str, kind: &str, namespace: Option<&str>, f: &mut dyn FnMut(&Object)) {
        let Some(by_ns) = self.store.kind(group, kind) else {
            return;
        };
        let mut visit = |e: &Entry| {
            if let Some(o) = self.parsed.get(&(e as *const Entry as usize)) {
                f(o);
            } else if let Some(o) = parse(e) {
                f(&o);
            }
        };
        match namespace {
            Some(ns) => by_ns
                .get(ns)
                .into_iter()
                .flat_map(BTreeMap::values)
                .for_each(&mut visit),
            None => by_ns
                .values()
                .flat_map(BTreeMap::values)
                .for_each(&mut visit),
        }
    }

    /// Entries not parsed yet are read for their labels first ([`View::keep_if`]): a selection
    /// in a namespace of a few hundred Services keeps a few.
    fn select(
        &self,
        group: &str,
        kind: &str,
        namespace: Option<&str>,
        selector: &crate::engine::LabelSelector,
    ) -> Vec<&Object> {
        let Some(by_ns) = self.store.kind(group, kind) else {
            return Vec::new();
        };
        let pick = |e: &'a Entry| {
            self.keep_if(
                e,
                |e| Selection::<Labels, Ignored>::of(e).map(|s| selector.matches(s.labels())),
                |o| selector.matches(crate::engine::inventory::labels_of(o)),
            )
        };
        match namespace {
            Some(ns) => by_ns
                .get(ns)
                .into_iter()
                .flat_map(BTreeMap::values)
                .filter_map(pick)
                .collect(),
            None => by_ns
                .values()
                .flat_map(BTreeMap::values)
                .filter_map(pick)
                .collect(),
        }
    }

    /// Services not parsed yet are read for their `spec.selector` first ([`View::keep_if`]).
    fn services_selecting(
        &self,
        namespace: &str,
        pod_labels: &serde_json::Map<String, Value>,
    ) -> Vec<&Object> {
        use crate::engine::inventory::service_selects;
        let Some(by_name) = self
            .store
            .kind("", "Service")
            .and_then(|m| m.get(namespace))
        else {
            return Vec::new();
        };
        by_name
            .values()
            .filter_map(|e| {
                self.keep_if(
                    e,
                    |e| {
                        Selection::<Ignored, Selector>::of(e)
                            .map(|s| service_selects(s.selector(), pod_labels))
                    },
                    |o| service_selects(o.at("/spec/selector"), pod_labels),
                )
            })
            .collect()
    }

    /// From the store's kept facts ([`Store::keep_facts`]), when it keeps them.
    fn facet(&self, facet: &'static Facet, key: &str) -> Option<Vec<&Object>> {
        self.store.facts.as_ref()?.lookup_kept(facet, key, self)
    }

    fn describe(&self) -> &str {
        "the cluster"
    }

    fn complete(&self) -> bool {
        // The admission world overrides this (see world.rs); the store alone is the cluster.
        true
    }
}

/// Drop what no rule reads, then make it an engine object. `None` when the object has no
/// identity (never from a real apiserver).
pub fn to_object(ar: &ApiResource, mut d: DynamicObject) -> Option<Object> {
    let m = &mut d.metadata;
    // uid and resourceVersion stay: they identify a version (the schema rule keys compiled CRD
    // schemas by them) and cost ~60 bytes.
    m.managed_fields = None;
    m.creation_timestamp = None;
    if let Some(a) = m.annotations.as_mut() {
        a.remove(LAST_APPLIED);
    }
    if let Some(m) = d.data.as_object_mut() {
        m.remove("status");
    }
    d.types = Some(kube::core::TypeMeta {
        api_version: ar.api_version.clone(),
        kind: ar.kind.clone(),
    });
    let value = serde_json::to_value(d).ok()?;
    Object::from_value(value, Origin::Cluster, "")
}

/// The kind at the group's preferred version, else at the first other version serving it
/// (`recommended_kind` looks at the preferred version only: Istio's DestinationRule CRD may
/// serve v1beta1 while the group's preferred version, from the VirtualService CRD, is v1).
pub fn find_kind(g: &discovery::ApiGroup, kind: &str) -> Option<ApiResource> {
    if let Some((ar, _)) = g.recommended_kind(kind) {
        return Some(ar);
    }
    g.versions().find_map(|v| {
        g.versioned_resources(v)
            .into_iter()
            .find(|(ar, _)| ar.kind == kind)
            .map(|(ar, _)| ar)
    })
}

/// Delays between attempts to re-establish a failed watch: 0.5 s doubling up to 5 s, each
/// with up to 25 % jitter (14 watches do not retry in step), back to 0.5 s after any event.
///
/// kube's `default_backoff` (client-go's: 0.8 s doubling up to 30 s, reset only after 120 s
/// without errors) left the cache stale for up to half a minute after an apiserver restart: the
/// restarted apiserver answers 403 for a few seconds until its RBAC caches are filled, and
/// every failure doubled the delay (tests/webhook_faults.rs measured 30 s). Retrying a dead
/// apiserver every 5 s per kind costs it at most 3 requests a second.
pub struct WatchBackoff {
    next: Duration,
    seed: u64,
}

impl WatchBackoff {
    pub const MIN: Duration = Duration::from_millis(500);
    pub const MAX: Duration = Duration::from_secs(5);

    pub fn new(salt: &str) -> WatchBackoff {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let seed = salt.bytes().fold(u64::from(nanos) | 1, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        WatchBackoff {
            next: Self::MIN,
            seed: seed | 1,
        }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        // xorshift64: jitter only, no need for quality.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let base = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        let jitter = base.mul_f64((self.seed % 1000) as f64 / 4000.0);
        Some(base + jitter)
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = Self::MIN;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KindState {
    /// Watch started, initial list not finished.
    Pending,
    Synced,
    /// Not served by this apiserver (CRD not installed).
    Missing,
}

/// What the cache can say about one watched kind ([`ClusterCache::availability`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// Listed: the cache holds every object of the kind (as of the last event).
    Synced,
    /// Not served by the apiserver (CRD not installed).
    Missing,
    /// Never listed so far: why (RBAC forbids it, the apiserver fails).
    Failing(String),
    /// Not listed yet, no error so far.
    Pending,
}

/// How long a watch event's write looks for a moment when no reader holds the store before it
/// queues for the lock (see `ClusterCache::write`).
const WRITER_PATIENCE: Duration = Duration::from_secs(2);

/// One object a watch event added, changed or removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Changed {
    pub group: &'static str,
    pub kind: &'static str,
    /// "" for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
}

/// Objects changed since the background audit last took them (src/webhook/background.rs).
#[derive(Debug, Default)]
pub struct Changes {
    pub objects: Vec<Changed>,
    /// More than [`MAX_PENDING_CHANGES`] piled up (or a kind's CRD went): only a full pass
    /// tells what changed.
    pub overflow: bool,
}

/// Changes held for the background audit before they are collapsed into "run a full pass":
/// a relist of a big kind after an apiserver restart is cheaper to audit whole than object by
/// object, and the list must not grow without bound while a pass runs.
pub const MAX_PENDING_CHANGES: usize = 10_000;

/// The cache shared by the watch tasks and the request handlers.
pub struct ClusterCache {
    store: RwLock<Store>,
    states: Mutex<HashMap<(&'static str, &'static str), KindState>>,
    /// Why a kind's watch (or list) fails, until it next completes a list: RBAC forbids it, the
    /// apiserver errs. The audit reports such kinds once instead of their absent referents.
    errors: Mutex<HashMap<(&'static str, &'static str), String>>,
    discovered: AtomicBool,
    metrics: Arc<Metrics>,
    /// Whether watch events are recorded in `changes` (only with a background audit: comparing
    /// an event with the stored object costs a parse).
    track: AtomicBool,
    changes: Mutex<Changes>,
    changed: Condvar,
    /// Watch events waiting for the write lock (see [`ClusterCache::yield_to_writers`]).
    writers_waiting: AtomicUsize,
}

impl ClusterCache {
    pub fn new(metrics: Arc<Metrics>) -> Arc<ClusterCache> {
        Arc::new(ClusterCache {
            store: RwLock::new(Store::default()),
            states: Mutex::new(HashMap::new()),
            errors: Mutex::new(HashMap::new()),
            discovered: AtomicBool::new(false),
            metrics,
            track: AtomicBool::new(false),
            changes: Mutex::new(Changes::default()),
            changed: Condvar::new(),
            writers_waiting: AtomicUsize::new(0),
        })
    }

    /// Record what watch events change, for [`ClusterCache::take_changes`].
    pub fn track_changes(&self) {
        self.track.store(true, Ordering::SeqCst);
    }

    fn tracking(&self) -> bool {
        self.track.load(Ordering::Relaxed)
    }

    /// Note changed objects (and wake the background audit).
    pub fn note_changes(
        &self,
        group: &'static str,
        kind: &'static str,
        objects: Vec<(String, String)>,
    ) {
        if objects.is_empty() {
            return;
        }
        let mut c = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        if !c.overflow {
            c.objects
                .extend(objects.into_iter().map(|(namespace, name)| Changed {
                    group,
                    kind,
                    namespace,
                    name,
                }));
            if c.objects.len() > MAX_PENDING_CHANGES {
                c.objects = Vec::new();
                c.overflow = true;
            }
        }
        self.changed.notify_all();
    }

    fn note_overflow(&self) {
        let mut c = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        c.objects = Vec::new();
        c.overflow = true;
        self.changed.notify_all();
    }

    /// Wait up to `timeout` for a change to be pending; whether one is.
    pub fn wait_changes(&self, timeout: Duration) -> bool {
        let c = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        let pending = |c: &Changes| !c.objects.is_empty() || c.overflow;
        if pending(&c) || timeout.is_zero() {
            return pending(&c);
        }
        let (c, _) = self
            .changed
            .wait_timeout_while(c, timeout, |c| !pending(c))
            .unwrap_or_else(|p| p.into_inner());
        pending(&c)
    }

    /// Apply one object as a watch event would, now (benchmarks, tests; blocks on the lock).
    pub fn apply_object(&self, o: Object) {
        let Some((group, kind)) = watched(&o.group, &o.kind) else {
            return;
        };
        let id = (o.ns().to_owned(), o.name.clone());
        let changed = self.tracking() && self.read(|s| s.differs(&o));
        self.store
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(o);
        if changed {
            self.note_changes(group, kind, vec![id]);
        }
    }

    /// Delete one object as a watch event would, now (benchmarks, tests).
    pub fn delete_object(&self, group: &str, kind: &str, namespace: &str, name: &str) {
        let Some((group, kind)) = watched(group, kind) else {
            return;
        };
        self.store
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(group, kind, namespace, name);
        if self.tracking() {
            self.note_changes(group, kind, vec![(namespace.to_owned(), name.to_owned())]);
        }
    }

    /// How many changes are pending (overflow counts as `usize::MAX`).
    pub fn pending_changes(&self) -> usize {
        let c = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        if c.overflow {
            usize::MAX
        } else {
            c.objects.len()
        }
    }

    /// The changes noted since the last call.
    pub fn take_changes(&self) -> Changes {
        std::mem::take(&mut *self.changes.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// A cache filled by hand (benchmarks, tests): synced, no watch.
    pub fn from_store(store: Store, metrics: Arc<Metrics>) -> Arc<ClusterCache> {
        let c = ClusterCache::new(metrics);
        if let Ok(mut s) = c.store.write() {
            *s = store;
        }
        c.discovered.store(true, Ordering::SeqCst);
        c
    }

    /// Keep the admission path's facet indexes from now on ([`Store::keep_facts`]):
    /// `rollgate serve` does, `rollgate audit` (which admits nothing) does not.
    pub fn keep_facts(&self) {
        self.store
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .keep_facts();
    }

    /// Replace the whole store (a filler other than the watches: `rollgate audit`'s LISTs).
    pub fn replace_store(&self, store: Store) {
        let mut guard = self.store.write().unwrap_or_else(|p| p.into_inner());
        *guard = store;
        self.discovered.store(true, Ordering::SeqCst);
    }

    /// Run `f` on the store (read-locked).
    pub fn read<R>(&self, f: impl FnOnce(&Store) -> R) -> R {
        // A poisoned lock means a watch task panicked while writing; the data is still a
        // consistent map (every write is a single insert/remove/swap), so keep serving.
        let guard = self.store.read().unwrap_or_else(|p| p.into_inner());
        f(&guard)
    }

    /// Run `f` on the store, write-locked, queueing for the lock only as a last resort.
    ///
    /// A reader may hold the store for as long as a decision takes, which includes its live
    /// bucket lookups (up to their timeout, 1 s by default, on a Prometheus that hangs). A writer
    /// that *waited* in `write()` meanwhile would hold back every new reader (std's lock prefers
    /// writers), so every admission, including those decided on the async workers, would stall
    /// behind one slow lookup: tests/webhook_faults.rs saw p99 > 1 s when watch events arrived
    /// while Prometheus was frozen. So a writer takes the lock when it is free, polling every
    /// 0.2–10 ms: the store is then up to one lookup's timeout stale, and readers do not wait on
    /// writers. The lock is free most of the time even at full load (a decision is tens of
    /// microseconds between much longer TLS and HTTP work). Only readers that overlap without a
    /// gap for `WRITER_PATIENCE` (lookups on a slow Prometheus, one starting before the last
    /// ends) make the writer queue, on a blocking thread, so the cache cannot go stale for good;
    /// new readers then wait for the current ones, at most one lookup's timeout.
    async fn write(self: &Arc<Self>, f: impl FnOnce(&mut Store) + Send + 'static) {
        self.writers_waiting.fetch_add(1, Ordering::SeqCst);
        self.write_inner(f).await;
        self.writers_waiting.fetch_sub(1, Ordering::SeqCst);
    }

    /// For a long series of reads (the background audit, one chunk of objects each): wait, up
    /// to 50 ms, until no watch event is waiting for the store. Back-to-back reads leave gaps of
    /// microseconds that a writer polling every few ms would miss, so it would queue after
    /// `WRITER_PATIENCE`, and a queued writer holds back every admission behind the audit's
    /// read.
    pub fn yield_to_writers(&self) {
        let since = Instant::now();
        while self.writers_waiting.load(Ordering::SeqCst) > 0
            && since.elapsed() < Duration::from_millis(50)
        {
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    async fn write_inner(self: &Arc<Self>, f: impl FnOnce(&mut Store) + Send + 'static) {
        let since = Instant::now();
        let mut pause = Duration::from_micros(200);
        loop {
            if let Some(mut guard) = self.try_write() {
                f(&mut guard);
                return;
            }
            if since.elapsed() >= WRITER_PATIENCE {
                let me = Arc::clone(self);
                let queued = tokio::task::spawn_blocking(move || {
                    let mut guard = me.store.write().unwrap_or_else(|p| p.into_inner());
                    f(&mut guard);
                });
                if let Err(e) = queued.await {
                    tracing::error!(error = %e, "cache update failed");
                }
                return;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }

    /// The store write-locked, if no one holds it. A poisoned lock means a watch task panicked
    /// while writing; every write is a single insert/remove/swap, so the map is still whole.
    fn try_write(&self) -> Option<RwLockWriteGuard<'_, Store>> {
        match self.store.try_write() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    fn set_state(&self, key: (&'static str, &'static str), state: KindState) -> KindState {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let before = states.insert(key, state).unwrap_or(KindState::Pending);
        self.metrics
            .cache_synced
            .get_or_create(&KindLabels {
                group: key.0.to_owned(),
                kind: key.1.to_owned(),
            })
            .set(i64::from(state == KindState::Synced));
        before
    }

    fn update_count(&self, key: (&'static str, &'static str)) {
        let n = self.read(|s| s.count(key.0, key.1));
        self.metrics
            .cache_objects
            .get_or_create(&KindLabels {
                group: key.0.to_owned(),
                kind: key.1.to_owned(),
            })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    fn set_error(&self, key: (&'static str, &'static str), error: Option<String>) {
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        match error {
            Some(e) => errors.insert(key, e),
            None => errors.remove(&key),
        };
    }

    /// What the cache holds of each watched kind (for the audit: which referents it can vouch
    /// for), in `WATCHED` order.
    pub fn availability(&self) -> Vec<(&'static str, &'static str, Availability)> {
        let states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        WATCHED
            .iter()
            .map(|key| {
                let a = match (states.get(key), errors.get(key)) {
                    (Some(KindState::Missing), _) => Availability::Missing,
                    // Listed once: a later watch failure leaves the objects stale, not absent.
                    (Some(KindState::Synced), _) => Availability::Synced,
                    (_, Some(e)) => Availability::Failing(e.clone()),
                    _ => Availability::Pending,
                };
                (key.0, key.1, a)
            })
            .collect()
    }

    /// Every watched kind is listed, absent, or failing (none still waiting for its first
    /// list): what the audit waits for. Unlike [`World::synced`], a kind RBAC forbids does not
    /// hold it back for ever.
    pub fn settled(&self) -> bool {
        self.discovered.load(Ordering::SeqCst)
            && self
                .availability()
                .iter()
                .all(|(_, _, a)| *a != Availability::Pending)
    }

    /// Record what a filler other than the watches (the `rollgate audit` command's LISTs)
    /// found for a watched kind. Unknown kinds are ignored.
    pub fn mark(&self, group: &str, kind: &str, availability: Availability) {
        let Some(key) = WATCHED.iter().find(|(g, k)| *g == group && *k == kind) else {
            return;
        };
        let (state, error) = match availability {
            Availability::Synced => (KindState::Synced, None),
            Availability::Missing => (KindState::Missing, None),
            Availability::Pending => (KindState::Pending, None),
            Availability::Failing(e) => (KindState::Pending, Some(e)),
        };
        self.set_error(*key, error);
        self.set_state(*key, state);
    }

    /// Kinds synced / watched, for logs and tests: (synced, missing) names.
    pub fn status(&self) -> (Vec<String>, Vec<String>) {
        let states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let name = |(g, k): &(&str, &str)| {
            if g.is_empty() {
                (*k).to_owned()
            } else {
                format!("{k}.{g}")
            }
        };
        let mut synced: Vec<String> = states
            .iter()
            .filter(|(_, s)| **s == KindState::Synced)
            .map(|(k, _)| name(k))
            .collect();
        let mut missing: Vec<String> = states
            .iter()
            .filter(|(_, s)| **s == KindState::Missing)
            .map(|(k, _)| name(k))
            .collect();
        synced.sort();
        missing.sort();
        (synced, missing)
    }

    /// Discover the watched kinds and start one watch per served kind; look for the missing
    /// ones again every `rediscover`. Runs until the process ends.
    pub async fn run(self: Arc<Self>, client: Client, rediscover: Duration) {
        let mut started: HashSet<(&'static str, &'static str)> = HashSet::new();
        let mut reported: HashSet<(&'static str, &'static str)> = HashSet::new();
        loop {
            let groups: Vec<&'static str> = {
                let mut g: Vec<&'static str> = WATCHED
                    .iter()
                    .filter(|k| !started.contains(*k))
                    .map(|(g, _)| *g)
                    .collect();
                g.dedup();
                g
            };
            for group in groups {
                let found = match discovery::group(&client, group).await {
                    Ok(g) => Some(g),
                    Err(kube::Error::Discovery(_)) => None,
                    Err(e) => {
                        tracing::warn!(group, error = %e, "API discovery failed; retrying later");
                        continue;
                    }
                };
                for key in WATCHED.iter().filter(|(g, _)| *g == group) {
                    if started.contains(key) {
                        continue;
                    }
                    match found.as_ref().and_then(|g| find_kind(g, key.1)) {
                        Some(ar) => {
                            tracing::info!(
                                kind = key.1,
                                api_version = ar.api_version.as_str(),
                                "watching"
                            );
                            self.set_state(*key, KindState::Pending);
                            started.insert(*key);
                            let me = self.clone();
                            let client = client.clone();
                            tokio::spawn(async move { me.watch(client, ar, *key).await });
                        }
                        None => {
                            self.set_state(*key, KindState::Missing);
                            if reported.insert(*key) {
                                tracing::info!(
                                    group = key.0,
                                    kind = key.1,
                                    retry_seconds = rediscover.as_secs(),
                                    "kind not served by the apiserver (CRD not installed); \
                                     skipping it, will look again"
                                );
                            }
                        }
                    }
                }
            }
            self.discovered.store(true, Ordering::SeqCst);
            if started.len() == WATCHED.len() {
                return;
            }
            tokio::time::sleep(rediscover).await;
        }
    }

    async fn watch(
        self: Arc<Self>,
        client: Client,
        ar: ApiResource,
        key: (&'static str, &'static str),
    ) {
        let api: Api<DynamicObject> = Api::all_with(client, &ar);
        // `any_semantic`: the initial list may come from the apiserver's watch cache
        // (resourceVersion=0), which is what a cache wants and spares etcd.
        let cfg = watcher::Config::default().any_semantic();
        let mut stream = watcher::watcher(api, cfg)
            .backoff(WatchBackoff::new(key.1))
            .boxed();
        let mut buffer: Vec<Object> = Vec::new();
        let mut failing = false;
        while let Some(event) = stream.next().await {
            match event {
                Ok(Event::Init) => buffer.clear(),
                Ok(Event::InitApply(d)) => buffer.extend(to_object(&ar, d)),
                Ok(Event::InitDone) => {
                    let objects = std::mem::take(&mut buffer);
                    let n = objects.len();
                    // Diffed under the read lock (admissions go on): only this task writes
                    // this kind, so the store does not change in between.
                    let changed = if self.tracking() {
                        self.read(|s| s.diff_kind(key.0, key.1, &objects))
                    } else {
                        Vec::new()
                    };
                    self.write(move |s| s.replace_kind(key.0, key.1, objects))
                        .await;
                    self.note_changes(key.0, key.1, changed);
                    self.set_error(key, None);
                    let before = self.set_state(key, KindState::Synced);
                    if before != KindState::Synced || failing {
                        tracing::info!(kind = key.1, objects = n, "cache synced");
                    }
                    failing = false;
                    self.update_count(key);
                }
                Ok(Event::Apply(d)) => {
                    if let Some(o) = to_object(&ar, d) {
                        let id = (o.ns().to_owned(), o.name.clone());
                        let changed = self.tracking() && self.read(|s| s.differs(&o));
                        self.write(move |s| s.insert(o)).await;
                        self.update_count(key);
                        if changed {
                            self.note_changes(key.0, key.1, vec![id]);
                        }
                    }
                }
                Ok(Event::Delete(d)) => {
                    let ns = d.metadata.namespace.clone().unwrap_or_default();
                    let name = d.metadata.name.clone().unwrap_or_default();
                    let id = (ns.clone(), name.clone());
                    self.write(move |s| s.remove(key.0, key.1, &ns, &name))
                        .await;
                    self.update_count(key);
                    if self.tracking() {
                        self.note_changes(key.0, key.1, vec![id]);
                    }
                }
                Err(e) => {
                    let gone = matches!(
                        &e,
                        watcher::Error::InitialListFailed(kube::Error::Api(s)) if s.code == 404
                    );
                    if gone {
                        // The CRD was removed: nothing of this kind can exist any more.
                        self.write(|s| s.replace_kind(key.0, key.1, Vec::new()))
                            .await;
                        self.set_state(key, KindState::Missing);
                        if self.tracking() {
                            self.note_overflow();
                        }
                    }
                    self.set_error(key, Some(e.to_string()));
                    if !failing {
                        tracing::warn!(kind = key.1, error = %e, "watch failed; retrying with backoff");
                    }
                    failing = true;
                }
            }
        }
    }
}

impl World for ClusterCache {
    fn with_world(&self, object: &Object, f: &mut dyn FnMut(&dyn Inventory)) {
        self.read(|store| {
            let view = store.view();
            f(&Overlay::new(Some(&view), object, "the cluster"));
        });
    }

    /// Every served kind has been listed once (kinds that are not installed do not count).
    fn synced(&self) -> bool {
        if !self.discovered.load(Ordering::SeqCst) {
            return false;
        }
        let states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        states.values().all(|s| *s != KindState::Pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(ns: &str, name: &str) -> Object {
        Object::from_value(
            json!({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": name, "namespace": ns}}),
            Origin::Cluster,
            "",
        )
        .expect("object")
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
    }

    #[test]
    fn strips_what_rules_do_not_read() {
        let ar = ApiResource::erase::<k8s_openapi::api::core::v1::Service>(&());
        let d: DynamicObject = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "prod",
                "annotations": {LAST_APPLIED: "{}", "keep": "me"},
                "managedFields": [{"manager": "kubectl"}]},
            "spec": {"ports": [{"port": 80}]},
            "status": {"loadBalancer": {}}
        }))
        .expect("object");
        let o = to_object(&ar, d).expect("converted");
        assert_eq!(o.kind, "Service");
        assert_eq!(o.ns(), "prod");
        assert!(o.at("/status").is_none());
        assert!(o.at("/metadata/managedFields").is_none());
        assert_eq!(
            o.annotations().map(|a| a.len()),
            Some(1),
            "only the last-applied annotation is dropped"
        );
    }

    #[test]
    fn watch_retries_are_capped_at_five_seconds() {
        use kube::runtime::utils::Backoff as _;
        let mut b = WatchBackoff::new("Service");
        let delays: Vec<Duration> = b.by_ref().take(12).collect();
        assert!(delays[0] >= WatchBackoff::MIN && delays[0] <= WatchBackoff::MIN * 5 / 4);
        assert!(delays.windows(2).take(3).all(|w| w[1] > w[0]), "{delays:?}");
        for d in &delays {
            assert!(*d <= WatchBackoff::MAX * 5 / 4, "{delays:?}");
        }
        assert!(delays[11] >= WatchBackoff::MAX, "{delays:?}");
        b.reset();
        assert!(b.next().is_some_and(|d| d <= WatchBackoff::MIN * 5 / 4));
    }

    /// A reader that holds the store for long (a decision waiting on a hanging Prometheus)
    /// delays a watch event's write, but the waiting writer never holds back other readers.
    #[test]
    fn a_waiting_writer_does_not_hold_back_readers() {
        let cache = ClusterCache::new(Arc::new(Metrics::new()));
        let rt = runtime();
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let (cache, rt) = (&cache, &rt);
        std::thread::scope(|scope| {
            let slow = scope.spawn(move || {
                cache.read(|_| {
                    held_tx.send(()).expect("send");
                    release_rx.recv().expect("release");
                });
            });
            held_rx.recv().expect("reader holds the store");
            let writer = scope.spawn(move || {
                rt.block_on(cache.write(|s| s.insert(service("a", "late"))));
            });
            std::thread::sleep(Duration::from_millis(50));
            // With the writer polling for the lock, a new reader gets in at once (with a
            // writer queued in `RwLock::write`, it would wait for the slow reader).
            let (seen_tx, seen_rx) = std::sync::mpsc::channel();
            scope.spawn(move || seen_tx.send(cache.read(|s| s.count("", "Service"))));
            let seen = seen_rx.recv_timeout(Duration::from_secs(1));
            let writer_waited = !writer.is_finished();
            release_tx.send(()).expect("release");
            assert_eq!(seen, Ok(0), "a reader waited behind the writer");
            assert!(writer_waited, "the write waits for the slow reader");
            slow.join().expect("slow reader");
            writer.join().expect("writer");
        });
        assert_eq!(cache.read(|s| s.count("", "Service")), 1);
    }

    /// Readers that overlap without a gap (lookups on a slow Prometheus, each starting before
    /// the last ends) cannot keep a watch event out of the store for good: after
    /// `WRITER_PATIENCE` the writer queues, and the readers' chain breaks.
    #[test]
    fn readers_without_a_gap_do_not_starve_a_writer() {
        let cache = ClusterCache::new(Arc::new(Metrics::new()));
        let rt = runtime();
        let stop = AtomicBool::new(false);
        let (cache, rt, stop) = (&cache, &rt, &stop);
        std::thread::scope(|scope| {
            // Two readers, each holding the store 20 ms at a time: one always holds it when the
            // other lets go.
            for _ in 0..2 {
                scope.spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        cache.read(|_| std::thread::sleep(Duration::from_millis(20)));
                    }
                });
                std::thread::sleep(Duration::from_millis(10));
            }
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            scope.spawn(move || {
                let t = Instant::now();
                rt.block_on(cache.write(|s| s.insert(service("a", "late"))));
                let _ = done_tx.send(t.elapsed());
            });
            let took = done_rx.recv_timeout(WRITER_PATIENCE + Duration::from_secs(3));
            stop.store(true, Ordering::SeqCst);
            took.expect("the write never got the store");
        });
        assert_eq!(cache.read(|s| s.count("", "Service")), 1);
    }

    /// The view's selections read labels and selectors without parsing the rest; they answer
    /// exactly what `list` then filter answers (the trait's defaults), for odd shapes too.
    #[test]
    fn light_selections_match_list_then_filter() {
        use crate::engine::LabelSelector;
        struct Listing<'a>(&'a View<'a>);
        impl Inventory for Listing<'_> {
            fn list(&self, group: &str, kind: &str, namespace: Option<&str>) -> Vec<&Object> {
                self.0.list(group, kind, namespace)
            }
            fn describe(&self) -> &str {
                "listing"
            }
            fn complete(&self) -> bool {
                true
            }
        }
        let shapes = [
            json!({"labels": {"app": "a", "tier": "web"}}),
            json!({"labels": {"app": "b"}}),
            json!({"labels": {"app": 7}}),
            json!({"labels": "not a map"}),
            json!({"labels": null}),
            json!({}),
        ];
        let selectors = [
            json!({"app": "a"}),
            json!({"app": "a", "tier": "web"}),
            json!({}),
            json!(null),
            json!("not a map"),
            json!({"app": 7}),
        ];
        let mut store = Store::default();
        let mut n = 0;
        for (i, meta) in shapes.iter().enumerate() {
            for (j, sel) in selectors.iter().enumerate() {
                for ns in ["a", "b"] {
                    let mut m = meta.clone();
                    m["name"] = json!(format!("s{i}-{j}"));
                    m["namespace"] = json!(ns);
                    let spec = if j == 3 {
                        json!(null)
                    } else {
                        json!({"selector": sel})
                    };
                    store.insert(
                        Object::from_value(
                            json!({"apiVersion": "v1", "kind": "Service", "metadata": m, "spec": spec}),
                            Origin::Cluster,
                            "",
                        )
                        .expect("object"),
                    );
                    n += 1;
                }
            }
        }
        assert_eq!(store.count("", "Service"), n);
        let names = |v: Vec<&Object>| -> Vec<String> {
            v.iter().map(|o| format!("{}/{}", o.ns(), o.name)).collect()
        };
        let label_selectors = [
            json!({"matchLabels": {"app": "a"}}),
            json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["a"]}]}),
            json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}),
            json!({"matchLabels": {"app": "7"}}),
            json!({}),
        ];
        let pods = [
            json!({"app": "a", "tier": "web"}),
            json!({"app": "a"}),
            json!({"app": "7"}),
            json!({}),
        ];
        let (mut selected, mut selecting) = (0, 0);
        for parsed_first in [false, true] {
            let view = store.view();
            if parsed_first {
                // Half the objects already parsed by an earlier lookup of the request.
                view.list("", "Service", Some("a"));
            }
            let plain = Listing(&view);
            for sel in &label_selectors {
                let sel = LabelSelector::parse(sel).expect("selector");
                for ns in [Some("a"), Some("b"), None] {
                    let got = names(view.select("", "Service", ns, &sel));
                    assert_eq!(
                        got,
                        names(plain.select("", "Service", ns, &sel)),
                        "{sel:?} {ns:?}"
                    );
                    selected += got.len();
                }
            }
            for p in &pods {
                let p = p.as_object().expect("map");
                for ns in ["a", "b", "c"] {
                    let got = names(view.services_selecting(ns, p));
                    assert_eq!(got, names(plain.services_selecting(ns, p)), "{p:?} {ns}");
                    selecting += got.len();
                }
            }
        }
        assert!(selected > 0 && selecting > 0, "{selected} {selecting}");
    }

    #[test]
    fn store_lookups() {
        let mk = service;
        let mut s = Store::default();
        s.insert(mk("a", "x"));
        s.insert(mk("a", "y"));
        s.insert(mk("b", "x"));
        {
            let v = s.view();
            assert_eq!(v.list("", "Service", Some("a")).len(), 2);
            assert_eq!(v.list("", "Service", None).len(), 3);
            assert_eq!(v.get("", "Service", None, "x").len(), 2);
            let once = v.get("", "Service", Some("b"), "x");
            assert_eq!(once.len(), 1);
            // Parsed once per view: the same object comes back.
            let again = v.get("", "Service", Some("b"), "x");
            assert!(std::ptr::eq(once[0], again[0]));
        }
        assert_eq!(
            s.object("", "Service", "b", "x").map(|o| o.name),
            Some("x".to_owned())
        );
        s.remove("", "Service", "a", "x");
        assert_eq!(s.count("", "Service"), 2);
        s.replace_kind("", "Service", vec![mk("c", "z")]);
        assert_eq!(s.count("", "Service"), 1);
        assert!(s.view().list("apps", "Deployment", None).is_empty());
    }
}
