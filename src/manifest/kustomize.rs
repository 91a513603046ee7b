//! Kustomize awareness without a kustomize binary: which files a kustomization builds, in which
//! namespace, and which files are patches.
//!
//! kustomize (`api/krusty/kustomizer.go`, `api/internal/target/kusttarget.go`) reads
//! `kustomization.yaml` (or `.yml`, or `Kustomization`) of a folder; `resources` (and the
//! deprecated `bases`, and `components`) name files, folders holding a kustomization, or remote
//! URLs; `namespace:` is set on every namespaced object of the build (the outermost
//! kustomization's wins, as it runs last); `patches[].path`, `patchesStrategicMerge[]` and
//! `patchesJson6902[].path` name partial objects merged into the build's objects. A build that
//! holds one identity twice is refused ("may not add resource with an already registered id").
//!
//! Name prefixes and suffixes (`namePrefix`/`nameSuffix`, `PrefixSuffixTransformer`: every kind
//! but CustomResourceDefinition, APIService and Namespace), the namespace a build gives a
//! `Namespace` object (`api/filters/namespace`: its name becomes the build's namespace),
//! `$patch: delete` patches and the selectors `commonLabels` (and `labels` with
//! `includeSelectors`) add are recorded per file and build ([`BuildView`]), so that two files of
//! one build are only one identity when kustomize would give them one, and a workload whose
//! selector the build adds is not missing it. Identities stay as written otherwise.
//!
//! What this module does not do (a rendered build would): generators, replacements, Helm
//! charts, remote bases.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

/// The names kustomize looks for in a folder (`konfig.RecognizedKustomizationFileNames`).
pub const FILE_NAMES: &[&str] = &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Kustomization files larger than this are not read (a note says so).
const MAX_KUSTOMIZATION_BYTES: u64 = 1024 * 1024;
/// Bounds of one analysis: nesting depth and steps over all builds.
const MAX_DEPTH: usize = 32;
const MAX_STEPS: usize = 200_000;

/// Whether `path` is a kustomization file.
pub fn is_kustomization(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| FILE_NAMES.contains(&n))
}

/// The kustomization file of a folder, if it has one.
pub fn in_folder(dir: &Path) -> Option<PathBuf> {
    FILE_NAMES.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// Something the analysis could not follow, at a line of a kustomization file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
    }
}

/// What the kustomizations say about one (canonical) file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileScope {
    /// The builds (root kustomizations, by index into [`Scopes::roots`]) that include it.
    pub builds: Vec<u32>,
    /// The namespace the builds give its namespaced objects, when every build that includes it
    /// gives the same one.
    pub namespace: Option<String>,
    /// The kustomization that names it as a patch.
    pub patch_of: Option<PathBuf>,
    /// `patch_of` is the kustomization of the file's folder, which does not list the file:
    /// a file named like a patch (`*patch*`) that no kustomization includes, as kubebuilder's
    /// scaffolds leave them with their `patches` entries commented out.
    pub unlisted_patch: bool,
    /// The namespaces the builds give it, each with the builds that give it (a base included
    /// by a `prod` and a `staging` overlay is in both namespaces); `None`: the build sets none.
    pub by_namespace: Vec<(Option<String>, Vec<u32>)>,
    /// What each build that includes it does to its objects, one per build.
    pub views: Vec<BuildView>,
}

/// What one build does to the objects of one file: the kustomizations from the build's root
/// down to the file, combined.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildView {
    pub build: u32,
    /// `namePrefix`es, outermost first, and `nameSuffix`es, innermost first, as kustomize
    /// applies them (inner kustomizations run first).
    pub prefix: String,
    pub suffix: String,
    /// The namespace the build gives the file's objects (a `Namespace` object is renamed to it).
    pub namespace: Option<String>,
    /// A kustomization on the way sets `commonLabels` (or `labels` with `includeSelectors`):
    /// kustomize adds them to workloads' `spec.selector.matchLabels`, creating it.
    pub fills_selectors: bool,
    /// (kind, name) of objects a `$patch: delete` patch on the way removes from the build.
    pub deleted: Vec<(String, String)>,
}

