//! `rollgate lint --fix` / `--diff` end to end, and the fix engine's properties: fixed files
//! keep every comment and untouched byte, parse, lose the fixed findings, and a second pass
//! changes nothing; bad input (tabs, CRLF, BOM, anchors, flow mappings, multi-document streams,
//! read-only files, a file changed between read and write) is never corrupted.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use proptest::prelude::*;
use rollgate::engine::apply::lint_fix;
use rollgate::engine::lint::lint;
use rollgate::engine::{Applicability, Config, Engine, Settings};
use rollgate::manifest::Limits;
use rollgate::manifest::input::{from_bytes, write_fixed};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rollgate"))
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rollgate-fix-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A held-out file: comments everywhere, flow and block style, PromQL in a `|` block.
const HELD_OUT: &str = "\
# traffic split for reviews (owned by team-a)
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: reviews # the service
spec:
  hosts: [reviews]
  http:
  - route:
    # stable first
    - destination: {host: reviews, subset: v1} # v1
      weight: 95 # most traffic
    - destination:
        host: reviews   # same host
        subset: v2
      weight: 10
  - route:
    - {destination: {host: ratings, subset: v1}, weight: 100}
    - {destination: {host: ratings, subset: v2}}
---
# latency gate
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: latency
spec:
  metrics:
  - name: p99
    successCondition: result[0] < 0.5
    provider:
      prometheus:
        address: http://prometheus.monitoring:9090
        query: |
          # p99 over all services
          histogram_quantile(0.99,
            sum by (service) (
              rate(http_request_duration_seconds_bucket[5m])
            )
          )
";

fn json_of(path: &Path, extra: &[&str]) -> serde_json::Value {
    let out = bin()
        .args(["lint", "--no-config", "--show-info", "--format", "json"])
        .args(extra)
        .arg(path)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

fn rules_of(v: &serde_json::Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn fix_keeps_comments_and_untouched_bytes_and_converges() {
    for eol in ["\n", "\r\n"] {
        let d = tempdir(if eol == "\n" { "held-lf" } else { "held-crlf" });
        let p = d.join("held.yaml");
        let original = HELD_OUT.replace('\n', eol);
        std::fs::write(&p, &original).unwrap();
        let before = rules_of(&json_of(&p, &[]));
        assert!(
            before.contains(&"istio-weights-not-100".to_owned()),
            "{before:?}"
        );
        assert!(
            before.contains(&"quantile-without-le-aggregation".to_owned()),
            "{before:?}"
        );
        // --diff writes nothing and exits 1.
        let diff = bin()
            .args(["lint", "--no-config", "--diff", "--unsafe-fixes"])
            .arg(&p)
            .output()
            .unwrap();
        assert_eq!(diff.status.code(), Some(1));
        let diff_text = String::from_utf8(diff.stdout).unwrap();
        assert!(
            diff_text.contains("-      weight: 95 # most traffic"),
            "{diff_text}"
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), original);
        // Safe fixes only: the weights of the first route are rounded (unsafe), the missing
        // weight of the second is written out (safe).
        let st = bin()
            .args(["lint", "--no-config", "--fix", "-f", "json"])
            .arg(&p)
            .output()
            .unwrap();
        let safe = std::fs::read_to_string(&p).unwrap();
        assert!(safe.contains("weight: 95 # most traffic"), "{safe}");
        assert!(
            safe.contains("{destination: {host: ratings, subset: v2}, weight: 0}"),
            "{safe}"
        );
        let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
        assert_eq!(v["summary"]["fixed"], 1, "{v}");
        // Then the unsafe ones.
        let st = bin()
            .args(["lint", "--no-config", "--fix", "--unsafe-fixes"])
            .arg(&p)
            .status()
            .unwrap();
        assert!(st.code().is_some());
        let fixed = std::fs::read_to_string(&p).unwrap();
        let after = rules_of(&json_of(&p, &[]));
        assert!(
            !after.contains(&"istio-weights-not-100".to_owned()),
            "{after:?}\n{fixed}"
        );
        assert!(
            !after.contains(&"quantile-without-le-aggregation".to_owned()),
            "{after:?}\n{fixed}"
        );
        assert!(
            after
                .iter()
                .all(|r| r != "parse-error" && r != "duplicate-key")
        );
        // Every comment and every line the fixes did not touch is still there, line endings
        // included.
        for line in original.split_inclusive(eol) {
            let changed = line.contains("weight: 95")
                || line.contains("weight: 10")
                || line.contains("sum by (service)")
                || line.contains("subset: v2}}");
            if !changed {
                assert!(fixed.contains(line), "lost {line:?} in\n{fixed}");
            }
        }
        assert!(
            fixed.contains(&format!("      weight: 90 # most traffic{eol}")),
            "{fixed}"
        );
        assert!(
            fixed.contains(&format!("        sum by (service, le) ({eol}")),
            "{fixed}"
        );
        assert_eq!(
            fixed.matches('\r').count(),
            fixed.matches('\n').count() * usize::from(eol == "\r\n")
        );
        // A second --fix changes nothing; --diff then reports nothing.
        bin()
            .args(["lint", "--no-config", "--fix", "--unsafe-fixes"])
            .arg(&p)
            .status()
            .unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), fixed);
        let diff = bin()
            .args(["lint", "--no-config", "--diff", "--unsafe-fixes"])
            .arg(&p)
            .output()
            .unwrap();
        assert_eq!(diff.status.code(), Some(0));
        assert!(diff.stdout.is_empty());
    }
}

