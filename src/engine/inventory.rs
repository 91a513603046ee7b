//! The "world" a rule may look at: every object of the lint run offline, the cluster cache plus
//! the object under admission in the webhook. Rules only see this trait.
//!
//! Cross-resource rules must stay linear in the number of objects, so selection by labels goes
//! through `select` / `select_pods`, which an implementation answers from an index (the default
//! methods scan, for small worlds and for implementations that have nothing better).

use crate::FastMap as HashMap;

use serde_json::{Map, Value};

use super::object::{Object, Origin};
use super::selector::{LabelSelector, Operator, label_text};

/// Kinds whose objects carry a pod template (or are pods), and where the template is:
/// `(api group, kind, JSON pointer of the template)`. A Pod is its own template (pointer "").
pub const POD_TEMPLATE_KINDS: &[(&str, &str, &str)] = &[
    ("apps", "Deployment", "/spec/template"),
    ("apps", "StatefulSet", "/spec/template"),
    ("apps", "DaemonSet", "/spec/template"),
    ("apps", "ReplicaSet", "/spec/template"),
    ("argoproj.io", "Rollout", "/spec/template"),
    ("batch", "Job", "/spec/template"),
    ("batch", "CronJob", "/spec/jobTemplate/spec/template"),
    ("", "ReplicationController", "/spec/template"),
    ("", "Pod", ""),
    // Pre-1.16 manifests (still in docs): the same workloads under the old group.
    ("extensions", "Deployment", "/spec/template"),
    ("extensions", "DaemonSet", "/spec/template"),
    ("extensions", "ReplicaSet", "/spec/template"),
];

/// Where the pod template of an object of `group`/`kind` is, if it has one.
pub fn pod_template_pointer(group: &str, kind: &str) -> Option<&'static str> {
    POD_TEMPLATE_KINDS
        .iter()
        .find(|(g, k, _)| *g == group && *k == kind)
        .map(|(_, _, p)| *p)
}

/// The value at a JSON pointer, exactly as `Value::pointer` finds it, but without allocating
/// for segments that need no unescaping and without a string search per segment (rules look up
/// fixed pointers on every object: this is a hot path).
pub fn walk<'a>(value: &'a Value, pointer: &str) -> Option<&'a Value> {
    let Some(mut rest) = pointer.strip_prefix('/') else {
        return pointer.is_empty().then_some(value);
    };
    let mut cur = value;
    loop {
        let (seg, next) = match rest.bytes().position(|b| b == b'/') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        if seg.bytes().any(|b| b == b'~') {
            return value.pointer(pointer);
        }
        cur = match cur {
            Value::Object(m) => get_key(m, seg)?,
            Value::Array(a) => a.get(array_index(seg)?)?,
            _ => return None,
        };
        match next {
            Some(n) => rest = n,
            None => return Some(cur),
        }
    }
}

/// `map.get(key)`, faster on the small mappings manifests are made of: one pass testing keys for
/// equality, which compares lengths before bytes (the B-tree's search orders `key` against every
/// key it passes, a `memcmp` call each). A mapping of more than one B-tree node is searched as
/// usual.
fn get_key<'a>(map: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    if map.len() > 11 {
        return map.get(key);
    }
    map.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// An array index as RFC 6901 (and `Value::pointer`) reads it: digits, no sign, no leading zero.
fn array_index(s: &str) -> Option<usize> {
    if s.starts_with('+') || (s.starts_with('0') && s.len() != 1) {
        return None;
    }
    s.parse().ok()
}

/// [`walk`] as a method of `Value`: `value.at("/spec/analysis")`, for `Value::pointer`, which
/// allocates a `String` per segment while unescaping it.
pub trait ValueAt {
    fn at(&self, pointer: &str) -> Option<&Value>;
}

impl ValueAt for Value {
    fn at(&self, pointer: &str) -> Option<&Value> {
        walk(self, pointer)
    }
}

/// `metadata.labels` of an object.
pub fn labels_of(object: &Object) -> Option<&Map<String, Value>> {
    object.value.get("metadata")?.get("labels")?.as_object()
}

