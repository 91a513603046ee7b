//! `--render-kustomize`: check what kustomize builds, not only what the files say.
//!
//! For each kustomization root a named file belongs to, rollgate runs `kustomize build` (or
//! `kubectl kustomize`) on a wrapper kustomization in a temporary folder that only includes the
//! root and asks for `buildMetadata: [originAnnotations]`, so the user's files are never
//! touched. kustomize (`api/internal/builtins/…`, `api/resource/origin.go`) then annotates every
//! object of the build with `config.kubernetes.io/origin`:
//!
//! - `path: ../base/deploy.yaml` for an object read from a local file (relative to the wrapper);
//! - `path:` + `repo:` + `ref:` for an object read from a remote base;
//! - `configuredIn:` + `configuredBy:` for a generated object (a `configMapGenerator` entry).
//!
//! The rendered objects replace the files the build covers (they are what gets applied) and are
//! checked; each finding is then mapped back (`map_back`): to the same JSON pointer of the source
//! object when the value there is what was rendered, to the patch that wrote the value when
//! exactly one patch of the build did, else to the object with a note that the build changed
//! the field. Objects with no local origin (remote bases, generated objects) are part of the
//! world only: findings on them are not reported.
//!
//! A build that fails (no binary, a kustomize error, a timeout, output over the bound) is a note
//! with the kustomization's location, and its files are checked by the binary-less reading
//! (`manifest::kustomize`), as without the flag.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::input::Input;
use super::kustomize::{Scopes, lexical};
use super::{Document, Limits, Pos, Source, Span, SpanIndex, load};
use crate::engine::Origin;
use crate::engine::lint::{LintRun, Located, LocatedRelated};

/// The annotation kustomize writes with `buildMetadata: [originAnnotations]`
/// (`api/resource/origin.go`, `utils.OriginAnnotationKey`).
pub const ORIGIN_ANNOTATION: &str = "config.kubernetes.io/origin";

/// Bounds of the builds of one run.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// One build's wall time; the process is killed past it.
    pub timeout: Duration,
    /// Bytes of one build's output (standard output); the process is killed past it.
    pub max_output: usize,
    /// Builds per run; the other roots are read without a binary (a note says so).
    pub max_builds: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        let timeout = std::env::var("ROLLGATE_RENDER_TIMEOUT_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(Duration::from_secs(60), Duration::from_millis);
        Bounds {
            timeout,
            max_output: 32 * 1024 * 1024,
            max_builds: 64,
        }
    }
}

/// The program that builds a kustomization.
#[derive(Debug, Clone)]
pub struct Binary {
    pub program: PathBuf,
    /// Arguments before the folder (`build`, or `kustomize` for kubectl).
    pub args: Vec<&'static str>,
    /// How to name it in notes (`kustomize build`, `kubectl kustomize`).
    pub label: &'static str,
}

/// The first of `kustomize` and `kubectl` on `PATH`.
pub fn find_binary() -> Option<Binary> {
    let path = std::env::var_os("PATH")?;
    let find = |name: &str| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    };
    if let Some(p) = find("kustomize") {
        return Some(Binary {
            program: p,
            args: vec!["build"],
            label: "kustomize build",
        });
    }
    find("kubectl").map(|p| Binary {
        program: p,
        args: vec!["kustomize"],
        label: "kubectl kustomize",
    })
}

/// Where kustomize says a rendered object came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocOrigin {
    /// A local file (canonical when it exists).
    Local(PathBuf),
    /// A file of a remote base.
    Remote { repo: String, path: String },
    /// Made by a generator or transformer configured in a kustomization.
    Generated { configured_in: String },
    /// No origin annotation.
    Unknown,
}

/// One rendered build.
#[derive(Debug)]
pub struct Build {
    /// The root kustomization file (canonical).
    pub root: PathBuf,
    pub text: String,
    /// Per document of `text`, in order.
    pub origins: Vec<DocOrigin>,
    pub elapsed: Duration,
}

