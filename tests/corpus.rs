//! The upstream corpus (`../shared/corpus`, real manifests from Flagger, Argo Rollouts, Istio,
//! Prometheus Operator, …) linted with every rule through the library, as `rollgate lint` does:
//! no panic, and no error finding except the ones listed, with a checked reason, in
//! `testdata/corpus-known-errors.tsv`. An entry that no longer occurs fails too (stale list).
//!
//! Skipped, printing `SKIPPED: …`, when the corpus folder is absent (`ROLLGATE_REQUIRE_CORPUS=1`,
//! as `.ci/run` sets, makes that a failure). Set `ROLLGATE_CORPUS` to lint another folder.

#[path = "common/skip.rs"]
mod skip;

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use rollgate::engine::lint::{LintRun, lint};
use rollgate::engine::{Config, Engine, Severity};
use rollgate::manifest::Limits;
use rollgate::manifest::input::{DEFAULT_MAX_FILE_SIZE, Input, expand_paths, read_file};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// (file relative to the corpus, line, rule).
type Key = (String, u32, String);

fn known_errors() -> BTreeSet<Key> {
    let path = root().join("testdata/corpus-known-errors.tsv");
    let text = std::fs::read_to_string(&path).expect("testdata/corpus-known-errors.tsv");
    let mut out = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(
            cols.len() == 4 && !cols[3].trim().is_empty(),
            "testdata/corpus-known-errors.tsv:{}: want 4 tab-separated columns (file, line, rule, reason): {line:?}",
            i + 1
        );
        let n: u32 = cols[1].parse().unwrap_or_else(|_| {
            panic!(
                "testdata/corpus-known-errors.tsv:{}: bad line number {:?}",
                i + 1,
                cols[1]
            )
        });
        assert!(
            out.insert((cols[0].to_owned(), n, cols[2].to_owned())),
            "testdata/corpus-known-errors.tsv:{}: duplicate entry",
            i + 1
        );
    }
    out
}

fn lint_all(inputs: Vec<Input>) -> LintRun {
    let engine = Engine::new(rollgate::rules::REGISTRY, &Config::default(), None);
    lint(
        inputs,
        &engine,
        &Config::default().settings,
        Limits::default(),
    )
}

fn relative(corpus: &Path, name: &str) -> String {
    let p = Path::new(name);
    p.strip_prefix(corpus)
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/")
}

#[test]
fn corpus_has_no_unexpected_errors() {
    let Some(corpus) = skip::corpus_dir() else {
        return;
    };
    let (files, errors) = expand_paths(std::slice::from_ref(&corpus));
    assert!(errors.is_empty(), "cannot walk the corpus: {errors:?}");
    assert!(
        !files.is_empty(),
        "no manifest files in {}",
        corpus.display()
    );
    let inputs: Vec<Input> = files
        .iter()
        .map(|f| {
            read_file(f, DEFAULT_MAX_FILE_SIZE).unwrap_or_else(|e| panic!("{}: {e}", f.display()))
        })
        .collect();

    // One run over every file, like `rollgate lint <corpus>` (rules see the whole input as their
    // world). On a panic, lint file by file to name the culprits.
    let run = match catch_unwind(AssertUnwindSafe(|| lint_all(inputs.clone()))) {
        Ok(run) => run,
        Err(_) => {
            let culprits: Vec<String> = inputs
                .iter()
                .filter(|i| {
                    catch_unwind(AssertUnwindSafe(|| lint_all(vec![(*i).clone()]))).is_err()
                })
                .map(|i| i.source.name.clone())
                .collect();
            panic!("lint panicked on the corpus; files that panic alone: {culprits:#?}");
        }
    };
    assert_eq!(run.summary.files, files.len());

    let known = known_errors();
    let mut seen = BTreeSet::new();
    let mut unexpected = Vec::new();
    for d in &run.diagnostics {
        if d.finding.severity != Severity::Error {
            continue;
        }
        let name = d
            .source
            .and_then(|s| run.sources.get(s))
            .map(|s| s.name.as_str())
            .unwrap_or("-");
        let file = relative(&corpus, name);
        let line = d.span.map(|s| s.start.line).unwrap_or(0);
        let key = (file, line, d.finding.rule.to_owned());
        if known.contains(&key) {
            seen.insert(key);
        } else {
            let col = d.span.map(|s| s.start.column).unwrap_or(0);
            unexpected.push(format!(
                "{}:{}:{col}: error: {} [{}]",
                key.0, key.1, d.finding.message, key.2
            ));
        }
    }
    let stale: Vec<String> = known
        .difference(&seen)
        .map(|(f, l, r)| format!("{f}:{l} [{r}]"))
        .collect();
    println!(
        "corpus: {} files, {} documents, {} objects, {} errors ({} known), {} warnings",
        run.summary.files,
        run.summary.documents,
        run.summary.objects,
        run.summary.errors,
        seen.len(),
        run.summary.warnings
    );
    let mut report = String::new();
    if !unexpected.is_empty() {
        report += &format!(
            "\nerror findings not in testdata/corpus-known-errors.tsv (a rollgate bug, or an \
             upstream bug to check by reading the file and then list with its reason):\n  {}\n",
            unexpected.join("\n  ")
        );
    }
    if !stale.is_empty() {
        report += &format!(
            "\nentries of testdata/corpus-known-errors.tsv that no longer occur (remove them):\n  {}\n",
            stale.join("\n  ")
        );
    }
    assert!(report.is_empty(), "{report}");
}

/// `rollgate lint` parses files and checks objects on every core: the report must be the same
/// byte for byte whatever the thread count (findings in the same order, same summary).
#[test]
fn thread_count_does_not_change_the_report() {
    let Some(corpus) = skip::corpus_dir() else {
        return;
    };
    let (files, _) = expand_paths(std::slice::from_ref(&corpus));
    let inputs: Vec<Input> = files
        .iter()
        .filter_map(|f| read_file(f, DEFAULT_MAX_FILE_SIZE).ok())
        .collect();
    let engine = Engine::new(rollgate::rules::REGISTRY, &Config::default(), None);
    let report = |threads: usize| {
        let run = rollgate::engine::lint::lint_with_threads(
            inputs.clone(),
            &engine,
            &Config::default().settings,
            Limits::default(),
            threads,
        );
        let mut out = Vec::new();
        rollgate::report::write(
            rollgate::report::Format::Json,
            &run,
            &rollgate::report::Options { color: false },
            &mut out,
        )
        .expect("write report");
        String::from_utf8(out).expect("utf-8 report")
    };
    let one = report(1);
    assert!(
        one.contains("\"findings\""),
        "{}",
        &one[..one.len().min(200)]
    );
    for threads in [2, 3, 7] {
        assert!(
            report(threads) == one,
            "the report on {threads} threads differs from the one-thread report"
        );
    }
}