/// Whether a Service's `spec.selector` selects pods labelled `pod_labels`: a non-empty map
/// whose every entry is the pod's label of that key (a Service without a selector selects no
/// pods; its endpoints are managed by hand).
pub fn service_selects(selector: Option<&Value>, pod_labels: &Map<String, Value>) -> bool {
    selector.and_then(Value::as_object).is_some_and(|sel| {
        !sel.is_empty()
            && sel
                .iter()
                .all(|(k, v)| pod_labels.get(k).and_then(Value::as_str) == v.as_str())
    })
}

/// The pods a workload creates, as its pod template describes them.
#[derive(Debug, Clone, Copy)]
pub struct PodTemplate<'a> {
    pub workload: &'a Object,
    /// JSON pointer of the template inside the workload ("" for a Pod).
    pub pointer: &'static str,
}

impl<'a> PodTemplate<'a> {
    /// The template of `object`, if its kind has one (the template itself may be absent).
    pub fn of(object: &'a Object) -> Option<PodTemplate<'a>> {
        let pointer = pod_template_pointer(&object.group, &object.kind)?;
        Some(PodTemplate {
            workload: object,
            pointer,
        })
    }

    /// The pods' labels (`<template>/metadata/labels`).
    pub fn labels(&self) -> Option<&'a Map<String, Value>> {
        walk(
            walk(&self.workload.value, self.pointer)?,
            "/metadata/labels",
        )?
        .as_object()
    }

    pub fn labels_pointer(&self) -> String {
        format!("{}/metadata/labels", self.pointer)
    }

    /// The pod spec (`<template>/spec`).
    pub fn spec(&self) -> Option<&'a Value> {
        self.workload
            .value
            .pointer(&format!("{}/spec", self.pointer))
    }
}

/// A projection of the objects of one kind to keys (the templates a Canary names, the hosts a
/// mesh VirtualService serves), which the rules' run-wide indexes are built from. A world that
/// keeps indexes beyond one run (the cluster audit: one index for every view of the cluster
/// and every re-check, updated per changed object) answers [`Inventory::facet`] from it, so the
/// index holds identities and keys, never the objects; other worlds answer `None` and the
/// rules build their own index over `list`, as they always did.
#[derive(Debug)]
pub struct Facet {
    /// Unique among facets (dependency records name it).
    pub id: &'static str,
    pub group: &'static str,
    pub kind: &'static str,
    /// The object's keys (each at most once).
    pub keys: fn(&Object, &mut Vec<String>),
}

pub trait Inventory: Send + Sync {
    /// Objects of `group`/`kind`, in `namespace` or (with `None`) in every namespace.
    fn list(&self, group: &str, kind: &str, namespace: Option<&str>) -> Vec<&Object>;

    /// Objects with this identity (more than one when an input defines it twice). Cluster-scoped
    /// objects are in namespace `Some("")`.
    fn get(&self, group: &str, kind: &str, namespace: Option<&str>, name: &str) -> Vec<&Object> {
        self.list(group, kind, namespace)
            .into_iter()
            .filter(|o| o.name == name)
            .collect()
    }

    /// Objects of `group`/`kind` in `namespace` (every namespace with `None`) whose
    /// `metadata.labels` the selector selects, in input order.
    fn select(
        &self,
        group: &str,
        kind: &str,
        namespace: Option<&str>,
        selector: &LabelSelector,
    ) -> Vec<&Object> {
        self.list(group, kind, namespace)
            .into_iter()
            .filter(|o| selector.matches(labels_of(o)))
            .collect()
    }

    /// Every object `list` returns, passed to `f` one at a time, in the same order, for an index
    /// that keeps facts drawn from the objects rather than the objects (Flagger's flags from
    /// every Deployment): the reference is valid only during the call, so a world that parses
    /// its objects on demand (the cluster cache's `View`) may parse one for `f` and drop it
    /// instead of holding every object of the kind for the rest of the request.
    fn scan(&self, group: &str, kind: &str, namespace: Option<&str>, f: &mut dyn FnMut(&Object)) {
        for o in self.list(group, kind, namespace) {
            f(o);
        }
    }

