//! The cluster audit: every object the cluster cache holds, checked with the engine, the
//! settings and the suppressions the webhook uses, against the cluster as its world.
//!
//! One pass ([`audit`]) works from a [`ClusterCache`] whichever way it was filled: the
//! webhook's watches (`rollgate serve`'s background audit: gatekeeper's `--audit-from-cache`,
//! no LIST storm) or the `rollgate audit` command's paged LISTs (`audit_list.rs`).
//!
//! - The pass works on a snapshot of the store: its compact JSON copied namespace by namespace,
//!   each under a read lock of its own (microseconds to a few milliseconds), never one lock for
//!   the whole pass: watch events wait at most one namespace's copy, admissions never wait
//!   (readers share the lock), and the checking itself holds no lock at all. The snapshot shares
//!   the cache's JSON (entries are reference-counted): it costs its maps, not the JSON again.
//! - Objects are checked in namespace-aligned chunks of about
//!   [`AuditOptions::max_objects_per_view`], each with a fresh view (objects parsed on use,
//!   freed after the chunk) and rule context. The rules' cluster-wide indexes (template
//!   referrers, monitors by namespace, mesh hosts, Flagger Deployments, labels for a
//!   cluster-wide `select`) are [`Facts`]: identities and keys, built once per pass (or kept by
//!   the background audit), shared by every chunk; a hit is parsed by the chunk's view. So a
//!   view holds its chunk's objects and what they look up, not the cluster.
//! - The world is the cluster: a referent of a kind the cache holds that is not there is
//!   missing (an error, as in `--strict-references`). A referent of a kind the cache cannot
//!   vouch for (CRD not installed, RBAC forbids reading it, the apiserver failed to list it, a
//!   namespace that was not read) is not reported per object: the pass gives one [`Note`] per
//!   such kind (pint's "couldn't run some online checks" answer to an unreachable Prometheus,
//!   not N false "not found").
//! - `complete()` is false, as in `lint` without `--strict-references`: the few rules that ask
//!   it directly look at kinds the cache never holds (Namespaces and their labels), so they
//!   keep their "may be defined elsewhere" answer instead of a false certainty.
//! - Rows are sorted (namespace, kind, name, pointer, rule, message): two passes over the same
//!   cache give the same rows, so reports are written on change only.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::cache::{Availability, ClusterCache, Key, Store, View, WATCHED};
use super::deps::{Dep, Recorder, kind_id};
use super::facts::Facts;
use crate::engine::inventory::{Absence, Inventory, PodTemplate, labels_of};
use crate::engine::{
    Context, Engine, Facet, Finding, LabelSelector, Object, ObjectRef, Related, Settings, Severity,
};

/// Objects checked with one view of the snapshot by default (chunks end at a namespace's end,
/// see [`AuditOptions::max_objects_per_view`]). The rules' cluster-wide indexes are not built
/// per view but kept as identities and keys ([`Facts`]), so a view holds parsed only its
/// chunk's objects and what they look up: smaller chunks lower the peak, at the cost of
/// re-parsing the referents that several chunks share (`cargo bench --bench audit`,
/// docs/audit.md).
pub const DEFAULT_MAX_OBJECTS_PER_VIEW: usize = 2_000;

/// What one pass looks at.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Report only objects of these namespaces (`None`: every namespace and the cluster-scoped
    /// objects). Referents are still looked up everywhere the cache holds.
    pub namespaces: Option<BTreeSet<String>>,
    /// Report only objects whose labels this selector selects.
    pub selector: Option<LabelSelector>,
    /// Objects checked with one view and rule context (at least 1): objects parsed are freed
    /// between chunks. A chunk ends with the namespace in which it reaches this size (the
    /// objects of one namespace look each other up), or at four times the size.
    pub max_objects_per_view: usize,
    /// The rules' cluster-wide indexes are [`Facts`] shared by every chunk (true, the
    /// default), or built by the rules over each chunk's view, as before they were shared
    /// (false: the same findings at a much higher cost; tests compare the two).
    pub facets: bool,
    /// Per kind `(group, kind)`: the only namespaces the cache holds of it ("" for
    /// cluster-scoped), when it could not be read everywhere (`rollgate audit --namespace`
    /// falls back to a namespaced LIST where a cluster-wide one is forbidden). A referent of
    /// that kind elsewhere is not reported as missing.
    pub partial: HashMap<(String, String), BTreeSet<String>>,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            namespaces: None,
            selector: None,
            max_objects_per_view: DEFAULT_MAX_OBJECTS_PER_VIEW,
            facets: true,
            partial: HashMap::new(),
        }
    }
}

