//! The language server's incremental workspace (`engine::workspace`) must report exactly what a
//! fresh `rollgate lint` of the same texts reports, after every edit: it re-checks only the
//! files whose findings can change, and this is where a missed dependency shows.
//!
//! Run over `testdata/lsp/workspace` and `testdata/examples`, and over the upstream corpus
//! (`../shared/corpus`, or `ROLLGATE_CORPUS`) when it is present.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rollgate::engine::lint::lint_in_project;
use rollgate::engine::workspace::Workspace;
use rollgate::engine::{Config, Engine};
use rollgate::manifest::Limits;
use rollgate::manifest::input::{Input, expand_paths, from_bytes};
use rollgate::manifest::kustomize::Scopes;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

type Row = (String, String, Option<(u32, u32, u32, u32)>, String);

fn engine() -> Engine {
    Engine::new(rollgate::rules::REGISTRY, &Config::default(), None)
}

/// What `rollgate lint <file>` reports for each of these texts with the others as its
/// context (what the language server shows for an open file), as (path, rule, span, message);
/// only for the files at `which` (all when `None`).
fn fresh(files: &[(PathBuf, String)], which: Option<&[usize]>) -> BTreeSet<Row> {
    let all: Vec<usize> = (0..files.len()).collect();
    let mut rows = BTreeSet::new();
    for &named in which.unwrap_or(&all) {
        let inputs: Vec<Input> = files
            .iter()
            .enumerate()
            .map(|(i, (p, t))| {
                let mut input = from_bytes(p.display().to_string(), t.clone().into_bytes());
                input.path = Some(p.clone());
                input.context = i != named;
                input
            })
            .collect();
        let run = lint_in_project(
            inputs,
            &Scopes::default(),
            &engine(),
            &Default::default(),
            Limits::default(),
            1,
        );
        rows.extend(run.diagnostics.iter().map(|d| {
            (
                d.source
                    .map(|s| run.sources[s].name.clone())
                    .unwrap_or_default(),
                d.finding.rule.to_owned(),
                d.span
                    .map(|s| (s.start.line, s.start.column, s.end.line, s.end.column)),
                d.finding.message.clone(),
            )
        }));
    }
    rows
}

fn incremental(ws: &Workspace, only: Option<&[PathBuf]>) -> BTreeSet<Row> {
    let mut rows = BTreeSet::new();
    for (id, slot) in ws.files() {
        if only.is_some_and(|o| !o.contains(&slot.path)) {
            continue;
        }
        for d in ws.diagnostics(id) {
            rows.insert((
                slot.path.display().to_string(),
                d.finding.rule.to_owned(),
                d.span
                    .map(|s| (s.start.line, s.start.column, s.end.line, s.end.column)),
                d.finding.message.clone(),
            ));
        }
    }
    rows
}

fn read_all(dirs: &[PathBuf]) -> Vec<(PathBuf, String)> {
    let (files, _) = expand_paths(dirs);
    files
        .into_iter()
        .filter_map(|f| Some((f.clone(), std::fs::read_to_string(&f).ok()?)))
        .collect()
}

/// Edits that change what objects name: rename the first object, drop a document, change a
/// label, break the YAML, edit a comment only.
fn mutate(text: &str, step: usize) -> String {
    match step % 5 {
        0 => text.replacen("name: ", "name: renamed-", 1),
        1 => match text.find("\n---") {
            Some(i) => text[i + 4..].to_owned(),
            None => String::new(),
        },
        2 => text.replacen("app: ", "app: other-", 1),
        3 => format!("{text}\n  bad: [unclosed\n"),
        _ => format!("# a comment\n\n{text}"),
    }
}

/// The files compared after an edit of file `i`: all of them in a small workspace; else the
/// edited one and a few others (a fresh lint per file costs a lint of the whole workspace).
fn sample(len: usize, i: usize) -> Option<Vec<usize>> {
    (len > 12).then(|| {
        let mut v: Vec<usize> = (0..4).map(|k| (i + k * 5) % len).collect();
        v.sort_unstable();
        v.dedup();
        v
    })
}

