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
//! (its name, and the name it is derived from when a controller's suffix ends it: Flagger
//! deriving `podinfo-primary` from `podinfo`; the values of its label maps: a selector names
//! values) and its *mentions* (every string value, whole and split into words: a host
//! `podinfo.test.svc.cluster.local` mentions the Service `podinfo`; a derived name mentions its
//! base too).
//! When file C changes, a file F is re-checked when C's old or new identities meet F's mentions
//! or C's mentions meet F's identities (either may reference the other), or when F's findings
//! point into C. A kind every object may read (a CRD's schema, a Prometheus' scrape interval,
//! a Namespace's labels) makes every file re-checked. `tests/lsp_workspace.rs` compares the
//! result after edits with a fresh `lint` of the same texts.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use super::finding::Finding;
use super::inventory::{MemoryInventory, SourceScope};
use super::lint::{
    Located, Placed, load_file, load_findings, locate, par_map, par_map_with, placements, workers,
};
use super::object::{Object, Origin};
use super::rule::Context;
use super::{Engine, Settings};
use crate::manifest::input::Input;
use crate::manifest::kustomize::Scopes;
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
    /// Where the kustomizations put the file's objects (namespace, builds, folder, patch).
    placed: Placed,
    /// A copy of that file placed in a further namespace by kustomize builds: context only,
    /// never reported (as the linter loads it).
    copy_of: Option<FileId>,
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

    /// A kustomize copy of another file (context only, no diagnostics of its own).
    pub fn is_copy(&self) -> bool {
        self.copy_of.is_some()
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
    /// Files whose objects changed since the world was built (the others' objects are moved
    /// from the old world into the new one, not copied from their slot).
    dirty: HashSet<FileId>,
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
    /// What the workspace's kustomizations say about its files (as `manifest::context` finds
    /// for the linter).
    scopes: Scopes,
    /// The project the kustomizations are followed in.
    project: Option<PathBuf>,
    /// File → its kustomize copies in further namespaces.
    copies: HashMap<FileId, Vec<FileId>>,
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
            dirty: HashSet::new(),
            results: HashMap::new(),
            pointed_from: HashMap::new(),
            pending: BTreeSet::new(),
            moved: BTreeSet::new(),
            all_pending: false,
            names: HashMap::new(),
            mentions: HashMap::new(),
            revision: 0,
            scopes: Scopes::default(),
            project: None,
            copies: HashMap::new(),
        }
    }

    /// Set what the kustomizations say (from `manifest::context::load` of the workspace
    /// folders) and the project they are followed in; every file is placed again.
    pub fn set_scopes(&mut self, scopes: Scopes, project: Option<PathBuf>) {
        self.scopes = scopes;
        self.project = project;
        self.replace_all();
    }

    /// Analyse the kustomizations of the workspace again (one was changed, added or removed:
    /// they are read from disk, as the linter reads them).
    pub fn reload_scopes(&mut self) {
        let kustomizations: Vec<PathBuf> = self
            .files()
            .filter(|(_, s)| s.copy_of.is_none())
            .map(|(_, s)| s.path.clone())
            .filter(|p| crate::manifest::kustomize::is_kustomization(p))
            .collect();
        let scopes = crate::manifest::kustomize::analyse(&kustomizations, self.project.as_deref());
        self.scopes = scopes;
        self.replace_all();
    }

    /// The kustomizations' analysis in use.
    pub fn scopes(&self) -> &Scopes {
        &self.scopes
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
        let kustomization = crate::manifest::kustomize::is_kustomization(path);
        self.store(id, path, input, hash);
        if kustomization {
            self.reload_scopes();
        }
        id
    }

    /// Load `input` into `id` with the placements the kustomizations give `path`, and its
    /// copies into further namespaces.
    fn store(&mut self, id: FileId, path: &Path, input: Input, hash: u64) {
        let mut places = placements(Some(path), &self.scopes, &self.settings).into_iter();
        let first = places.next().unwrap_or_else(|| Placed {
            namespace: self.settings.default_namespace.clone(),
            builds: Vec::new(),
            dir: path.parent().map(Path::to_path_buf),
            patch_of: None,
            unlisted_patch: false,
            views: Vec::new(),
        });
        let mut copies = Vec::new();
        for (k, place) in places.enumerate() {
            let key = PathBuf::from(format!("{}\u{0}copy{k}", path.display()));
            let cid = self.intern(&key);
            let mut slot = self.load(cid, path, input.clone(), hash, place);
            slot.copy_of = Some(id);
            self.replace(cid, Some(slot));
            copies.push(cid);
        }
        let old = self.copies.insert(id, copies.clone()).unwrap_or_default();
        for gone in old.into_iter().filter(|c| !copies.contains(c)) {
            self.replace(gone, None);
        }
        let slot = self.load(id, path, input, hash, first);
        self.replace(id, Some(slot));
    }

    /// Forget `path` (deleted on disk, or closed and gone).
    pub fn remove(&mut self, path: &Path) {
        if let Some(id) = self.file_id(path) {
            if self.slot(id).is_some() {
                self.replace(id, None);
                for c in self.copies.remove(&id).unwrap_or_default() {
                    self.replace(c, None);
                }
                if crate::manifest::kustomize::is_kustomization(path) {
                    self.reload_scopes();
                }
            }
        }
    }

    /// A new configuration: every file is loaded again (the default namespace is part of an
    /// object) and every object re-checked.
    pub fn set_config(&mut self, engine: Engine, settings: Settings) {
        self.engine = engine;
        self.settings = settings;
        self.replace_all();
    }

    /// Load every file again with its placement (configuration or kustomizations changed):
    /// every object is re-checked.
    fn replace_all(&mut self) {
        let ids: Vec<FileId> = self
            .files()
            .filter(|(_, s)| s.copy_of.is_none())
            .map(|(id, _)| id)
            .collect();
        for id in ids {
            self.reload(id);
        }
        self.world_stale = true;
        self.all_pending = true;
        self.revision += 1;
    }

    /// Load `id` again from its text with its current placement, and its copies.
    fn reload(&mut self, id: FileId) {
        let Some(old) = self.slot(id) else { return };
        let input = Input {
            source: old.source.clone(),
            unusable: old.unusable.clone(),
            path: Some(old.path.clone()),
            context: false,
            skipped: None,
        };
        let (path, hash) = (old.path.clone(), old.hash);
        self.store(id, &path, input, hash);
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
            let mut places = placements(Some(path), &this.scopes, &this.settings);
            // A file in several namespaces gets its copies in `store`, one at a time.
            (places.len() == 1).then(|| {
                let place = places.remove(0);
                this.load(*id, path, input.clone(), hash, place)
            })
        });
        for ((id, path, input), slot) in work.into_iter().zip(slots) {
            match slot {
                Some(slot) => self.replace(id, Some(slot)),
                None => {
                    let hash = text_hash(&input);
                    self.store(id, &path, input, hash)
                }
            }
        }
    }

    fn load(&self, id: FileId, path: &Path, mut input: Input, hash: u64, placed: Placed) -> Slot {
        if input.unusable.is_none() && input.skipped.is_none() {
            // As the linter: a Helm chart's or an Ansible role's template is not a manifest.
            input.skipped = crate::manifest::exclude::template_reason(
                path,
                &input.source.text,
                self.project.as_deref(),
            );
        }
        let si = id.source();
        let mut found = Vec::new();
        let mut docs = HashMap::new();
        let mut objects = Vec::new();
        if let Some(of) = &placed.patch_of {
            // As the linter: a patch is a partial object, not part of the world.
            found.push(super::lint::patch_finding(si, of, &placed));
        } else if let Some(why) = &input.skipped {
            // As the linter: a Helm chart or Ansible role template is read, not linted.
            found.push(super::lint::text_finding(
                &super::builtin::NOT_KUBERNETES_OBJECT,
                si,
                crate::manifest::Span::point(crate::manifest::Pos::new(1, 1)),
                why.clone(),
            ));
        } else if let Some((pos, message)) = &input.unusable {
            found.push(super::lint::text_finding(
                &super::builtin::PARSE_ERROR,
                si,
                crate::manifest::Span::point(*pos),
                message.clone(),
            ));
        } else {
            let loaded = load_file(si, &input.source.text, self.limits, &placed.namespace, None);
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
            placed,
            copy_of: None,
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
        self.dirty.insert(id);
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
            // Objects of files that did not change move from the old world (a deep copy of
            // every object per edit is most of an edit's cost in a large workspace).
            let mut old: HashMap<usize, Vec<Object>> = HashMap::new();
            for o in std::mem::take(&mut self.world).into_objects() {
                if let Origin::File { source, .. } = o.origin {
                    old.entry(source).or_default().push(o);
                }
            }
            let dirty = std::mem::take(&mut self.dirty);
            let mut objects: Vec<Object> = Vec::new();
            for (i, slot) in self.slots.iter().enumerate() {
                let Some(slot) = slot else { continue };
                match old.remove(&i) {
                    Some(kept) if !dirty.contains(&FileId(i as u32)) => objects.extend(kept),
                    _ => objects.extend(slot.objects.iter().cloned()),
                }
            }
            // As `lint_in_project` describes a run with context (opening a file is linting it
            // with the rest of the workspace as context).
            let description = if self.files().filter(|(_, s)| s.copy_of.is_none()).count() > 1 {
                "the input files and their context"
            } else {
                "the input files"
            };
            self.world =
                MemoryInventory::new(objects, description, self.settings.strict_references);
            let sources: Vec<SourceScope> = self
                .slots
                .iter()
                .map(|s| match s {
                    Some(s) => SourceScope {
                        reported: s.copy_of.is_none(),
                        dir: s.placed.dir.clone(),
                        builds: s.placed.builds.clone(),
                        views: s.placed.views.clone(),
                    },
                    None => SourceScope::default(),
                })
                .collect();
            self.world.set_sources(sources);
            self.world_stale = false;
            stats.world_rebuilt = true;
        }
        let all = std::mem::take(&mut self.all_pending);
        let pending = std::mem::take(&mut self.pending);
        if !all && pending.is_empty() {
            return stats;
        }
        let slots = &self.slots;
        let wanted = |o: &Object| match &o.origin {
            Origin::File { source, .. } => {
                (all || pending.contains(&FileId(*source as u32)))
                    && slots
                        .get(*source)
                        .and_then(Option::as_ref)
                        .is_some_and(|s| s.copy_of.is_none())
            }
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
            || Context::new(world, settings).reporting_by_file(),
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
        let rechecked: Vec<FileId> = rechecked
            .into_iter()
            .filter(|id| self.slot(*id).is_none_or(|s| s.copy_of.is_none()))
            .collect();
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

    /// The findings placed in `file`, in position order: what `rollgate lint <file>` reports
    /// with the rest of the workspace as its context: its load findings and the findings of its
    /// objects placed in it (a finding a rule places in another file is that file's context).
    pub fn diagnostics(&self, file: FileId) -> Vec<Located> {
        let Some(slot) = self.slot(file).filter(|s| s.copy_of.is_none()) else {
            return Vec::new();
        };
        let here = |f: &&Finding| file_of(&f.origin) == Some(file);
        let mut findings: Vec<&Finding> = slot.load_findings.iter().collect();
        if let Some(c) = self.results.get(&file) {
            findings.extend(c.findings.iter().filter(here));
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

    /// Lower `fix` of an object from `origin` to text edits of the current text.
    pub fn lower_fix(&self, origin: &Origin, fix: &super::fix::Fix) -> super::fix::TextFix {
        super::lint::lower_fix_with(
            |s, d| self.slots.get(s)?.as_ref()?.docs.get(&d),
            |s| Some(&self.slots.get(s)?.as_ref()?.source),
            origin,
            fix,
        )
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

/// Suffixes the controllers append to a name to make the objects they own: Flagger's
/// `<target>-primary` / `-canary` (workloads, Services, HPAs: `pkg/canary/*.go`), Argo Rollouts'
/// `stable` / `canary` / `preview` / `active` Services by convention.
const DERIVED_SUFFIXES: &[&str] = &["primary", "canary", "stable", "preview", "active"];

/// The name `name` is derived from, when it ends in a controller's suffix
/// (`podinfo-primary` → `podinfo`). Only these suffixes: every `-` prefix would make
/// `latency` an identity of each `latency-<app>` template, and an edit of any Canary with a
/// metric named `latency` re-check all of them.
fn derived_from(name: &str) -> Option<&str> {
    let (base, suffix) = name.rsplit_once('-')?;
    (!base.is_empty() && DERIVED_SUFFIXES.contains(&suffix)).then_some(base)
}

fn tokens(objects: &[Object]) -> Tokens {
    let mut names = BTreeSet::new();
    let mut mentions = BTreeSet::new();
    let mut global = false;
    for o in objects {
        global |= GLOBAL_KINDS.contains(&o.kind.as_str()) || super::controllers::runs_flagger(o);
        names.insert(o.name.clone());
        names.extend(derived_from(&o.name).map(str::to_owned));
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
                // A name a controller derives (`podinfo-primary`, a pod regex's `podinfo-`)
                // mentions the object it derives from.
                let w = w.trim_end_matches('-');
                if let Some(base) = derived_from(w) {
                    mentions.insert(base.to_owned());
                }
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
                // `label_map`: this is a label map, its string values are identities.
                walk_tokens(x, labels || (label_map && x.is_string()), names, mentions);
            }
        }
        _ => {}
    }
}