/// A temporary folder removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> std::io::Result<TempDir> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let base = std::fs::canonicalize(std::env::temp_dir())?;
    loop {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = base.join(format!("rollgate-render-{}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(TempDir(dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 10_000 => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `to` relative to `from` (both absolute, canonical): kustomize refuses absolute resource
/// paths ("new root cannot be absolute").
fn relative(from: &Path, to: &Path) -> PathBuf {
    let f: Vec<Component> = from.components().collect();
    let t: Vec<Component> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// The message of a failed build: kubectl logs `… "command failed" err="…"`, kustomize prints
/// `Error: …`; the last meaningful line, at most 400 characters.
fn failure_text(stderr: &str) -> String {
    // klog writes a multi-line value as `err=<` + indented lines + ` >`.
    let block: Option<String> = stderr.split_once("err=<\n").map(|(_, rest)| {
        rest.lines()
            .map(str::trim)
            .take_while(|l| *l != ">")
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    });
    let quoted = || {
        stderr.lines().map(str::trim).find_map(|l| {
            l.split_once("err=\"")
                .map(|(_, e)| {
                    e.trim_end_matches('"')
                        .replace("\\\"", "\"")
                        .replace("\\'", "'")
                })
                .or_else(|| l.strip_prefix("Error: ").map(str::to_owned))
        })
    };
    let last = || {
        stderr
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .map(str::to_owned)
    };
    let line = block
        .filter(|b| !b.is_empty())
        .or_else(quoted)
        .or_else(last)
        .unwrap_or_else(|| "no message".to_owned());
    let line = line.replace("' : exit status", "': exit status");
    // The wrapper's own layer ("accumulating resources from '<the root>': … must resolve to a
    // file': recursed accumulation of path '<the root>': …") says nothing about the user's files.
    let mut line = line;
    if let Some(i) = line.find("must resolve to a file': ") {
        line = line[i + "must resolve to a file': ".len()..].to_owned();
    }
    if line.starts_with("recursed accumulation of path '") {
        if let Some(i) = line.find("': ") {
            line = line[i + 3..].to_owned();
        }
    }
    let line = line.trim_end_matches('\'').to_owned();
    if line.chars().count() > 400 {
        format!("{}…", line.chars().take(400).collect::<String>())
    } else {
        line
    }
}

/// Read at most `limit` bytes (and one more, to tell that there were more).
fn read_bounded(mut r: impl Read, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    (&mut r).take(limit as u64 + 1).read_to_end(&mut out)?;
    Ok(out)
}

/// Kill `child` and its process group, and reap it.
fn stop(child: &mut std::process::Child) {
    #[cfg(unix)]
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals the process group the child leads (made
        // with `process_group(0)`); no memory is involved.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Build the kustomization `root` (a kustomization file, canonical) with `binary`, with origin
/// annotations, bounded by `bounds`.
pub fn render(binary: &Binary, root: &Path, bounds: Bounds) -> Result<Build, String> {
    let started = Instant::now();
    let dir = root
        .parent()
        .ok_or_else(|| "the kustomization has no folder".to_owned())?;
    let tmp = temp_dir().map_err(|e| format!("cannot create a temporary folder: {e}"))?;
    let rel = relative(&tmp.0, dir);
    let rel_text = rel.to_str().ok_or("the folder's path is not UTF-8")?;
    // A JSON string is a YAML double-quoted scalar.
    let wrapper = format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- {}\nbuildMetadata: [originAnnotations]\n",
        serde_json::Value::String(rel_text.to_owned())
    );
    std::fs::write(tmp.0.join("kustomization.yaml"), wrapper)
        .map_err(|e| format!("cannot write the wrapper kustomization: {e}"))?;
    let mut command = Command::new(&binary.program);
    command
        .args(&binary.args)
        .arg(&tmp.0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // A group of its own, so that a timeout also stops what kustomize started (`git` for a
    // remote base).
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", binary.label))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        stop(&mut child);
        return Err(format!("cannot read the output of {}", binary.label));
    };
    let limit = bounds.max_output;
    let over = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let out = {
        let over = over.clone();
        std::thread::spawn(move || {
            let r = read_bounded(stdout, limit);
            if r.as_ref().is_ok_and(|o| o.len() > limit) {
                over.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            r
        })
    };
    // Standard error: the first 64 KiB kept, the rest drained (a full pipe would block it).
    let err = std::thread::spawn(move || {
        let mut stderr = stderr;
        let kept = read_bounded(&mut stderr, 64 * 1024);
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        kept
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= bounds.timeout => {
                stop(&mut child);
                // The readers end when the pipes close; they are not waited for.
                return Err(format!(
                    "{} did not finish within {} s; stopped",
                    binary.label,
                    bounds.timeout.as_secs_f64()
                ));
            }
            Ok(None) if over.load(std::sync::atomic::Ordering::Relaxed) => {
                stop(&mut child);
                return Err(format!(
                    "{} wrote more than {limit} bytes; stopped",
                    binary.label
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                stop(&mut child);
                return Err(format!("waiting for {}: {e}", binary.label));
            }
        }
    };
    let out = out
        .join()
        .map_err(|_| "the output reader failed".to_owned())?
        .map_err(|e| format!("reading the output of {}: {e}", binary.label))?;
    let err = err.join().ok().and_then(Result::ok).unwrap_or_default();
    if out.len() > limit {
        return Err(format!(
            "{} wrote more than {limit} bytes; stopped",
            binary.label
        ));
    }
    if !status.success() {
        return Err(format!(
            "{} failed: {}",
            binary.label,
            failure_text(&String::from_utf8_lossy(&err))
        ));
    }
    let text =
        String::from_utf8(out).map_err(|_| format!("{} wrote invalid UTF-8", binary.label))?;
    // The origins are read from the text (a full parse of a build with large CRDs costs
    // seconds in a debug build; the lint parses it once anyway).
    let origins = split_documents(&text)
        .iter()
        .map(|d| origin_in_text(d, &tmp.0))
        .collect();
    Ok(Build {
        root: root.to_path_buf(),
        text,
        origins,
        elapsed: started.elapsed(),
    })
}

/// The origin annotation of one document of kustomize's output, read from its text: kustomize
/// writes keys sorted with two-space indentation, so the annotation is the block scalar
/// `    config.kubernetes.io/origin: |` under `  annotations:` under `metadata:`.
fn origin_in_text(doc: &str, wrapper: &Path) -> DocOrigin {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let (mut in_metadata, mut in_annotations) = (false, false);
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        if line.trim().is_empty() {
            continue;
        }
        let i = indent(line);
        if i == 0 {
            in_metadata = line == "metadata:";
            in_annotations = false;
            continue;
        }
        if in_metadata && i == 2 {
            in_annotations = line == "  annotations:";
            continue;
        }
        let key = format!("{ORIGIN_ANNOTATION}: |");
        if in_annotations && i == 4 && line.trim_start() == key {
            let block: Vec<&str> = lines
                .by_ref()
                .take_while(|l| l.trim().is_empty() || indent(l) > 4)
                .collect();
            let depth = block
                .iter()
                .filter(|l| !l.trim().is_empty())
                .map(|l| indent(l))
                .min()
                .unwrap_or(0);
            let text: String = block
                .iter()
                .map(|l| format!("{}\n", l.get(depth..).unwrap_or("")))
                .collect();
            return origin_from_annotation(&text, wrapper);
        }
    }
    DocOrigin::Unknown
}

/// The origin annotation of a rendered object, its paths resolved against the wrapper folder.
#[cfg(test)]
fn origin_of(value: &Value, wrapper: &Path) -> DocOrigin {
    match value
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(ORIGIN_ANNOTATION))
        .and_then(Value::as_str)
    {
        Some(text) => origin_from_annotation(text, wrapper),
        None => DocOrigin::Unknown,
    }
}

/// The origin annotation's value (YAML), its paths resolved against the wrapper folder.
fn origin_from_annotation(text: &str, wrapper: &Path) -> DocOrigin {
    let doc = load(text, Limits::default())
        .documents
        .into_iter()
        .next()
        .map(|d| d.value)
        .unwrap_or(Value::Null);
    let s = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
    match (s("repo"), s("path"), s("configuredIn")) {
        (Some(repo), path, _) => DocOrigin::Remote {
            repo,
            path: path.unwrap_or_default(),
        },
        (None, Some(path), _) => {
            let p = lexical(&wrapper.join(path));
            DocOrigin::Local(std::fs::canonicalize(&p).unwrap_or(p))
        }
        (None, None, Some(c)) => DocOrigin::Generated {
            configured_in: lexical(&wrapper.join(c)).display().to_string(),
        },
        _ => DocOrigin::Unknown,
    }
}

/// `path` relative to the working directory when it is below it (how findings name files).
fn shown(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|d| std::fs::canonicalize(d).ok())
        .and_then(|d| path.strip_prefix(d).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

/// A file the rendered builds cover, kept to map findings back to it.
struct Covered {
    source: Source,
    reported: bool,
}

/// What [`prepare`] did, for [`map_back`] and the notes.
#[derive(Default)]
pub struct Prepared {
    builds: Vec<PreparedBuild>,
    /// The rendered sources: a build's objects grouped by the file they come from.
    parts: Vec<Part>,
    /// Canonical path → the file's text, for files the builds replaced.
    covered: HashMap<PathBuf, Covered>,
    /// Named files before the builds replaced some (the run's file count).
    named_files: usize,
    /// How the run names each input file (canonical path → shown name, and whether named).
    names: HashMap<PathBuf, (String, bool)>,
    /// Notes: failures (always shown) and what was rendered (with `--show-info`).
    pub failures: Vec<String>,
    pub infos: Vec<String>,
}

/// The objects of one build that come from one file (or from no local file), as a source of
/// their own placed in that file's folder: `Inventory::distance` then ranks their referents as
/// it ranks the file's (a folder of examples next to the build stays "elsewhere"), and the
/// parts of one build are applied together.
struct Part {
    name: String,
    build: usize,
    /// Per document of the part.
    origins: Vec<DocOrigin>,
}

struct PreparedBuild {
    root: PathBuf,
    /// Whether the root kustomization file is among the named files.
    root_reported: bool,
    /// The patch files of the kustomizations of the build.
    patches: Vec<PathBuf>,
    /// The kustomization files of the build (their inline `patches[].patch`).
    members: Vec<PathBuf>,
}

impl Prepared {
    /// Whether any build was rendered.
    pub fn is_empty(&self) -> bool {
        self.builds.is_empty()
    }
}

/// Render the kustomization roots that named files belong to (their resources or patches, or
/// the kustomization file itself), and replace the files each successful build covers by the
/// build's output, a named source of its own. `inputs` are the named and context files.
/// `unsaved`: the file standard input stands for (an editor's buffer): kustomize would read the
/// file from disk, so the builds that include it are not rendered.
pub fn prepare(
    inputs: &mut Vec<Input>,
    scopes: &mut Scopes,
    binary: Option<&Binary>,
    bounds: Bounds,
    unsaved: Option<&Path>,
) -> Prepared {
    let mut prepared = Prepared {
        named_files: inputs.iter().filter(|i| !i.context).count(),
        names: inputs
            .iter()
            .filter_map(|i| Some((i.path.clone()?, (i.source.name.clone(), !i.context))))
            .collect(),
        ..Prepared::default()
    };
    // Patch files by kustomization.
    let mut patches_of: HashMap<PathBuf, Vec<PathBuf>> = HashMap::new();
    for (path, scope) in &scopes.files {
        if let Some(k) = &scope.patch_of {
            patches_of.entry(k.clone()).or_default().push(path.clone());
        }
    }
    let named: HashSet<PathBuf> = inputs
        .iter()
        .filter(|i| !i.context)
        .filter_map(|i| i.path.clone())
        .collect();
    let mut wanted: BTreeSet<u32> = BTreeSet::new();
    for (id, root) in scopes.roots.iter().enumerate() {
        let id = id as u32;
        let members = scopes
            .members
            .get(id as usize)
            .map_or(&[][..], Vec::as_slice);
        let touches = named.contains(root.as_path())
            || members.iter().any(|k| {
                named.contains(k.as_path())
                    || patches_of
                        .get(k.as_path())
                        .is_some_and(|ps| ps.iter().any(|p| named.contains(p.as_path())))
            });
        if touches {
            wanted.insert(id);
        }
    }
    for p in &named {
        if let Some(s) = scopes.of(p.as_path()) {
            wanted.extend(s.builds.iter().copied());
        }
    }
    if let Some(u) = unsaved {
        let kustomization = super::kustomize::is_kustomization(u);
        let of_buffer: Vec<u32> = wanted
            .iter()
            .copied()
            .filter(|&id| {
                let members = scopes
                    .members
                    .get(id as usize)
                    .map_or(&[][..], Vec::as_slice);
                scopes.of(u).is_some_and(|s| {
                    s.builds.contains(&id)
                        || s.patch_of.as_ref().is_some_and(|k| members.contains(k))
                }) || (kustomization && members.iter().any(|k| k == u))
            })
            .collect();
        for id in of_buffer {
            wanted.remove(&id);
            prepared.failures.push(format!(
                "{}:1: --render-kustomize: standard input stands for {}, which kustomize would read from disk instead; this build is checked without rendering",
                shown(&scopes.roots[id as usize]),
                shown(u)
            ));
        }
    }
    if wanted.is_empty() {
        return prepared;
    }
    let Some(binary) = binary else {
        for id in &wanted {
            prepared.failures.push(format!(
                "{}:1: --render-kustomize: neither kustomize nor kubectl is on PATH; this build is checked without rendering (the binary-less reading)",
                shown(&scopes.roots[*id as usize])
            ));
        }
        return prepared;
    };
    let mut ids: Vec<u32> = wanted.into_iter().collect();
    if ids.len() > bounds.max_builds {
        for id in &ids[bounds.max_builds..] {
            prepared.failures.push(format!(
                "{}:1: --render-kustomize: over {} builds in one run; this one is checked without rendering",
                shown(&scopes.roots[*id as usize]),
                bounds.max_builds
            ));
        }
        ids.truncate(bounds.max_builds);
    }
    // Builds run in parallel, a few at a time (each is a process of its own).
    let threads = crate::engine::lint::default_threads().clamp(1, 4);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<(u32, Result<Build, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.min(ids.len()))
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&id) = ids.get(i) else { break };
                        out.push((id, render(binary, &scopes.roots[id as usize], bounds)));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut results = results;
    results.sort_by_key(|(id, _)| *id);
    let mut ok: HashSet<u32> = HashSet::new();
    let mut built: Vec<(u32, Build)> = Vec::new();
    for (id, r) in results {
        match r {
            Ok(b) => {
                ok.insert(id);
                built.push((id, b));
            }
            Err(e) => prepared.failures.push(format!(
                "{}:1: --render-kustomize: {e}; this build is checked without rendering (the binary-less reading)",
                shown(&scopes.roots[id as usize])
            )),
        }
    }
    if built.is_empty() {
        return prepared;
    }
    // Patch files of the rendered builds.
    let mut ok_patches: HashSet<PathBuf> = HashSet::new();
    for (id, _) in &built {
        for k in scopes.members.get(*id as usize).into_iter().flatten() {
            ok_patches.extend(patches_of.get(k.as_path()).into_iter().flatten().cloned());
        }
    }
    // Files every build of which was rendered: their objects are in the rendered output.
    let mut kept = Vec::with_capacity(inputs.len());
    for input in inputs.drain(..) {
        let covered = input.path.as_deref().is_some_and(|p| {
            ok_patches.contains(p)
                || scopes.of(p).is_some_and(|s| {
                    !s.builds.is_empty() && s.builds.iter().all(|b| ok.contains(b))
                })
        });
        match (covered, input.path.clone()) {
            (true, Some(p)) => {
                prepared.covered.insert(
                    p,
                    Covered {
                        source: input.source,
                        reported: !input.context,
                    },
                );
            }
            _ => kept.push(input),
        }
    }
    *inputs = kept;
    // A file some build of which failed stays with the binary-less reading, for those builds
    // only: its rendered builds hold its objects already (one object, not a duplicate).
    for scope in scopes.files.values_mut() {
        if scope.builds.iter().any(|b| ok.contains(b)) {
            scope.builds.retain(|b| !ok.contains(b));
            for (_, builds) in &mut scope.by_namespace {
                builds.retain(|b| !ok.contains(b));
            }
            scope.by_namespace.retain(|(_, builds)| !builds.is_empty());
            if let [(ns, _)] = scope.by_namespace.as_slice() {
                scope.namespace = ns.clone();
            }
        }
    }
    let mut places: Vec<(PathBuf, u32)> = Vec::new();
    for (id, b) in built {
        let dir = b.root.parent().unwrap_or(Path::new("/"));
        let local = b
            .origins
            .iter()
            .filter(|o| matches!(o, DocOrigin::Local(_)))
            .count();
        prepared.infos.push(format!(
            "{}: rendered with {} in {} ms: {} object(s), {} from local files",
            shown(&b.root),
            binary.label,
            b.elapsed.as_millis(),
            b.origins.len(),
            local
        ));
        let mut patches: Vec<PathBuf> = scopes
            .members
            .get(id as usize)
            .into_iter()
            .flatten()
            .flat_map(|k| patches_of.get(k.as_path()).into_iter().flatten().cloned())
            .collect();
        patches.sort();
        patches.dedup();
        let build = prepared.builds.len();
        prepared.builds.push(PreparedBuild {
            root: b.root.clone(),
            root_reported: named.contains(b.root.as_path()),
            patches,
            members: scopes.members.get(id as usize).cloned().unwrap_or_default(),
        });
        // Group the documents by origin file. kustomize writes `---` lines between documents
        // (its encoder indents every line of a block scalar, so none is `---` alone).
        let texts = split_documents(&b.text);
        let groups: Vec<(Option<PathBuf>, Vec<usize>)> = if texts.len() == b.origins.len() {
            let mut groups: Vec<(Option<PathBuf>, Vec<usize>)> = Vec::new();
            for (i, o) in b.origins.iter().enumerate() {
                let key = match o {
                    DocOrigin::Local(p) => Some(p.clone()),
                    _ => None,
                };
                match groups.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, v)) => v.push(i),
                    None => groups.push((key, vec![i])),
                }
            }
            groups
        } else {
            vec![(None, (0..b.origins.len()).collect())]
        };
        for (k, (file, docs)) in groups.into_iter().enumerate() {
            let text: String = if docs.len() == b.origins.len() {
                b.text.clone()
            } else {
                docs.iter()
                    .map(|&i| texts[i])
                    .collect::<Vec<_>>()
                    .join("---\n")
            };
            let origins = if docs.len() == b.origins.len() {
                b.origins.clone()
            } else {
                docs.iter().map(|&i| b.origins[i].clone()).collect()
            };
            let name = format!("{} (kustomize build, part {k})", shown(&b.root));
            let place = file
                .as_deref()
                .and_then(Path::parent)
                .unwrap_or(dir)
                .join(format!(".rollgate-kustomize-build-{id}-{k}"));
            places.push((place.clone(), id));
            prepared.parts.push(Part {
                name: name.clone(),
                build,
                origins,
            });
            inputs.push(Input {
                source: Source::new(name, text),
                unusable: None,
                path: Some(place),
                context: false,
                skipped: None,
            });
        }
    }
    for (place, id) in places {
        scopes.files.insert(
            place,
            super::kustomize::FileScope {
                builds: vec![id],
                ..Default::default()
            },
        );
    }
    prepared
}

/// Whether two values are equal, strings but for white space.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => same_but_space(x, y),
        _ => a == b,
    }
}

/// Whether two strings are equal but for white space.
fn same_but_space(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

/// `range` of `from` carried into `to`, which equals it but for white space: the same
/// non-space characters.
fn align(from: &str, to: &str, range: &std::ops::Range<usize>) -> Option<std::ops::Range<usize>> {
    let solid = |s: &str, end: usize| {
        s.get(..end)
            .map(|p| p.chars().filter(|c| !c.is_whitespace()).count())
    };
    let nth = |n: usize| {
        to.char_indices()
            .filter(|(_, c)| !c.is_whitespace())
            .nth(n)
            .map(|(i, _)| i)
    };
    let start = solid(from, range.start)?;
    let end = solid(from, range.end)?;
    let s = nth(start).unwrap_or(to.len());
    let e = match end.checked_sub(1) {
        Some(last) if end > start => {
            let i = nth(last)?;
            i + to[i..].chars().next().map_or(0, char::len_utf8)
        }
        _ => s,
    };
    Some(s..e)
}

/// The text of each document of kustomize's output (separated by `---` lines).
fn split_documents(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            if at > start {
                out.push(&text[start..at]);
            }
            start = at + line.len();
        }
        at += line.len();
    }
    if text.len() > start && !text[start..].trim().is_empty() {
        out.push(&text[start..]);
    }
    out
}

