//! The offline front end's driver: inputs → documents → objects → world → findings placed at
//! file positions. The webhook uses `Engine::check` directly with its own world.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use super::builtin;
use super::finding::{Finding, Severity};
use super::fix::TextFix;
use super::inventory::{Inventory as _, MemoryInventory, SourceScope};
use super::object::{Object, ObjectRef, Origin};
use super::rule::Context;
use super::{Engine, Settings};
use crate::manifest::input::Input;
use crate::manifest::kustomize::Scopes;
use crate::manifest::{Limits, LoadProblem, Pos, Source, Span, SpanIndex, load};

/// A related location, placed.
#[derive(Debug, Clone)]
pub struct LocatedRelated {
    pub message: String,
    pub object: Option<ObjectRef>,
    pub pointer: String,
    pub source: Option<usize>,
    pub span: Option<Span>,
}

/// A finding placed in a source.
#[derive(Debug, Clone)]
pub struct Located {
    pub finding: Finding,
    /// Index into `LintRun::sources`.
    pub source: Option<usize>,
    pub span: Option<Span>,
    pub related: Vec<LocatedRelated>,
    /// The finding's fix as text edits of `source` (`DisplayOnly` with a reason when it could
    /// not be placed).
    pub fix: Option<TextFix>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub files: usize,
    pub documents: usize,
    pub objects: usize,
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
    pub suppressed: usize,
    /// Fixes applied by `lint --fix` (absent from JSON when none).
    #[serde(skip_serializing_if = "is_zero")]
    pub fixed: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

pub struct LintRun {
    /// Every source of the run: the named ones, then the context ones (findings may relate to
    /// a place in a context file), then documents of `helm template` output.
    pub sources: Vec<Source>,
    /// Per source: loaded as context only (never reported on). Absent entries are `false`.
    pub context: Vec<bool>,
    /// Files loaded as context.
    pub context_files: usize,
    /// Reported findings about referents that are not in the world and most likely defined
    /// outside it (`Finding::outside`), whatever their severity after configuration.
    pub outside: usize,
    pub diagnostics: Vec<Located>,
    pub summary: Summary,
    /// The objects the rules saw. Handed back rather than freed in [`lint`]: freeing every
    /// node of every document is a walk over cold memory (~5 ms on the upstream corpus), which
    /// the `rollgate` command skips, as it exits right after reporting.
    pub world: MemoryInventory,
}

impl std::fmt::Debug for LintRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LintRun")
            .field("sources", &self.sources)
            .field("diagnostics", &self.diagnostics)
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

/// The located documents of a run, kept to place findings.
#[derive(Default)]
struct Placement {
    /// (source, document index) → spans.
    spans: HashMap<(usize, usize), SpanIndex>,
}

/// Where a finding at `pointer` of an object from `origin` is: the source and the span, found
/// through `spans(source, document)` (the linter's one-run placement, the language server's
/// workspace slots).
pub(crate) fn place_origin<'s>(
    spans: impl Fn(usize, usize) -> Option<&'s SpanIndex>,
    origin: &Origin,
    pointer: &str,
    at_key: bool,
) -> (Option<usize>, Option<Span>) {
    match origin {
        Origin::Text { source, span } => (Some(*source), Some(*span)),
        Origin::File {
            source,
            document,
            base,
        } => {
            let full = format!("{base}{pointer}");
            let span = spans(*source, *document)
                .and_then(|idx| idx.locate(&full))
                .map(|(matched, s)| match (at_key && matched == full, s.key) {
                    (true, Some(key)) => key,
                    _ => s.primary(),
                });
            (Some(*source), span)
        }
        Origin::Admission | Origin::Cluster => (None, None),
    }
}

