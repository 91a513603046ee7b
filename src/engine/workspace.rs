//! A world kept up to date across edits, for the language server (which alone knows LSP: this
//! module speaks paths, texts and findings).
//!
//! The shape follows rust-analyzer's and salsa's, without query-level tracking: every file has a
//! stable [`FileId`] (its objects' `Origin::File { source }` is that id, so a finding stays
//! attached to its file across edits); a file's load (parse, objects, position index) is
//! cached and redone only when its text changes; a check re-runs the rules only on the objects
//! whose findings can change, and keeps every other file's findings.
//!
//! Which objects can change is decided from what objects name: an object's *identity tokens*
//! (its name and the name's `-` prefixes, Flagger deriving `podinfo-primary` from `podinfo`;
//! the values of its label maps: a selector names values) and its *mentions* (every string value, whole and
//! split into words: a host `podinfo.test.svc.cluster.local` mentions the Service `podinfo`).
//! When file C changes, a file F is re-checked when C's old or new identities meet F's mentions
//! or C's mentions meet F's identities (either may reference the other), or when F's findings
//! point into C. A kind every object may read (a CRD's schema, a Prometheus' scrape interval,
//! a Namespace's labels) makes every file re-checked. `tests/lsp_workspace.rs` compares the
//! result after edits with a fresh `lint` of the same texts.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use super::finding::Finding;
use super::inventory::MemoryInventory;
use super::lint::{Located, load_file, load_findings, locate, par_map, par_map_with, workers};
use super::object::{Object, Origin};
use super::rule::Context;
use super::{Engine, Settings};
use crate::manifest::input::Input;
use crate::manifest::{Limits, Source, SpanIndex};

/// A file of the workspace, stable for the session (the index of its slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

impl FileId {
    /// The `source` of the `Origin`s of this file's objects and findings.
    pub fn source(self) -> usize {
        self.0 as usize
    }
}

/// Kinds whose objects every other object may read without naming them: a CRD's schema
/// (`schema`), a Prometheus' scrape interval (`promql::scrape`), a Namespace's labels
/// (namespace selectors). A Deployment running Flagger is one too (its flags are settings of
/// every Canary, `engine::controllers`).
const GLOBAL_KINDS: &[&str] = &[
    "CustomResourceDefinition",
    "Prometheus",
    "PrometheusAgent",
    "Namespace",
];

/// One file: its text, its load, and what its objects name.
pub struct Slot {
    pub path: PathBuf,
    pub source: Source,
    /// Why the text cannot be linted (binary, too large), as `manifest::input` said.
    unusable: Option<(crate::manifest::Pos, String)>,
    hash: u64,
    /// Document index → position index.
    docs: HashMap<usize, SpanIndex>,
    objects: Vec<Object>,
    /// The engine's own findings about the file's text (syntax, not an object).
    load_findings: Vec<Finding>,
    tokens: Tokens,
}

impl Slot {
    pub fn objects(&self) -> &[Object] {
        &self.objects
    }

    /// The documents' position indexes, by document index.
    pub fn documents(&self) -> impl Iterator<Item = (usize, &SpanIndex)> {
        self.docs.iter().map(|(i, s)| (*i, s))
    }

    /// The position index of document `index`.
    pub fn spans(&self, index: usize) -> Option<&SpanIndex> {
        self.docs.get(&index)
    }
}

#[derive(Default, Clone)]
struct Tokens {
    names: Vec<String>,
    mentions: Vec<String>,
    global: bool,
}

/// Findings from checking one file's objects, and the files they point into.
#[derive(Default)]
struct Checked {
    findings: Vec<Finding>,
    touches: BTreeSet<FileId>,
}

/// What one [`Workspace::check`] did.
#[derive(Debug, Default, Clone, Copy)]
pub struct CheckStats {
    pub files: usize,
    pub objects: usize,
    pub world_rebuilt: bool,
}