/// A loaded file: its documents (values and spans).
struct Loaded {
    source_index: usize,
    documents: Vec<Document>,
    reported: bool,
}

/// Map the findings placed in rendered builds back to the files the objects came from (see the
/// module documentation); drop those on objects with no local origin, and those that land in
/// files that are only context.
pub fn map_back(run: &mut LintRun, prepared: &Prepared) {
    if prepared.builds.is_empty() {
        return;
    }
    let build_of: HashMap<usize, usize> = run
        .sources
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            prepared
                .parts
                .iter()
                .position(|p| p.name == s.name)
                .map(|p| (i, p))
        })
        .collect();
    if build_of.is_empty() {
        return;
    }
    // Only the parts that hold a finding (or related information) are parsed again.
    let used: HashSet<usize> = run
        .diagnostics
        .iter()
        .flat_map(|d| std::iter::once(d.source).chain(d.related.iter().map(|r| r.source)))
        .flatten()
        .filter(|s| build_of.contains_key(s))
        .collect();
    let rendered: HashMap<usize, Vec<Document>> = used
        .into_iter()
        .map(|i| (i, load(&run.sources[i].text, Limits::default()).documents))
        .collect();
    let mut files: HashMap<PathBuf, Option<Loaded>> = HashMap::new();
    let mut mapper = Mapper {
        run_sources: &mut run.sources,
        run_context: &mut run.context,
        prepared,
        files: &mut files,
    };
    let diagnostics = std::mem::take(&mut run.diagnostics);
    let mut out: Vec<Located> = Vec::with_capacity(diagnostics.len());
    let mut seen: HashSet<(usize, u32, u32, &'static str, String)> = HashSet::new();
    for mut d in diagnostics {
        let Some(&b) = d.source.and_then(|s| build_of.get(&s)) else {
            out.push(d);
            continue;
        };
        let part = &prepared.parts[b];
        let docs = &rendered[&d.source.unwrap_or_default()];
        let placed = match &d.finding.origin {
            Origin::File { document, base, .. } => {
                let pointer = format!("{base}{}", d.finding.pointer);
                mapper.place(
                    part,
                    docs,
                    *document,
                    &pointer,
                    d.finding.at_key,
                    d.finding.scalar_range.as_ref(),
                    true,
                )
            }
            _ => None,
        };
        let Some(place) = placed else {
            continue;
        };
        d.source = Some(place.source);
        d.span = Some(place.span);
        if let Some(note) = place.note {
            d.related.push(LocatedRelated {
                message: note,
                object: None,
                pointer: String::new(),
                source: None,
                span: None,
            });
        }
        for r in &mut d.related {
            let Some(&rb) = r.source.and_then(|s| build_of.get(&s)) else {
                continue;
            };
            let rpart = &prepared.parts[rb];
            let rbuild = &prepared.builds[rpart.build];
            let rdocs = &rendered[&r.source.unwrap_or_default()];
            let document = d
                .finding
                .related
                .iter()
                .find(|x| x.message == r.message && x.pointer == r.pointer)
                .and_then(|x| match &x.origin {
                    Origin::File { document, base, .. } => Some((*document, base.clone())),
                    _ => None,
                });
            let mapped = document.and_then(|(doc, base)| {
                mapper.place(
                    rpart,
                    rdocs,
                    doc,
                    &format!("{base}{}", r.pointer),
                    false,
                    None,
                    false,
                )
            });
            match mapped {
                Some(p) => {
                    r.source = Some(p.source);
                    r.span = Some(p.span);
                }
                None => {
                    r.source = None;
                    r.span = None;
                    r.message = format!(
                        "{} (in the kustomize build of {})",
                        r.message,
                        shown(&rbuild.root)
                    );
                }
            }
        }
        // A fix would edit the build's output.
        if let Some(f) = d.fix.as_mut().filter(|f| f.refused.is_none()) {
            f.applicability = crate::engine::Applicability::DisplayOnly;
            f.edits.clear();
            f.refused = Some("the finding is in a rendered kustomize build (--render-kustomize): edit the source or patch instead".into());
        }
        // A base in two builds (staging, prod) gets the same finding from each.
        let key = (
            place.source,
            place.span.start.line,
            place.span.start.column,
            d.finding.rule,
            d.finding.message.clone(),
        );
        if seen.insert(key) {
            out.push(d);
        }
    }
    run.diagnostics = out;
    run.diagnostics.sort_by(|a, b| {
        (a.source, a.span.map(|s| s.start), a.finding.rule).cmp(&(
            b.source,
            b.span.map(|s| s.start),
            b.finding.rule,
        ))
    });
    let s = &mut run.summary;
    s.errors = 0;
    s.warnings = 0;
    s.infos = 0;
    for d in &run.diagnostics {
        match d.finding.severity {
            crate::engine::Severity::Error => s.errors += 1,
            crate::engine::Severity::Warning => s.warnings += 1,
            crate::engine::Severity::Info => s.infos += 1,
        }
    }
    s.files = prepared.named_files;
    run.outside = run.diagnostics.iter().filter(|d| d.finding.outside).count();
}

