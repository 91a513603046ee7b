//! Differential test against go-yaml v2, the YAML parser behind kubectl and the apiserver:
//! every input of the upstream corpus (`../shared/corpus`), `testdata/` and the YAML fuzz
//! corpora is decoded by `.ci/goyaml/main.go` (gopkg.in/yaml.v2 through ghodss/yaml's
//! YAMLToJSON, documents split like apimachinery's YAMLReader) and by rollgate's loader; both
//! must accept or reject it, and decode the same values.
//!
//! The Go program is built by `.ci/goyaml.sh` (cached outside the repository); `ROLLGATE_GOYAML`
//! names it. Without it the test is skipped with a note, unless `ROLLGATE_REQUIRE_GOYAML` is set
//! (`.ci/run` sets it). Deliberate differences are listed in [`known_difference`] with reasons.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rollgate::manifest::{Limits, ProblemKind, load};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ROLLGATE_GOYAML") {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME")?;
    let cache = std::env::var_os("ROLLGATE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&home).join(".cache/rollgate"));
    Some(cache.join("goyaml-decode")).filter(|p| p.is_file())
}

/// Files under `dir` (recursively) whose name ends with one of `exts` (all when empty).
fn files(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, exts, out);
        } else if exts.is_empty()
            || exts
                .iter()
                .any(|e| p.to_string_lossy().to_ascii_lowercase().ends_with(e))
        {
            out.push(p);
        }
    }
}

fn inputs() -> Vec<PathBuf> {
    let corpus = std::env::var_os("ROLLGATE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/corpus"));
    let yaml = &[".yaml", ".yml", ".json"];
    let mut out = Vec::new();
    files(&corpus, yaml, &mut out);
    files(&root().join("testdata"), yaml, &mut out);
    files(&root().join("examples"), yaml, &mut out);
    for fuzz in ["manifest_load", "lint"] {
        files(&root().join("fuzz/corpus").join(fuzz), &[], &mut out);
    }
    // More folders to compare (public repositories checked out for a measurement), separated
    // by `:`.
    if let Some(extra) = std::env::var_os("ROLLGATE_GOYAML_EXTRA") {
        for dir in std::env::split_paths(&extra) {
            files(&dir, yaml, &mut out);
        }
    }
    out
}

/// Numbers compare by value (go prints `1.0` as `1`, rollgate may hold it as a float).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y
                || match (x.as_i64(), y.as_i64()) {
                    (Some(i), Some(j)) => i == j,
                    _ => x.as_f64() == y.as_f64(),
                }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Rollgate's reading of a file: `Err(message)` when it reports a syntax error.
fn rollgate(text: &str) -> Result<Vec<Value>, String> {
    let loaded = load(text, Limits::default());
    if let Some(p) = loaded
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::Syntax)
    {
        return Err(format!(
            "{}:{}: {}",
            p.span.start.line, p.span.start.column, p.message
        ));
    }
    Ok(loaded
        .documents
        .into_iter()
        .map(|d| d.value)
        .filter(|v| !v.is_null())
        .collect())
}

/// Differences that are deliberate: (what, why). `None` for a real disagreement.
fn known_difference(
    text: &str,
    ours: &Result<Vec<Value>, String>,
    go: &Result<Vec<Value>, String>,
) -> Option<&'static str> {
    match (ours, go) {
        // go-yaml v2's Unmarshal (sigs.k8s.io/yaml) decodes the first node of a document and
        // never reads on: what follows a `...` marker, or a root that ends at a less indented
        // line, is silently dropped by kubectl. rollgate reads on and reports the syntax error
        // there (a Deployment after a stray `...` is never applied).
        (Err(e), Ok(_))
            if e.contains("did not find expected <document start>")
                || text.lines().any(|l| l.trim_end() == "...") =>
        {
            Some(
                "text after the first node of a document (`...`, a less indented line): go-yaml's Unmarshal ignores it, rollgate reports it",
            )
        }
        // kubectl splits a stream on lines that are exactly `---` (apimachinery YAMLReader)
        // and decodes each part with yaml.Unmarshal, which reads the part's first document
        // only; rollgate reads every document of the stream (`--- |`, `--- !tag`, `...`).
        (Ok(_), Ok(_))
            if text.lines().any(|l| {
                (l.starts_with("--- ") && !l[4..].trim_start().starts_with('#'))
                    || l.starts_with("...")
            }) =>
        {
            Some(
                "document markers with content (`--- x`) or `...`: kubectl's line splitter differs from a YAML stream",
            )
        }
        // encoding/json cannot write NaN or ±Inf, so YAMLToJSON fails on `.nan`/`.inf`
        // values; rollgate keeps the document (such a value fails the schema of its field).
        (Ok(_), Err(e)) if e.contains("unsupported value") => {
            Some(".nan/.inf values: YAMLToJSON fails in encoding/json")
        }
        // ghodss/sigs.k8s.io YAMLToJSON refuses keys that are not strings, numbers or
        // booleans (a null or a collection as a key); rollgate reports them on the object.
        (Ok(_), Err(e)) if e.contains("Unsupported map key") => {
            Some("null or collection map keys: YAMLToJSON refuses them")
        }
        _ => None,
    }
}