    /// Services of `namespace` whose `spec.selector` selects pods labelled `pod_labels`
    /// ([`service_selects`]), in `list` order: a reverse lookup no index answers, which a world
    /// that parses on demand can answer by reading each Service's selector only.
    fn services_selecting(&self, namespace: &str, pod_labels: &Map<String, Value>) -> Vec<&Object> {
        self.list("", "Service", Some(namespace))
            .into_iter()
            .filter(|svc| service_selects(svc.at("/spec/selector"), pod_labels))
            .collect()
    }

    /// Pod templates (of the kinds in `POD_TEMPLATE_KINDS`) in `namespace` (every namespace with
    /// `None`) whose pod labels the selector selects, in input order.
    fn select_pods(
        &self,
        namespace: Option<&str>,
        selector: &LabelSelector,
    ) -> Vec<PodTemplate<'_>> {
        let mut out: Vec<PodTemplate<'_>> = Vec::new();
        for (g, k, _) in POD_TEMPLATE_KINDS {
            for o in self.list(g, k, namespace) {
                if let Some(t) = PodTemplate::of(o) {
                    if selector.matches(t.labels()) {
                        out.push(t);
                    }
                }
            }
        }
        out
    }

    /// The objects of `facet`'s kind (every namespace) with the key `key`, in `list` order, when
    /// this world keeps an index of the facet; `None` (the default): build one over `list`.
    fn facet(&self, facet: &'static Facet, key: &str) -> Option<Vec<&Object>> {
        let _ = (facet, key);
        None
    }

    /// Words for messages: where referents were searched ("the input files", "the cluster").
    fn describe(&self) -> &str;

    /// Whether a referent that is absent is certainly missing (a complete world: the cluster,
    /// or an input declared complete with `--strict-references`).
    fn complete(&self) -> bool;

    /// Whether findings about `object` are reported: objects of the files a user named and the
    /// object under admission are; context files (loaded only so the rules see their world)
    /// and the cluster cache are not. A referent that is not reported behaves like a cluster
    /// one: its findings that a referrer causes go on the referrer.
    fn reported(&self, object: &Object) -> bool {
        matches!(object.origin, Origin::File { .. } | Origin::Admission)
    }

    /// How far `candidate` is from `referrer` (lower is nearer), to choose among objects of one
    /// identity defined in several places (environments, examples, overlays): a reference
    /// resolves to the nearest ones. Every copy is at the same distance by default.
    fn distance(&self, referrer: &Object, candidate: &Object) -> u32 {
        let _ = (referrer, candidate);
        0
    }

    /// Whether `a` and `b` are applied together, so that one identity in both is a true
    /// duplicate: the same file, or (offline) the same kustomization build.
    fn applied_together(&self, a: &Object, b: &Object) -> bool {
        match (&a.origin, &b.origin) {
            (Origin::File { source: x, .. }, Origin::File { source: y, .. }) => x == y,
            _ => false,
        }
    }

    /// Whether every kustomization build that applies `object` adds labels to workloads'
    /// selectors (`commonLabels`, `labels` with `includeSelectors`), creating
    /// `spec.selector.matchLabels` where the file has none.
    fn selector_added(&self, object: &Object) -> bool {
        let _ = object;
        false
    }

    /// How to treat a referent of `group`/`kind` named `name` in `namespace`, which `referrer`
    /// names and the world does not hold ([`Absence`]). By default: certainly missing in a
    /// complete world, else possibly elsewhere (a warning, the cluster's semantics).
    fn absence(
        &self,
        referrer: &Object,
        group: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Absence {
        let _ = (referrer, group, kind, namespace, name);
        if self.complete() {
            Absence::Missing
        } else {
            Absence::Unknown
        }
    }
}

/// [`Inventory::distance`] from which a candidate is in another part of the project (a sibling
/// folder: another example, environment or app), not applied with the referrer.
pub const ELSEWHERE: u32 = 1000;

/// What the world says about a referent it does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Absence {
    /// The world is complete: the referent does not exist (an error).
    Missing,
    /// The world holds other objects of that kind in that namespace: a mistake is likely (a
    /// warning). `count` names are there, `others` the first few, `similar` those nearest to
    /// the one asked for ("did you mean").
    Suspect {
        count: usize,
        others: Vec<String>,
        similar: Vec<String>,
    },
    /// Nothing says whether it exists elsewhere (a warning: the webhook's partial cluster view).
    Unknown,
    /// Nothing of that kind there: the reference most likely points outside the input (an
    /// info, counted in one summary line).
    Outside,
}

