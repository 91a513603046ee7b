//! `lint --render-kustomize` (docs/worlds.md): the rendered build is checked and each finding is
//! mapped back to the file and line that wrote the value (the base object, the patch file, the
//! inline patch of a kustomization); a build that cannot run falls back to the binary-less
//! reading with a note. The rendering tests run the real `kubectl kustomize` (or `kustomize`);
//! `ROLLGATE_REQUIRE_KUSTOMIZE=1` (set in `.ci/run`) makes its absence a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

#[path = "common/skip.rs"]
mod skip;

const BIN: &str = env!("CARGO_BIN_EXE_rollgate");

struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Tmp {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "rollgate-render-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("mkdir");
        Tmp(p)
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write");
        p
    }

    /// A copy of `testdata/kustomize-render` (base, a prod overlay with a patch file, a staging
    /// overlay with an inline JSON 6902 patch), in a project of its own (`.git`).
    fn fixture(tag: &str) -> Tmp {
        let t = Tmp::new(tag);
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/kustomize-render");
        for dir in ["base", "prod", "staging"] {
            for e in std::fs::read_dir(src.join(dir)).expect("fixture") {
                let e = e.expect("entry");
                let text = std::fs::read_to_string(e.path()).expect("read");
                t.write(&format!("{dir}/{}", e.file_name().to_string_lossy()), &text);
            }
        }
        std::fs::create_dir_all(t.0.join(".git")).expect("git");
        t
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Out {
    json: Value,
    stderr: String,
}

fn lint(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Out {
    let out = Command::new(BIN)
        .current_dir(dir)
        .args(["lint", "--no-config", "--format", "json", "--show-info"])
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run rollgate");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    Out {
        json: serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("json: {e}: {}", String::from_utf8_lossy(&out.stdout))),
        stderr,
    }
}