/// One finding on a cluster object.
///
/// What rows of a pass repeat is shared (a pass over 100,000 objects keeps ~50,000 rows): the
/// object reference and uid once per object, each help text once per pass ([`Rows`]). Serialized
/// as plain values, as before they were shared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// apiVersion, kind, namespace, name of the object the finding is about.
    #[serde(serialize_with = "shared")]
    pub object: Arc<ObjectRef>,
    /// `metadata.uid` of that object, when known (PolicyReport `resources[].uid`).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "shared_str")]
    pub uid: Option<Arc<str>>,
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
    /// JSON pointer into the object.
    pub pointer: String,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "shared_str")]
    pub help: Option<Arc<str>>,
    /// Other places that explain the finding (not serialized: reporters place them).
    #[serde(skip)]
    pub related: Vec<Related>,
}

// serde's `Arc` impls need its `rc` feature; these write what the plain values wrote.
fn shared<T: Serialize, S: serde::Serializer>(v: &Arc<T>, s: S) -> Result<S::Ok, S::Error> {
    T::serialize(v, s)
}

fn shared_str<S: serde::Serializer>(v: &Option<Arc<str>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_some(&**v),
        None => s.serialize_none(),
    }
}

/// Builds a pass's rows from findings, sharing what they repeat (see [`Row`]).
#[derive(Default)]
pub struct Rows {
    /// The object whose rows are being built: its reference and uid.
    current: Option<(Arc<ObjectRef>, Option<Arc<str>>)>,
    helps: std::collections::HashSet<Arc<str>>,
}

impl Rows {
    /// The findings that follow are of another object.
    pub fn next_object(&mut self) {
        self.current = None;
    }

    /// The row of `f`, a finding of the check of `checked` (the same object since the last
    /// [`Rows::next_object`]).
    pub fn row(&mut self, f: Finding, checked: &Object) -> Row {
        let (reference, uid) = self
            .current
            .get_or_insert_with(|| {
                let uid = checked
                    .value
                    .pointer("/metadata/uid")
                    .and_then(Value::as_str)
                    .map(Arc::from);
                (Arc::new(checked.reference()), uid)
            })
            .clone();
        // A finding placed on another object (rare) gets its own reference, and no uid.
        let (object, uid) = match f.object {
            Some(o)
                if o.kind != reference.kind
                    || o.name != reference.name
                    || o.namespace != reference.namespace =>
            {
                (Arc::new(o), None)
            }
            Some(o) if o != *reference => (Arc::new(o), uid),
            _ => (reference, uid),
        };
        let help = f.help.map(|h| match self.helps.get(h.as_str()) {
            Some(shared) => shared.clone(),
            None => {
                let shared: Arc<str> = h.into();
                self.helps.insert(shared.clone());
                shared
            }
        });
        let mut message = f.message;
        message.shrink_to_fit();
        let mut pointer = f.pointer;
        pointer.shrink_to_fit();
        let mut related = f.related;
        related.shrink_to_fit();
        Row {
            object,
            uid,
            rule: f.rule,
            severity: f.severity,
            message,
            pointer,
            help,
            related,
        }
    }
}

/// Why the audit could not vouch for the objects of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoteReason {
    /// The apiserver does not serve the kind (its CRD is not installed).
    NotInstalled,
    /// Listing it failed (RBAC forbids it, the apiserver erred or timed out).
    Unreadable,
    /// It was read only in some namespaces.
    Partial,
}