/// Where the objects of one source (file) sit in the project, for [`MemoryInventory`]'s
/// answers to `reported`, `distance` and `applied_together`.
#[derive(Debug, Clone, Default)]
pub struct SourceScope {
    /// Named by the user (reported), or loaded as context.
    pub reported: bool,
    /// The folder of the file (canonical), if it is a file.
    pub dir: Option<std::path::PathBuf>,
    /// The kustomization builds that include the file.
    pub builds: Vec<u32>,
    /// What each build does to the file's objects (`kustomize::BuildView`).
    pub views: Vec<crate::manifest::kustomize::BuildView>,
}

/// Entry numbers (objects or pod templates), ascending, by name and by label.
#[derive(Debug, Default)]
struct Postings {
    all: Vec<u32>,
    by_name: HashMap<String, Vec<u32>>,
    /// label key → label value → entries.
    by_label: HashMap<String, HashMap<String, Vec<u32>>>,
}

impl Postings {
    fn add(&mut self, name: &str, labels: Option<&Map<String, Value>>, entry: u32) {
        self.all.push(entry);
        push(&mut self.by_name, name, entry);
        for (k, v) in labels.into_iter().flatten() {
            let Some(v) = label_text(v) else { continue };
            let values = match self.by_label.get_mut(k.as_str()) {
                Some(values) => values,
                None => self.by_label.entry(k.clone()).or_default(),
            };
            push(values, &v, entry);
        }
    }

    fn named(&self, name: &str) -> &[u32] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }

    fn labelled(&self, key: &str, value: &str) -> &[u32] {
        self.by_label
            .get(key)
            .and_then(|values| values.get(value))
            .map_or(&[], Vec::as_slice)
    }

    /// Entries that may match: the shortest posting list among the selector's `=` and `In`
    /// requirements (an `In` is the union of its values' lists), else every entry. Ascending;
    /// the caller filters with `matches`.
    fn candidates(&self, selector: &LabelSelector) -> Vec<u32> {
        let mut best: Option<Vec<&[u32]>> = None;
        let size = |lists: &[&[u32]]| lists.iter().map(|l| l.len()).sum::<usize>();
        for r in &selector.requirements {
            if !matches!(r.operator, Operator::Equals | Operator::In) {
                continue;
            }
            let lists: Vec<&[u32]> = r.values.iter().map(|v| self.labelled(&r.key, v)).collect();
            if best.as_ref().is_none_or(|b| size(&lists) < size(b)) {
                best = Some(lists);
            }
        }
        match best {
            Some(lists) if lists.len() == 1 => lists[0].to_vec(),
            Some(lists) => {
                let mut v: Vec<u32> = lists.concat();
                v.sort_unstable();
                v.dedup();
                v
            }
            None => self.all.clone(),
        }
    }
}

/// `map[key]`, pushing `entry`; allocates the key only when it is new.
fn push(map: &mut HashMap<String, Vec<u32>>, key: &str, entry: u32) {
    match map.get_mut(key) {
        Some(v) => v.push(entry),
        None => {
            map.insert(key.to_owned(), vec![entry]);
        }
    }
}

/// The postings of one scope (a group/kind, or the pod templates): across namespaces and per
/// namespace. Nested maps keyed by `String` are looked up with `&str`: no allocation per query.
#[derive(Debug, Default)]
struct Scope {
    everywhere: Postings,
    namespaces: HashMap<String, Postings>,
}

impl Scope {
    fn add(&mut self, ns: &str, name: &str, labels: Option<&Map<String, Value>>, entry: u32) {
        self.everywhere.add(name, labels, entry);
        let postings = match self.namespaces.get_mut(ns) {
            Some(p) => p,
            None => self.namespaces.entry(ns.to_owned()).or_default(),
        };
        postings.add(name, labels, entry);
    }