/// `(file, line, rule)` of every finding.
fn rows(o: &Out) -> Vec<(String, u64, String)> {
    o.json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["file"]
                    .as_str()
                    .unwrap_or("")
                    .trim_start_matches("./")
                    .to_owned(),
                f["line"].as_u64().unwrap_or(0),
                f["rule"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn has(o: &Out, file: &str, line: u64, rule: &str) -> bool {
    rows(o)
        .iter()
        .any(|(f, l, r)| f == file && *l == line && r == rule)
}

/// Whether a kustomize binary is installed; says SKIPPED (or fails when
/// `ROLLGATE_REQUIRE_KUSTOMIZE=1`) otherwise.
fn kustomize_installed() -> bool {
    let ok = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    ok("kustomize", &["version"])
        || ok("kubectl", &["kustomize", "--help"])
        || !skip::skip(
            "ROLLGATE_REQUIRE_KUSTOMIZE",
            "neither kustomize nor kubectl is installed",
        )
}

#[test]
fn a_patch_file_that_breaks_a_gate_is_reported_at_the_patch() {
    if !kustomize_installed() {
        return;
    }
    let t = Tmp::fixture("patch");
    // Without rendering the patch is skipped: nothing about the gate it writes.
    let plain = lint(&t.0, &["prod"], &[]);
    assert!(
        !rows(&plain).iter().any(|r| r.2 == "gate-cannot-measure"),
        "{:?}",
        rows(&plain)
    );
    let o = lint(&t.0, &["prod", "--render-kustomize"], &[]);
    assert!(
        has(&o, "prod/canary-patch.yaml", 17, "gate-cannot-measure"),
        "{:?}\n{}",
        rows(&o),
        o.stderr
    );
    let f = o.json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["rule"] == "gate-cannot-measure")
        .expect("finding");
    // Inside the query: at the fallback, in the patch file's own text.
    assert_eq!(f["column"], 76, "{f}");
    assert_eq!(f["object"]["namespace"], "prod", "{f}");
    assert!(
        f["related"].to_string().contains("comes from this patch"),
        "{f}"
    );
    assert!(
        o.stderr.contains("rendered with") && o.stderr.contains("2 object(s), 2 from local files"),
        "{}",
        o.stderr
    );
    // The patch replaces the whole metrics list (a custom resource has no merge keys): the
    // builtin metric it repeats is its own, at its line.
    assert!(
        has(&o, "prod/canary-patch.yaml", 8, "rate-window-too-short"),
        "{:?}",
        rows(&o)
    );
    // Only the patch named (a pre-commit run): its finding, nothing from the base.
    let one = lint(&t.0, &["prod/canary-patch.yaml", "--render-kustomize"], &[]);
    assert!(
        has(&one, "prod/canary-patch.yaml", 17, "gate-cannot-measure"),
        "{:?}\n{}",
        rows(&one),
        one.stderr
    );
    assert!(
        rows(&one).iter().all(|r| r.0 == "prod/canary-patch.yaml"),
        "{:?}",
        rows(&one)
    );
}

#[test]
fn an_inline_patch_is_reported_in_its_kustomization_and_each_finding_once() {
    if !kustomize_installed() {
        return;
    }
    let t = Tmp::fixture("inline");
    let o = lint(&t.0, &[".", "--render-kustomize"], &[]);
    // The staging overlay's inline JSON 6902 patch replaces the query: at `patch: |`.
    assert!(
        has(&o, "staging/kustomization.yaml", 11, "gate-cannot-measure"),
        "{:?}\n{}",
        rows(&o),
        o.stderr
    );
    assert!(
        has(
            &o,
            "staging/kustomization.yaml",
            11,
            "canary-query-not-isolated"
        ),
        "{:?}",
        rows(&o)
    );
    assert!(
        has(&o, "prod/canary-patch.yaml", 17, "gate-cannot-measure"),
        "{:?}",
        rows(&o)
    );
    // The staging patch touches one query only: the base's first metric stays at its line.
    assert!(
        has(&o, "base/canary.yaml", 19, "rate-window-too-short"),
        "{:?}",
        rows(&o)
    );
    // The base's builtin success-rate metric is the same in both builds, but the namespace in
    // the finding differs: one per build, never more.
    let mut r = rows(&o);
    let n = r.len();
    r.sort();
    r.dedup();
    assert!(n - r.len() <= 2, "{:?}", rows(&o));
    // No finding is left in a rendered build's output.
    assert!(
        rows(&o).iter().all(|r| !r.0.contains("kustomize build")),
        "{:?}",
        rows(&o)
    );
}

#[test]
fn an_overlay_patch_that_makes_a_threshold_unreachable_is_reported_at_its_line() {
    if !kustomize_installed() {
        return;
    }
    let t = Tmp::new("threshold");
    std::fs::create_dir_all(t.0.join(".git")).expect("git");
    let query = "      query: |\n        histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{app=\"podinfo\"}[1m])))\n";
    t.write("base/kustomization.yaml", "resources:\n- canary.yaml\n");
    t.write(
        "base/canary.yaml",
        &format!(
            "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata:\n  name: podinfo\n  namespace: test\n  annotations:\n    rollgate.dev/histogram-buckets: \"http_request_duration_seconds=0.1,0.5,1,2.5\"\nspec:\n  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: podinfo}}\n  service: {{port: 9898}}\n  analysis:\n    interval: 1m\n    threshold: 5\n    stepWeight: 10\n    maxWeight: 50\n    metrics:\n    - name: p99\n      interval: 1m\n      thresholdRange:\n        max: 1\n{query}"
        ),
    );
    t.write(
        "prod/kustomization.yaml",
        "resources:\n- ../base\npatches:\n- path: slo.yaml\n",
    );
    t.write(
        "prod/slo.yaml",
        &format!(
            "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata:\n  name: podinfo\n  namespace: test\nspec:\n  analysis:\n    metrics:\n    - name: p99\n      interval: 1m\n      thresholdRange:\n        max: 2.5\n{query}"
        ),
    );
    let plain = lint(&t.0, &["prod"], &[]);
    assert!(
        !rows(&plain).iter().any(|r| r.2 == "threshold-unreachable"),
        "{:?}",
        rows(&plain)
    );
    let o = lint(&t.0, &["prod", "--render-kustomize"], &[]);
    // `max: 2.5`, line 12 of the patch: the top bucket bound, a gate that can never fail.
    assert!(
        has(&o, "prod/slo.yaml", 12, "threshold-unreachable"),
        "{:?}\n{}",
        rows(&o),
        o.stderr
    );
    // The base alone is fine.
    let base = lint(&t.0, &["base", "--render-kustomize"], &[]);
    assert!(
        !rows(&base).iter().any(|r| r.2 == "threshold-unreachable"),
        "{:?}",
        rows(&base)
    );
}

#[test]
fn a_value_two_patches_write_is_placed_at_the_object_with_a_note() {
    if !kustomize_installed() {
        return;
    }
    let t = Tmp::fixture("dual");
    let patch = std::fs::read_to_string(t.0.join("prod/canary-patch.yaml")).expect("patch");
    t.write("dual/a.yaml", &patch);
    t.write("dual/b.yaml", &patch);
    t.write(
        "dual/kustomization.yaml",
        "namespace: dual\nresources:\n- ../base\npatches:\n- path: a.yaml\n- path: b.yaml\n",
    );
    let o = lint(&t.0, &["dual", "--render-kustomize"], &[]);
    let f = o.json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["rule"] == "gate-cannot-measure")
        .unwrap_or_else(|| panic!("{:?}\n{}", rows(&o), o.stderr));
    // Neither patch alone: the metric in the base object, saying the build sets the query.
    assert_eq!(
        f["file"].as_str().map(|s| s.trim_start_matches("./")),
        Some("base/canary.yaml"),
        "{f}"
    );
    assert_eq!(f["line"], 23, "{f}");
    assert!(
        f["related"]
            .to_string()
            .contains("is not the one written here"),
        "{f}"
    );
}

