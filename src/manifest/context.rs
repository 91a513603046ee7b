//! The context of a lint run: the files around the ones a user names, loaded so the rules see
//! the world those files live in (the template next to a Canary, the Deployment it targets),
//! and never reported themselves — pint's `Noop` entries next to the changed ones
//! (`cmd/pint/ci.go`).
//!
//! By default the context is the enclosing project folder: the nearest ancestor of a named file
//! that holds a `.rollgate.yaml` or `.git`, else one that holds a kustomization. Walking it is bounded (files,
//! bytes, directory entries); what is skipped is said in a note, never a failure of the named
//! files.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::input::{self, Input};
use super::kustomize::{self, Scopes};

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
    let mut kustomization: Option<Root> = None;
    let mut d = Some(start);
    while let Some(cur) = d {
        for name in crate::engine::config::CONFIG_NAMES {
            if cur.join(name).is_file() {
                return Some(Root {
                    dir: cur.to_path_buf(),
                    marker: (*name).to_owned(),
                });
            }
        }
        if cur.join(".git").exists() {
            return Some(Root {
                dir: cur.to_path_buf(),
                marker: ".git".to_owned(),
            });
        }
        if kustomization.is_none() {
            for name in kustomize::FILE_NAMES {
                if cur.join(name).is_file() {
                    kustomization = Some(Root {
                        dir: cur.to_path_buf(),
                        marker: (*name).to_owned(),
                    });
                    break;
                }
            }
        }
        d = cur.parent();
    }
    kustomization
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
                if len > bounds.max_file_bytes {
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

/// Load the context of the named files: every manifest under `roots` that is not named, plus
/// what the kustomizations among them include from elsewhere in the project. `named` are the
/// canonical paths of the named files (and of standard input's `--stdin-filename`).
pub fn load(named: &[PathBuf], roots: &[PathBuf], bounds: Bounds, max_file_size: u64) -> Loaded {
    let named_set: HashSet<PathBuf> = named.iter().cloned().collect();
    let (mut files, mut notes) = walk(roots, &named_set, bounds);
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
        match input::read_file(&f, max_file_size.min(bounds.max_file_bytes)) {
            Ok(mut i) if i.unusable.is_none() => {
                i.context = true;
                i.path.get_or_insert(f);
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
