//! The `rollgate` binary end to end: exit codes, standard input, configuration discovery,
//! suppressions, rule selection, `rules` and `explain`, broken pipes, colour, and bad input
//! (`testdata/bad-input/`, plus generated cases too big to commit).
//!
//! Every run checks that stderr has no panic message.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_rollgate");

/// Weights 95 + 10: one error finding, on the `route:` line (8:5).
const BAD_VS: &str = "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 95
    - destination: {host: reviews, subset: v2}
      weight: 10
";

const CLEAN_VS: &str = "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 90
    - destination: {host: reviews, subset: v2}
      weight: 10
";

/// Sum 100 but v2 has no weight: a warning only.
const WARN_VS: &str = "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 100
    - destination: {host: reviews, subset: v2}
";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("rollgate-cli-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.0.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&p, content).expect("write temp file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit code {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn finish(out: Output) -> Run {
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "the binary panicked: {run:?}"
    );
    run
}

/// The rules these tests are about. The fixtures are incomplete on purpose (no
/// DestinationRule, no Service…), so other rules would report on them as more rules are added;
/// `lint` runs therefore select these unless they pass `--select` themselves (parse-error is
/// always on).
const RULES_UNDER_TEST: &str = "istio-weights-not-100,duplicate-key,invalid-suppression";

fn with_rules(args: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    if args.first() == Some(&"lint") && !args.contains(&"--select") {
        v.splice(1..1, ["--select".to_owned(), RULES_UNDER_TEST.to_owned()]);
    }
    v
}

fn cmd(args: &[&str], cwd: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.args(with_rules(args))
        .current_dir(cwd)
        .env_remove("NO_COLOR");
    c
}

/// Run `rollgate args…` in `cwd` with `stdin` (empty when `None`).
fn run_in(cwd: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut c = cmd(args, cwd);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn rollgate");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.unwrap_or_default().to_vec();
    // A writer thread: the child may stop reading (size limit) or write a lot before reading.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait for rollgate");
    let _ = writer.join();
    finish(out)
}

/// Run in a temp dir holding no config file (so no `.rollgate.yaml` of the machine is found
/// above it — unless the temp dir itself has one, which nobody should have).
fn run(tmp: &TempDir, args: &[&str]) -> Run {
    run_in(tmp.path(), args, None)
}

