//! The context of a lint run: the files around the ones a user names, loaded so the rules see
//! the world those files live in (the template next to a Canary, the Deployment it targets),
//! and never reported themselves — pint's `Noop` entries next to the changed ones
//! (`cmd/pint/ci.go`).
//!
//! By default the context is the enclosing project folder: the nearest ancestor of a named file
//! that holds a `.rollgate.yaml` or `.git`, else one that holds a kustomization. Walking it is bounded (files,
//! bytes, directory entries); what is skipped is said in a note, never a failure of the named
//! files.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::input::{self, Input};
use super::kustomize::{self, Scopes};

/// Whether the file's first document is a CustomResourceDefinition (read from its first 4 KiB).
fn starts_a_crd(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 4096];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&head[..n]);
    let mut content = false;
    for l in text.lines() {
        let l = l.trim_end();
        if l == "---" {
            if content {
                return false;
            }
            continue;
        }
        if l == "kind: CustomResourceDefinition" {
            return true;
        }
        content |= !l.is_empty() && !l.starts_with('#');
    }
    false
}

/// Bounds of a context walk.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Manifest files loaded as context.
    pub max_files: usize,
    /// Bytes of context files, in all.
    pub max_bytes: u64,
    /// A context file larger than this is skipped (generated bundles, CRD dumps).
    pub max_file_bytes: u64,
    /// Directory entries looked at while walking (a folder of 100k files is not read through).
    pub max_entries: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_files: 5_000,
            max_bytes: 64 * 1024 * 1024,
            max_file_bytes: 2 * 1024 * 1024,
            max_entries: 100_000,
        }
    }
}

/// A context root and why it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    pub dir: PathBuf,
    /// `.rollgate.yaml`, `kustomization.yaml`, `.git`, `--context`, `context:`.
    pub marker: String,
}

/// Folder names never walked for context: dependency trees that hold no manifests of the
/// project (hidden folders, `.git` among them, are skipped too).
const SKIP_DIRS: &[&str] = &["node_modules", "vendor", "target", "__pycache__"];

/// The context root of `start` (a folder, canonical): the nearest ancestor holding a
/// `.rollgate.yaml` or `.git` (the project), else the nearest holding a kustomization.
///
/// A kustomization folder is not preferred to the project above it: in a GitOps repository it
/// is one app, while its Canary's MetricTemplates, its Deployment's base, the build that sets
/// its namespace live in other folders that the whole-repository lint sees. Measured on public
/// repositories (docs/precision.md): stopping at the kustomization made `apps/backend/canary.yaml`
/// of stefanprodan/gitops-istio miss its templates, and kubebuilder's `config/prometheus`
/// monitor miss the namespace `config/default` gives it, where the folder lint found both.
pub fn find_root(start: &Path) -> Option<Root> {
    RootFinder::default().find(start)
}

/// The project marker `dir` itself holds, if any: a `.rollgate.yaml` (or its other names), else
/// `.git`.
fn project_marker(dir: &Path) -> Option<Root> {
    let root = |name: &str| Root {
        dir: dir.to_path_buf(),
        marker: name.to_owned(),
    };
    for name in crate::engine::config::CONFIG_NAMES {
        if dir.join(name).is_file() {
            return Some(root(name));
        }
    }
    dir.join(".git").exists().then(|| root(".git"))
}

/// The kustomization `dir` itself holds, if any.
fn kustomization_marker(dir: &Path) -> Option<Root> {
    kustomize::FILE_NAMES
        .iter()
        .find(|name| dir.join(name).is_file())
        .map(|name| Root {
            dir: dir.to_path_buf(),
            marker: (*name).to_owned(),
        })
}

impl Root {
    /// Whether this root is a project (`.rollgate.yaml` or `.git`), not a kustomization.
    fn is_project(&self) -> bool {
        !kustomize::FILE_NAMES.contains(&self.marker.as_str())
    }
}

/// [`find_root`] for the many files of one run: each folder is looked at once (a walk up
/// tests five names per level; the upstream corpus names 689 files in far fewer folders).
///
/// What is remembered per folder is its answer. A folder walked below a known one has no
/// project marker (the walk stops at the first), so its answer is the known one when that is
/// a project, else the nearest kustomization between it and the known folder, else the known
/// answer.
#[derive(Debug, Default)]
pub struct RootFinder {
    known: HashMap<PathBuf, Option<Root>>,
}