/// One line about a kind the audit could not fully see; the rest of the cluster is audited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    pub group: String,
    pub kind: String,
    pub reason: NoteReason,
    /// What happened and what was not checked because of it.
    pub message: String,
    /// References to objects of this kind that were not reported as missing because of it.
    pub skipped_references: usize,
}

/// The result of one pass.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Audit {
    /// Findings by namespace (`None`: cluster-scoped objects), each list sorted.
    pub rows: BTreeMap<Option<String>, Vec<Row>>,
    /// Objects checked by namespace (`None`: cluster-scoped), rows or not: the report's pass
    /// count is the objects with no warning or error.
    pub checked: BTreeMap<Option<String>, CheckedCounts>,
    /// Kinds the pass could not vouch for, one note each, sorted by group and kind.
    pub notes: Vec<Note>,
    /// Findings hidden by suppression annotations.
    pub suppressed: usize,
    /// Objects checked.
    pub objects: usize,
    /// Read locks of the cache taken (one per namespace copied into the snapshot).
    pub reads: usize,
    /// Longest time one read lock was held.
    #[serde(skip)]
    pub longest_read: Duration,
    /// Chunks checked (views of the snapshot).
    pub chunks: usize,
}

/// Objects checked in one namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CheckedCounts {
    pub objects: usize,
    /// Of them, objects with no finding at warning or error.
    pub passed: usize,
}

impl Audit {
    /// Rows of every namespace, in order.
    pub fn all_rows(&self) -> impl Iterator<Item = &Row> {
        self.rows.values().flatten()
    }

    /// Rows at `severity` or above.
    pub fn count_at_least(&self, severity: Severity) -> usize {
        self.all_rows().filter(|r| r.severity >= severity).count()
    }
}

/// The cluster as one chunk's world: the locked store's view, which knows which kinds (and
/// namespaces) it can vouch for.
struct AuditWorld<'v, 's> {
    view: &'v View<'s>,
    /// Kinds the cache cannot vouch for at all.
    unavailable: &'v HashMap<(String, String), NoteReason>,
    partial: &'v HashMap<(String, String), BTreeSet<String>>,
    /// References not reported as missing, per kind.
    skipped: Mutex<HashMap<(String, String), usize>>,
    /// The rules' cluster-wide indexes ([`Facts`]), shared by every chunk of the pass; `None`:
    /// the rules build their own over the chunk's view (each parses its whole kind).
    facts: Option<&'v Facts>,
}

impl AuditWorld<'_, '_> {
    fn vouches_for(&self, group: &str, kind: &str, namespace: Option<&str>) -> bool {
        if !is_watched(group, kind) {
            return false;
        }
        let key = (group.to_owned(), kind.to_owned());
        if self.unavailable.contains_key(&key) {
            return false;
        }
        match self.partial.get(&key) {
            Some(read) => namespace.is_some_and(|ns| read.contains(ns)),
            None => true,
        }
    }
}

impl Inventory for AuditWorld<'_, '_> {
    fn facet(&self, facet: &'static Facet, key: &str) -> Option<Vec<&Object>> {
        self.facts.map(|f| f.lookup(facet, key, self.view))
    }

    fn list(&self, group: &str, kind: &str, namespace: Option<&str>) -> Vec<&Object> {
        self.view.list(group, kind, namespace)
    }

    fn get(&self, group: &str, kind: &str, namespace: Option<&str>, name: &str) -> Vec<&Object> {
        self.view.get(group, kind, namespace, name)
    }

    fn scan(&self, group: &str, kind: &str, namespace: Option<&str>, f: &mut dyn FnMut(&Object)) {
        self.view.scan(group, kind, namespace, f);
    }

    fn select(
        &self,
        group: &str,
        kind: &str,
        namespace: Option<&str>,
        selector: &LabelSelector,
    ) -> Vec<&Object> {
        match (namespace, self.facts) {
            // A cluster-wide selection (a ServiceMonitor that selects nothing looks for the
            // Services elsewhere, once per monitor): from the label index, not by listing.
            (None, Some(facts)) => facts.select(group, kind, selector, self.view),
            // One namespace: listing it is linear in what it holds.
            _ => self.view.select(group, kind, namespace, selector),
        }
    }

