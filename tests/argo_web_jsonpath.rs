//! Rule `argo-web-jsonpath-invalid` against the real client-go JSONPath parser.
//!
//! `testdata/jsonpath/client-go.jsonl` holds paths (the Argo docs' and tests', kubectl's,
//! typical mistakes, and random token strings) with what k8s.io/client-go v0.34.5
//! `util/jsonpath` did with them: `parse` is `Parse`'s error or `ok`; for a path that parses,
//! `fails` says whether Argo's evaluation (`FindResults`, then `getValue`, which rejects an empty
//! result) failed on every one of six bodies (`{}`, `{"data":{"ok":true}}`,
//! `{"a":[1,2,3],"items":[{"name":"x"}]}`, `[]`, `"s"`, `{"a":[],"items":[]}`), `errors` are the
//! distinct errors, and `values` the distinct results of `getValue` (JSON) where it succeeded.
//! (Made with a Go program around client-go's `parser.go`, `node.go` and `jsonpath.go`; see
//! testdata/README.md.)
//!
//! The rule's parser must agree exactly with client-go or say "unknown"; every finding the rule
//! makes on a path that parses must be borne out by client-go's evaluation (fails on every body,
//! or yields only the literal text).

use std::path::PathBuf;

use rollgate::rules::argo_web_jsonpath_invalid::{Fail, diagnose, parse_template};
use serde_json::Value;