pub struct Workspace {
    engine: Engine,
    settings: Settings,
    limits: Limits,
    /// Files larger than this are not loaded (a `parse-error` says so).
    pub max_file_size: u64,
    ids: HashMap<PathBuf, FileId>,
    slots: Vec<Option<Slot>>,
    world: MemoryInventory,
    world_stale: bool,
    results: HashMap<FileId, Checked>,
    /// File → files whose findings point into it.
    pointed_from: HashMap<FileId, BTreeSet<FileId>>,
    pending: BTreeSet<FileId>,
    /// Files whose text changed but not their objects (their findings moved with the text).
    moved: BTreeSet<FileId>,
    all_pending: bool,
    names: HashMap<String, HashSet<FileId>>,
    mentions: HashMap<String, HashSet<FileId>>,
    revision: u64,
}

impl Workspace {
    pub fn new(engine: Engine, settings: Settings, limits: Limits) -> Workspace {
        Workspace {
            engine,
            settings,
            limits,
            max_file_size: crate::manifest::input::DEFAULT_MAX_FILE_SIZE,
            ids: HashMap::new(),
            slots: Vec::new(),
            world: MemoryInventory::default(),
            world_stale: false,
            results: HashMap::new(),
            pointed_from: HashMap::new(),
            pending: BTreeSet::new(),
            moved: BTreeSet::new(),
            all_pending: false,
            names: HashMap::new(),
            mentions: HashMap::new(),
            revision: 0,
        }
    }