    fn select_pods(
        &self,
        namespace: Option<&str>,
        selector: &LabelSelector,
    ) -> Vec<PodTemplate<'_>> {
        self.view.select_pods(namespace, selector)
    }

    fn describe(&self) -> &str {
        "the cluster"
    }

    /// See the module comment: absences are answered by `absence`, per kind.
    fn complete(&self) -> bool {
        false
    }

    /// Every cluster object is audited, so findings go on the object they are about.
    fn reported(&self, _object: &Object) -> bool {
        true
    }

    fn absence(
        &self,
        _referrer: &Object,
        group: &str,
        kind: &str,
        namespace: Option<&str>,
        _name: &str,
    ) -> Absence {
        if self.vouches_for(group, kind, namespace) {
            return Absence::Missing;
        }
        if !is_watched(group, kind) {
            // Never read from the cluster (a Namespace, a KEDA ScaledObject, the pre-1.16
            // `extensions` group asked alongside `apps`): nothing to say, nothing to note.
            return Absence::Outside;
        }
        let mut skipped = self.skipped.lock().unwrap_or_else(|p| p.into_inner());
        *skipped
            .entry((group.to_owned(), kind.to_owned()))
            .or_default() += 1;
        // Outside: the finding is marked `outside`, and the pass drops it for the kind's note.
        Absence::Outside
    }
}

fn is_watched(group: &str, kind: &str) -> bool {
    super::cache::WATCHED
        .iter()
        .any(|(g, k)| *g == group && *k == kind)
}

/// Wait until every watched kind is listed, absent or failing (at most `timeout`), then run
/// [`audit`] on a blocking thread. Kinds still pending at the deadline are noted as unreadable.
pub async fn audit_when_settled(
    cache: Arc<ClusterCache>,
    engine: Arc<Engine>,
    settings: Arc<Settings>,
    options: AuditOptions,
    timeout: Duration,
) -> Audit {
    let deadline = Instant::now() + timeout;
    while !cache.settled() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let run = tokio::task::spawn_blocking(move || audit(&cache, &engine, &settings, &options));
    match run.await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "audit pass failed");
            Audit::default()
        }
    }
}

/// One pass over the cache: a snapshot copied namespace by namespace (one short read lock
/// each), then checked with no lock held.
pub fn audit(
    cache: &ClusterCache,
    engine: &Engine,
    settings: &Settings,
    options: &AuditOptions,
) -> Audit {
    audit_observed(cache, engine, settings, options, None, &Facts::new())
}

/// [`audit`], telling `observer` about each object ([`audit_keys`]), with `facts` (empty, or
/// kept from an earlier pass over the same cache and updated since).
pub fn audit_observed(
    cache: &ClusterCache,
    engine: &Engine,
    settings: &Settings,
    options: &AuditOptions,
    observer: Option<&mut dyn Observer>,
    facts: &Facts,
) -> Audit {
    let availability = cache.availability();
    let namespaces = cache.read(|s| s.namespaces());
    let mut snapshot = Store::default();
    let (mut reads, mut longest) = (1, Duration::ZERO);
    for ns in &namespaces {
        let t = Instant::now();
        cache.read(|s| s.copy_namespace(ns, &mut snapshot));
        longest = longest.max(t.elapsed());
        reads += 1;
    }
    let keys = audit_keys_of(&snapshot, engine, options);
    let mut out = audit_keys(
        &snapshot,
        &availability,
        engine,
        settings,
        options,
        &keys,
        observer,
        facts,
    );
    out.reads = reads;
    out.longest_read = longest;
    out
}