#[test]
fn agrees_with_client_go() {
    let file = std::env::var_os("ROLLGATE_CLIENT_GO_CASES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/jsonpath/client-go.jsonl"),
        PathBuf::from,
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let (mut cases, mut unknown, mut go_errors, mut reported) = (0, 0, 0, 0);
    let mut problems = Vec::new();
    for line in text.lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let path = case["path"].as_str().unwrap();
        let go = case["parse"].as_str().unwrap();
        cases += 1;
        let ours = parse_template(path);
        if go != "ok" {
            go_errors += 1;
        }
        match (&ours, go) {
            (Err(Fail::Unknown), _) => unknown += 1,
            (Ok(_), "ok") => {}
            (Err(Fail::Error { msg, .. }), go) if msg == go => {}
            (ours, go) => problems.push(format!("{path:?}: client-go {go:?}, ours {ours:?}")),
        }
        let Some(d) = diagnose(path) else {
            continue;
        };
        reported += 1;
        if go != "ok" {
            if !d.message.contains(&format!("({go})")) {
                problems.push(format!("{path:?}: message {:?} lacks {go:?}", d.message));
            }
            continue;
        }
        let fails = case["fails"].as_bool().unwrap();
        let errors: Vec<&str> = case["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        if [
            "unrecognized identifier",
            "nothing to end",
            "unrecognized filter operator",
        ]
        .iter()
        .any(|m| d.message.contains(m))
        {
            // Evaluation always fails: at the keyword or operator, at an earlier step, or (for
            // the operator, with no element to filter) with no value.
            if !fails {
                problems.push(format!(
                    "{path:?}: we say {:?}; client-go fails on every body: {fails}, with {errors:?}",
                    d.message
                ));
            }
        } else {
            // The result is literal text: Argo's value must be that text whenever evaluation succeeds.
            let text = match &d.range {
                Some(r) => &path[r.clone()],
                None => path,
            };
            let values = case["values"].as_array().unwrap();
            for v in values {
                let v: Value = serde_json::from_str(v.as_str().unwrap()).unwrap();
                if v.as_str() != Some(text) {
                    problems.push(format!(
                        "{path:?}: we say the result is {text:?}; Argo's is {v}"
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} disagreements with client-go:\n{}",
        problems.len(),
        problems.join("\n")
    );
    eprintln!(
        "{cases} paths: client-go rejects {go_errors}; {unknown} not decided; {reported} reported"
    );
    assert!(
        cases > 1000 && unknown * 20 < cases,
        "{unknown} of {cases} undecided"
    );
}

/// `(line, first column, column after the last)` of each finding of the rule on `text`, 1-based
/// as printed, and the messages.
fn lint_rule(name: &str, text: &str) -> Vec<(u32, u32, u32, String)> {
    use rollgate::engine::lint::lint;
    use rollgate::engine::{Config, Engine, Settings};
    use rollgate::manifest::Limits;
    use rollgate::manifest::input::from_bytes;
    let only = ["argo-web-jsonpath-invalid".to_owned()];
    let engine = Engine::new(rollgate::rules::REGISTRY, &Config::default(), Some(&only));
    let input = from_bytes(name.to_owned(), text.as_bytes().to_vec());
    let run = lint(
        vec![input],
        &engine,
        &Settings::default(),
        Limits::default(),
    );
    run.diagnostics
        .iter()
        .map(|d| {
            let s = d.span.expect("placed");
            assert_eq!(s.start.line, s.end.line, "{}", d.finding.message);
            (
                s.start.line,
                s.start.column,
                s.end.column,
                d.finding.message.clone(),
            )
        })
        .collect()
}

fn argo_example(file: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/jsonpath/argo");
    std::fs::read_to_string(dir.join(file)).unwrap()
}

/// Argo's own web-metric examples (docs and examples/, copied from the corpus) are clean.
#[test]
fn argo_examples_are_clean() {
    for f in [
        "docs-analysis-web.md-block7.yaml",
        "docs-features-analysis.md-block14.yaml",
        "examples-rollout-secret.yaml",
    ] {
        assert_eq!(lint_rule(f, &argo_example(f)), vec![], "{f}");
    }
}

/// The same examples with the jsonPath broken the ways people break it: the finding lands on
/// the exact characters inside the YAML value, whatever the scalar style.
#[test]
fn broken_argo_examples_point_inside_the_value() {
    let web = argo_example("docs-analysis-web.md-block7.yaml");
    let line = "        jsonPath: \"{$.data.ok}\"";
    assert!(web.contains(line));
    let n = 1 + web.lines().position(|l| l == line).unwrap() as u32;
    let cases: &[(&str, u32, u32, u32, &str)] = &[
        // (replacement line, line offset, start column, end column, message part)
        ("        jsonPath: \"$.data.ok\"", 0, 19, 30, "has no {…}"),
        (
            "        jsonPath: \"{$.data.ok\"",
            0,
            20,
            30,
            "(unclosed action)",
        ),
        (
            "        jsonPath: '{$[\"data\"][\"ok\"]}'",
            0,
            22,
            30,
            "(invalid array index \"data\")",
        ),
        (
            "        jsonPath: \"{data.ok}\"",
            0,
            21,
            25,
            "unrecognized identifier data",
        ),
        // A plain scalar (it cannot start with `{`, which would be a flow mapping).
        (
            "        jsonPath: $ {$.data.ok",
            0,
            21,
            31,
            "(unclosed action)",
        ),
        (
            "        jsonPath: \"ok: {$.data.ok}\"",
            0,
            20,
            24,
            "before the first {…}",
        ),
        // An escaped quote before the error: columns count source characters.
        (
            "        jsonPath: \"{.items[?(@.name==\\\"x\\\")].v == 1}\"",
            0,
            48,
            49,
            "(unrecognized character in action: U+003D '=')",
        ),
        // A literal block scalar: the newline inside the action is the error.
        (
            "        jsonPath: |\n          {$.data\n          .ok}",
            1,
            11,
            18,
            "(unclosed action)",
        ),
    ];
    for (replacement, dl, c0, c1, part) in cases {
        let text = web.replace(line, replacement);
        let got = lint_rule("web.yaml", &text);
        assert_eq!(got.len(), 1, "{replacement}: {got:?}");
        let (l, s, e, msg) = &got[0];
        assert!(msg.contains(part), "{replacement}: {msg}");
        assert_eq!((*l, *s, *e), (n + dl, *c0, *c1), "{replacement}: {msg}");
    }
    // Templated paths are rendered by Argo first: not analysed.
    let text = web.replace(line, "        jsonPath: \"{{ args.path }}\"");
    assert_eq!(lint_rule("web.yaml", &text), vec![]);
}