/// The span of byte range `range` of the string at `pointer` (a matcher inside a query).
pub(crate) fn place_in_scalar_with<'s>(
    spans: impl Fn(usize, usize) -> Option<&'s SpanIndex>,
    sources: impl Fn(usize) -> Option<&'s Source>,
    origin: &Origin,
    pointer: &str,
    range: &std::ops::Range<usize>,
) -> Option<Span> {
    let Origin::File {
        source,
        document,
        base,
    } = origin
    else {
        return None;
    };
    let full = format!("{base}{pointer}");
    let node = spans(*source, *document)?.get(&full)?;
    crate::manifest::locate::in_scalar(sources(*source)?, node, range)
}

/// Place a finding and its related locations (spans found through `spans(source, document)`).
pub(crate) fn locate<'s>(
    f: Finding,
    spans: impl Fn(usize, usize) -> Option<&'s SpanIndex> + Copy,
    sources: impl Fn(usize) -> Option<&'s Source> + Copy,
) -> Located {
    let (source, mut span) = place_origin(spans, &f.origin, &f.pointer, f.at_key);
    if let Some(r) = &f.scalar_range {
        if let Some(s) = place_in_scalar_with(spans, sources, &f.origin, &f.pointer, r) {
            span = Some(s);
        }
    }
    let related = f
        .related
        .iter()
        .map(|r| {
            let (source, span) = place_origin(spans, &r.origin, &r.pointer, false);
            LocatedRelated {
                message: r.message.clone(),
                object: r.object.clone(),
                pointer: r.pointer.clone(),
                source,
                span,
            }
        })
        .collect();
    let fix = f
        .fix
        .as_ref()
        .map(|x| lower_fix_with(spans, sources, &f.origin, x));
    Located {
        finding: f,
        source,
        span,
        related,
        fix,
    }
}

/// Lower a finding's fix to text edits of its source (spans and sources found as in
/// [`locate`]).
pub(crate) fn lower_fix_with<'s>(
    spans: impl Fn(usize, usize) -> Option<&'s SpanIndex>,
    sources: impl Fn(usize) -> Option<&'s Source>,
    origin: &Origin,
    fix: &super::fix::Fix,
) -> TextFix {
    let Origin::File {
        source,
        document,
        base,
    } = origin
    else {
        return crate::manifest::edit::refused(fix, "the finding has no place in a file".into());
    };
    let (Some(src), Some(idx)) = (sources(*source), spans(*source, *document)) else {
        return crate::manifest::edit::refused(fix, "the document is not indexed".into());
    };
    crate::manifest::edit::lower_fix(src, idx, base, fix)
}

/// Threads for a run: one per core (at most 8); `ROLLGATE_THREADS` overrides the count (`1`:
/// everything on the calling thread).
pub fn default_threads() -> usize {
    std::env::var("ROLLGATE_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(8)
        })
}

/// Threads for `items` independent pieces of work: none of their own for small runs (one file
/// in an editor starts no thread).
pub(crate) fn workers(threads: usize, items: usize) -> usize {
    if items < 16 {
        1
    } else {
        threads.min(items).max(1)
    }
}

/// `items.iter().map(f)` on `threads` threads that take the next item as they finish the last
/// (files differ in size by orders of magnitude); results in item order.
pub(crate) fn par_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    par_map_with(items, threads, || (), |(), item| f(item))
}