/// One pass over a store nobody else writes (a snapshot, or `rollgate audit`'s own), given what
/// the cache could read of each kind ([`ClusterCache::availability`]).
pub fn audit_store(
    store: &Store,
    availability: &[(&'static str, &'static str, Availability)],
    engine: &Engine,
    settings: &Settings,
    options: &AuditOptions,
) -> Audit {
    let keys = audit_keys_of(store, engine, options);
    audit_keys(
        store,
        availability,
        engine,
        settings,
        options,
        &keys,
        None,
        &Facts::new(),
    )
}

/// The objects a pass checks: those of the kinds the engine's rules look at, in the namespaces
/// of `options`.
fn audit_keys_of(store: &Store, engine: &Engine, options: &AuditOptions) -> Vec<Key> {
    store
        .keys(|g, k| engine.wants(g, k))
        .into_iter()
        .filter(|k| {
            options
                .namespaces
                .as_ref()
                .is_none_or(|set| set.contains(&k.namespace))
        })
        .collect()
}

/// `keys` (sorted by namespace) in chunks: each ends with the namespace in which it reaches
/// `max` objects, or at `4 × max` ([`AuditOptions::max_objects_per_view`]).
fn chunks(keys: &[Key], max: usize) -> Vec<&[Key]> {
    let max = max.max(1);
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=keys.len() {
        let len = i - start;
        let boundary = i == keys.len() || keys[i].namespace != keys[i - 1].namespace;
        if i == keys.len() || (len >= max && boundary) || len >= max.saturating_mul(4) {
            out.push(&keys[start..i]);
            start = i;
        }
    }
    out
}

/// Kinds the cache cannot vouch for, and why.
#[allow(clippy::type_complexity)]
fn unavailable_kinds(
    availability: &[(&'static str, &'static str, Availability)],
) -> (
    HashMap<(String, String), NoteReason>,
    HashMap<(String, String), String>,
) {
    let mut unavailable: HashMap<(String, String), NoteReason> = HashMap::new();
    let mut why: HashMap<(String, String), String> = HashMap::new();
    for (group, kind, a) in availability {
        let key = ((*group).to_owned(), (*kind).to_owned());
        match a {
            Availability::Synced => {}
            Availability::Missing => {
                unavailable.insert(key, NoteReason::NotInstalled);
            }
            Availability::Failing(e) => {
                why.insert(key.clone(), e.clone());
                unavailable.insert(key, NoteReason::Unreadable);
            }
            Availability::Pending => {
                why.insert(key.clone(), "not listed yet".into());
                unavailable.insert(key, NoteReason::Unreadable);
            }
        }
    }
    (unavailable, why)
}

/// What [`audit_keys`] tells an observer about each object it checked: the lookups its check
/// made (src/webhook/deps.rs) and its rows (`passed`: none at warning or above).
pub trait Observer {
    fn checked(&mut self, key: &Key, deps: Vec<Dep>, rows: &[Row], passed: bool);
    /// `key` is not in the store (deleted since it was listed).
    fn gone(&mut self, key: &Key);
}