impl RootFinder {
    pub fn find(&mut self, start: &Path) -> Option<Root> {
        // The folders walked, nearest first, each with the kustomization it holds.
        let mut walked: Vec<(&Path, Option<Root>)> = Vec::new();
        let mut d = Some(start);
        let above = loop {
            let Some(cur) = d else { break None };
            if let Some(known) = self.known.get(cur) {
                break known.clone();
            }
            if let Some(project) = project_marker(cur) {
                self.known.insert(cur.to_path_buf(), Some(project.clone()));
                break Some(project);
            }
            walked.push((cur, kustomization_marker(cur)));
            d = cur.parent();
        };
        let project_above = above.as_ref().is_some_and(Root::is_project);
        let mut found = above;
        for (dir, kustomization) in walked.into_iter().rev() {
            if !project_above && kustomization.is_some() {
                found = kustomization;
            }
            self.known.insert(dir.to_path_buf(), found.clone());
        }
        self.known.get(start).cloned().flatten()
    }
}

/// The project a path belongs to: the nearest ancestor holding `.git` or a `.rollgate.yaml`.
/// Kustomize entries are followed inside it only.
pub fn project_of(start: &Path) -> Option<PathBuf> {
    let mut d = Some(start);
    while let Some(cur) = d {
        if cur.join(".git").exists()
            || crate::engine::config::CONFIG_NAMES
                .iter()
                .any(|n| cur.join(n).is_file())
        {
            return Some(cur.to_path_buf());
        }
        d = cur.parent();
    }
    None
}

/// The context of a run, loaded.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Context files (never the named ones), marked `context`.
    pub inputs: Vec<Input>,
    /// The kustomizations of the named and context files.
    pub scopes: Scopes,
    /// What was skipped or could not be followed.
    pub notes: Vec<String>,
}

/// Walk `roots` (bounded) for manifest files that are not among `named` (canonical paths).
fn walk(
    roots: &[PathBuf],
    named: &HashSet<PathBuf>,
    bounds: Bounds,
    max_file_size: u64,
) -> (Vec<PathBuf>, Vec<String>) {
    let mut files = Vec::new();
    let mut notes = Vec::new();
    let mut seen_dirs: HashSet<PathBuf> = HashSet::new();
    let mut entries = 0usize;
    let mut skipped_large = 0usize;
    let mut bytes = 0u64;
    let mut truncated = false;
    'roots: for root in roots {
        let mut stack = vec![root.clone()];
        while let Some(d) = stack.pop() {
            // Symbolic links to folders are not followed, so a folder is met once; a root
            // inside another root is walked once.
            if !seen_dirs.insert(d.clone()) {
                continue;
            }
            let list = match std::fs::read_dir(&d) {
                Ok(l) => l,
                Err(e) => {
                    notes.push(format!("context: {}: {e}; skipped", d.display()));
                    continue;
                }
            };
            let mut here: Vec<(PathBuf, bool)> = Vec::new();
            for entry in list.flatten() {
                entries += 1;
                if entries > bounds.max_entries {
                    notes.push(format!(
                        "context: more than {} entries under {}; the rest is not read (--context DIR narrows it)",
                        bounds.max_entries,
                        root.display()
                    ));
                    truncated = true;
                    break 'roots;
                }
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') {
                    continue;
                }
                let Ok(ft) = entry.file_type() else { continue };
                let path = entry.path();
                if ft.is_dir() {
                    if !SKIP_DIRS.contains(&name.as_ref()) {
                        here.push((path, true));
                    }
                } else if ft.is_file()
                    && (input::is_manifest_name(&path) || kustomize::is_kustomization(&path))
                {
                    here.push((path, false));
                }
            }
            here.sort();
            for (path, is_dir) in here.into_iter().rev() {
                if is_dir {
                    stack.push(path);
                    continue;
                }
                if named.contains(&path) {
                    continue;
                }
                let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                // Large files are skipped (generated bundles), but a large CustomResourceDefinition
                // is what the schema rule checks objects against: without it a file linted alone
                // is checked against a smaller copy (kserve's 2.7 MB LLMInferenceService CRD),
                // unlike in its folder. Still within the named files' size limit and the total.
                if len > bounds.max_file_bytes && (len > max_file_size || !starts_a_crd(&path)) {
                    skipped_large += 1;
                    continue;
                }
                if files.len() >= bounds.max_files || bytes + len > bounds.max_bytes {
                    notes.push(format!(
                        "context: over {} files or {} bytes under {}; the rest is not read (--context DIR narrows it)",
                        bounds.max_files,
                        bounds.max_bytes,
                        root.display()
                    ));
                    truncated = true;
                    break 'roots;
                }
                bytes += len;
                files.push(path);
            }
        }
    }
    if skipped_large > 0 {
        notes.push(format!(
            "context: {skipped_large} file(s) over {} bytes skipped",
            bounds.max_file_bytes
        ));
    }
    let _ = truncated;
    (files, notes)
}