/// [`par_map`] where each thread first makes its own state with `init` (for example a rule
/// context, whose memos are not `Send`) and hands it to `f` with every item it takes.
pub(crate) fn par_map_with<T: Sync, R: Send, S>(
    items: &[T],
    threads: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, &T) -> R + Sync,
) -> Vec<R> {
    if threads <= 1 {
        let mut state = init();
        return items.iter().map(|item| f(&mut state, item)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut parts: Vec<Vec<(usize, R)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut state = init();
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        out.push((i, f(&mut state, item)));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut slots: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    for (i, r) in parts.drain(..).flatten() {
        slots[i] = Some(r);
    }
    slots.into_iter().flatten().collect()
}

/// Objects found in a loaded document: the document itself, or the items of a `kind: List`.
/// Documents that are not Kubernetes objects come back as `Err` with a reason.
pub fn objects_of(
    value: Value,
    source: usize,
    document: usize,
    default_namespace: &str,
) -> Result<Vec<Object>, &'static str> {
    let origin = |base: String| Origin::File {
        source,
        document,
        base,
    };
    let Value::Object(map) = &value else {
        return Err("document is not a mapping");
    };
    let has = |k: &str| {
        map.get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    if !has("apiVersion") || !has("kind") {
        return Err("document has no apiVersion/kind");
    }
    let is_list = map
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && map.get("items").is_some_and(Value::is_array);
    if is_list {
        let Value::Object(mut map) = value else {
            return Ok(Vec::new());
        };
        let Some(Value::Array(items)) = map.remove("items") else {
            return Ok(Vec::new());
        };
        return Ok(items
            .into_iter()
            .enumerate()
            .filter_map(|(i, item)| {
                Object::from_value(item, origin(format!("/items/{i}")), default_namespace)
            })
            .collect());
    }
    Ok(
        Object::from_value(value, origin(String::new()), default_namespace)
            .into_iter()
            .collect(),
    )
}

/// One file loaded and made into objects, on a worker thread.
pub(crate) struct LoadedFile {
    pub(crate) problems: Vec<LoadProblem>,
    /// No document (empty, or only comments) and no problem.
    pub(crate) empty: bool,
    pub(crate) documents: Vec<LoadedDocument>,
}

pub(crate) struct LoadedDocument {
    pub(crate) index: usize,
    pub(crate) spans: SpanIndex,
    /// `None` for an empty document; `Err`: not a Kubernetes object (why, and where).
    pub(crate) objects: Option<Result<Vec<Object>, (&'static str, Pos)>>,
}

/// Load source `si` and make its objects. A CustomResourceDefinition is compiled here
/// ([`crate::schema::crd::compile_in_place`]): its schema trees are freed while still in cache
/// instead of being held by the world for the whole run.
/// A context file is read from `cache` when it holds its text.
pub(crate) fn load_file(
    si: usize,
    text: &str,
    limits: Limits,
    default_namespace: &str,
    cache: Option<&crate::manifest::cache::ContextCache>,
) -> LoadedFile {
    let loaded = match cache {
        Some(cache) => cache.load(text, limits),
        None => load(text, limits),
    };
    let empty = loaded.problems.is_empty() && loaded.documents.iter().all(|d| d.value.is_null());
    let documents = loaded
        .documents
        .into_iter()
        .map(|doc| {
            let (index, start) = (doc.index, doc.start);
            let objects = (!doc.value.is_null()).then(|| {
                let mut objects = objects_of(doc.value, si, index, default_namespace)
                    .map_err(|why| (why, start))?;
                objects
                    .iter_mut()
                    .for_each(crate::schema::crd::compile_in_place);
                Ok(objects)
            });
            LoadedDocument {
                index,
                spans: doc.spans,
                objects,
            }
        })
        .collect();
    LoadedFile {
        problems: loaded.problems,
        empty,
        documents,
    }
}

/// A finding about a place in source `source`'s text (no object).
pub(crate) fn text_finding(
    meta: &'static super::RuleMeta,
    source: usize,
    span: Span,
    message: String,
) -> Finding {
    Finding {
        rule: meta.id,
        severity: meta.severity,
        message,
        object: None,
        origin: Origin::Text { source, span },
        pointer: String::new(),
        scalar_range: None,
        at_key: false,
        related: Vec::new(),
        help: None,
        fix: None,
        outside: false,
    }
}

/// The engine's own findings about loading source `si` (before configured severities): an
/// empty file, syntax errors and duplicate keys, documents that are not Kubernetes objects.
pub(crate) fn load_findings(si: usize, loaded: &LoadedFile) -> Vec<Finding> {
    let mut findings = Vec::new();
    if loaded.empty {
        findings.push(text_finding(
            &builtin::NOT_KUBERNETES_OBJECT,
            si,
            Span::point(crate::manifest::Pos::new(1, 1)),
            "file has no YAML documents (empty, or only comments); nothing to lint".into(),
        ));
    }
    for p in &loaded.problems {
        let meta = match p.kind {
            crate::manifest::ProblemKind::Syntax => &builtin::PARSE_ERROR,
            crate::manifest::ProblemKind::DuplicateKey => &builtin::DUPLICATE_KEY,
        };
        let mut f = text_finding(meta, si, p.span, p.message.clone());
        if let Some((span, msg)) = &p.related {
            f.related.push(super::Related {
                origin: Origin::Text {
                    source: si,
                    span: *span,
                },
                object: None,
                pointer: String::new(),
                message: msg.clone(),
            });
        }
        findings.push(f);
    }
    for doc in &loaded.documents {
        if let Some(Err((why, start))) = &doc.objects {
            findings.push(text_finding(
                &builtin::NOT_KUBERNETES_OBJECT,
                si,
                Span::point(*start),
                format!("{why}; skipped"),
            ));
        }
    }
    findings
}

/// Lint a set of inputs with `engine`, on [`default_threads`] threads.
pub fn lint(inputs: Vec<Input>, engine: &Engine, settings: &Settings, limits: Limits) -> LintRun {
    lint_with_threads(inputs, engine, settings, limits, default_threads())
}

/// [`lint`] on at most `threads` threads (the result does not depend on the count).
pub fn lint_with_threads(
    inputs: Vec<Input>,
    engine: &Engine,
    settings: &Settings,
    limits: Limits,
    threads: usize,
) -> LintRun {
    lint_in_project(
        inputs,
        &Scopes::default(),
        engine,
        settings,
        limits,
        threads,
    )
}

/// Where an input's objects go: their default namespace, kustomization builds, folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placed {
    pub(crate) namespace: String,
    pub(crate) builds: Vec<u32>,
    pub(crate) dir: Option<std::path::PathBuf>,
    /// The kustomization that names the file as a patch.
    pub(crate) patch_of: Option<std::path::PathBuf>,
    /// The file is named like a patch and that kustomization (its folder's) does not list it.
    pub(crate) unlisted_patch: bool,
    /// What each of `builds` does to the file's objects (names, deletions, selectors).
    pub(crate) views: Vec<crate::manifest::kustomize::BuildView>,
}

/// What the kustomizations say about the file at `path`: where its objects go, first; then,
/// when builds put it in several namespaces, one more placement per further namespace (the
/// linter loads those copies as context).
pub(crate) fn placements(
    path: Option<&std::path::Path>,
    scopes: &Scopes,
    settings: &Settings,
) -> Vec<Placed> {
    let scope = path.and_then(|p| scopes.of(p));
    let dir = path
        .and_then(std::path::Path::parent)
        .map(std::path::Path::to_path_buf);
    let place = |ns: &Option<String>, builds: &[u32]| Placed {
        namespace: ns
            .clone()
            .unwrap_or_else(|| settings.default_namespace.clone()),
        builds: builds.to_vec(),
        dir: dir.clone(),
        patch_of: scope.and_then(|s| s.patch_of.clone()),
        unlisted_patch: scope.is_some_and(|s| s.unlisted_patch),
        views: scope
            .map(|s| {
                s.views
                    .iter()
                    .filter(|v| builds.contains(&v.build))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default(),
    };
    match scope.map(|s| s.by_namespace.as_slice()) {
        Some(all @ [_, ..]) => all.iter().map(|(ns, b)| place(ns, b)).collect(),
        _ => vec![place(
            &None,
            &scope.map(|s| s.builds.clone()).unwrap_or_default(),
        )],
    }
}

/// The finding that says a file placed at `place` is a kustomize patch of `of` (never loaded).
pub(crate) fn patch_finding(si: usize, of: &std::path::Path, place: &Placed) -> Finding {
    let message = if place.unlisted_patch {
        format!(
            "named like a kustomize patch, in the folder of {}, which does not list it (an entry commented out, as kubebuilder scaffolds leave them): a partial object applied by nothing as it is; not checked as a complete object, and not part of the world; skipped",
            of.display()
        )
    } else {
        format!(
            "kustomize patch of {} (a partial object, merged into the build's objects): not checked as a complete object, and not part of the world; skipped",
            of.display()
        )
    };
    text_finding(
        &builtin::NOT_KUBERNETES_OBJECT,
        si,
        Span::point(crate::manifest::Pos::new(1, 1)),
        message,
    )
}

/// Drop inputs that are a file given before (the same canonical path: `lint X X`, a file and
/// its folder, standard input with `--stdin-filename` of a named file). The first one stays:
/// standard input comes first, and is the editor's unsaved buffer.
pub fn dedupe(inputs: Vec<Input>) -> Vec<Input> {
    let mut seen = std::collections::HashSet::new();
    inputs
        .into_iter()
        .filter(|i| i.path.as_ref().is_none_or(|p| seen.insert(p.clone())))
        .collect()
}

/// [`lint_with_threads`] over files placed in a project: `inputs` holds the named files and
/// the context files (`Input::context`, never reported); `scopes` what kustomizations say
/// about them (patch files are skipped, a build's namespace applies to objects that set none,
/// a build's files are applied together); folders rank alternatives of one identity
/// (`Inventory::distance`).
pub fn lint_in_project(
    inputs: Vec<Input>,
    scopes: &Scopes,
    engine: &Engine,
    settings: &Settings,
    limits: Limits,
    threads: usize,
) -> LintRun {
    let inputs = dedupe(inputs);
    let mut sources = Vec::with_capacity(inputs.len());
    let mut places: Vec<SourceScope> = Vec::with_capacity(inputs.len());
    let mut context_files = 0;
    let mut placement = Placement::default();
    let mut findings: Vec<Finding> = Vec::new();
    let mut objects = Vec::new();
    let mut summary = Summary {
        files: inputs.iter().filter(|i| !i.context).count(),
        ..Summary::default()
    };
    // What the kustomizations say about each file: a patch is skipped, a build's namespace is
    // the default of its objects, and a file that builds put in several namespaces is there
    // once per namespace (the copies beyond the first are context).
    let mut inputs = inputs;
    let mut placed: Vec<Placed> = Vec::with_capacity(inputs.len());
    let mut copies: Vec<Input> = Vec::new();
    let mut copied: Vec<Placed> = Vec::new();
    for input in &inputs {
        let mut places = placements(input.path.as_deref(), scopes, settings).into_iter();
        placed.extend(places.next());
        for place in places {
            copies.push(Input {
                source: input.source.clone(),
                unusable: input.unusable.clone(),
                path: None,
                context: true,
                skipped: None,
            });
            copied.push(place);
        }
    }
    inputs.extend(copies);
    placed.append(&mut copied);
    // Parsing dominates a run and each file parses on its own: spread the files over the cores.
    let parse_threads = workers(threads, inputs.len());
    let indexed: Vec<(usize, &Input)> = inputs.iter().enumerate().collect();
    let mut parsed = par_map(&indexed, parse_threads, |&(si, input)| {
        let p = &placed[si];
        (input.unusable.is_none() && p.patch_of.is_none() && input.skipped.is_none()).then(|| {
            let cache = settings.context_cache.as_deref().filter(|_| input.context);
            load_file(si, &input.source.text, limits, &p.namespace, cache)
        })
    })
    .into_iter();
    for (si, (input, place)) in inputs.into_iter().zip(placed).enumerate() {
        let loaded = parsed.next().flatten();
        let reported = !input.context;
        places.push(SourceScope {
            reported,
            dir: place.dir.clone(),
            builds: place.builds.clone(),
            views: place.views.clone(),
        });
        if input.context {
            context_files += 1;
            // Context: its objects join the world; nothing about the file itself is reported.
            if let Some(loaded) = loaded {
                for doc in loaded.documents {
                    if let Some(Ok(objs)) = doc.objects {
                        objects.extend(objs);
                        placement.spans.insert((si, doc.index), doc.spans);
                    }
                }
            }
            sources.push(input.source);
            continue;
        }
        if let Some(of) = &place.patch_of {
            findings.push(patch_finding(si, of, &place));
            sources.push(input.source);
            continue;
        }
        if let Some(why) = &input.skipped {
            findings.push(text_finding(
                &builtin::NOT_KUBERNETES_OBJECT,
                si,
                Span::point(crate::manifest::Pos::new(1, 1)),
                why.clone(),
            ));
            sources.push(input.source);
            continue;
        }
        if let Some((pos, message)) = input.unusable {
            findings.push(text_finding(
                &builtin::PARSE_ERROR,
                si,
                Span::point(pos),
                message,
            ));
            sources.push(input.source);
            continue;
        }
        let loaded = loaded
            .unwrap_or_else(|| load_file(si, &input.source.text, limits, &place.namespace, None));
        findings.extend(load_findings(si, &loaded));
        for doc in loaded.documents {
            summary.documents += 1;
            match doc.objects {
                None => continue,
                Some(Ok(objs)) => objects.extend(objs),
                Some(Err(_)) => {}
            }
            placement.spans.insert((si, doc.index), doc.spans);
        }
        sources.push(input.source);
    }

    let mut findings: Vec<Finding> = findings
        .into_iter()
        .filter_map(|f| engine.builtin_finding(f))
        .collect();

    let description = if context_files > 0 {
        "the input files and their context"
    } else {
        "the input files"
    };
    let mut world = MemoryInventory::new(objects, description, settings.strict_references);
    world.set_sources(places);
    // Only the named files' objects are checked; context objects are only referents.
    let objects: Vec<&Object> = world
        .objects()
        .iter()
        .filter(|o| world.reported(o))
        .collect();
    summary.objects = objects.len();
    // Rules read the finished world and each object is checked on its own: spread the objects
    // over the cores, keeping the findings in object order.
    let check_threads = workers(threads, objects.len());
    let chunk = objects.len().div_ceil(check_threads * 8).max(1);
    let chunks: Vec<&[&Object]> = objects.chunks(chunk).collect();
    // One context per thread: its indexes over the world (template referrers, monitors, CRD
    // schemas by kind) are built once per thread, not once per chunk.
    let new_context = || Context::new(&world, settings);
    let checked = par_map_with(&chunks, check_threads, new_context, |cx, chunk| {
        let mut found = Vec::new();
        let mut suppressed = 0;
        for object in *chunk {
            suppressed += engine.check(object, cx, &mut found);
        }
        (found, suppressed)
    });
    for (found, suppressed) in checked {
        findings.extend(found);
        summary.suppressed += suppressed;
    }
    // A finding placed in a context file (a rule reporting on a referent) is not reported: the
    // user did not name that file.
    let context: Vec<bool> = world_context(&world, sources.len());
    findings.retain(|f| match f.origin {
        Origin::File { source, .. } | Origin::Text { source, .. } => {
            !context.get(source).copied().unwrap_or(false)
        }
        _ => true,
    });
    let outside = findings.iter().filter(|f| f.outside).count();
    // Context files read from the cache have no positions: parse again those a finding points
    // into, so their places are the loader's own.
    let unplaced: std::collections::BTreeSet<usize> = findings
        .iter()
        .flat_map(|f| f.related.iter().map(|r| &r.origin))
        .filter_map(|o| match o {
            Origin::File {
                source, document, ..
            } if placement
                .spans
                .get(&(*source, *document))
                .is_some_and(SpanIndex::is_empty) =>
            {
                Some(*source)
            }
            _ => None,
        })
        .collect();
    for si in unplaced {
        for doc in load(&sources[si].text, limits).documents {
            if let Some(spans) = placement.spans.get_mut(&(si, doc.index)) {
                if spans.is_empty() {
                    *spans = doc.spans;
                }
            }
        }
    }

    let mut diagnostics: Vec<Located> = findings
        .into_iter()
        .map(|f| locate(f, |s, d| placement.spans.get(&(s, d)), |s| sources.get(s)))
        .collect();
    map_helm_output(&mut sources, &mut diagnostics);
    diagnostics.sort_by(|a, b| {
        (a.source, a.span.map(|s| s.start), a.finding.rule).cmp(&(
            b.source,
            b.span.map(|s| s.start),
            b.finding.rule,
        ))
    });
    for d in &diagnostics {
        match d.finding.severity {
            Severity::Error => summary.errors += 1,
            Severity::Warning => summary.warnings += 1,
            Severity::Info => summary.infos += 1,
        }
    }
    LintRun {
        sources,
        context,
        context_files,
        outside,
        diagnostics,
        summary,
        world,
    }
}

/// Per source number: whether it is a context file.
fn world_context(world: &MemoryInventory, sources: usize) -> Vec<bool> {
    (0..sources).map(|i| !world.source_reported(i)).collect()
}

/// Findings in `helm template` output are reported in the template file each document came
/// from, at the line inside the rendered document (`manifest::helm`), when that template file
/// exists relative to the rendered file's folder or one above it (or the working directory, for
/// standard input). The documents that receive a finding become sources of their own, appended
/// after the inputs. When the template is not there (output saved away from its chart), the
/// finding keeps the rendered file's own line and names the template as related information:
/// a path that does not exist is no place to send anyone.
fn map_helm_output(sources: &mut Vec<Source>, diagnostics: &mut [Located]) {
    let segments: Vec<Vec<crate::manifest::helm::Segment>> = sources
        .iter()
        .map(crate::manifest::helm::segments)
        .collect();
    if segments.iter().all(Vec::is_empty) {
        return;
    }
    let find = |source: Option<usize>, span: Option<Span>| {
        let (s, span) = (source?, span?);
        let i = segments
            .get(s)?
            .iter()
            .position(|g| g.contains(span.start.line))?;
        Some((s, i))
    };
    let used: std::collections::BTreeSet<(usize, usize)> = diagnostics
        .iter()
        .flat_map(|d| {
            std::iter::once(find(d.source, d.span))
                .chain(d.related.iter().map(|r| find(r.source, r.span)))
        })
        .flatten()
        .collect();
    let mut index = HashMap::new();
    let mut unmapped = HashMap::new();
    for (s, i) in used {
        let segment = &segments[s][i];
        match crate::manifest::helm::resolve(&sources[s].name, &segment.name) {
            Some(path) => {
                index.insert((s, i), sources.len());
                let mut doc = segment.source(&sources[s]);
                doc.name = path;
                sources.push(doc);
            }
            None => {
                unmapped.insert((s, i), segment.name.clone());
            }
        }
    }
    // A fix would edit the rendered output, not the chart's template: shown, never applied.
    for d in diagnostics.iter_mut() {
        let helm = d
            .source
            .and_then(|s| segments.get(s))
            .is_some_and(|g| !g.is_empty());
        if helm {
            if let Some(f) = d.fix.as_mut().filter(|f| f.refused.is_none()) {
                f.applicability = super::fix::Applicability::DisplayOnly;
                f.edits.clear();
                f.refused = Some(
                    "the finding is in `helm template` output: edit the chart's template instead"
                        .into(),
                );
            }
        }
    }
    let remap = |source: &mut Option<usize>, span: &mut Option<Span>| {
        if let Some(key) = find(*source, *span) {
            if let (Some(to), Some(sp)) = (index.get(&key), span.as_mut()) {
                *sp = segments[key.0][key.1].map_span(*sp);
                *source = Some(*to);
            }
        }
    };
    for d in diagnostics {
        if let Some(template) = find(d.source, d.span).and_then(|k| unmapped.get(&k)) {
            d.related.push(LocatedRelated {
                message: format!(
                    "rendered from the chart template {template} (# Source:), which is not a file next to the linted output, so the finding stays at the rendered line"
                ),
                object: None,
                pointer: String::new(),
                source: None,
                span: None,
            });
        }
        remap(&mut d.source, &mut d.span);
        for r in &mut d.related {
            remap(&mut r.source, &mut r.span);
        }
    }
}