/// `(file, line, column, rule)` of every finding of a `--format json` run.
fn placed(v: &Value) -> BTreeSet<(String, u64, u64, String)> {
    v["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap_or("?").to_owned(),
                f["line"].as_u64().unwrap_or(0),
                f["column"].as_u64().unwrap_or(0),
                f["rule"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect()
}

fn finding_at<'v>(v: &'v Value, file: &str, line: u64, rule: &str) -> &'v Value {
    v["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .find(|f| f["file"] == file && f["line"] == line && f["rule"] == rule)
        .unwrap_or_else(|| panic!("no [{rule}] finding at {file}:{line} in {v:#}"))
}

fn set(items: &[(&str, u64, u64, &str)]) -> BTreeSet<(String, u64, u64, String)> {
    items
        .iter()
        .map(|(f, l, c, r)| (f.to_string(), *l, *c, r.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Exit codes

#[test]
fn clean_file_exits_0() {
    let t = TempDir::new("clean");
    t.write("vs.yaml", CLEAN_VS);
    let r = run(&t, &["lint", "vs.yaml"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.stderr, "", "{r:?}");
    assert!(!r.stdout.contains("error"), "{r:?}");
    let r = run(&t, &["lint", "--format", "gcc", "vs.yaml"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.stdout, "", "{r:?}");
}

#[test]
fn error_finding_exits_1() {
    let t = TempDir::new("err");
    t.write("vs.yaml", BAD_VS);
    let r = run(&t, &["lint", "--format", "gcc", "vs.yaml"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert_eq!(
        r.stdout,
        "vs.yaml:8:5: error: weights sum to 105, not 100: v1 receives 90.5%, v2 receives 9.5% of traffic [istio-weights-not-100]\n"
    );
}

#[test]
fn unknown_path_exits_2_and_other_files_are_still_reported() {
    let t = TempDir::new("missing");
    t.write("a.yaml", BAD_VS);
    t.write("dir/b.yaml", BAD_VS);
    let r = run(
        &t,
        &["lint", "--format", "gcc", "a.yaml", "nope.yaml", "dir"],
    );
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("nope.yaml"), "{r:?}");
    assert!(r.stdout.contains("a.yaml:8:5: error:"), "{r:?}");
    assert!(r.stdout.contains("b.yaml:8:5: error:"), "{r:?}");
    // An unreadable path wins over findings even with --fail-level never: the run was partial.
    let r = run(
        &t,
        &["lint", "--fail-level", "never", "nope.yaml", "a.yaml"],
    );
    assert_eq!(r.code, Some(2), "{r:?}");
}

#[test]
fn unknown_rule_in_select_or_ignore_exits_2_with_suggestion() {
    let t = TempDir::new("select");
    t.write("vs.yaml", BAD_VS);
    let r = run(&t, &["lint", "--select", "istio-weight-not-100", "vs.yaml"]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(
        r.stderr.contains(
            "unknown rule \"istio-weight-not-100\"; did you mean \"istio-weights-not-100\"?"
        ),
        "{r:?}"
    );
    assert_eq!(r.stdout, "", "nothing is linted on a usage error: {r:?}");
    let r = run(&t, &["lint", "--ignore", "no-such-rule", "vs.yaml"]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("unknown rule \"no-such-rule\""), "{r:?}");
}

#[test]
fn config_with_unknown_key_exits_2_with_its_position() {
    let t = TempDir::new("badcfg");
    t.write("vs.yaml", CLEAN_VS);
    t.write(
        ".rollgate.yaml",
        "rules:\n  istio-weights-not-100: warning\nexclud: [a]\n",
    );
    let r = run(&t, &["lint", "vs.yaml"]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(
        r.stderr
            .contains(".rollgate.yaml:3:1: unknown key \"exclud\"; did you mean \"exclude\"?"),
        "{r:?}"
    );
    t.write(
        ".rollgate.yaml",
        "rules:\n  istio-weights-not-100:\n    severity: warning\n    colour: red\n",
    );
    let r = run(&t, &["lint", "vs.yaml"]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(
        r.stderr
            .contains(".rollgate.yaml:4:5: unknown option \"colour\""),
        "{r:?}"
    );
}

#[test]
fn fail_level_warning_and_never() {
    let t = TempDir::new("faillevel");
    t.write("warn.yaml", WARN_VS);
    t.write("bad.yaml", BAD_VS);
    let r = run(&t, &["lint", "--format", "gcc", "warn.yaml"]);
    assert_eq!(r.code, Some(0), "a warning does not fail by default: {r:?}");
    assert!(r.stdout.contains("warn.yaml:7:5: warning:"), "{r:?}");
    let r = run(&t, &["lint", "--fail-level", "warning", "warn.yaml"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    let r = run(&t, &["lint", "--fail-level", "never", "bad.yaml"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout.contains("weights sum to 105"),
        "findings are still printed: {r:?}"
    );
}

#[test]
fn stdin_uses_stdin_filename() {
    let t = TempDir::new("stdin");
    let r = run_in(
        t.path(),
        &[
            "lint",
            "--format",
            "gcc",
            "--stdin-filename",
            "deploy/vs.yaml",
            "-",
        ],
        Some(BAD_VS.as_bytes()),
    );
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.stdout
            .starts_with("deploy/vs.yaml:8:5: error: weights sum to 105"),
        "{r:?}"
    );
    let r = run_in(
        t.path(),
        &["lint", "--format", "gcc", "-"],
        Some(CLEAN_VS.as_bytes()),
    );
    assert_eq!(r.code, Some(0), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// Configuration

#[test]
fn config_is_found_upward_and_can_be_named_or_ignored() {
    let t = TempDir::new("discover");
    t.write(".rollgate.yaml", "rules:\n  istio-weights-not-100: off\n");
    t.write("other.yaml", "rules:\n  istio-weights-not-100: warning\n");
    let work = t.path().join("a/b");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("vs.yaml"), BAD_VS).unwrap();

    // Found two folders up: the rule is off.
    let r = run_in(&work, &["lint", "--format", "gcc", "vs.yaml"], None);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.stdout, "", "{r:?}");

    let r = run_in(
        &work,
        &["lint", "--format", "gcc", "--no-config", "vs.yaml"],
        None,
    );
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stdout.contains("vs.yaml:8:5: error:"), "{r:?}");

    let other = t.path().join("other.yaml");
    let r = run_in(
        &work,
        &[
            "lint",
            "--format",
            "gcc",
            "--config",
            other.to_str().unwrap(),
            "vs.yaml",
        ],
        None,
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("vs.yaml:8:5: warning:"), "{r:?}");

    let r = run_in(
        &work,
        &["lint", "--config", "missing.yaml", "vs.yaml"],
        None,
    );
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("missing.yaml"), "{r:?}");
}

#[test]
fn config_excludes_paths() {
    let t = TempDir::new("exclude");
    t.write(".rollgate.yaml", "exclude: [\"generated/**\"]\n");
    t.write("generated/vs.yaml", BAD_VS);
    t.write("src/vs.yaml", BAD_VS);
    let r = run(&t, &["lint", "--format", "gcc", "."]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stdout.contains("src/vs.yaml:8:5"), "{r:?}");
    assert!(!r.stdout.contains("generated"), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// Suppression and rule selection

fn annotated(reason: &str) -> String {
    BAD_VS.replace(
        "  name: reviews\n",
        &format!(
            "  name: reviews\n  annotations:\n    ignore-check.rollgate.dev/istio-weights-not-100: {reason}\n"
        ),
    )
}

#[test]
fn suppression_annotation_suppresses_and_is_counted() {
    let t = TempDir::new("suppress");
    t.write(
        "vs.yaml",
        annotated("\"a deploy script rewrites the weights\""),
    );
    let r = run(&t, &["lint", "--format", "json", "vs.yaml"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let v = r.json();
    assert_eq!(v["findings"], Value::Array(vec![]), "{r:?}");
    assert_eq!(v["summary"]["suppressed"], 1, "{r:?}");
    assert_eq!(v["summary"]["errors"], 0, "{r:?}");
    // Without the annotation the same file has the finding and nothing is suppressed.
    t.write("vs.yaml", BAD_VS);
    let v = run(&t, &["lint", "--format", "json", "vs.yaml"]).json();
    assert_eq!(v["summary"]["suppressed"], 0);
    assert_eq!(v["summary"]["errors"], 1);
}

#[test]
fn empty_suppression_reason_is_reported_at_the_annotation() {
    let t = TempDir::new("emptyreason");
    t.write("vs.yaml", annotated("\"\""));
    let r = run(&t, &["lint", "--format", "json", "vs.yaml"]);
    let v = r.json();
    let f = finding_at(&v, "vs.yaml", 6, "invalid-suppression");
    assert_eq!(f["severity"], "warning", "{f:#}");
    assert_eq!(f["column"], 54, "the value `\"\"`: {f:#}");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("istio-weights-not-100 gives no reason"),
        "{f:#}"
    );
    let r = run(
        &t,
        &[
            "lint",
            "--format",
            "gcc",
            "--fail-level",
            "warning",
            "vs.yaml",
        ],
    );
    assert_eq!(r.code, Some(1), "{r:?}");
}

/// Two rules fire: a duplicate key (7:5) and the weights (11:5).
const TWO_RULES: &str = "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  hosts: [ratings]
  http:
  - match:
    - uri: {prefix: /}
    route:
    - destination: {host: reviews, subset: v1}
      weight: 95
    - destination: {host: reviews, subset: v2}
      weight: 10
";

#[test]
fn select_and_ignore_choose_rules() {
    let t = TempDir::new("selectignore");
    t.write("vs.yaml", TWO_RULES);
    let all = placed(&run(&t, &["lint", "--format", "json", "vs.yaml"]).json());
    assert_eq!(
        all,
        set(&[
            ("vs.yaml", 7, 3, "duplicate-key"),
            ("vs.yaml", 11, 5, "istio-weights-not-100"),
        ])
    );
    let sel = placed(
        &run(
            &t,
            &[
                "lint",
                "--format",
                "json",
                "--select",
                "duplicate-key",
                "vs.yaml",
            ],
        )
        .json(),
    );
    assert_eq!(sel, set(&[("vs.yaml", 7, 3, "duplicate-key")]));
    let ign = placed(
        &run(
            &t,
            &[
                "lint",
                "--format",
                "json",
                "--ignore",
                "duplicate-key",
                "vs.yaml",
            ],
        )
        .json(),
    );
    assert_eq!(ign, set(&[("vs.yaml", 11, 5, "istio-weights-not-100")]));
    // parse-error stays on whatever is selected: nothing else can be checked without it.
    t.write("broken.yaml", "a: [\n");
    let r = run(
        &t,
        &[
            "lint",
            "--format",
            "gcc",
            "--select",
            "duplicate-key",
            "broken.yaml",
        ],
    );
    assert!(r.stdout.contains("[parse-error]"), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// `rules` and `explain`

fn rule_ids() -> Vec<&'static str> {
    rollgate::engine::all_metas().iter().map(|m| m.id).collect()
}

#[test]
fn rules_lists_every_rule_in_each_format() {
    let t = TempDir::new("rules");
    let ids = rule_ids();
    assert!(ids.contains(&"istio-weights-not-100"));

    let r = run(&t, &["rules"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), ids.len(), "{r:?}");
    let sev_col: BTreeSet<usize> = lines
        .iter()
        .map(|l| {
            l.find("  error  ")
                .or(l.find("  warning  "))
                .or(l.find("  info  "))
                .unwrap_or_else(|| panic!("no severity column in {l:?}"))
        })
        .collect();
    assert_eq!(sev_col.len(), 1, "severities are aligned: {r:?}");
    let summary_col: BTreeSet<usize> = lines
        .iter()
        .map(|l| {
            let after_id = l.find(' ').unwrap();
            let sev_end = after_id
                + l[after_id..].trim_start().find(' ').unwrap()
                + (l[after_id..].len() - l[after_id..].trim_start().len());
            sev_end + l[sev_end..].len() - l[sev_end..].trim_start().len()
        })
        .collect();
    assert_eq!(summary_col.len(), 1, "summaries are aligned: {r:?}");
    for (line, id) in lines.iter().zip(&ids) {
        assert!(
            line.starts_with(&format!("{id} ")),
            "{line:?} should list {id}"
        );
    }

    let r = run(&t, &["rules", "--format", "json"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let v = r.json();
    let listed: Vec<&str> = v
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|m| m["id"].as_str().expect("id"))
        .collect();
    assert_eq!(listed, ids);
    for m in v.as_array().unwrap() {
        assert!(
            m["severity"].is_string() && m["summary"].is_string(),
            "{m:#}"
        );
        assert!(
            m["help_uri"]
                .as_str()
                .is_some_and(|u| u.ends_with(&format!("rules/{}.md", m["id"].as_str().unwrap()))),
            "{m:#}"
        );
    }
    let iw = v
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "istio-weights-not-100")
        .unwrap();
    assert_eq!(
        iw["kinds"],
        serde_json::json!(["networking.istio.io/VirtualService"])
    );

    let r = run(&t, &["rules", "--format", "markdown"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let rows: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with("| [`")).collect();
    assert_eq!(rows.len(), ids.len(), "{r:?}");
    for (row, id) in rows.iter().zip(&ids) {
        assert!(
            row.starts_with(&format!("| [`{id}`](rules/{id}.md) |")),
            "{row:?}"
        );
    }
}

#[test]
fn explain_prints_the_rule_doc() {
    let t = TempDir::new("explain");
    let r = run(&t, &["explain", "istio-weights-not-100"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let doc = std::fs::read_to_string(root().join("rules/istio-weights-not-100.md")).unwrap();
    // The documentation without the examples' `# expect: <rule-id>` test markers.
    assert!(doc.contains("route: # expect: istio-weights-not-100\n"));
    let want: String = doc
        .lines()
        .filter_map(|l| match l.find("# expect:") {
            Some(i) => Some(l[..i].trim_end()).filter(|k| !k.is_empty()),
            None => Some(l),
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(r.stdout, want);
    assert!(!r.stdout.contains("expect"), "{}", r.stdout);
    // Built-in diagnostics are explained the same way.
    let r = run(&t, &["explain", "parse-error"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.starts_with("# parse-error\n"), "{r:?}");
}

#[test]
fn explain_unknown_rule_exits_2_with_a_suggestion() {
    let t = TempDir::new("explainbad");
    let r = run(&t, &["explain", "nope"]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert_eq!(r.stdout, "", "{r:?}");
    assert!(
        r.stderr.contains("unknown rule \"nope\"") && r.stderr.contains("`rollgate rules`"),
        "{r:?}"
    );
    let r = run(&t, &["explain", "istio-weights-not-10"]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(
        r.stderr.contains("did you mean \"istio-weights-not-100\"?"),
        "{r:?}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let t = TempDir::new("usage");
    let r = run(&t, &["lint", "--format", "xml"]);
    assert_eq!(r.code, Some(2), "{r:?}");
    let r = run(&t, &["frobnicate"]);
    assert_eq!(r.code, Some(2), "{r:?}");
    let r = run(&t, &["--version"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.starts_with("rollgate "), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// Output plumbing

/// `n` copies of `BAD_VS` as one multi-document stream: `n` findings.
fn many_findings(n: usize) -> String {
    vec![BAD_VS; n].join("---\n")
}

#[test]
fn broken_pipe_exits_quietly() {
    let t = TempDir::new("pipe");
    t.write("many.yaml", many_findings(2_000));
    for format in ["human", "json", "gcc"] {
        let mut child = cmd(&["lint", "--format", format, "many.yaml"], t.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        // Close the read end before the child writes: every write fails with EPIPE (the output,
        // hundreds of KiB, cannot fit in a pipe buffer either way).
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(stderr, "", "--format {format}: stderr must stay quiet");
        assert_eq!(status.code(), Some(0), "--format {format}: {status:?}");
    }
}

#[test]
fn two_thousand_findings_are_all_reported() {
    // The broken-pipe test above is only meaningful if the output is large: check it is.
    let t = TempDir::new("many");
    t.write("many.yaml", many_findings(2_000));
    let r = run(&t, &["lint", "--format", "gcc", "many.yaml"]);
    assert_eq!(r.code, Some(1));
    assert_eq!(r.stdout.lines().count(), 2_000);
    assert!(r.stdout.len() > 128 * 1024);
    // Document k (0-based) starts on line 13k + 1: positions are right in every document.
    let last = r.stdout.lines().last().unwrap();
    assert!(
        last.starts_with(&format!("many.yaml:{}:5:", 13 * 1999 + 8)),
        "{last}"
    );
}

fn has_ansi(s: &str) -> bool {
    s.contains("\x1b[")
}

#[test]
fn color_always_gives_ansi_escapes() {
    let t = TempDir::new("coloralways");
    t.write("vs.yaml", BAD_VS);
    let r = run(&t, &["lint", "--color", "always", "vs.yaml"]);
    assert!(has_ansi(&r.stdout), "{r:?}");
    let r = run(&t, &["lint", "--color", "never", "vs.yaml"]);
    assert!(!has_ansi(&r.stdout), "{r:?}");
    // Machine formats never get colour.
    let r = run(
        &t,
        &["lint", "--color", "always", "--format", "gcc", "vs.yaml"],
    );
    assert!(!has_ansi(&r.stdout), "{r:?}");
}

#[test]
fn no_color_and_non_tty_give_no_ansi_escapes() {
    let t = TempDir::new("nocolor");
    t.write("vs.yaml", BAD_VS);
    // stdout is a pipe here: auto means no colour.
    let r = run(&t, &["lint", "--color", "auto", "vs.yaml"]);
    assert!(!has_ansi(&r.stdout), "{r:?}");
    let out = cmd(&["lint", "--color", "auto", "vs.yaml"], t.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let r = finish(out);
    assert!(!has_ansi(&r.stdout), "{r:?}");

    // On a terminal (util-linux `script` gives the child a pty), auto colours unless NO_COLOR.
    let script = Path::new("/usr/bin/script");
    if !script.exists() {
        println!("SKIPPED (the pty half): /usr/bin/script is not installed");
        return;
    }
    let on_tty = |no_color: bool| {
        let mut c = Command::new(script);
        c.args([
            "-qec",
            &format!("{BIN} lint --select {RULES_UNDER_TEST} --color auto vs.yaml"),
            "/dev/null",
        ])
        .current_dir(t.path())
        .stdin(Stdio::null())
        .env_remove("NO_COLOR");
        if no_color {
            c.env("NO_COLOR", "1");
        }
        finish(c.output().unwrap())
    };
    let r = on_tty(false);
    assert!(r.stdout.contains("weights sum to 105"), "{r:?}");
    assert!(has_ansi(&r.stdout), "a terminal gets colour: {r:?}");
    let r = on_tty(true);
    assert!(r.stdout.contains("weights sum to 105"), "{r:?}");
    assert!(!has_ansi(&r.stdout), "NO_COLOR=1 turns colour off: {r:?}");
}

// ---------------------------------------------------------------------------------------------
// Bad input: committed cases (testdata/bad-input/, see its README.md)

/// (line, column, rule, part of the message) of one expected finding.
type Expected = (u64, u64, &'static str, &'static str);

/// Every finding each committed case must give, and nothing else.
const BAD_INPUT: &[(&str, &[Expected])] = &[
    ("binary.yaml", &[(1, 2, "parse-error", "binary file")]),
    (
        "bom.yaml",
        &[
            // Columns count characters; the BOM is not one.
            (1, 143, "istio-weights-not-100", "weight \"90\" is a string"),
            (
                12,
                60,
                "istio-weights-not-100",
                "weight 90.5 is not an integer",
            ),
        ],
    ),
    (
        "crlf.yaml",
        &[
            (8, 5, "istio-weights-not-100", "weights sum to 105"),
            (15, 15, "istio-weights-not-100", "weight \"90\" is a string"),
        ],
    ),
    (
        "duplicate-key.yaml",
        &[
            // The last value wins (80), as in every tool that accepts the file.
            (8, 5, "istio-weights-not-100", "weights sum to 90"),
            (11, 7, "duplicate-key", "duplicate key \"weight\""),
        ],
    ),
    ("empty.yaml", &[]),
    (
        "invalid-utf8.yaml",
        &[(6, 10, "parse-error", "invalid UTF-8 at byte 71")],
    ),
    (
        "syntax-error-indent.yaml",
        &[(5, 13, "parse-error", "mapping values are not allowed")],
    ),
    (
        "syntax-error.yaml",
        &[
            (8, 5, "istio-weights-not-100", "weights sum to 90"),
            (20, 8, "parse-error", "invalid YAML"),
            (29, 5, "istio-weights-not-100", "weights sum to 105"),
        ],
    ),
    (
        "weights-floats.yaml",
        &[
            (
                10,
                15,
                "istio-weights-not-100",
                "weight 89.5 is not an integer",
            ),
            (
                12,
                15,
                "istio-weights-not-100",
                "weight 10.5 is not an integer",
            ),
        ],
    ),
    (
        "weights-huge.yaml",
        &[
            (
                10,
                15,
                "istio-weights-not-100",
                "4294967296 is out of range for an int32",
            ),
            (
                12,
                15,
                "istio-weights-not-100",
                "is out of range for an int32",
            ),
            (
                14,
                15,
                "istio-weights-not-100",
                "weight \"1e400\" is a string",
            ),
        ],
    ),
    (
        "weights-negative.yaml",
        &[(10, 15, "istio-weights-not-100", "weight -10 is negative")],
    ),
    (
        "weights-strings.yaml",
        &[
            (10, 15, "istio-weights-not-100", "weight \"90\" is a string"),
            (12, 15, "istio-weights-not-100", "weight \"10\" is a string"),
        ],
    ),
];

fn bad_input_dir() -> PathBuf {
    root().join("testdata/bad-input")
}

#[test]
fn bad_input_cases_are_all_tested_and_documented() {
    let readme = std::fs::read_to_string(bad_input_dir().join("README.md")).unwrap();
    let mut on_disk = BTreeSet::new();
    for e in std::fs::read_dir(bad_input_dir()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name != "README.md" {
            on_disk.insert(name);
        }
    }
    let tested: BTreeSet<String> = BAD_INPUT.iter().map(|(f, _)| f.to_string()).collect();
    assert_eq!(
        on_disk, tested,
        "every file of testdata/bad-input has expectations here"
    );
    for f in &on_disk {
        assert!(
            readme.contains(&format!("`{f}`")),
            "README.md does not list `{f}`"
        );
    }
}

#[test]
fn bad_input_gives_located_findings_and_the_rest_is_linted() {
    // The whole folder in one run, after a good file with a finding and before another one.
    let t = TempDir::new("badinput");
    let first = t.write("first.yaml", BAD_VS);
    let last = t.write("last.yaml", BAD_VS);
    let dir = bad_input_dir();
    let r = run(
        &t,
        &[
            "lint",
            "--format",
            "json",
            first.to_str().unwrap(),
            dir.to_str().unwrap(),
            last.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, Some(1), "{r:?}");
    assert_eq!(r.stderr, "", "{r:?}");
    let v = r.json();
    let mut want = BTreeSet::new();
    for (file, cases) in BAD_INPUT {
        let path = dir.join(file).display().to_string();
        for (line, col, rule, msg) in *cases {
            want.insert((path.clone(), *line, *col, rule.to_string()));
            let f = finding_at(&v, &path, *line, rule);
            assert!(
                f["message"].as_str().unwrap().contains(msg),
                "{file}:{line}: message should contain {msg:?}: {f:#}"
            );
        }
    }
    let dup = finding_at(
        &v,
        &dir.join("duplicate-key.yaml").display().to_string(),
        11,
        "duplicate-key",
    );
    assert_eq!(
        (&dup["related"][0]["line"], &dup["related"][0]["column"]),
        (&Value::from(10), &Value::from(7)),
        "the first `weight` is the related location: {dup:#}"
    );
    for p in [&first, &last] {
        want.insert((
            p.display().to_string(),
            8,
            5,
            "istio-weights-not-100".into(),
        ));
    }
    assert_eq!(placed(&v), want, "{:#}", v["findings"]);
    assert_eq!(v["summary"]["files"], BAD_INPUT.len() + 2);
}

#[test]
fn bad_input_end_positions_are_exact_with_crlf_and_bom() {
    let t = TempDir::new("ends");
    let dir = bad_input_dir();
    let r = run(
        &t,
        &[
            "lint",
            "--format",
            "json",
            dir.join("crlf.yaml").to_str().unwrap(),
            dir.join("bom.yaml").to_str().unwrap(),
        ],
    );
    let v = r.json();
    let span = |file: &str, line: u64| {
        let f = finding_at(
            &v,
            &dir.join(file).display().to_string(),
            line,
            "istio-weights-not-100",
        );
        (
            f["column"].as_u64().unwrap(),
            f["end_line"].as_u64().unwrap(),
            f["end_column"].as_u64().unwrap(),
        )
    };
    // `"90"` is 4 characters, `90.5` 4: the end is exclusive and never includes the `\r`.
    assert_eq!(span("crlf.yaml", 15), (15, 15, 19));
    assert_eq!(span("bom.yaml", 1), (143, 1, 147));
    assert_eq!(span("bom.yaml", 12), (60, 12, 64));
    // The route finding points at its key `route` (5 characters); its related locations are
    // the two weights.
    let f = finding_at(
        &v,
        &dir.join("crlf.yaml").display().to_string(),
        8,
        "istio-weights-not-100",
    );
    assert_eq!(
        (f["end_line"].as_u64(), f["end_column"].as_u64()),
        (Some(8), Some(10))
    );
    let related: Vec<(u64, u64, u64)> = f["related"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["column"].as_u64().unwrap(),
                r["end_column"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(related, vec![(10, 15, 17), (12, 15, 17)]);
}

#[test]
fn multi_document_stream_with_syntax_error_in_the_middle() {
    // Built here as well (not only in testdata) to pin the recovery on a `---` with trailing text.
    let t = TempDir::new("multidoc");
    let text = format!(
        "{CLEAN_VS}---\napiVersion: v1\nkind: ConfigMap\ndata: {{a: [1, 2}}\n--- # next\n{BAD_VS}---\n{BAD_VS}"
    );
    t.write("stream.yaml", text);
    let v = run(&t, &["lint", "--format", "json", "stream.yaml"]).json();
    // CLEAN_VS: lines 1-12; `---` 13; ConfigMap 14-16; `---` 17; BAD_VS 18-29; `---` 30; BAD_VS 31-42.
    let got = placed(&v);
    let parse: Vec<_> = got.iter().filter(|p| p.3 == "parse-error").collect();
    assert_eq!(parse.len(), 1, "{got:?}");
    assert_eq!(
        parse[0].1, 16,
        "the error is in the ConfigMap's flow mapping: {got:?}"
    );
    let rest: BTreeSet<_> = got
        .iter()
        .filter(|p| p.3 != "parse-error")
        .cloned()
        .collect();
    assert_eq!(
        rest,
        set(&[
            ("stream.yaml", 25, 5, "istio-weights-not-100"),
            ("stream.yaml", 38, 5, "istio-weights-not-100"),
        ])
    );
}

// ---------------------------------------------------------------------------------------------
// Bad input: generated cases (too big, or too silly, to commit)

struct Measured {
    run: Run,
    elapsed: Duration,
    /// Peak resident set size of the child, when it could be measured.
    max_rss_kb: Option<u64>,
}

const MAX_RSS_KB: u64 = 200 * 1024;
const MAX_SECONDS: u64 = 5;

/// Run with the peak RSS measured by GNU time (`/usr/bin/time -f`), else by polling the
/// child's `VmHWM` in /proc (a high-water mark, so sampling only misses a peak in the last few
/// milliseconds).
fn measured(cwd: &Path, args: &[&str], stdin: Option<PathBuf>) -> Measured {
    const MARK: &str = "ROLLGATE_TEST_MAXRSS_KB=";
    let gnu_time = Path::new("/usr/bin/time");
    let use_time = gnu_time.exists()
        && Command::new(gnu_time)
            .args(["-f", "%M", "true"])
            .output()
            .is_ok_and(|o| o.status.success());
    let mut c = if use_time {
        let mut c = Command::new(gnu_time);
        c.arg("-f")
            .arg(format!("{MARK}%M"))
            .arg(BIN)
            .args(with_rules(args));
        c
    } else {
        let mut c = Command::new(BIN);
        c.args(with_rules(args));
        c
    };
    c.current_dir(cwd)
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match &stdin {
        Some(p) => c.stdin(std::fs::File::open(p).expect("open stdin file")),
        None => c.stdin(Stdio::null()),
    };
    let start = Instant::now();
    let mut child = c.spawn().expect("spawn");
    let pid = child.id();
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let mut polled: Option<u64> = None;
    let status = loop {
        if !use_time {
            if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                if let Some(kb) = s
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                {
                    polled = Some(polled.map_or(kb, |p: u64| p.max(kb)));
                }
            }
        }
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("rollgate {args:?} ran for over a minute");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let elapsed = start.elapsed();
    let stdout = out_t.join().unwrap();
    let mut stderr = String::from_utf8_lossy(&err_t.join().unwrap()).into_owned();
    let mut max_rss_kb = polled;
    if use_time {
        if let Some(at) = stderr.rfind(MARK) {
            max_rss_kb = stderr[at + MARK.len()..].trim().parse().ok();
            stderr.truncate(at);
        }
        // GNU time reports a non-zero exit on its own line.
        stderr = stderr
            .lines()
            .filter(|l| !l.starts_with("Command exited with non-zero status"))
            .map(|l| format!("{l}\n"))
            .collect();
    }
    let run = Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr,
    };
    assert!(
        !run.stderr.contains("panicked"),
        "the binary panicked: {run:?}"
    );
    Measured {
        run,
        elapsed,
        max_rss_kb,
    }
}

/// Lint `case` between two good files with findings; check the case's single finding, that the
/// others are still reported, and the time and memory bounds.
fn check_generated(t: &TempDir, case: &str, want: (u64, u64, &str, &str)) -> Measured {
    t.write("before.yaml", BAD_VS);
    t.write("after.yaml", BAD_VS);
    let m = measured(
        t.path(),
        &[
            "lint",
            "--format",
            "json",
            "before.yaml",
            case,
            "after.yaml",
        ],
        None,
    );
    assert_bounded(case, &m);
    let v = m.run.json();
    let (line, col, rule, msg) = want;
    assert_eq!(
        placed(&v),
        set(&[
            ("before.yaml", 8, 5, "istio-weights-not-100"),
            (case, line, col, rule),
            ("after.yaml", 8, 5, "istio-weights-not-100"),
        ]),
        "{:?}",
        m.run
    );
    let f = finding_at(&v, case, line, rule);
    assert!(f["message"].as_str().unwrap().contains(msg), "{f:#}");
    assert_eq!(m.run.code, Some(1), "{:?}", m.run);
    m
}

fn assert_bounded(case: &str, m: &Measured) {
    assert!(
        m.elapsed < Duration::from_secs(MAX_SECONDS),
        "{case}: took {:?} (limit {MAX_SECONDS} s)",
        m.elapsed
    );
    match m.max_rss_kb {
        Some(kb) => assert!(
            kb < MAX_RSS_KB,
            "{case}: peak RSS {} MB (limit {} MB)",
            kb / 1024,
            MAX_RSS_KB / 1024
        ),
        None => eprintln!("{case}: peak RSS not measured (no GNU time, no /proc)"),
    }
}

/// A "billion laughs" document: 9 levels of 10 aliases to the level below, 10^9 nodes if
/// expanded.
fn alias_bomb() -> String {
    let mut t = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\ndata:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..9 {
        let refs = vec![format!("*l{}", i - 1); 10].join(", ");
        t.push_str(&format!("  l{i}: &l{i} [{refs}]\n"));
    }
    t
}

#[test]
fn alias_bomb_is_refused_with_bounded_memory() {
    let t = TempDir::new("bomb");
    let text = alias_bomb();
    t.write("bomb.yaml", &text);
    // Where the loader gives up depends on its node budget; it must be on one of the alias
    // lines, at an alias.
    let m = measured(
        t.path(),
        &[
            "lint",
            "--format",
            "json",
            "bomb.yaml",
            "--select",
            "parse-error",
        ],
        None,
    );
    let v = m.run.json();
    let f = &v["findings"][0];
    let (line, col) = (f["line"].as_u64().unwrap(), f["column"].as_u64().unwrap());
    let src_line = text.lines().nth(line as usize - 1).unwrap_or("");
    assert!(
        (7..=14).contains(&line) && src_line[col as usize - 1..].starts_with("*l"),
        "{line}:{col} should be an alias: {src_line:?} {f:#}"
    );
    check_generated(&t, "bomb.yaml", (line, col, "parse-error", "alias bomb"));
}

#[test]
fn deep_block_nesting_is_refused() {
    let t = TempDir::new("deepblock");
    t.write("deep.yaml", "- ".repeat(100_000) + "x\n");
    // The 257th `- ` opens the collection that is one too deep.
    check_generated(
        &t,
        "deep.yaml",
        (
            1,
            2 * 256 + 1,
            "parse-error",
            "nesting too deep (more than 256 levels)",
        ),
    );
}

#[test]
fn deep_flow_nesting_is_refused() {
    let t = TempDir::new("deepflow");
    t.write("open.yaml", "[".repeat(100_000));
    t.write(
        "closed.yaml",
        "[".repeat(100_000) + &"]".repeat(100_000) + "\n",
    );
    for case in ["open.yaml", "closed.yaml"] {
        let m = measured(t.path(), &["lint", "--format", "json", case], None);
        assert_bounded(case, &m);
        let v = m.run.json();
        let got = placed(&v);
        assert_eq!(got.len(), 1, "{:?}", m.run);
        let (_, line, col, rule) = got.into_iter().next().unwrap();
        assert_eq!((line, rule.as_str()), (1, "parse-error"), "{:?}", m.run);
        assert!(
            (250..=260).contains(&col),
            "near the 256th bracket: {:?}",
            m.run
        );
        check_generated(&t, case, (line, col, "parse-error", ""));
    }
}

#[test]
fn deep_block_mapping_nesting_is_refused() {
    let t = TempDir::new("deepmap");
    let text: String = (0..3_000)
        .map(|i| format!("{}k:\n", " ".repeat(i)))
        .collect();
    t.write("deep.yaml", text);
    check_generated(
        &t,
        "deep.yaml",
        (
            257,
            257,
            "parse-error",
            "nesting too deep (more than 256 levels)",
        ),
    );
}

/// 100 MB of valid manifests (the content does not matter to the cap, but should not be an
/// accident).
fn write_100mb(t: &TempDir, name: &str) -> PathBuf {
    let p = t.path().join(name);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
    let doc = format!("{CLEAN_VS}---\n");
    let mut written = 0;
    while written < 100 * 1024 * 1024 {
        f.write_all(doc.as_bytes()).unwrap();
        written += doc.len();
    }
    f.flush().unwrap();
    p
}

#[test]
fn hundred_megabyte_file_is_capped_with_bounded_memory() {
    let t = TempDir::new("big");
    let big = write_100mb(&t, "big.yaml");
    let size = std::fs::metadata(&big).unwrap().len();
    let m = check_generated(
        &t,
        "big.yaml",
        (1, 1, "parse-error", "over the 33554432-byte limit"),
    );
    let v = m.run.json();
    let f = finding_at(&v, "big.yaml", 1, "parse-error");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains(&format!("file is {size} bytes")),
        "{f:#}"
    );

    // The same on standard input: reading stops at the cap.
    let m = measured(
        t.path(),
        &[
            "lint",
            "--format",
            "json",
            "--stdin-filename",
            "big-stdin.yaml",
            "-",
            "before.yaml",
        ],
        Some(big.clone()),
    );
    assert_bounded("100 MB on stdin", &m);
    let v = m.run.json();
    assert_eq!(
        placed(&v),
        set(&[
            ("big-stdin.yaml", 1, 1, "parse-error"),
            ("before.yaml", 8, 5, "istio-weights-not-100"),
        ]),
        "{:?}",
        m.run
    );
    let f = finding_at(&v, "big-stdin.yaml", 1, "parse-error");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("input is over the 33554432-byte limit"),
        "{f:#}"
    );

    // A lower cap is honoured too.
    let r = run(
        &t,
        &[
            "lint",
            "--format",
            "gcc",
            "--max-file-size",
            "100",
            "before.yaml",
        ],
    );
    assert!(
        r.stdout
            .contains("before.yaml:1:1: error: file is 254 bytes, over the 100-byte limit"),
        "{r:?}"
    );
}