impl BuildView {
    /// The name kustomize gives an object of `kind` named `name` in this build (`None`: deleted).
    pub fn name_of(&self, group: &str, kind: &str, name: &str) -> Option<String> {
        if self.deleted.iter().any(|(k, n)| k == kind && n == name) {
            return None;
        }
        if kind == "Namespace" && group.is_empty() {
            return Some(self.namespace.clone().unwrap_or_else(|| name.to_owned()));
        }
        let skipped = matches!(
            (group, kind),
            ("apiextensions.k8s.io", "CustomResourceDefinition")
                | ("apiregistration.k8s.io", "APIService")
        );
        if skipped {
            return Some(name.to_owned());
        }
        Some(format!("{}{name}{}", self.prefix, self.suffix))
    }
}

#[derive(Debug, Default)]
pub struct Scopes {
    /// Root kustomizations (included by no other), canonical paths.
    pub roots: Vec<PathBuf>,
    pub files: HashMap<PathBuf, FileScope>,
    pub notes: Vec<Note>,
    /// Per root (same index as `roots`): the kustomizations its build reads, sorted (for
    /// `--render-kustomize`: which patches belong to a build).
    pub members: Vec<Vec<PathBuf>>,
}

impl Scopes {
    pub fn of(&self, path: &Path) -> Option<&FileScope> {
        self.files.get(path)
    }

    /// Every file some build includes or patches (to load as context).
    pub fn referenced(&self) -> impl Iterator<Item = &Path> {
        self.files.keys().map(PathBuf::as_path)
    }
}

/// One kustomization file, read.
#[derive(Debug, Default)]
struct Kustomization {
    text: String,
    namespace: Option<String>,
    /// `resources`, `bases`, `components` entries, as written.
    resources: Vec<String>,
    /// Patch file paths, as written.
    patches: Vec<String>,
    name_prefix: String,
    name_suffix: String,
    /// `commonLabels`, or `labels` with `includeSelectors: true`.
    fills_selectors: bool,
    /// (kind, name) that its `$patch: delete` patches remove.
    deleted: Vec<(String, String)>,
}

/// Patch files larger than this are not read for `$patch: delete`.
const MAX_PATCH_BYTES: u64 = 1024 * 1024;

/// (kind, name) of the `$patch: delete` documents of a strategic-merge patch's text.
fn deletions(text: &str, out: &mut Vec<(String, String)>) {
    if !text.contains("$patch") {
        return;
    }
    let loaded = crate::manifest::load(text, crate::manifest::Limits::default());
    for d in loaded.documents {
        let v = &d.value;
        if v.get("$patch").and_then(Value::as_str) != Some("delete") {
            continue;
        }
        let kind = v.get("kind").and_then(Value::as_str);
        let name = v.pointer("/metadata/name").and_then(Value::as_str);
        if let (Some(k), Some(n)) = (kind, name) {
            out.push((k.to_owned(), n.to_owned()));
        }
    }
}

/// Entries of a kustomization's folder looked at for unlisted patch files.
const MAX_FOLDER_ENTRIES: usize = 10_000;