    /// Counts every change of a text, of the configuration, or of the file set.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn file_id(&self, path: &Path) -> Option<FileId> {
        self.ids.get(path).copied()
    }

    pub fn slot(&self, file: FileId) -> Option<&Slot> {
        self.slots.get(file.source())?.as_ref()
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &Slot)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((FileId(i as u32), s.as_ref()?)))
    }

    /// The objects of every file, as the rules last saw them (after [`Workspace::check`]).
    pub fn world(&self) -> &MemoryInventory {
        &self.world
    }

    fn intern(&mut self, path: &Path) -> FileId {
        if let Some(id) = self.ids.get(path) {
            return *id;
        }
        let id = FileId(self.slots.len() as u32);
        self.slots.push(None);
        self.ids.insert(path.to_path_buf(), id);
        id
    }

    /// Set the text of `path` (a buffer, or the file read from disk). Loads it unless the text
    /// is what was loaded; marks what must be re-checked.
    pub fn set_text(&mut self, path: &Path, text: String) -> FileId {
        let input = if text.len() as u64 > self.max_file_size {
            crate::manifest::input::too_large(
                path.display().to_string(),
                Some(text.len() as u64),
                self.max_file_size,
            )
        } else {
            crate::manifest::input::from_bytes(path.display().to_string(), text.into_bytes())
        };
        self.set_input(path, input)
    }

    /// [`Workspace::set_text`] for an input read with `manifest::input` (bounded, checked).
    pub fn set_input(&mut self, path: &Path, input: Input) -> FileId {
        let id = self.intern(path);
        let hash = text_hash(&input);
        if self.slot(id).is_some_and(|s| s.hash == hash) {
            return id;
        }
        let slot = self.load(id, path, input, hash);
        self.replace(id, Some(slot));
        id
    }

    /// Forget `path` (deleted on disk, or closed and gone).
    pub fn remove(&mut self, path: &Path) {
        if let Some(id) = self.file_id(path) {
            if self.slot(id).is_some() {
                self.replace(id, None);
            }
        }
    }

    /// A new configuration: every file is loaded again (the default namespace is part of an
    /// object) and every object re-checked.
    pub fn set_config(&mut self, engine: Engine, settings: Settings) {
        self.engine = engine;
        self.settings = settings;
        let ids: Vec<FileId> = self.files().map(|(id, _)| id).collect();
        for id in ids {
            let Some(old) = self.slots[id.source()].take() else {
                continue;
            };
            let input = Input {
                source: old.source,
                unusable: old.unusable,
            };
            let hash = old.hash;
            let path = old.path;
            let slot = self.load(id, &path, input, hash);
            self.unindex(id, &old.tokens);
            self.index(id, &slot.tokens);
            self.slots[id.source()] = Some(slot);
        }
        self.world_stale = true;
        self.all_pending = true;
        self.revision += 1;
    }

    /// Load many files at once (the initial scan), parsing on every core.
    pub fn set_inputs(&mut self, inputs: Vec<(PathBuf, Input)>) {
        let ids: Vec<FileId> = inputs.iter().map(|(p, _)| self.intern(p)).collect();
        let work: Vec<(FileId, PathBuf, Input)> = ids
            .into_iter()
            .zip(inputs)
            .map(|(id, (p, i))| (id, p, i))
            .collect();
        let threads = workers(super::lint::default_threads(), work.len());
        let this = &*self;
        let slots = par_map(&work, threads, |(id, path, input)| {
            let hash = text_hash(input);
            this.load(*id, path, input.clone(), hash)
        });
        for ((id, _, _), slot) in work.iter().zip(slots) {
            self.replace(*id, Some(slot));
        }
    }

    fn load(&self, id: FileId, path: &Path, input: Input, hash: u64) -> Slot {
        let si = id.source();
        let mut found = Vec::new();
        let mut docs = HashMap::new();
        let mut objects = Vec::new();
        if let Some((pos, message)) = &input.unusable {
            found.push(super::lint::text_finding(
                &super::builtin::PARSE_ERROR,
                si,
                crate::manifest::Span::point(*pos),
                message.clone(),
            ));
        } else {
            let loaded = load_file(
                si,
                &input.source.text,
                self.limits,
                &self.settings.default_namespace,
            );
            found = load_findings(si, &loaded);
            for doc in loaded.documents {
                if let Some(Ok(objs)) = doc.objects {
                    objects.extend(objs);
                }
                docs.insert(doc.index, doc.spans);
            }
        }
        let load_findings = found
            .into_iter()
            .filter_map(|f| self.engine.builtin_finding(f))
            .collect();
        let tokens = tokens(&objects);
        Slot {
            path: path.to_path_buf(),
            source: input.source,
            unusable: input.unusable,
            hash,
            docs,
            objects,
            load_findings,
            tokens,
        }
    }

    /// Put `new` in `id`'s slot and mark what must be re-checked.
    fn replace(&mut self, id: FileId, new: Option<Slot>) {
        self.revision += 1;
        let old = self.slots[id.source()].take();
        let same_objects = match (&old, &new) {
            (Some(o), Some(n)) => same_objects(&o.objects, &n.objects),
            (None, Some(n)) => n.objects.is_empty(),
            (Some(o), None) => o.objects.is_empty(),
            (None, None) => true,
        };
        let old_tokens = old.as_ref().map(|s| s.tokens.clone()).unwrap_or_default();
        let new_tokens = new.as_ref().map(|s| s.tokens.clone()).unwrap_or_default();
        self.unindex(id, &old_tokens);
        self.index(id, &new_tokens);
        self.slots[id.source()] = new;
        if same_objects {
            // Early cutoff: only positions moved (comments, blank lines, formatting). Findings
            // hold JSON pointers and are placed when read, against the new text.
            self.moved.insert(id);
            return;
        }
        self.world_stale = true;
        if old_tokens.global || new_tokens.global {
            self.all_pending = true;
            return;
        }
        self.pending.insert(id);
        let mut affected = BTreeSet::new();
        for t in [&old_tokens, &new_tokens] {
            for n in &t.names {
                affected.extend(self.mentions.get(n).into_iter().flatten().copied());
            }
            for m in &t.mentions {
                affected.extend(self.names.get(m).into_iter().flatten().copied());
            }
        }
        affected.extend(self.pointed_from.get(&id).into_iter().flatten().copied());
        self.pending.extend(affected);
    }

    fn index(&mut self, id: FileId, t: &Tokens) {
        for n in &t.names {
            self.names.entry(n.clone()).or_default().insert(id);
        }
        for m in &t.mentions {
            self.mentions.entry(m.clone()).or_default().insert(id);
        }
    }

    fn unindex(&mut self, id: FileId, t: &Tokens) {
        for (map, list) in [
            (&mut self.names, &t.names),
            (&mut self.mentions, &t.mentions),
        ] {
            for n in list {
                if let Some(set) = map.get_mut(n) {
                    set.remove(&id);
                    if set.is_empty() {
                        map.remove(n);
                    }
                }
            }
        }
    }

    /// Whether a change waits for [`Workspace::check`].
    pub fn needs_check(&self) -> bool {
        self.world_stale || self.all_pending || !self.pending.is_empty() || !self.moved.is_empty()
    }

    /// Re-run the rules on the objects whose findings may have changed since the last check.
    pub fn check(&mut self) -> CheckStats {
        let mut stats = CheckStats::default();
        self.moved.clear();
        if self.world_stale {
            let objects: Vec<Object> = self
                .slots
                .iter()
                .flatten()
                .flat_map(|s| s.objects.iter().cloned())
                .collect();
            self.world =
                MemoryInventory::new(objects, "the workspace", self.settings.strict_references);
            self.world_stale = false;
            stats.world_rebuilt = true;
        }
        let all = std::mem::take(&mut self.all_pending);
        let pending = std::mem::take(&mut self.pending);
        if !all && pending.is_empty() {
            return stats;
        }
        let wanted = |o: &Object| match &o.origin {
            Origin::File { source, .. } => all || pending.contains(&FileId(*source as u32)),
            _ => false,
        };
        let objects: Vec<&Object> = self.world.objects().iter().filter(|o| wanted(o)).collect();
        stats.objects = objects.len();
        let threads = workers(super::lint::default_threads(), objects.len());
        let chunk = objects.len().div_ceil(threads * 8).max(1);
        let chunks: Vec<&[&Object]> = objects.chunks(chunk).collect();
        let (world, settings, engine) = (&self.world, &self.settings, &self.engine);
        let checked = par_map_with(
            &chunks,
            threads,
            || Context::new(world, settings),
            |cx, chunk| {
                let mut out: Vec<(FileId, Vec<Finding>)> = Vec::new();
                for object in *chunk {
                    let mut found = Vec::new();
                    engine.check(object, cx, &mut found);
                    out.push((file_of(&object.origin).unwrap_or(FileId(u32::MAX)), found));
                }
                out
            },
        );
        let rechecked: Vec<FileId> = if all {
            self.files().map(|(id, _)| id).collect()
        } else {
            pending.iter().copied().collect()
        };
        stats.files = rechecked.len();
        for id in &rechecked {
            if let Some(old) = self.results.remove(id) {
                for t in old.touches {
                    if let Some(set) = self.pointed_from.get_mut(&t) {
                        set.remove(id);
                    }
                }
            }
        }
        let mut fresh: HashMap<FileId, Checked> = HashMap::new();
        for (id, found) in checked.into_iter().flatten() {
            let c = fresh.entry(id).or_default();
            for f in &found {
                c.touches.extend(file_of(&f.origin));
                c.touches
                    .extend(f.related.iter().filter_map(|r| file_of(&r.origin)));
            }
            c.touches.remove(&id);
            c.findings.extend(found);
        }
        for (id, c) in fresh {
            for t in &c.touches {
                self.pointed_from.entry(*t).or_default().insert(id);
            }
            self.results.insert(id, c);
        }
        stats
    }

    /// The findings placed in `file`, in position order: its load findings and the findings of
    /// any object (of this file or another) that point into it.
    pub fn diagnostics(&self, file: FileId) -> Vec<Located> {
        let Some(slot) = self.slot(file) else {
            return Vec::new();
        };
        let here = |f: &&Finding| file_of(&f.origin) == Some(file);
        let mut findings: Vec<&Finding> = slot.load_findings.iter().collect();
        let from = self.pointed_from.get(&file).into_iter().flatten();
        for id in std::iter::once(&file).chain(from) {
            if let Some(c) = self.results.get(id) {
                findings.extend(c.findings.iter().filter(here));
            }
        }
        let mut located: Vec<Located> = findings
            .into_iter()
            .map(|f| self.locate(f.clone()))
            .collect();
        located.sort_by(|a, b| {
            (a.span.map(|s| s.start), a.finding.rule, &a.finding.message).cmp(&(
                b.span.map(|s| s.start),
                b.finding.rule,
                &b.finding.message,
            ))
        });
        located
    }

    /// Place a finding against the current texts.
    pub fn locate(&self, f: Finding) -> Located {
        locate(
            f,
            |s, d| self.slots.get(s)?.as_ref()?.docs.get(&d),
            |s| Some(&self.slots.get(s)?.as_ref()?.source),
        )
    }
}