    fn postings(&self, ns: Option<&str>) -> Option<&Postings> {
        match ns {
            Some(ns) => self.namespaces.get(ns),
            None => Some(&self.everywhere),
        }
    }
}

/// An inventory over a list of objects, indexed by kind, namespace, name and labels (objects'
/// own labels, and the pod labels of workloads' templates).
#[derive(Debug, Default)]
pub struct MemoryInventory {
    objects: Vec<Object>,
    /// group → kind → postings of objects.
    kinds: HashMap<String, HashMap<String, Scope>>,
    /// Pod templates: (object number, template pointer).
    pods: Vec<(u32, &'static str)>,
    /// Postings of pod templates (entries are indexes into `pods`).
    pod_scope: Scope,
    complete: bool,
    description: String,
    /// Per source number (`Origin::File::source`): where its objects sit. Empty: every source
    /// is reported, unrelated to the others (no paths known).
    sources: Vec<SourceScope>,
    /// Per source number: its folder as numbered prefixes, one per path component (`/`,
    /// `/repo`, `/repo/apps`, …; equal prefixes get equal numbers). [`Inventory::distance`] is
    /// asked for every copy of every reference and every name a missing referent is compared
    /// with: comparing numbers finds the common folder without walking path components.
    dir_prefixes: Vec<Box<[u32]>>,
}

impl MemoryInventory {
    pub fn new(objects: Vec<Object>, description: impl Into<String>, complete: bool) -> Self {
        let mut inv = MemoryInventory {
            complete,
            description: description.into(),
            ..MemoryInventory::default()
        };
        inv.objects.reserve(objects.len());
        for o in objects {
            inv.push(o);
        }
        inv
    }

    pub fn push(&mut self, o: Object) {
        let n = self.objects.len() as u32;
        let kinds = match self.kinds.get_mut(o.group.as_str()) {
            Some(k) => k,
            None => self.kinds.entry(o.group.clone()).or_default(),
        };
        let scope = match kinds.get_mut(o.kind.as_str()) {
            Some(s) => s,
            None => kinds.entry(o.kind.clone()).or_default(),
        };
        scope.add(o.ns(), &o.name, labels_of(&o), n);
        if let Some(t) = PodTemplate::of(&o) {
            let p = self.pods.len() as u32;
            self.pods.push((n, t.pointer));
            self.pod_scope.add(o.ns(), &o.name, t.labels(), p);
        }
        self.objects.push(o);
    }

    pub fn objects(&self) -> &[Object] {
        &self.objects
    }

    /// The objects, the indexes dropped (the language server's workspace moves an unchanged
    /// file's objects into the next world instead of copying them).
    pub fn into_objects(self) -> Vec<Object> {
        self.objects
    }

    /// Say where each source's objects sit (index: source number).
    pub fn set_sources(&mut self, sources: Vec<SourceScope>) {
        let mut prefixes: HashMap<std::path::PathBuf, u32> = HashMap::default();
        let mut dirs: HashMap<&std::path::Path, Box<[u32]>> = HashMap::default();
        self.dir_prefixes = sources
            .iter()
            .map(|s| {
                let Some(dir) = s.dir.as_deref() else {
                    return Box::default();
                };
                if let Some(ids) = dirs.get(dir) {
                    return ids.clone();
                }
                let mut prefix = std::path::PathBuf::new();
                let ids: Box<[u32]> = dir
                    .components()
                    .map(|c| {
                        prefix.push(c);
                        let next = prefixes.len() as u32;
                        *prefixes.entry(prefix.clone()).or_insert(next)
                    })
                    .collect();
                dirs.insert(dir, ids.clone());
                ids
            })
            .collect();
        self.sources = sources;
    }

    /// Whether source number `source` is reported (not context).
    pub fn source_reported(&self, source: usize) -> bool {
        self.sources.get(source).is_none_or(|s| s.reported)
    }

    fn source_of(&self, o: &Object) -> Option<&SourceScope> {
        self.sources.get(Self::source_number(o)?)
    }