fn read(path: &Path, notes: &mut Vec<Note>) -> Option<Kustomization> {
    let note = |notes: &mut Vec<Note>, message: String| {
        notes.push(Note {
            path: path.to_path_buf(),
            line: 1,
            message,
        })
    };
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) => {
            note(notes, format!("cannot read kustomization: {e}"));
            return None;
        }
    };
    if len > MAX_KUSTOMIZATION_BYTES {
        note(
            notes,
            format!("kustomization is {len} bytes, over {MAX_KUSTOMIZATION_BYTES}; not followed"),
        );
        return None;
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            note(notes, format!("cannot read kustomization: {e}"));
            return None;
        }
    };
    let loaded = crate::manifest::load(&text, crate::manifest::Limits::default());
    let value = loaded
        .documents
        .into_iter()
        .next()
        .map(|d| d.value)
        .unwrap_or(Value::Null);
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut k = Kustomization {
        namespace: value
            .get("namespace")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        ..Kustomization::default()
    };
    for key in ["resources", "bases", "components"] {
        k.resources.extend(strings(value.get(key)));
    }
    let text_of = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    k.name_prefix = text_of("namePrefix");
    k.name_suffix = text_of("nameSuffix");
    let non_empty = |v: Option<&Value>| v.and_then(Value::as_object).is_some_and(|m| !m.is_empty());
    k.fills_selectors = non_empty(value.get("commonLabels"))
        || value
            .get("labels")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|l| {
                l.get("includeSelectors").and_then(Value::as_bool) == Some(true)
                    && non_empty(l.get("pairs"))
            });
    let dir = path.parent().unwrap_or(Path::new("/"));
    let mut patch_texts: Vec<String> = Vec::new();
    for p in value
        .get("patches")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(inline) = p.get("patch").and_then(Value::as_str) {
            patch_texts.push(inline.to_owned());
        }
    }
    for p in strings(value.get("patchesStrategicMerge")) {
        if p.contains('\n') || p.contains(": ") {
            patch_texts.push(p);
        }
    }
    for key in ["patches", "patchesJson6902"] {
        for p in value
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(path) = p.get("path").and_then(Value::as_str) {
                k.patches.push(path.to_owned());
            } else if let Some(path) = p
                .as_str()
                .filter(|p| !p.contains('\n') && !p.contains(": "))
            {
                // A bare string under `patches` (kustomize's older form, written in
                // argocd-example-apps' `plugins/kustomized-helm`): the file is named as a patch.
                k.patches.push(path.to_owned());
            }
        }
    }
    // Entries of `patchesStrategicMerge` are file paths or inline patches (YAML text).
    for p in strings(value.get("patchesStrategicMerge")) {
        if !p.contains('\n') && !p.contains(": ") {
            k.patches.push(p);
        }
    }
    for p in &k.patches {
        if is_remote(p) {
            continue;
        }
        let file = dir.join(p);
        if std::fs::metadata(&file).is_ok_and(|m| m.is_file() && m.len() <= MAX_PATCH_BYTES) {
            if let Ok(t) = std::fs::read_to_string(&file) {
                patch_texts.push(t);
            }
        }
    }
    for t in &patch_texts {
        deletions(t, &mut k.deleted);
    }
    k.text = text;
    Some(k)
}

/// The line of a kustomization where `entry` is written (1 when not found).
fn line_of(text: &str, entry: &str) -> usize {
    text.lines()
        .position(|l| l.contains(entry))
        .map_or(1, |i| i + 1)
}

fn is_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("github.com/")
        || entry.starts_with("git@")
        || entry.starts_with("gitlab.com/")
        || entry.starts_with("bitbucket.org/")
}