/// Check the objects `keys` names (of `store`, which is also their world), as [`audit_store`]
/// does. With an `observer`, rows go to it only: the result's `rows` stay empty. With an `observer` (`rollgate serve`'s background audit), each object's lookups are
/// recorded for its event-driven re-checks: each kind then gets its own rule context per chunk,
/// so that a cluster-wide index one kind's rules build is charged to that kind's objects only
/// (see deps.rs on run-wide indexes); the findings are the same.
// The pass's inputs, each needed by some caller as it is (a cache's store or snapshot, its
// availability, the keys of a pass or of a re-check, the background audit's kept facts).
#[allow(clippy::too_many_arguments)]
pub fn audit_keys(
    store: &Store,
    availability: &[(&'static str, &'static str, Availability)],
    engine: &Engine,
    settings: &Settings,
    options: &AuditOptions,
    keys: &[Key],
    mut observer: Option<&mut dyn Observer>,
    facts: &Facts,
) -> Audit {
    let mut out = Audit::default();
    let (unavailable, why) = unavailable_kinds(availability);
    let mut skipped: HashMap<(String, String), usize> = HashMap::new();
    // One object's rows, then moved to their namespace's list (not one list of the pass's
    // rows redistributed at the end: that held every row's struct twice at the peak).
    let mut rows: Vec<Row> = Vec::new();
    let mut shared = Rows::default();
    let per_kind = observer.is_some();
    for chunk in chunks(keys, options.max_objects_per_view) {
        out.chunks += 1;
        let view = store.view();
        let world = AuditWorld {
            view: &view,
            unavailable: &unavailable,
            partial: &options.partial,
            skipped: Mutex::new(HashMap::new()),
            facts: options.facets.then_some(facts),
        };
        // One recorder (and context) per watched kind when observed, else one for all.
        let recorders: Vec<Recorder<'_>> = (0..if per_kind { WATCHED.len() } else { 1 })
            .map(|_| Recorder::new(&world, per_kind))
            .collect();
        let contexts: Vec<std::cell::OnceCell<Context<'_>>> = recorders
            .iter()
            .map(|_| std::cell::OnceCell::new())
            .collect();
        let mut found: Vec<Finding> = Vec::new();
        for key in chunk {
            let ns = (!key.namespace.is_empty()).then_some(key.namespace.as_str());
            let Some(object) = view
                .get(key.group, key.kind, Some(&key.namespace), &key.name)
                .into_iter()
                .next()
            else {
                if let Some(o) = observer.as_deref_mut() {
                    o.gone(key);
                }
                continue;
            };
            let slot = if per_kind {
                kind_id(key.group, key.kind).map_or(0, usize::from)
            } else {
                0
            };
            let recorder = &recorders[slot];
            let cx = contexts[slot].get_or_init(|| Context::new(recorder, settings));
            recorder.take();
            if let Some(sel) = &options.selector {
                if !sel.matches(labels_of(object)) {
                    continue;
                }
            }
            found.clear();
            out.suppressed += engine.check(object, cx, &mut found);
            out.objects += 1;
            let counts = out.checked.entry(ns.map(str::to_owned)).or_default();
            counts.objects += 1;
            let mut failed = false;
            rows.clear();
            shared.next_object();
            for f in found.drain(..) {
                // A referent of a kind the cache cannot vouch for: counted in its note.
                if f.outside {
                    continue;
                }
                failed |= f.severity >= Severity::Warning;
                rows.push(shared.row(f, object));
            }
            if !failed {
                counts.passed += 1;
            }
            match observer.as_deref_mut() {
                // The observer keeps the rows: the pass does not hold them a second time.
                Some(o) => o.checked(key, recorder.take(), &rows, !failed),
                None => {
                    for r in rows.drain(..) {
                        out.rows
                            .entry(r.object.namespace.clone())
                            .or_default()
                            .push(r);
                    }
                }
            }
        }
        drop(contexts);
        drop(recorders);
        // The gate analyses memoized on this thread are the chunk's (namespace-aligned chunks
        // share few queries): kept, they would grow to the memo's limit of entries.
        crate::promql::analysis::clear_memo();
        for (k, n) in world
            .skipped
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
        {
            *skipped.entry(k).or_default() += n;
        }
    }
    for list in out.rows.values_mut() {
        list.sort_by(|a, b| {
            (
                &a.object.kind,
                &a.object.name,
                &a.object.api_version,
                &a.pointer,
                a.rule,
                &a.message,
            )
                .cmp(&(
                    &b.object.kind,
                    &b.object.name,
                    &b.object.api_version,
                    &b.pointer,
                    b.rule,
                    &b.message,
                ))
        });
        list.dedup();
        // Grown by doubling: up to half of each list's row structs were spare.
        list.shrink_to_fit();
    }
    out.notes = notes(&unavailable, &why, &options.partial, &skipped);
    out
}