fn compare(ws: &Workspace, current: &[(PathBuf, String)], i: usize, what: &str) {
    let which = sample(current.len(), i);
    let paths: Option<Vec<PathBuf>> = which
        .as_ref()
        .map(|w| w.iter().map(|&k| current[k].0.clone()).collect());
    assert_eq!(
        incremental(ws, paths.as_deref()),
        fresh(current, which.as_deref()),
        "{what}"
    );
}

fn check_edits(files: Vec<(PathBuf, String)>, edits: usize) {
    let mut current = files.clone();
    let mut ws = Workspace::new(engine(), Default::default(), Limits::default());
    ws.set_inputs(
        files
            .iter()
            .map(|(p, t)| {
                (
                    p.clone(),
                    from_bytes(p.display().to_string(), t.clone().into_bytes()),
                )
            })
            .collect(),
    );
    ws.check();
    compare(&ws, &current, 0, "after the initial load");
    // A fixed walk over the files (every 7th, wrapping), so edits hit unrelated pairs too.
    for step in 0..edits.min(current.len() * 2) {
        let i = (step * 7 + 3) % current.len();
        let path = current[i].0.clone();
        if step % 11 == 10 {
            ws.remove(&path);
            current.remove(i);
        } else {
            let text = mutate(&current[i].1, step);
            current[i].1 = text.clone();
            ws.set_text(&path, text);
        }
        let stats = ws.check();
        if current.is_empty() {
            break;
        }
        compare(
            &ws,
            &current,
            i.min(current.len() - 1),
            &format!("after edit {step} of {} ({stats:?})", path.display()),
        );
    }
}

#[test]
fn edits_match_a_fresh_lint() {
    let files = read_all(&[
        root().join("testdata/lsp/workspace"),
        root().join("testdata/examples"),
    ]);
    assert!(files.len() >= 5);
    check_edits(files, 60);
}

#[test]
fn template_edit_updates_the_canary_finding() {
    let dir = root().join("testdata/lsp/workspace");
    let files = read_all(std::slice::from_ref(&dir));
    let mut ws = Workspace::new(engine(), Default::default(), Limits::default());
    for (p, t) in &files {
        ws.set_text(p, t.clone());
    }
    ws.check();
    let template = ws.file_id(&dir.join("template.yaml")).unwrap();
    // The template's dilution finding, bound to the Canary `checkout` while it uses it.
    let bound = |ws: &Workspace| -> bool {
        ws.diagnostics(template).iter().any(|d| {
            d.finding.rule == "canary-query-includes-primary"
                && d.finding.message.contains("`checkout-primary`")
        })
    };
    assert!(bound(&ws));
    // Editing the Canary's file (another file) removes the template's finding.
    let canary = dir.join("canary.yaml");
    let text = std::fs::read_to_string(&canary).unwrap();
    ws.set_text(
        &canary,
        text.replace("templateRef: {name: latency}", "query: up"),
    );
    let stats = ws.check();
    assert!(
        stats.files < files.len(),
        "only related files are re-checked: {stats:?}"
    );
    assert!(!bound(&ws));
    // A comment-only edit re-checks nothing and moves the findings with the text.
    ws.set_text(&canary, text.clone());
    ws.check();
    let before = ws.diagnostics(template)[0].span.unwrap();
    let ttext = std::fs::read_to_string(dir.join("template.yaml")).unwrap();
    ws.set_text(&dir.join("template.yaml"), format!("# moved\n{ttext}"));
    let stats = ws.check();
    assert_eq!(stats.objects, 0, "{stats:?}");
    assert_eq!(
        ws.diagnostics(template)[0].span.unwrap().start.line,
        before.start.line + 1
    );
}

#[test]
fn corpus_edits_match_a_fresh_lint() {
    let dir = match std::env::var_os("ROLLGATE_CORPUS") {
        Some(d) => PathBuf::from(d),
        None => root().join("../shared/corpus"),
    };
    if !Path::new(&dir).is_dir() {
        eprintln!("note: {} absent; skipped", dir.display());
        return;
    }
    // One project per upstream repository folder: the world of each is its own files.
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = entry.path();
        if !p.is_dir()
            || p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('_'))
        {
            continue;
        }
        let files = read_all(&[p]);
        if files.len() < 2 {
            continue;
        }
        check_edits(files, 8);
        checked += 1;
    }
    assert!(checked > 0);
}