/// `path` without `.` and `..` components, without touching the file system (for paths that do
/// not exist, so cannot be canonicalised).
pub(crate) fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Analyse the kustomizations `files` (canonical paths of kustomization files) within
/// `project` (entries that resolve outside it are not followed: a note says so).
pub fn analyse(kustomizations: &[PathBuf], project: Option<&Path>) -> Scopes {
    let mut notes = Vec::new();
    let mut read_cache: HashMap<PathBuf, Option<Kustomization>> = HashMap::new();
    // Pass 1: which kustomizations are included by another (those are not roots).
    let mut edges: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut queue: Vec<PathBuf> = kustomizations.to_vec();
    let mut seen: HashSet<PathBuf> = queue.iter().cloned().collect();
    let mut all: Vec<PathBuf> = Vec::new();
    let mut steps = 0usize;
    while let Some(k) = queue.pop() {
        steps += 1;
        if steps > MAX_STEPS {
            break;
        }
        all.push(k.clone());
        let parsed = read_cache
            .entry(k.clone())
            .or_insert_with(|| read(&k, &mut notes));
        let Some(parsed) = parsed.as_ref() else {
            continue;
        };
        let dir = k.parent().unwrap_or(Path::new("/"));
        for r in &parsed.resources {
            if is_remote(r) {
                continue;
            }
            let Ok(target) = std::fs::canonicalize(dir.join(r)) else {
                continue;
            };
            if target.is_dir() {
                if let Some(child) = in_folder(&target).and_then(|c| std::fs::canonicalize(c).ok())
                {
                    edges.push((k.clone(), child.clone()));
                    if seen.insert(child.clone()) {
                        queue.push(child);
                    }
                }
            }
        }
    }
    // A kustomization is included when another one that it does not itself reach includes it:
    // in a cycle (`prod` → `prod/self` → `..`), the one entered from outside stays a root.
    // The search shares one budget of visits (a cycle check must not make a large tree
    // quadratic); past it an inclusion counts as it is.
    let mut children: HashMap<&PathBuf, Vec<&PathBuf>> = HashMap::new();
    for (a, b) in &edges {
        children.entry(a).or_default().push(b);
    }
    let mut budget = MAX_STEPS;
    let mut reaches = |from: &PathBuf, to: &PathBuf| {
        let mut seen: HashSet<&PathBuf> = HashSet::new();
        let mut stack = vec![from];
        while let Some(n) = stack.pop() {
            if n == to {
                return true;
            }
            if budget == 0 {
                return false;
            }
            budget -= 1;
            if seen.insert(n) {
                stack.extend(children.get(n).into_iter().flatten().copied());
            }
        }
        false
    };
    let included: HashSet<PathBuf> = edges
        .iter()
        .filter(|(parent, child)| !reaches(child, parent))
        .map(|(_, child)| child.clone())
        .collect();
    all.sort();
    // Roots first; then kustomizations that no root reaches (those in a cycle), each as a
    // build of its own.
    let candidates: Vec<PathBuf> = all
        .iter()
        .filter(|k| !included.contains(*k))
        .chain(all.iter().filter(|k| included.contains(*k)))
        .cloned()
        .collect();
    let mut reached: HashSet<PathBuf> = HashSet::new();
    let mut scopes = Scopes::default();
    // Namespaces each file is given, per build.
    let mut namespaces: HashMap<PathBuf, BTreeMap<u32, Option<String>>> = HashMap::new();
    let mut reported: HashSet<(PathBuf, String)> = HashSet::new();
    let mut steps = 0usize;
    for root in &candidates {
        if reached.contains(root) {
            continue;
        }
        let id = scopes.roots.len() as u32;
        scopes.roots.push(root.clone());
        // Depth-first, with the chain of kustomizations being expanded (cycles).
        let mut visited: HashSet<PathBuf> = HashSet::new();
        // What the kustomizations above `k` do: its view is theirs combined with its own.
        let mut stack: Vec<(PathBuf, Option<String>, Vec<PathBuf>, BuildView)> = vec![(
            root.clone(),
            None,
            Vec::new(),
            BuildView {
                build: id,
                ..BuildView::default()
            },
        )];
        while let Some((k, outer_ns, chain, outer)) = stack.pop() {
            steps += 1;
            if steps > MAX_STEPS {
                notes.push(Note {
                    path: root.clone(),
                    line: 1,
                    message: format!(
                        "kustomizations include more than {MAX_STEPS} entries; the rest is not followed"
                    ),
                });
                break;
            }
            if !visited.insert(k.clone()) {
                continue;
            }
            reached.insert(k.clone());
            let parsed = read_cache
                .entry(k.clone())
                .or_insert_with(|| read(&k, &mut notes));
            let Some(parsed) = parsed.as_ref() else {
                continue;
            };
            let ns = outer_ns.clone().or_else(|| parsed.namespace.clone());
            let mut view = BuildView {
                build: id,
                prefix: format!("{}{}", outer.prefix, parsed.name_prefix),
                suffix: format!("{}{}", parsed.name_suffix, outer.suffix),
                namespace: ns.clone(),
                fills_selectors: outer.fills_selectors || parsed.fills_selectors,
                deleted: outer.deleted.clone(),
            };
            view.deleted.extend(parsed.deleted.iter().cloned());
            let dir = k.parent().unwrap_or(Path::new("/")).to_path_buf();
            let mut note = |entry: &str, message: String| {
                if reported.insert((k.clone(), entry.to_owned())) {
                    notes.push(Note {
                        path: k.clone(),
                        line: line_of(&parsed.text, entry),
                        message,
                    });
                }
            };
            for p in &parsed.patches {
                if is_remote(p) {
                    continue;
                }
                match std::fs::canonicalize(dir.join(p)) {
                    Ok(path) if path.is_file() => {
                        let e = scopes.files.entry(path).or_default();
                        e.patch_of.get_or_insert_with(|| k.clone());
                    }
                    _ => note(
                        p,
                        format!("patch \"{p}\" does not exist; kustomize build fails"),
                    ),
                }
            }
            for r in &parsed.resources {
                if is_remote(r) {
                    note(
                        r,
                        format!(
                            "remote resource \"{r}\" is not fetched; its objects are not in the context"
                        ),
                    );
                    continue;
                }
                if Path::new(r).is_absolute() {
                    note(
                        r,
                        format!(
                            "resource \"{r}\" is an absolute path; kustomize refuses it; not followed"
                        ),
                    );
                    continue;
                }
                let joined = dir.join(r);
                if let Some(project) = project {
                    if !lexical(&joined).starts_with(project) {
                        note(
                            r,
                            format!(
                                "resource \"{r}\" is outside the project ({}); not followed",
                                project.display()
                            ),
                        );
                        continue;
                    }
                }
                let target = match std::fs::canonicalize(&joined) {
                    Ok(t) => t,
                    Err(_) => {
                        note(
                            r,
                            format!("resource \"{r}\" does not exist; kustomize build fails"),
                        );
                        continue;
                    }
                };
                if let Some(project) = project {
                    if !target.starts_with(project) {
                        note(
                            r,
                            format!(
                                "resource \"{r}\" resolves outside the project ({}); not followed",
                                project.display()
                            ),
                        );
                        continue;
                    }
                }
                if target.is_dir() {
                    let Some(child) =
                        in_folder(&target).and_then(|c| std::fs::canonicalize(c).ok())
                    else {
                        note(
                            r,
                            format!(
                                "resource \"{r}\" is a folder with no kustomization.yaml; kustomize build fails"
                            ),
                        );
                        continue;
                    };
                    if child == k || chain.contains(&child) {
                        note(
                            r,
                            format!(
                                "resource \"{r}\" includes a kustomization that includes this one (a cycle); kustomize build fails"
                            ),
                        );
                        continue;
                    }
                    if chain.len() >= MAX_DEPTH {
                        note(
                            r,
                            format!("kustomizations nest deeper than {MAX_DEPTH}; not followed"),
                        );
                        continue;
                    }
                    let mut chain = chain.clone();
                    chain.push(k.clone());
                    stack.push((child, ns.clone(), chain, view.clone()));
                } else {
                    let e = scopes.files.entry(target.clone()).or_default();
                    if !e.builds.contains(&id) {
                        e.builds.push(id);
                        e.views.push(view.clone());
                    }
                    namespaces
                        .entry(target)
                        .or_default()
                        .entry(id)
                        .or_insert_with(|| ns.clone());
                }
            }
        }
        let mut members: Vec<PathBuf> = visited.into_iter().collect();
        members.sort();
        scopes.members.push(members);
    }
    // Files named like a patch in a kustomization's folder that no kustomization includes or
    // patches with: kubebuilder's `config/default/manager_auth_proxy_patch.yaml` and the like,
    // whose entries are commented out. They hold partial objects (a Deployment without
    // `selector`), applied by nothing as they are. Likewise the files of a `patches/` folder
    // beside a kustomization (kubeflow's `tensorboard-controller/upstream/base/patches/`, where
    // one of the two is listed and the other left over).
    for k in &all {
        let Some(dir) = k.parent() else { continue };
        let Ok(list) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut entries: Vec<(std::fs::DirEntry, bool)> = Vec::new();
        for entry in list.flatten().take(MAX_FOLDER_ENTRIES) {
            let folder = entry.file_name().to_string_lossy().to_ascii_lowercase();
            if folder.contains("patch") && entry.file_type().is_ok_and(|t| t.is_dir()) {
                if let Ok(inner) = std::fs::read_dir(entry.path()) {
                    entries.extend(inner.flatten().take(MAX_FOLDER_ENTRIES).map(|e| (e, true)));
                }
            }
            entries.push((entry, false));
        }
        for (entry, in_patch_folder) in entries {
            let name = entry.file_name();
            let name = name.to_string_lossy().to_ascii_lowercase();
            if !(in_patch_folder || name.contains("patch"))
                || !(name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json"))
            {
                continue;
            }
            let Ok(path) = std::fs::canonicalize(entry.path()) else {
                continue;
            };
            if !path.is_file() {
                continue;
            }
            let e = scopes.files.entry(path).or_default();
            if e.builds.is_empty() && e.patch_of.is_none() {
                e.patch_of = Some(k.clone());
                e.unlisted_patch = true;
            }
        }
    }
    for (path, by_build) in namespaces {
        let Some(e) = scopes.files.get_mut(&path) else {
            continue;
        };
        for (build, ns) in by_build {
            match e.by_namespace.iter_mut().find(|(n, _)| *n == ns) {
                Some((_, builds)) => builds.push(build),
                None => e.by_namespace.push((ns, vec![build])),
            }
        }
        if let [(ns, _)] = e.by_namespace.as_slice() {
            e.namespace = ns.clone();
        }
    }
    notes.sort_by(|a, b| (&a.path, a.line, &a.message).cmp(&(&b.path, b.line, &b.message)));
    notes.dedup();
    scopes.notes = notes;
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    #[test]
    fn base_overlay_namespace_patches_and_problems() {
        let tmp = std::env::temp_dir().join(format!("rollgate-kustomize-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).expect("tmp");
        let root = std::fs::canonicalize(&tmp).expect("canon");
        write(
            &root,
            "base/kustomization.yaml",
            "resources:\n- deploy.yaml\n",
        );
        write(&root, "base/deploy.yaml", "kind: Deployment\n");
        write(
            &root,
            "prod/kustomization.yaml",
            "namespace: prod\nresources:\n- ../base\n- missing.yaml\n- /etc/passwd\n- ../../outside\n- ./self\npatches:\n- path: patch.yaml\n",
        );
        write(&root, "prod/patch.yaml", "kind: Deployment\n");
        write(&root, "prod/self/kustomization.yaml", "resources:\n- ..\n");
        let ks = vec![
            root.join("base/kustomization.yaml"),
            root.join("prod/kustomization.yaml"),
            root.join("prod/self/kustomization.yaml"),
        ];
        let s = analyse(&ks, Some(&root));
        assert_eq!(s.roots[0], root.join("prod/kustomization.yaml"));
        let d = s.of(&root.join("base/deploy.yaml")).expect("deploy");
        assert_eq!(d.builds, vec![0]);
        assert_eq!(d.namespace.as_deref(), Some("prod"));
        let p = s.of(&root.join("prod/patch.yaml")).expect("patch");
        assert_eq!(p.patch_of, Some(root.join("prod/kustomization.yaml")));
        let msgs: Vec<String> = s.notes.iter().map(ToString::to_string).collect();
        let has = |w: &str| msgs.iter().any(|m| m.contains(w));
        assert!(has("\"missing.yaml\" does not exist"), "{msgs:?}");
        assert!(has("absolute path"), "{msgs:?}");
        assert!(has("outside the project"), "{msgs:?}");
        assert!(has("a cycle"), "{msgs:?}");
        assert!(
            msgs.iter()
                .any(|m| m.contains("prod/kustomization.yaml:4:")),
            "{msgs:?}"
        );
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