/// The file of an origin in a workspace.
pub fn file_of(origin: &Origin) -> Option<FileId> {
    match origin {
        Origin::File { source, .. } | Origin::Text { source, .. } => Some(FileId(*source as u32)),
        _ => None,
    }
}

fn text_hash(input: &Input) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    input.source.text.hash(&mut h);
    input.unusable.as_ref().map(|(_, m)| m).hash(&mut h);
    h.finish()
}

/// Whether two loads have the same objects (same values at the same places): then no rule can
/// find anything else.
fn same_objects(a: &[Object], b: &[Object]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.origin == y.origin
                && x.namespace == y.namespace
                && x.api_version == y.api_version
                && x.value == y.value
        })
}

/// Longest string whose words are indexed (a query of a few KB is words; a 1 MB blob is not a
/// reference to anything).
const MAX_MENTION_LEN: usize = 64 << 10;

fn tokens(objects: &[Object]) -> Tokens {
    let mut names = BTreeSet::new();
    let mut mentions = BTreeSet::new();
    let mut global = false;
    for o in objects {
        global |= GLOBAL_KINDS.contains(&o.kind.as_str()) || super::controllers::runs_flagger(o);
        let mut n = o.name.as_str();
        names.insert(n.to_owned());
        while let Some(i) = n.rfind('-') {
            n = &n[..i];
            if !n.is_empty() {
                names.insert(n.to_owned());
            }
        }
        walk_tokens(&o.value, false, &mut names, &mut mentions);
    }
    Tokens {
        names: names.into_iter().collect(),
        mentions: mentions.into_iter().collect(),
        global,
    }
}

fn walk_tokens(
    v: &serde_json::Value,
    label_map: bool,
    names: &mut BTreeSet<String>,
    mentions: &mut BTreeSet<String>,
) {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            if label_map {
                names.insert(s.clone());
            }
            if s.len() > MAX_MENTION_LEN {
                return;
            }
            mentions.insert(s.clone());
            for w in s.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_')) {
                if !w.is_empty() && w.len() < s.len() {
                    mentions.insert(w.to_owned());
                }
            }
        }
        Value::Array(a) => a
            .iter()
            .for_each(|x| walk_tokens(x, false, names, mentions)),
        Value::Object(m) => {
            for (k, x) in m {
                // Label keys are not identities: `app` is on every object, and a selector
                // naming only a key (`operator: Exists`) is rare enough to be left out.
                let labels = matches!(k.as_str(), "labels" | "matchLabels") && x.is_object();
                walk_tokens(x, labels, names, mentions);
            }
        }
        _ => {}
    }
}