/// Whether a text may hold a Kubernetes object: a document with `apiVersion` and `kind` keys
/// (`engine::lint::objects_of`). A key spells its name in the text unless an escape sequence
/// of a double-quoted scalar (or of JSON) writes it: a text without a backslash that lacks
/// either name holds no object, and its context file need not be parsed (Helm values, CI
/// workflows, compose files, other YAML of a project).
fn may_hold_objects(text: &str) -> bool {
    text.contains('\\') || (text.contains("kind") && text.contains("apiVersion"))
}

/// Load the context of the named files: every manifest under `roots` that is not named, plus
/// what the kustomizations among them include from elsewhere in the project. `named` are the
/// canonical paths of the named files (and of standard input's `--stdin-filename`).
pub fn load(named: &[PathBuf], roots: &[PathBuf], bounds: Bounds, max_file_size: u64) -> Loaded {
    let named_set: HashSet<PathBuf> = named.iter().cloned().collect();
    let (mut files, mut notes) = walk(roots, &named_set, bounds, max_file_size);
    let mut loaded = Loaded::default();
    // Kustomizations among the named and the context files, within their project.
    let kustomizations: Vec<PathBuf> = named
        .iter()
        .chain(&files)
        .filter(|p| kustomize::is_kustomization(p))
        .cloned()
        .collect();
    let project = named
        .first()
        .or(roots.first())
        .and_then(|p| {
            project_of(if p.is_dir() {
                p
            } else {
                p.parent().unwrap_or(p)
            })
        })
        .or_else(|| roots.first().cloned());
    let scopes = kustomize::analyse(&kustomizations, project.as_deref());
    // Files the kustomizations include from outside the roots (bases of an overlay).
    let have: HashSet<PathBuf> = files.iter().chain(named).cloned().collect();
    let mut extra: Vec<PathBuf> = scopes
        .referenced()
        .filter(|p| !have.contains(*p))
        .map(Path::to_path_buf)
        .collect();
    extra.sort();
    if roots.is_empty() {
        // No context: kustomizations among the named files still say what is a patch and
        // which namespace applies, but nothing else is read.
        extra.clear();
    }
    let room = bounds.max_files.saturating_sub(files.len());
    if extra.len() > room {
        notes.push(format!(
            "context: {} file(s) included by kustomizations not read (over {} files)",
            extra.len() - room,
            bounds.max_files
        ));
        extra.truncate(room);
    }
    files.extend(extra);
    let mut unreadable = 0usize;
    for f in files {
        let limit = if std::fs::metadata(&f).is_ok_and(|m| m.len() > bounds.max_file_bytes)
            && starts_a_crd(&f)
        {
            max_file_size
        } else {
            max_file_size.min(bounds.max_file_bytes)
        };
        match input::read_file(&f, limit) {
            Ok(mut i) if i.unusable.is_none() => {
                i.context = true;
                i.path.get_or_insert(f);
                if !may_hold_objects(&i.source.text) {
                    // Not parsed: it adds nothing to the world (still counted as context).
                    i.unusable = Some((super::Pos::new(1, 1), "no Kubernetes object".into()));
                }
                loaded.inputs.push(i);
            }
            // Binary, not UTF-8, too large: context is best effort.
            Ok(_) => unreadable += 1,
            Err(e) => {
                unreadable += 1;
                if unreadable <= 3 {
                    notes.push(format!("context: {}: {e}; skipped", f.display()));
                }
            }
        }
    }
    if unreadable > 3 {
        notes.push(format!(
            "context: {unreadable} file(s) unreadable or not text; skipped"
        ));
    }
    notes.extend(scopes.notes.iter().map(|n| format!("kustomize: {n}")));
    loaded.scopes = scopes;
    loaded.notes = notes;
    loaded
}