fn notes(
    unavailable: &HashMap<(String, String), NoteReason>,
    why: &HashMap<(String, String), String>,
    partial: &HashMap<(String, String), BTreeSet<String>>,
    skipped: &HashMap<(String, String), usize>,
) -> Vec<Note> {
    let mut keys: BTreeSet<&(String, String)> = unavailable.keys().collect();
    keys.extend(partial.keys());
    keys.into_iter()
        .map(|key| {
            let (group, kind) = key;
            let name = if group.is_empty() {
                kind.clone()
            } else {
                format!("{kind}.{group}")
            };
            let n = skipped.get(key).copied().unwrap_or(0);
            let refs = match n {
                0 => String::new(),
                1 => "; 1 reference to one was not checked".to_owned(),
                n => format!("; {n} references to them were not checked"),
            };
            let (reason, message) = match unavailable.get(key) {
                Some(NoteReason::NotInstalled) => (
                    NoteReason::NotInstalled,
                    format!("{name}: not served by the apiserver (CRD not installed){refs}"),
                ),
                Some(_) => (
                    NoteReason::Unreadable,
                    format!(
                        "{name}: could not be read ({}); objects of this kind were not audited{refs}",
                        why.get(key).map_or("unknown error", String::as_str)
                    ),
                ),
                None => {
                    let read: Vec<&str> = partial
                        .get(key)
                        .into_iter()
                        .flatten()
                        .map(String::as_str)
                        .collect();
                    (
                        NoteReason::Partial,
                        format!(
                            "{name}: read only in namespace(s) {} (listing every namespace is forbidden){refs}",
                            read.join(", ")
                        ),
                    )
                }
            };
            Note {
                group: group.clone(),
                kind: kind.clone(),
                reason,
                message,
                skipped_references: n,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::metrics::Metrics;
    use super::*;
    use crate::engine::{Config, Origin};
    use serde_json::json;

    fn obj(v: Value) -> Object {
        Object::from_value(v, Origin::Cluster, "").expect("object")
    }

    fn engine() -> Engine {
        Engine::new(crate::rules::REGISTRY, &Config::default(), None)
    }

    /// A VirtualService whose weights sum to 90 and a Canary targeting a missing Deployment.
    fn store() -> Store {
        let mut s = Store::default();
        s.insert(obj(json!({
            "apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
            "metadata": {"name": "web", "namespace": "prod", "uid": "u-1"},
            "spec": {"hosts": ["web"], "http": [{"route": [
                {"destination": {"host": "web"}, "weight": 80},
                {"destination": {"host": "web-canary"}, "weight": 10}]}]}
        })));
        s.insert(obj(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "prod"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}
        })));
        s.insert(obj(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web-canary", "namespace": "prod"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}
        })));
        s
    }

    fn synced_cache(s: Store) -> Arc<ClusterCache> {
        let c = ClusterCache::from_store(s, Arc::new(Metrics::new()));
        for (g, k) in super::super::cache::WATCHED {
            c.mark(g, k, Availability::Synced);
        }
        c
    }

    #[test]
    fn finds_what_the_rules_find_and_is_deterministic() {
        let cache = synced_cache(store());
        let e = engine();
        let settings = Settings::default();
        let a = audit(&cache, &e, &settings, &AuditOptions::default());
        let rows = a.rows.get(&Some("prod".to_owned())).expect("prod rows");
        assert!(
            rows.iter().any(|r| r.rule == "istio-weights-not-100"
                && r.object.name == "web"
                && r.uid.as_deref() == Some("u-1")),
            "{rows:#?}"
        );
        let again = audit(
            &cache,
            &e,
            &settings,
            &AuditOptions {
                max_objects_per_view: 1,
                ..AuditOptions::default()
            },
        );
        assert_eq!(a.rows, again.rows, "chunking changes nothing");
        assert_eq!(again.chunks, 1, "one namespace of 3 objects: one chunk");
        assert_eq!(
            a.reads, 2,
            "one read for the namespace list, one per namespace"
        );
        assert!(a.notes.is_empty(), "{:?}", a.notes);
    }

    /// Shared references and help texts serialize as the plain values they replaced.
    #[test]
    fn rows_serialize_as_plain_values() {
        let cache = synced_cache(store());
        let a = audit(
            &cache,
            &engine(),
            &Settings::default(),
            &AuditOptions::default(),
        );
        let r = a
            .all_rows()
            .find(|r| r.rule == "istio-weights-not-100")
            .expect("a weights row");
        let help = r.help.as_deref().expect("the rule gives help");
        assert_eq!(
            serde_json::to_value(r).expect("json"),
            json!({
                "object": {"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
                           "namespace": "prod", "name": "web"},
                "uid": "u-1",
                "rule": "istio-weights-not-100",
                "severity": r.severity,
                "message": r.message,
                "pointer": r.pointer,
                "help": help,
            })
        );
        let mut plain = r.clone();
        plain.uid = None;
        plain.help = None;
        let v = serde_json::to_value(&plain).expect("json");
        assert!(v.get("uid").is_none() && v.get("help").is_none(), "{v}");
    }

    #[test]
    fn suppressions_apply() {
        let mut s = store();
        s.insert(obj(json!({
            "apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
            "metadata": {"name": "web", "namespace": "prod",
                "annotations": {"ignore-check.rollgate.dev/istio-weights-not-100": "migrating"}},
            "spec": {"hosts": ["web"], "http": [{"route": [
                {"destination": {"host": "web"}, "weight": 80},
                {"destination": {"host": "web-canary"}, "weight": 10}]}]}
        })));
        let cache = synced_cache(s);
        let a = audit(
            &cache,
            &engine(),
            &Settings::default(),
            &AuditOptions::default(),
        );
        assert!(
            !a.all_rows().any(|r| r.rule == "istio-weights-not-100"),
            "{:#?}",
            a.rows
        );
        assert!(a.suppressed >= 1);
    }

    /// A Canary whose target kind cannot be read: one note, no "does not exist" finding.
    #[test]
    fn unreadable_kinds_give_one_note_not_false_findings() {
        let mut s = Store::default();
        for i in 0..3 {
            s.insert(obj(json!({
                "apiVersion": "flagger.app/v1beta1", "kind": "Canary",
                "metadata": {"name": format!("c{i}"), "namespace": "prod"},
                "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": format!("d{i}")},
                         "service": {"port": 80},
                         "analysis": {"interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10}}
            })));
        }
        let cache = synced_cache(s);
        let e = engine();
        let settings = Settings::default();
        let all = audit(&cache, &e, &settings, &AuditOptions::default());
        assert!(
            all.all_rows()
                .any(|r| r.rule == "target-not-found" && r.severity == Severity::Error),
            "the Deployments are missing from a cluster that lists them: {:#?}",
            all.rows
        );
        cache.mark(
            "apps",
            "Deployment",
            Availability::Failing("deployments.apps is forbidden".into()),
        );
        let a = audit(&cache, &e, &settings, &AuditOptions::default());
        assert!(
            !a.all_rows().any(|r| r.rule == "target-not-found"),
            "{:#?}",
            a.rows
        );
        let note = a
            .notes
            .iter()
            .find(|n| n.kind == "Deployment")
            .expect("a note for Deployments");
        assert_eq!(note.reason, NoteReason::Unreadable);
        assert_eq!(note.skipped_references, 3, "{note:?}");
        assert!(note.message.contains("forbidden"), "{}", note.message);
    }

    #[test]
    fn namespace_and_selector_filters() {
        let cache = synced_cache(store());
        let e = engine();
        let settings = Settings::default();
        let other = audit(
            &cache,
            &e,
            &settings,
            &AuditOptions {
                namespaces: Some(["dev".to_owned()].into()),
                ..AuditOptions::default()
            },
        );
        assert_eq!(other.objects, 0);
        let sel = LabelSelector::parse(&json!({"matchLabels": {"team": "x"}})).expect("selector");
        let none = audit(
            &cache,
            &e,
            &settings,
            &AuditOptions {
                selector: Some(sel),
                ..AuditOptions::default()
            },
        );
        assert_eq!(none.objects, 0);
        assert!(none.rows.is_empty());
    }
}