#[test]
fn a_failing_build_is_a_note_and_falls_back_to_the_binaryless_reading() {
    if !kustomize_installed() {
        return;
    }
    let t = Tmp::fixture("fail");
    t.write(
        "broken/kustomization.yaml",
        "resources:\n- ../base\n- missing.yaml\n",
    );
    t.write(
        "broken/monitor.yaml",
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: m}\nspec:\n  selector: {matchLabels: {app: nothing}}\n  endpoints: [{port: http}]\n",
    );
    let o = lint(&t.0, &["broken", "prod", "--render-kustomize"], &[]);
    assert!(
        o.stderr
            .contains("broken/kustomization.yaml:1: --render-kustomize: kubectl kustomize failed")
            || o.stderr.contains(
                "broken/kustomization.yaml:1: --render-kustomize: kustomize build failed"
            ),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("missing.yaml"), "{}", o.stderr);
    assert!(
        o.stderr.contains("checked without rendering"),
        "{}",
        o.stderr
    );
    // The other build is still rendered and reported.
    assert!(
        has(&o, "prod/canary-patch.yaml", 17, "gate-cannot-measure"),
        "{:?}",
        rows(&o)
    );
}

#[test]
fn no_binary_and_a_hung_binary_fall_back_with_a_note() {
    let t = Tmp::fixture("nobin");
    let empty = t.0.join("empty-path");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let path = empty.to_string_lossy().into_owned();
    let o = lint(&t.0, &["prod", "--render-kustomize"], &[("PATH", &path)]);
    assert!(
        o.stderr
            .contains("prod/kustomization.yaml:1: --render-kustomize: neither kustomize nor kubectl is on PATH"),
        "{}",
        o.stderr
    );
    // As without the flag: the patch file is skipped, no finding from the build.
    assert!(
        !rows(&o).iter().any(|r| r.2 == "gate-cannot-measure"),
        "{:?}",
        rows(&o)
    );
    // A `kustomize` that never answers is stopped at the timeout.
    let bin = t.0.join("hung-bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let script = bin.join("kustomize");
    std::fs::write(&script, "#!/bin/sh\nexec sleep 30\n").expect("script");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let started = std::time::Instant::now();
    let o = lint(
        &t.0,
        &["prod", "--render-kustomize"],
        &[("PATH", &path), ("ROLLGATE_RENDER_TIMEOUT_MS", "300")],
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(
        o.stderr
            .contains("kustomize build did not finish within 0.3 s"),
        "{}",
        o.stderr
    );
    assert!(
        o.json["summary"]["files"].as_u64().unwrap_or(0) >= 2,
        "{}",
        o.json
    );
}

#[test]
fn an_unsaved_buffer_is_not_rendered_from_disk() {
    use std::io::Write;
    let t = Tmp::fixture("stdin");
    let text = std::fs::read_to_string(t.0.join("prod/canary-patch.yaml")).expect("patch");
    let mut child = Command::new(BIN)
        .current_dir(&t.0)
        .args([
            "lint",
            "--no-config",
            "--format",
            "json",
            "--render-kustomize",
            "--stdin-filename",
            "prod/canary-patch.yaml",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("prod/kustomization.yaml:1: --render-kustomize: standard input stands for prod/canary-patch.yaml"),
        "{stderr}"
    );
}