    fn source_number(o: &Object) -> Option<usize> {
        match o.origin {
            Origin::File { source, .. } | Origin::Text { source, .. } => Some(source),
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    fn postings(&self, group: &str, kind: &str, ns: Option<&str>) -> Option<&Postings> {
        self.kinds.get(group)?.get(kind)?.postings(ns)
    }

    fn resolve(&self, entries: &[u32]) -> Vec<&Object> {
        entries.iter().map(|&i| &self.objects[i as usize]).collect()
    }
}

impl Inventory for MemoryInventory {
    fn list(&self, group: &str, kind: &str, namespace: Option<&str>) -> Vec<&Object> {
        self.postings(group, kind, namespace)
            .map(|p| self.resolve(&p.all))
            .unwrap_or_default()
    }

    fn get(&self, group: &str, kind: &str, namespace: Option<&str>, name: &str) -> Vec<&Object> {
        self.postings(group, kind, namespace)
            .map(|p| self.resolve(p.named(name)))
            .unwrap_or_default()
    }

    fn select(
        &self,
        group: &str,
        kind: &str,
        namespace: Option<&str>,
        selector: &LabelSelector,
    ) -> Vec<&Object> {
        let Some(p) = self.postings(group, kind, namespace) else {
            return Vec::new();
        };
        p.candidates(selector)
            .into_iter()
            .map(|i| &self.objects[i as usize])
            .filter(|o| selector.matches(labels_of(o)))
            .collect()
    }

    fn select_pods(
        &self,
        namespace: Option<&str>,
        selector: &LabelSelector,
    ) -> Vec<PodTemplate<'_>> {
        let Some(p) = self.pod_scope.postings(namespace) else {
            return Vec::new();
        };
        p.candidates(selector)
            .into_iter()
            .filter_map(|p| {
                let &(i, pointer) = self.pods.get(p as usize)?;
                let t = PodTemplate {
                    workload: &self.objects[i as usize],
                    pointer,
                };
                selector.matches(t.labels()).then_some(t)
            })
            .collect()
    }

    fn describe(&self) -> &str {
        &self.description
    }

    fn complete(&self) -> bool {
        self.complete
    }

    fn reported(&self, o: &Object) -> bool {
        match o.origin {
            Origin::File { .. } => self.source_of(o).is_none_or(|s| s.reported),
            Origin::Admission => true,
            _ => false,
        }
    }

    /// Same file 0; same kustomization build 1; same folder 2; a folder above the referrer's
    /// 2 + the levels up; a folder below it 500 + the levels down; anywhere else
    /// [`ELSEWHERE`] + the levels up to the common folder.
    fn distance(&self, referrer: &Object, candidate: &Object) -> u32 {
        if let (Origin::File { source: a, .. }, Origin::File { source: b, .. }) =
            (&referrer.origin, &candidate.origin)
        {
            if a == b {
                return 0;
            }
        }
        let files = matches!(referrer.origin, Origin::File { .. })
            && matches!(candidate.origin, Origin::File { .. });
        // Files whose place is unknown: another file is further than the same one.
        let unplaced = u32::from(files);
        let (Some(r), Some(c)) = (self.source_of(referrer), self.source_of(candidate)) else {
            return unplaced;
        };
        if r.builds.iter().any(|b| c.builds.contains(b)) {
            return 1;
        }
        if r.dir.is_none() || c.dir.is_none() {
            return unplaced;
        }
        // Both have a folder, so both are sources with numbered prefixes (`set_sources`).
        let prefixes = |o: &Object| {
            Self::source_number(o)
                .and_then(|i| self.dir_prefixes.get(i))
                .map_or(&[][..], |p| &p[..])
        };
        let (rd, cd) = (prefixes(referrer), prefixes(candidate));
        let common = rd.iter().zip(cd).take_while(|(x, y)| x == y).count();
        let up = (rd.len() - common) as u32;
        let down = (cd.len() - common) as u32;
        if down == 0 {
            2 + up
        } else if up == 0 {
            500 + down
        } else {
            ELSEWHERE + up
        }
    }

    fn applied_together(&self, a: &Object, b: &Object) -> bool {
        if let (Origin::File { source: x, .. }, Origin::File { source: y, .. }) =
            (&a.origin, &b.origin)
        {
            if x == y {
                return true;
            }
        }
        // One build holds both under one identity only when kustomize gives them one: the
        // same name prefix and suffix on the way down to each file (a `Namespace` object takes
        // the build's namespace as its name), and neither removed by a `$patch: delete`.
        // kubeflow/manifests builds seven `deployment.yaml` Deployments named `deployment`,
        // each under its own `namePrefix` (docs/precision.md).
        match (self.source_of(a), self.source_of(b)) {
            (Some(x), Some(y)) => x.builds.iter().any(|build| {
                if !y.builds.contains(build) {
                    return false;
                }
                let vx = x.views.iter().find(|v| v.build == *build);
                let vy = y.views.iter().find(|v| v.build == *build);
                match (vx, vy) {
                    (Some(vx), Some(vy)) => {
                        let nx = vx.name_of(&a.group, &a.kind, &a.name);
                        nx.is_some() && nx == vy.name_of(&b.group, &b.kind, &b.name)
                    }
                    _ => true,
                }
            }),
            _ => false,
        }
    }

    fn selector_added(&self, object: &Object) -> bool {
        self.source_of(object)
            .is_some_and(|s| !s.views.is_empty() && s.views.iter().all(|v| v.fills_selectors))
    }

    /// Complete: missing. Else suspect when objects of that kind in that namespace are applied
    /// with the referrer (its file, build, folder, a folder above or below: a typo or a wrong
    /// namespace is likelier than a referent kept elsewhere), or one of them has a name within
    /// a third of the edits ("did you mean"); else outside the input. Objects of that kind in
    /// sibling folders (other examples, environments) are no evidence.
    fn absence(
        &self,
        referrer: &Object,
        group: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Absence {
        if self.complete {
            return Absence::Missing;
        }
        let Some(p) = self.postings(group, kind, namespace) else {
            return Absence::Outside;
        };
        let bound = (name.chars().count() / 3).max(1);
        let mut similar: Vec<(usize, &str)> = Vec::new();
        let mut near: Vec<&str> = Vec::new();
        for (n, entries) in &p.by_name {
            if n.is_empty() {
                continue; // `generateName` objects
            }
            if !name.is_empty() {
                if let Some(d) = super::config::levenshtein_within(name, n, bound) {
                    similar.push((d, n));
                }
            }
            let applied_with = entries
                .iter()
                .any(|&e| self.distance(referrer, &self.objects[e as usize]) < ELSEWHERE);
            if applied_with {
                near.push(n);
            }
        }
        if similar.is_empty() && near.is_empty() {
            return Absence::Outside;
        }
        similar.sort();
        near.sort_unstable();
        let mut others: Vec<String> = similar.iter().map(|(_, n)| (*n).to_owned()).collect();
        for n in &near {
            if !others.iter().any(|o| o == n) {
                others.push((*n).to_owned());
            }
        }
        Absence::Suspect {
            count: others.len(),
            others: others.iter().take(3).cloned().collect(),
            similar: similar
                .into_iter()
                .take(3)
                .map(|(_, n)| n.to_owned())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn walk_finds_what_value_pointer_finds() {
        let v = json!({"a": {"b/c": 1, "d~e": [10, {"": 2}], "": {"x": 3}, "01": 4, "+1": 5},
                       "l": [0, 1, [2, 3]]});
        for p in [
            "",
            "/",
            "/a",
            "/a/b~1c",
            "/a/d~0e/1/",
            "/a/d~0e/0",
            "/a//x",
            "/a/01",
            "/a/+1",
            "/l/2/1",
            "/l/01",
            "/l/+1",
            "/l/-1",
            "/l/3",
            "/l/2/1/x",
            "a",
            "/a/b/c",
            "/x",
            "/l/18446744073709551616",
            "/a/~2",
            "/l/ 1",
            "//",
            "/a/d~0e/1//",
        ] {
            assert_eq!(walk(&v, p), v.pointer(p), "{p:?}");
        }
    }

    fn obj(v: Value) -> Object {
        Object::from_value(
            v,
            Origin::File {
                source: 0,
                document: 0,
                base: String::new(),
            },
            "default",
        )
        .expect("object")
    }

    fn world() -> MemoryInventory {
        MemoryInventory::new(
            vec![
                obj(json!({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}}})),
                obj(json!({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "api", "namespace": "prod", "labels": {"app": "api"}}})),
                obj(json!({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "bare"}})),
                obj(json!({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "web", "labels": {"team": "a"}},
                    "spec": {"template": {"metadata": {"labels": {"app": "web-pod"}}}}})),
                obj(json!({"apiVersion": "batch/v1", "kind": "CronJob",
                    "metadata": {"name": "job", "namespace": "prod"},
                    "spec": {"jobTemplate": {"spec": {"template": {"metadata": {"labels": {"app": "job"}}}}}}})),
                obj(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}})),
            ],
            "the input files",
            false,
        )
    }

    fn names<'a>(v: impl IntoIterator<Item = &'a Object>) -> Vec<&'a str> {
        v.into_iter().map(|o| o.name.as_str()).collect()
    }

    /// The indexed answers equal the trait's default (scanning) answers.
    struct Scan<'a>(&'a MemoryInventory);
    impl Inventory for Scan<'_> {
        fn list(&self, group: &str, kind: &str, namespace: Option<&str>) -> Vec<&Object> {
            self.0.list(group, kind, namespace)
        }
        fn describe(&self) -> &str {
            self.0.describe()
        }
        fn complete(&self) -> bool {
            false
        }
    }

    #[test]
    fn select_by_labels_and_namespace() {
        let w = world();
        let sel = |v: Value| LabelSelector::parse(&v).expect("selector");
        let cases = [
            (
                json!({"matchLabels": {"app": "web"}}),
                Some("default"),
                vec!["web"],
            ),
            (json!({"matchLabels": {"app": "web"}}), Some("prod"), vec![]),
            (json!({"matchLabels": {"app": "api"}}), None, vec!["api"]),
            (json!({}), Some("default"), vec!["web", "bare"]),
            (json!({}), None, vec!["web", "api", "bare"]),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["api", "web"]}]}),
                None,
                vec!["web", "api"],
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}),
                None,
                vec!["api", "bare"],
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}),
                None,
                vec!["bare"],
            ),
            (
                json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]}),
                None,
                vec!["web"],
            ),
        ];
        for (s, ns, want) in cases {
            let s = sel(s);
            assert_eq!(
                names(w.select("", "Service", ns, &s)),
                want,
                "{s} in {ns:?}"
            );
            assert_eq!(
                names(Scan(&w).select("", "Service", ns, &s)),
                want,
                "scan: {s}"
            );
        }
    }

    #[test]
    fn select_pod_templates() {
        let w = world();
        let s = LabelSelector::parse(&json!({"matchLabels": {"app": "web-pod"}})).expect("sel");
        let pods = w.select_pods(Some("default"), &s);
        assert_eq!(pods.len(), 1);
        assert_eq!(pods[0].workload.name, "web");
        assert_eq!(pods[0].labels_pointer(), "/spec/template/metadata/labels");
        assert!(w.select_pods(Some("prod"), &s).is_empty());
        let s = LabelSelector::parse(&json!({"matchLabels": {"app": "job"}})).expect("sel");
        let pods = w.select_pods(None, &s);
        assert_eq!(pods.len(), 1);
        assert_eq!(pods[0].pointer, "/spec/jobTemplate/spec/template");
        assert_eq!(Scan(&w).select_pods(None, &s).len(), 1);
        // Workload labels are not pod labels.
        let s = LabelSelector::parse(&json!({"matchLabels": {"team": "a"}})).expect("sel");
        assert!(w.select_pods(None, &s).is_empty());
        assert_eq!(w.select_pods(None, &LabelSelector::everything()).len(), 2);
    }

    #[test]
    fn get_by_identity() {
        let w = world();
        assert_eq!(
            names(w.get("", "Service", Some("prod"), "api")),
            vec!["api"]
        );
        assert!(w.get("", "Service", Some("default"), "api").is_empty());
        assert_eq!(names(w.get("", "Service", None, "api")), vec!["api"]);
        assert_eq!(
            names(w.get("", "Namespace", Some(""), "prod")),
            vec!["prod"]
        );
        assert_eq!(
            names(w.list("", "Service", Some("default"))),
            vec!["web", "bare"]
        );
    }
}