#[test]
fn rollgate_decodes_yaml_like_go_yaml() {
    let Some(bin) = binary() else {
        assert!(
            std::env::var_os("ROLLGATE_REQUIRE_GOYAML").is_none(),
            "ROLLGATE_REQUIRE_GOYAML is set but the go-yaml decoder is missing: run .ci/goyaml.sh and set ROLLGATE_GOYAML"
        );
        eprintln!("note: go-yaml decoder not built (.ci/goyaml.sh); differential test skipped");
        return;
    };
    let mut paths = inputs();
    // Texts only: both read UTF-8 here (encodings are tested elsewhere).
    let mut skipped_binary = 0;
    let mut texts = BTreeMap::new();
    paths.retain(|p| match std::fs::read(p).map(String::from_utf8) {
        Ok(Ok(t)) if !t.contains('\0') => {
            texts.insert(p.clone(), t);
            true
        }
        _ => {
            skipped_binary += 1;
            false
        }
    });
    let mut child = Command::new(&bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    let list: String = paths.iter().map(|p| format!("{}\n", p.display())).collect();
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(list.as_bytes()));
    let output = child.wait_with_output().expect("go-yaml decoder output");
    writer.join().expect("writer").expect("writing paths");
    assert!(output.status.success(), "go-yaml decoder failed");
    let text = String::from_utf8(output.stdout).expect("utf-8 output");
    let mut go: BTreeMap<PathBuf, Result<Vec<Value>, String>> = BTreeMap::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("a JSON line");
        let path = PathBuf::from(v["path"].as_str().expect("path"));
        let r = match v.get("error").and_then(Value::as_str) {
            Some(e) => Err(e.to_owned()),
            None => Ok(v["docs"].as_array().cloned().unwrap_or_default()),
        };
        go.insert(path, r);
    }
    assert_eq!(go.len(), paths.len(), "one answer per file");

    let (mut accepted, mut rejected) = (0, 0);
    let mut known: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut wrong = Vec::new();
    for p in &paths {
        let text = &texts[p];
        let ours = rollgate(text);
        let theirs = &go[p];
        let agree = match (&ours, theirs) {
            (Ok(a), Ok(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y)),
            (Err(_), Err(_)) => true,
            _ => false,
        };
        if agree {
            if ours.is_ok() {
                accepted += 1;
            } else {
                rejected += 1;
            }
            continue;
        }
        match known_difference(text, &ours, theirs) {
            Some(why) => known.entry(why).or_default().push(p.display().to_string()),
            None => wrong.push(format!(
                "{}:\n  rollgate: {}\n  go-yaml:  {}",
                p.display(),
                short(&ours),
                short(theirs)
            )),
        }
    }
    eprintln!(
        "go-yaml differential: {} files compared ({skipped_binary} binary or non-UTF-8 skipped): {} agree ({accepted} accepted, {rejected} rejected by both), {} known differences, {} disagreements",
        paths.len(),
        accepted + rejected,
        known.values().map(Vec::len).sum::<usize>(),
        wrong.len()
    );
    for (why, files) in &known {
        eprintln!("  known: {why}: {} file(s), e.g. {}", files.len(), files[0]);
    }
    assert!(
        wrong.is_empty(),
        "{} file(s) decode differently from go-yaml:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(paths.len() > 100, "too few inputs: {}", paths.len());
}

fn short(r: &Result<Vec<Value>, String>) -> String {
    let s = match r {
        Ok(docs) => format!("ok {}", Value::Array(docs.clone())),
        Err(e) => format!("error {e}"),
    };
    if s.chars().count() > 600 && std::env::var_os("ROLLGATE_GOYAML_FULL").is_none() {
        format!("{}…", s.chars().take(600).collect::<String>())
    } else {
        s
    }
}