const PAUSE: &str = "\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  strategy:
    canary:
      steps:
      - setWeight: 20
      - pause: {duration: 0}
";

#[test]
fn stdin_fix_prints_the_fixed_text() {
    let mut child = bin()
        .args(["lint", "--no-config", "--fix", "--unsafe-fixes", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(PAUSE.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        PAUSE.replace("{duration: 0}", "{}")
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains("argo-pause-zero"), "{err}");
}

#[test]
fn bom_is_kept_and_read_only_files_are_reported() {
    let d = tempdir("bom");
    let p = d.join("r.yaml");
    let text = format!("\u{feff}{}", PAUSE.replace('\n', "\r\n"));
    std::fs::write(&p, &text).unwrap();
    let st = bin()
        .args(["lint", "--no-config", "--fix", "--unsafe-fixes"])
        .arg(&p)
        .status()
        .unwrap();
    assert!(st.code().is_some());
    let fixed = std::fs::read(&p).unwrap();
    assert_eq!(
        fixed,
        text.replace("{duration: 0}", "{}").into_bytes(),
        "BOM and CRLF kept"
    );

    let ro = d.join("ro.yaml");
    std::fs::write(&ro, PAUSE).unwrap();
    let mut perm = std::fs::metadata(&ro).unwrap().permissions();
    perm.set_readonly(true);
    std::fs::set_permissions(&ro, perm).unwrap();
    let out = bin()
        .args(["lint", "--no-config", "--fix", "--unsafe-fixes"])
        .arg(&ro)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("read-only"), "{err}");
    assert_eq!(std::fs::read_to_string(&ro).unwrap(), PAUSE);
    // Only the file: no temporary file left behind.
    let names: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn a_file_changed_after_reading_is_not_written() {
    let d = tempdir("changed");
    let p = d.join("c.yaml");
    std::fs::write(&p, "a: 2\n").unwrap();
    let e = write_fixed(&p, "a: 1\n", "a: 3\n").unwrap_err();
    assert!(e.to_string().contains("changed"), "{e}");
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "a: 2\n");
    write_fixed(&p, "a: 2\n", "a: 3\n").unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "a: 3\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_fixed(&p, "a: 3\n", "a: 4\n").unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }
}

#[test]
fn anchors_aliases_tabs_and_streams() {
    let d = tempdir("anchors");
    // The weights come from an anchor: the fix is refused and shown with the reason.
    let p = d.join("a.yaml");
    let text = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: r
spec:
  hosts: [r]
  http:
  - route: &routes
    - destination: {host: r, subset: a}
      weight: 95
    - destination: {host: r, subset: b}
      weight: 10
  - route: *routes
";
    std::fs::write(&p, text).unwrap();
    let v = json_of(&p, &[]);
    let fixes: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "istio-weights-not-100")
        .map(|f| &f["fix"])
        .collect();
    assert_eq!(fixes.len(), 2, "{v}");
    for f in &fixes {
        assert_eq!(f["applicability"], "display-only", "{f}");
        let why = f["refused"].as_str().unwrap();
        assert!(why.contains("anchor") || why.contains("alias"), "{why}");
    }
    bin()
        .args(["lint", "--no-config", "--fix", "--unsafe-fixes"])
        .arg(&p)
        .status()
        .unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), text);

    // A multi-document stream with a tab inside a value: each document's fix lands in it.
    let p = d.join("s.yaml");
    let text = format!(
        "{PAUSE}---\n# second\n{}",
        PAUSE.replace("name: web", "name: \"we\\tb\"")
    );
    std::fs::write(&p, &text).unwrap();
    bin()
        .args(["lint", "--no-config", "--fix", "--unsafe-fixes"])
        .arg(&p)
        .status()
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        text.replace("{duration: 0}", "{}")
    );
}

/// Lint `text`, apply every fix (unsafe too) to a fixed point.
fn fix_text(text: &str) -> (String, Option<String>) {
    let engine = Engine::new(rollgate::rules::REGISTRY, &Config::default(), None);
    let fr = lint_fix(
        vec![from_bytes("p.yaml".into(), text.as_bytes().to_vec())],
        &Default::default(),
        &engine,
        &Settings::default(),
        Limits::default(),
        1,
        Applicability::Unsafe,
    );
    let f = &fr.files[0];
    (f.text.clone(), f.failure.clone())
}