/// Where a finding lands after mapping.
struct Place {
    source: usize,
    span: Span,
    note: Option<String>,
}

struct Mapper<'a> {
    run_sources: &'a mut Vec<Source>,
    run_context: &'a mut Vec<bool>,
    prepared: &'a Prepared,
    files: &'a mut HashMap<PathBuf, Option<Loaded>>,
}

/// Files read to map findings to, when the run did not load them, are at most this large.
const MAX_MAPPED_FILE: u64 = 2 * 1024 * 1024;

impl Mapper<'_> {
    /// Load `path` (from the covered files, or from disk) as a source of the run.
    fn file(&mut self, path: &Path) -> Option<&Loaded> {
        if !self.files.contains_key(path) {
            let loaded = self.load(path);
            self.files.insert(path.to_path_buf(), loaded);
        }
        self.files.get(path).and_then(Option::as_ref)
    }

    fn load(&mut self, path: &Path) -> Option<Loaded> {
        let (source, reported) = match self.prepared.covered.get(path) {
            Some(c) => (c.source.clone(), c.reported),
            None => {
                // A kustomization file, or a file no input named (a base outside the context,
                // never reported).
                if std::fs::metadata(path).ok()?.len() > MAX_MAPPED_FILE {
                    return None;
                }
                let text = std::fs::read_to_string(path).ok()?;
                match self.prepared.names.get(path) {
                    Some((name, named)) => (Source::new(name.clone(), text), *named),
                    None => (Source::new(shown(path), text), false),
                }
            }
        };
        let mut source = source;
        if Path::new(&source.name).is_absolute() {
            source.name = shown(Path::new(&source.name));
        }
        let documents = load(&source.text, Limits::default()).documents;
        let source_index = self.run_sources.len();
        self.run_sources.push(source);
        self.run_context.resize(source_index, false);
        self.run_context.push(!reported);
        Some(Loaded {
            source_index,
            documents,
            reported,
        })
    }

    /// Place `pointer` of rendered document `document` of `build`. `finding`: the place of a
    /// finding (dropped when it lands in a context file); else of related information.
    #[allow(clippy::too_many_arguments)]
    fn place(
        &mut self,
        part: &Part,
        docs: &[Document],
        document: usize,
        pointer: &str,
        at_key: bool,
        scalar_range: Option<&std::ops::Range<usize>>,
        finding: bool,
    ) -> Option<Place> {
        let prepared = self.prepared;
        let build = &prepared.builds[part.build];
        let rendered = docs.iter().find(|d| d.index == document)?;
        let DocOrigin::Local(path) = part
            .origins
            .get(docs.iter().position(|d| d.index == document)?)?
        else {
            // Remote bases and generated objects are world only.
            return None;
        };
        let kind = rendered
            .value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("");
        let name = rendered
            .value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let rendered_value = rendered.value.pointer(pointer);
        // The object in its source file, and its pointer base there (a `List` item).
        let (source_index, reported, object) = {
            let loaded = self.file(path)?;
            (
                loaded.source_index,
                loaded.reported,
                find_object(&loaded.documents, kind, name),
            )
        };
        let source_value: Option<Value> = object
            .as_ref()
            .and_then(|(doc, base)| {
                self.files
                    .get(path)
                    .and_then(Option::as_ref)
                    .and_then(|l| l.documents.get(*doc))
                    .and_then(|d| d.value.pointer(&format!("{base}{pointer}")))
            })
            .cloned();
        // kustomize re-encodes scalars (go-yaml folds a `>` scalar's more-indented lines with
        // an extra line break): strings that differ only in white space are the same value,
        // and a range inside one is carried over by its non-space characters.
        let (same, source_range) = match (&source_value, rendered_value) {
            (Some(a), Some(b)) if a == b => (true, scalar_range.cloned()),
            (Some(Value::String(a)), Some(Value::String(b))) if same_but_space(a, b) => {
                (true, scalar_range.and_then(|r| align(b, a, r)))
            }
            _ => (false, None),
        };
        let changed = !(pointer.is_empty() || pointer.starts_with("/metadata") || same);
        let metadata = pointer.is_empty() || pointer.starts_with("/metadata");
        if !metadata && rendered_value.is_some() {
            // Exactly one patch of the build writes this value here: patches apply after the
            // resources, so the value is the patch's even when the base holds the same (a
            // strategic-merge patch of a custom resource replaces whole lists, repeating the
            // base's entries).
            if let Some((p, reported)) = self.patch_place(
                build,
                kind,
                name,
                pointer,
                rendered_value,
                at_key,
                scalar_range,
            ) {
                if finding && !(reported || build.root_reported) {
                    return None;
                }
                if finding {
                    self.run_context[p.source] = false;
                }
                return Some(p);
            }
        }
        // Naming the root kustomization reports its whole build.
        let reported = reported || build.root_reported;
        if finding && reported {
            self.run_context[source_index] = false;
        }
        let Some((doc, base)) = object else {
            if finding && !reported {
                return None;
            }
            return Some(Place {
                source: source_index,
                span: Span::point(Pos::new(1, 1)),
                note: Some(format!(
                    "the kustomize build of {} renames this object to \"{name}\"; the finding is placed at the start of the file it comes from",
                    shown(&build.root)
                )),
            });
        };
        if finding && !reported {
            return None;
        }
        let loaded = self.files.get(path).and_then(Option::as_ref)?;
        let source = &self.run_sources[source_index];
        let d = loaded.documents.get(doc)?;
        let full = format!("{base}{pointer}");
        let span = place_in(
            &d.spans,
            source,
            &full,
            at_key,
            if changed { None } else { source_range.as_ref() },
        )
        .unwrap_or(Span::point(d.start));
        let note = changed.then(|| {
            format!(
                "the value at `{pointer}` is not the one written here: the kustomize build of {} sets it (a patch or transformer; the patch that does could not be told exactly)",
                shown(&build.root)
            )
        });
        Some(Place {
            source: source_index,
            span,
            note,
        })
    }

    /// The place in the one patch file of `build` that writes `value` at `pointer` of the
    /// object `kind`/`name` (a strategic-merge patch naming the object, or a JSON 6902 `add` /
    /// `replace` of that path), and whether that file is reported.
    #[allow(clippy::too_many_arguments)]
    fn patch_place(
        &mut self,
        build: &PreparedBuild,
        kind: &str,
        name: &str,
        pointer: &str,
        value: Option<&Value>,
        at_key: bool,
        scalar_range: Option<&std::ops::Range<usize>>,
    ) -> Option<(Place, bool)> {
        let value = value?;
        let mut found: Vec<(PathBuf, usize, String)> = Vec::new();
        for patch in &build.patches {
            let Some(loaded) = self.file(patch) else {
                continue;
            };
            for (i, d) in loaded.documents.iter().enumerate() {
                match &d.value {
                    Value::Object(_) => {
                        let k = d.value.get("kind").and_then(Value::as_str);
                        let n = d.value.pointer("/metadata/name").and_then(Value::as_str);
                        let same = k.is_none_or(|k| k == kind)
                            && n.is_none_or(|n| n == name || name.contains(n));
                        if same
                            && d.value
                                .pointer(pointer)
                                .is_some_and(|v| same_value(v, value))
                        {
                            found.push((patch.clone(), i, pointer.to_owned()));
                        }
                    }
                    Value::Array(ops) => {
                        for (j, op) in ops.iter().enumerate() {
                            let is_set = op
                                .get("op")
                                .and_then(Value::as_str)
                                .is_some_and(|o| o == "add" || o == "replace");
                            if is_set
                                && op.get("path").and_then(Value::as_str) == Some(pointer)
                                && op.get("value").is_some_and(|v| same_value(v, value))
                            {
                                found.push((patch.clone(), i, format!("/{j}/value")));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        // Inline patches of the build's kustomizations (`patches[].patch`, a YAML string).
        for k in &build.members {
            let Some(loaded) = self.file(k) else { continue };
            let Some(first) = loaded.documents.first() else {
                continue;
            };
            let entries = first.value.get("patches").and_then(Value::as_array);
            for (i, e) in entries.into_iter().flatten().enumerate() {
                let Some(text) = e.get("patch").and_then(Value::as_str) else {
                    continue;
                };
                for pd in load(text, Limits::default()).documents {
                    let hit = match &pd.value {
                        Value::Array(ops) => ops.iter().any(|op| {
                            op.get("op")
                                .and_then(Value::as_str)
                                .is_some_and(|o| o == "add" || o == "replace")
                                && op.get("path").and_then(Value::as_str) == Some(pointer)
                                && op.get("value").is_some_and(|v| same_value(v, value))
                        }),
                        Value::Object(_) => {
                            let k2 = pd.value.get("kind").and_then(Value::as_str);
                            let n = pd.value.pointer("/metadata/name").and_then(Value::as_str);
                            k2.is_none_or(|x| x == kind)
                                && n.is_none_or(|n| n == name || name.contains(n))
                                && pd
                                    .value
                                    .pointer(pointer)
                                    .is_some_and(|v| same_value(v, value))
                        }
                        _ => false,
                    };
                    if hit {
                        found.push((k.clone(), 0, format!("/patches/{i}/patch")));
                    }
                }
            }
        }
        let [(path, doc, at)] = found.as_slice() else {
            return None;
        };
        let loaded = self.files.get(path.as_path()).and_then(Option::as_ref)?;
        let d = loaded.documents.get(*doc)?;
        let source = &self.run_sources[loaded.source_index];
        let inline = at.starts_with("/patches/");
        let range = match (d.value.pointer(at), scalar_range) {
            (Some(Value::String(to)), Some(r)) if !inline => {
                value.as_str().and_then(|from| align(from, to, r))
            }
            _ => None,
        };
        let span =
            place_in(&d.spans, source, at, at_key, range.as_ref()).unwrap_or(Span::point(d.start));
        Some((
            Place {
                source: loaded.source_index,
                span,
                note: Some(format!(
                    "the value comes from this patch of the kustomize build of {}",
                    shown(&build.root)
                )),
            },
            loaded.reported,
        ))
    }
}

/// The span of `pointer` (or its nearest ancestor) in a document, inside a scalar when
/// `scalar_range` is given and the pointer itself has a span.
fn place_in(
    spans: &SpanIndex,
    source: &Source,
    pointer: &str,
    at_key: bool,
    scalar_range: Option<&std::ops::Range<usize>>,
) -> Option<Span> {
    if let Some(r) = scalar_range {
        if let Some(s) = spans
            .get(pointer)
            .and_then(|node| super::locate::in_scalar(source, node, r))
        {
            return Some(s);
        }
    }
    spans
        .locate(pointer)
        .map(|(matched, s)| match (at_key && matched == pointer, s.key) {
            (true, Some(key)) => key,
            _ => s.primary(),
        })
}

/// The document (and pointer base: `""`, or `/items/N` in a `List`) holding the object `kind`
/// `name` in a source file: the same name, else the only object of that kind whose name the
/// rendered one contains (a `namePrefix`/`nameSuffix`).
fn find_object(documents: &[Document], kind: &str, name: &str) -> Option<(usize, String)> {
    let mut candidates: Vec<(usize, String, bool)> = Vec::new();
    for (i, d) in documents.iter().enumerate() {
        let mut consider = |v: &Value, base: String| {
            let k = v.get("kind").and_then(Value::as_str).unwrap_or("");
            let n = v
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            if k == kind && !n.is_empty() && name.contains(n) {
                candidates.push((i, base, n == name));
            }
        };
        match d.value.get("items").and_then(Value::as_array) {
            Some(items)
                if d.value
                    .get("kind")
                    .and_then(Value::as_str)
                    .is_some_and(|k| k.ends_with("List")) =>
            {
                for (j, item) in items.iter().enumerate() {
                    consider(item, format!("/items/{j}"));
                }
            }
            _ => consider(&d.value, String::new()),
        }
    }
    if let Some((i, base, _)) = candidates.iter().find(|c| c.2) {
        return Some((*i, base.clone()));
    }
    match candidates.as_slice() {
        [(i, base, _)] => Some((*i, base.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_carry_over_white_space() {
        let from = "sum(\n\n  rate(x{a=\"b\"}[1m]))";
        let to = "sum(\n  rate(x{a=\"b\"}[1m]))";
        let r = from.find("a=").expect("a")..from.find("}").expect("}");
        let got = align(from, to, &r).expect("aligned");
        assert_eq!(&to[got], "a=\"b\"");
        assert!(same_but_space(from, to));
        assert!(!same_but_space("a b", "ab"));
        assert_eq!(
            split_documents("a: 1\n---\nb: 2\n---\nc: |\n  ---x\n"),
            vec!["a: 1\n", "b: 2\n", "c: |\n  ---x\n"]
        );
    }

    #[cfg(unix)]
    #[test]
    fn endless_output_and_a_hung_child_are_stopped() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir().expect("tmp");
        let root = dir.0.join("app/kustomization.yaml");
        std::fs::create_dir_all(root.parent().expect("parent")).expect("mkdir");
        std::fs::write(&root, "resources: []\n").expect("write");
        let script = |name: &str, body: &str| {
            let p = dir.0.join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("script");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            Binary {
                program: p,
                args: vec![],
                label: "kustomize build",
            }
        };
        let bounds = Bounds {
            timeout: Duration::from_secs(20),
            max_output: 4096,
            max_builds: 1,
        };
        let started = Instant::now();
        let e = render(&script("yes", "exec yes"), &root, bounds).expect_err("over");
        assert!(e.contains("wrote more than 4096 bytes"), "{e}");
        // A grandchild holding the pipes open does not keep rollgate waiting.
        let bounds = Bounds {
            timeout: Duration::from_millis(300),
            ..bounds
        };
        let e = render(&script("hang", "sleep 30 &\nsleep 30"), &root, bounds).expect_err("hung");
        assert!(e.contains("did not finish within 0.3 s"), "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative(Path::new("/tmp/r-1"), Path::new("/work/x/prod")),
            PathBuf::from("../../work/x/prod")
        );
        assert_eq!(
            relative(Path::new("/a/b"), Path::new("/a/b/c")),
            PathBuf::from("c")
        );
    }

    #[test]
    fn kubectl_failure_message() {
        let e = r#"E1206 07:12:36.430862    5439 run.go:72] "command failed" err="accumulating resources: accumulation err='accumulating resources from '../x': must resolve to a file'""#;
        assert_eq!(
            failure_text(e),
            "accumulating resources: accumulation err='accumulating resources from '../x': must resolve to a file"
        );
        let e = r#"E1 run.go:72] "command failed" err="accumulating resources: accumulation err='accumulating resources from '../kx/a/ex': '/tmp/kx/a/ex' must resolve to a file': recursed accumulation of path '/tmp/kx/a/ex': security; file '/tmp/kx/a/r.yaml' is not in or below '/tmp/kx/a/ex'""#;
        assert_eq!(
            failure_text(e),
            "security; file '/tmp/kx/a/r.yaml' is not in or below '/tmp/kx/a/ex"
        );
        assert_eq!(failure_text("Error: boom\n"), "boom");
        assert_eq!(failure_text(""), "no message");
        let e = "# Warning: x\nE1 run.go:72] \"command failed\" err=<\n\taccumulating resources: no such host\n\t: exit status 128\n >\n";
        assert_eq!(
            failure_text(e),
            "accumulating resources: no such host : exit status 128"
        );
    }

    #[test]
    fn origins() {
        let w = Path::new("/tmp/w");
        let v = |a: &str| serde_json::json!({"metadata": {"annotations": {ORIGIN_ANNOTATION: a}}});
        assert_eq!(
            origin_of(&v("path: ../nowhere/base/deploy.yaml\n"), w),
            DocOrigin::Local(PathBuf::from("/tmp/nowhere/base/deploy.yaml"))
        );
        assert_eq!(
            origin_of(
                &v(
                    "path: kustomize/deployment.yaml\nrepo: https://github.com/stefanprodan/podinfo\nref: 6.0.0\n"
                ),
                w
            ),
            DocOrigin::Remote {
                repo: "https://github.com/stefanprodan/podinfo".into(),
                path: "kustomize/deployment.yaml".into()
            }
        );
        assert!(matches!(
            origin_of(
                &v(
                    "configuredIn: ../p/kustomization.yaml\nconfiguredBy:\n  apiVersion: builtin\n  kind: ConfigMapGenerator\n"
                ),
                w
            ),
            DocOrigin::Generated { .. }
        ));
        assert_eq!(origin_of(&serde_json::json!({}), w), DocOrigin::Unknown);
        // From kustomize's text.
        let doc = "apiVersion: v1\nkind: ConfigMap\ndata:\n  x: |\n    config.kubernetes.io/origin: |\n      path: no\nmetadata:\n  annotations:\n    a: b\n    config.kubernetes.io/origin: |\n      path: ../nowhere/c.yaml\n      ref: x\n  name: c\n";
        assert_eq!(
            origin_in_text(doc, w),
            DocOrigin::Local(PathBuf::from("/tmp/nowhere/c.yaml"))
        );
        assert_eq!(
            origin_in_text("kind: X\nmetadata:\n  name: a\n", w),
            DocOrigin::Unknown
        );
    }
}