fn errors(text: &str) -> Vec<String> {
    let engine = Engine::new(rollgate::rules::REGISTRY, &Config::default(), None);
    let run = lint(
        vec![from_bytes("p.yaml".into(), text.as_bytes().to_vec())],
        &engine,
        &Settings::default(),
        Limits::default(),
    );
    let mut v: Vec<String> = run
        .diagnostics
        .iter()
        .filter(|d| d.finding.severity == rollgate::engine::Severity::Error)
        .map(|d| d.finding.rule.to_owned())
        .collect();
    v.sort();
    v
}

/// Weighted routes in block or flow style, with comments, CRLF or not.
fn route_doc() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(proptest::option::of(0i64..300), 2..5),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(weights, flow, comments, crlf)| {
            let mut s = String::from(
                "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: r\nspec:\n  hosts: [r]\n  http:\n  - route:\n",
            );
            for (i, w) in weights.iter().enumerate() {
                let c = if comments { format!(" # d{i}") } else { String::new() };
                match (flow, w) {
                    (true, Some(w)) => s.push_str(&format!(
                        "    - {{destination: {{host: r, subset: s{i}}}, weight: {w}}}{c}\n"
                    )),
                    (true, None) => s.push_str(&format!(
                        "    - {{destination: {{host: r, subset: s{i}}}}}{c}\n"
                    )),
                    (false, Some(w)) => s.push_str(&format!(
                        "    - destination:{c}\n        host: r\n        subset: s{i}\n      weight: {w}{c}\n"
                    )),
                    (false, None) => s.push_str(&format!(
                        "    - destination:{c}\n        host: r\n        subset: s{i}\n"
                    )),
                }
            }
            if crlf { s.replace('\n', "\r\n") } else { s }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn fixing_parses_adds_no_error_and_is_idempotent(text in route_doc()) {
        let before = errors(&text);
        let (fixed, failure) = fix_text(&text);
        prop_assert!(failure.is_none(), "{failure:?}\n{text}");
        let after = errors(&fixed);
        prop_assert!(!after.iter().any(|r| r == "parse-error" || r == "duplicate-key"), "{after:?}\n{fixed}");
        for r in &after {
            prop_assert!(before.contains(r), "new error {r}\n{text}\n->\n{fixed}");
        }
        // Every comment survives.
        for c in text.match_indices(" # d").map(|(i, _)| &text[i..i + 5]) {
            prop_assert!(fixed.contains(c));
        }
        let (again, _) = fix_text(&fixed);
        prop_assert_eq!(again, fixed);
    }

    #[test]
    fn fixing_arbitrary_text_never_breaks_it(text in "[a-z:{}\\[\\], #&*\\-\n'\"|>0-9]{0,200}") {
        let (fixed, _) = fix_text(&text);
        let before = errors(&text);
        let after = errors(&fixed);
        for r in &after {
            prop_assert!(before.contains(r), "new error {r}");
        }
        let (again, _) = fix_text(&fixed);
        prop_assert_eq!(again, fixed);
    }
}

#[test]
fn suppression_fix_creates_annotations_in_the_files_style() {
    use rollgate::engine::{Origin, suppression_fix};
    use rollgate::manifest::edit::lower_in_source;
    for text in [
        PAUSE.to_owned(),
        PAUSE.replace("  name: web\n", "  name: web\n  annotations: {a: b}\n"),
    ] {
        let engine = Engine::new(rollgate::rules::REGISTRY, &Config::default(), None);
        let run = lint(
            vec![from_bytes("s.yaml".into(), text.as_bytes().to_vec())],
            &engine,
            &Settings::default(),
            Limits::default(),
        );
        let d = run
            .diagnostics
            .iter()
            .find(|d| d.finding.rule == "argo-pause-zero")
            .expect("a finding");
        let object = run
            .world
            .objects()
            .iter()
            .find(|o| Some(o.reference()) == d.finding.object)
            .expect("its object");
        let fix = suppression_fix(&d.finding, object, "placeholder step").expect("a fix");
        assert_eq!(fix.applicability, Applicability::DisplayOnly);
        let Origin::File { document, base, .. } = &object.origin else {
            panic!("not from a file")
        };
        let t = lower_in_source(&run.sources[0], *document, base, &fix);
        assert!(t.refused.is_none(), "{t:?}");
        let fixed = rollgate::engine::apply::apply(&run.sources[0].text, &t.edits);
        assert!(
            fixed.contains("ignore-check.rollgate.dev/argo-pause-zero: placeholder step"),
            "{fixed}"
        );
        let again = lint(
            vec![from_bytes("s.yaml".into(), fixed.as_bytes().to_vec())],
            &engine,
            &Settings::default(),
            Limits::default(),
        );
        assert!(
            again
                .diagnostics
                .iter()
                .all(|d| d.finding.rule != "argo-pause-zero"),
            "{fixed}"
        );
        assert_eq!(again.summary.suppressed, 1);
    }
}
