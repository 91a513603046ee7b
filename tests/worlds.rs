//! Worlds that match real repositories (docs/worlds.md): the named files are reported, their
//! project folder is the context the rules see; the same file given twice is one file; one
//! identity in several folders is a set of alternatives; kustomizations are scopes (namespace,
//! patches, builds); a referent outside the input is an info unless the world suggests a
//! mistake; bad context (huge folders, symlink loops, unreadable files, kustomize cycles,
//! paths leaving the project) is bounded and never fails the named files.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_rollgate");

struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Tmp {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "rollgate-worlds-{tag}-{}-{}",
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
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Out {
    json: Value,
    stderr: String,
    code: i32,
}

fn lint(dir: &Path, args: &[&str], stdin: Option<&str>) -> Out {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .args(["lint", "--no-config", "--format", "json", "--show-info"])
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    if let Some(text) = stdin {
        use std::io::Write;
        let mut i = child.stdin.take().expect("stdin");
        i.write_all(text.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    Out {
        json: serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("json: {e}: {}", String::from_utf8_lossy(&out.stdout))),
        stderr,
        code: out.status.code().unwrap_or(-1),
    }
}

/// `(file, line, rule, severity)` of every finding, sorted.
fn rows(o: &Out) -> Vec<(String, u64, String, String)> {
    let mut v: Vec<_> = o.json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap_or("").to_owned(),
                f["line"].as_u64().unwrap_or(0),
                f["rule"].as_str().unwrap_or("").to_owned(),
                f["severity"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

fn has(o: &Out, file_suffix: &str, rule: &str, severity: &str) -> bool {
    rows(o)
        .iter()
        .any(|(f, _, r, s)| f.ends_with(file_suffix) && r == rule && s == severity)
}

fn rules_of(o: &Out, file_suffix: &str) -> Vec<(u64, String, String)> {
    rows(o)
        .into_iter()
        .filter(|(f, ..)| f.ends_with(file_suffix))
        .map(|(_, l, r, s)| (l, r, s))
        .collect()
}

const CANARY: &str = "apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  service:
    port: 9898
  analysis:
    interval: 1m
    threshold: 5
    maxWeight: 50
    stepWeight: 10
    metrics:
    - name: latency
      templateRef:
        name: latency
      thresholdRange:
        max: 5000
      interval: 1m
";

/// A template whose query, rendered with the Canary's bindings, has a rule finding (an
/// aggregation without `le`) only when it is bound.
const TEMPLATE: &str = "apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: latency
  namespace: test
spec:
  provider:
    type: prometheus
    address: http://prometheus.istio-system:9090
  query: |
    histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket{namespace=\"{{ namespace }}\", app=\"{{ target }}\"}[{{ interval }}])) by (le))
";

const DEPLOY: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: test
spec:
  selector:
    matchLabels: {app: podinfo}
  template:
    metadata:
      labels: {app: podinfo}
    spec:
      containers:
      - name: c
        image: x
";

fn project() -> Tmp {
    let t = Tmp::new("project");
    std::fs::create_dir_all(t.0.join(".git")).expect("git");
    t.write("app/canary.yaml", CANARY);
    t.write("app/template.yaml", TEMPLATE);
    t.write("app/deploy.yaml", DEPLOY);
    t
}

#[test]
fn same_file_twice_is_one_file() {
    let t = project();
    let once = lint(&t.0, &["app"], None);
    for args in [
        &["app", "app"][..],
        &["app/template.yaml", "app"][..],
        &["app", "app/canary.yaml", "./app/../app"][..],
    ] {
        let twice = lint(&t.0, args, None);
        assert_eq!(rows(&once), rows(&twice), "{args:?}");
        assert_eq!(once.code, twice.code, "{args:?}");
    }
    assert!(!rows(&once).is_empty());
    // Standard input standing for a file, plus that file's folder: the buffer replaces the file.
    let stdin = lint(
        &t.0,
        &["--stdin-filename", "app/canary.yaml", "-", "app"],
        Some(CANARY),
    );
    assert_eq!(rows(&once), rows(&stdin));
}

#[test]
fn one_file_sees_its_folder() {
    let t = project();
    let folder = lint(&t.0, &["app"], None);
    let one = lint(&t.0, &["app/canary.yaml"], None);
    // What the folder run finds on the Canary, the one-file run finds.
    assert_eq!(
        rules_of(&folder, "canary.yaml"),
        rules_of(&one, "canary.yaml"),
        "{}",
        one.stderr
    );
    assert!(has(&one, "canary.yaml", "unit-mismatch", "warning"));
    assert!(!has(&one, "canary.yaml", "template-not-found", "warning"));
    assert!(!has(&one, "canary.yaml", "target-not-found", "warning"));
    // Nothing is reported on a context file.
    assert!(rows(&one).iter().all(|(f, ..)| f.ends_with("canary.yaml")));
    assert!(
        one.stderr.contains("nearest folder holding .git"),
        "{}",
        one.stderr
    );
    // The editor path: the buffer on standard input, the folder as context.
    let editor = lint(
        &t.0,
        &["--stdin-filename", "app/canary.yaml", "-"],
        Some(CANARY),
    );
    assert_eq!(
        rules_of(&one, "canary.yaml"),
        rules_of(&editor, "canary.yaml")
    );
    // Without context: the referents are outside the input, an info each, and a count.
    let blind = lint(&t.0, &["--no-context", "app/canary.yaml"], None);
    assert!(has(&blind, "canary.yaml", "template-not-found", "info"));
    assert!(has(&blind, "canary.yaml", "target-not-found", "info"));
    assert!(!has(&blind, "canary.yaml", "unit-mismatch", "warning"));
    // --context names the folder.
    let given = lint(&t.0, &["--context", "app", "app/canary.yaml"], None);
    assert_eq!(
        rules_of(&one, "canary.yaml"),
        rules_of(&given, "canary.yaml")
    );
    // Strict: an error.
    let strict = lint(
        &t.0,
        &["--no-context", "--strict-references", "app/canary.yaml"],
        None,
    );
    assert!(has(&strict, "canary.yaml", "template-not-found", "error"));
}

#[test]
fn referent_missing_with_evidence_is_a_warning() {
    let t = project();
    // The world holds a MetricTemplate in namespace test, with a near name.
    t.write(
        "app/template.yaml",
        &TEMPLATE.replace("name: latency\n  namespace", "name: latencyy\n  namespace"),
    );
    let o = lint(&t.0, &["app/canary.yaml"], None);
    let f = o.json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["rule"] == "template-not-found")
        .expect("template-not-found");
    assert_eq!(f["severity"], "warning");
    let msg = f["message"].as_str().expect("message");
    assert!(msg.contains("did you mean \"latencyy\""), "{msg}");
}

#[test]
fn alternatives_resolve_to_the_nearest_copy() {
    // Two examples reuse one template name: each Canary binds the template of its own folder,
    // and both templates are checked (nothing is dropped).
    let t = Tmp::new("alternatives");
    std::fs::create_dir_all(t.0.join(".git")).expect("git");
    t.write("a/canary.yaml", CANARY);
    t.write("a/template.yaml", TEMPLATE);
    t.write("b/canary.yaml", CANARY);
    t.write("b/template.yaml", &TEMPLATE.replace("by (le)", "by (pod)"));
    let all = lint(&t.0, &["a", "b"], None);
    let a = lint(&t.0, &["a"], None);
    let b = lint(&t.0, &["b"], None);
    // Linted together, each example finds what it finds alone.
    for (dir, alone) in [("a/", &a), ("b/", &b)] {
        let together: Vec<_> = rows(&all)
            .into_iter()
            .filter(|(f, ..)| f.contains(dir))
            .collect();
        let alone: Vec<_> = rows(alone).into_iter().collect();
        assert_eq!(together, alone, "{dir}: {}", all.stderr);
    }
    assert!(
        rows(&b)
            .iter()
            .any(|(f, _, r, _)| f.ends_with("b/template.yaml")
                && r == "quantile-without-le-aggregation"),
        "{:?}",
        rows(&b)
    );
    assert!(
        !rows(&all)
            .iter()
            .any(|(_, _, r, _)| r == "duplicate-object")
    );
}

const KUSTOMIZE_DEPLOY: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
spec:
  selector:
    matchLabels: {app: podinfo}
  template:
    metadata:
      labels: {app: podinfo}
    spec:
      containers:
      - name: c
        image: x
";

#[test]
fn kustomize_base_and_overlays() {
    let t = Tmp::new("kustomize");
    std::fs::create_dir_all(t.0.join(".git")).expect("git");
    t.write("base/kustomization.yaml", "resources:\n- deploy.yaml\n");
    t.write("base/deploy.yaml", KUSTOMIZE_DEPLOY);
    for env in ["prod", "staging"] {
        t.write(
            &format!("overlays/{env}/kustomization.yaml"),
            &format!(
                "namespace: {env}\nresources:\n- ../../base\n- canary.yaml\npatches:\n- path: patch.yaml\n"
            ),
        );
        t.write(
            &format!("overlays/{env}/canary.yaml"),
            "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata:\n  name: podinfo\nspec:\n  targetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: podinfo\n  service:\n    port: 80\n  analysis:\n    interval: 1m\n    threshold: 5\n    maxWeight: 50\n    stepWeight: 10\n",
        );
        // A strategic-merge patch: no selector, no template (a partial object).
        t.write(
            &format!("overlays/{env}/patch.yaml"),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\nspec:\n  replicas: 3\n",
        );
    }
    let o = lint(
        &t.0,
        &["overlays/prod/canary.yaml", "overlays/prod/patch.yaml"],
        None,
    );
    // The Canary gets the overlay's namespace, and so does the base Deployment: found.
    assert!(
        !rows(&o).iter().any(|(_, _, r, _)| r == "target-not-found"),
        "{:?}\n{}",
        rows(&o),
        o.stderr
    );
    // The patch is skipped, at info, with no schema finding.
    let patch = rules_of(&o, "patch.yaml");
    assert_eq!(
        patch,
        vec![(1, "not-kubernetes-object".to_owned(), "info".to_owned())],
        "{}",
        o.stderr
    );
    // The whole tree: base objects are in each overlay's namespace; no duplicate across
    // overlays, no schema error on patches.
    let all = lint(&t.0, &["."], None);
    assert!(
        !rows(&all)
            .iter()
            .any(|(_, _, r, s)| r == "target-not-found" || s == "error"),
        "{:?}",
        rows(&all)
    );
    // One build holding one identity twice is a duplicate.
    t.write(
        "overlays/prod/kustomization.yaml",
        "namespace: prod\nresources:\n- ../../base\n- canary.yaml\n- again.yaml\n",
    );
    t.write("overlays/prod/again.yaml", KUSTOMIZE_DEPLOY);
    let dup = lint(&t.0, &["overlays/prod/again.yaml"], None);
    assert!(
        has(&dup, "again.yaml", "duplicate-object", "error"),
        "{:?}",
        rows(&dup)
    );
}

#[test]
fn bad_context_is_bounded_and_noted() {
    let t = project();
    // A kustomization including itself, a missing base, paths leaving the project.
    t.write(
        "app/kustomization.yaml",
        "resources:\n- .\n- ../missing\n- ../../../etc\n- /etc/passwd\n- canary.yaml\n",
    );
    // A symlink loop and an unreadable file.
    #[cfg(unix)]
    {
        let _ = std::os::unix::fs::symlink(&t.0, t.0.join("app/loop"));
        let secret = t.write("app/secret.yaml", DEPLOY);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    }
    // A huge non-manifest and a huge manifest.
    t.write("app/big.yaml", &"# filler\n".repeat(400_000));
    t.write("app/blob.bin", &"x".repeat(1_000_000));
    let o = lint(&t.0, &["app/canary.yaml"], None);
    assert!(
        has(&o, "canary.yaml", "unit-mismatch", "warning"),
        "{}",
        o.stderr
    );
    for note in [
        "a cycle",
        "does not exist",
        "absolute path",
        "outside the project",
    ] {
        assert!(o.stderr.contains(note), "{note}: {}", o.stderr);
    }
    assert!(o.stderr.contains("kustomization.yaml:"), "{}", o.stderr);
}

#[test]
fn huge_context_folder_is_bounded() {
    let t = project();
    // 100k empty files in one folder of the project.
    let many = t.0.join("many");
    std::fs::create_dir_all(&many).expect("mkdir");
    for i in 0..100_000 {
        std::fs::write(many.join(format!("f{i}.yaml")), "").expect("write");
    }
    let start = std::time::Instant::now();
    let o = lint(&t.0, &["app/canary.yaml"], None);
    let took = start.elapsed();
    assert!(
        has(&o, "canary.yaml", "unit-mismatch", "warning")
            || o.stderr.contains("the rest is not read"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("the rest is not read"), "{}", o.stderr);
    assert!(took.as_secs() < 60, "{took:?}");
}

// ---------------------------------------------------------------------------------------------
// What a folder walk reports (docs/configuration.md "Excludes", measured in docs/precision.md)

/// A Rollout whose `setWeight` one replica cannot give: a true warning, the kind upstream test
/// fixtures hold on purpose.
const FIXTURE_ROLLOUT: &str = "apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: fixture
spec:
  replicas: 1
  selector:
    matchLabels: {app: fixture}
  template:
    metadata:
      labels: {app: fixture}
    spec:
      containers:
      - name: c
        image: x
  strategy:
    canary:
      steps:
      - setWeight: 10
      - pause: {duration: 10s}
";

#[test]
fn test_trees_and_fixture_folders_are_not_reported_from_a_walk() {
    let t = project();
    t.write("test/e2e/rollout.yaml", FIXTURE_ROLLOUT);
    t.write("pkg/lint/testdata/rollout.yaml", FIXTURE_ROLLOUT);
    t.write("clusters/test/rollout.yaml", FIXTURE_ROLLOUT);
    let all = lint(&t.0, &["."], None);
    // The fixtures are not reported, and one line says so; an environment named `test`
    // deeper in the project is linted.
    assert!(!rows(&all).iter().any(|(f, ..)| f.contains("test/e2e")));
    assert!(!rows(&all).iter().any(|(f, ..)| f.contains("testdata")));
    assert!(has(
        &all,
        "clusters/test/rollout.yaml",
        "argo-setweight-unachievable",
        "warning"
    ));
    assert!(
        all.stderr
            .contains("2 file(s) not reported: 2 in test trees and fixture folders"),
        "{}",
        all.stderr
    );
    // A file named on the command line is linted (pre-commit, editors), unless
    // --force-exclude (the pre-commit hook passes it) says otherwise, and then it is counted.
    let named = lint(&t.0, &["test/e2e/rollout.yaml"], None);
    assert!(has(
        &named,
        "test/e2e/rollout.yaml",
        "argo-setweight-unachievable",
        "warning"
    ));
    let forced = lint(&t.0, &["--force-exclude", "test/e2e/rollout.yaml"], None);
    assert!(rows(&forced).is_empty(), "{:?}", rows(&forced));
    assert!(
        forced.stderr.contains("1 file(s) not reported"),
        "{}",
        forced.stderr
    );
    // A folder named inside a test tree is linted.
    let inside = lint(&t.0, &["test/e2e"], None);
    assert!(has(
        &inside,
        "rollout.yaml",
        "argo-setweight-unachievable",
        "warning"
    ));
}

#[test]
fn exclude_replaces_the_defaults_and_extend_exclude_adds() {
    let t = project();
    t.write("test/e2e/rollout.yaml", FIXTURE_ROLLOUT);
    t.write("generated/rollout.yaml", FIXTURE_ROLLOUT);
    let run = |config: &str| {
        t.write(".rollgate.yaml", config);
        let mut c = Command::new(BIN);
        let out = c
            .current_dir(&t.0)
            .args(["lint", "--format", "json", "."])
            .output()
            .expect("run");
        let json: Value = serde_json::from_slice(&out.stdout).expect("json");
        let files: Vec<String> = json["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["file"].as_str().unwrap_or("").to_owned())
            .collect();
        (files, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (files, _) = run("exclude: []\n");
    assert!(files.iter().any(|f| f.contains("test/e2e")), "{files:?}");
    assert!(files.iter().any(|f| f.contains("generated")), "{files:?}");
    let (files, err) = run("extend-exclude: [\"generated/**\"]\n");
    assert!(
        !files
            .iter()
            .any(|f| f.contains("test/e2e") || f.contains("generated")),
        "{files:?}"
    );
    // The note counts what the defaults leave out; the configured globs are the user's own.
    assert!(
        err.contains("1 file(s) not reported: 1 in test trees"),
        "{err}"
    );
    let (files, _) = run("exclude: [\"generated/**\"]\n");
    assert!(files.iter().any(|f| f.contains("test/e2e")), "{files:?}");
    assert!(!files.iter().any(|f| f.contains("generated")), "{files:?}");
    // force-exclude in the file applies the excludes to a named file.
    let (files, _) = {
        t.write(".rollgate.yaml", "force-exclude: true\n");
        let out = Command::new(BIN)
            .current_dir(&t.0)
            .args(["lint", "--format", "json", "test/e2e/rollout.yaml"])
            .output()
            .expect("run");
        let json: Value = serde_json::from_slice(&out.stdout).expect("json");
        (json["findings"].as_array().expect("findings").len(), ())
    };
    assert_eq!(files, 0);
}

#[test]
fn helm_chart_templates_are_not_linted_as_manifests() {
    let t = project();
    t.write(
        "charts/app/Chart.yaml",
        "apiVersion: v2\nname: app\nversion: 0.1.0\n",
    );
    t.write(
        "charts/app/templates/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  replicas: {{ .Values.replicas }}\n",
    );
    // A chart file without a template action renders to itself: linted.
    t.write("charts/app/templates/rollout.yaml", FIXTURE_ROLLOUT);
    // Outside a chart, an unquoted `{{ … }}` is a real mistake (kubectl fails on it).
    t.write(
        "examples/job.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  annotations:\n    a: {{args.x}}\n",
    );
    let all = lint(&t.0, &["."], None);
    assert!(
        !rows(&all)
            .iter()
            .any(|(f, ..)| f.ends_with("deployment.yaml")),
        "{:?}",
        rows(&all)
    );
    assert!(has(
        &all,
        "templates/rollout.yaml",
        "argo-setweight-unachievable",
        "warning"
    ));
    assert!(has(&all, "examples/job.yaml", "parse-error", "error"));
    assert!(
        all.stderr
            .contains("1 Helm chart or Ansible role template(s)"),
        "{}",
        all.stderr
    );
    // Named: one info says why it is not linted; no parse error.
    let named = lint(&t.0, &["charts/app/templates/deployment.yaml"], None);
    assert_eq!(
        rules_of(&named, "deployment.yaml"),
        vec![(1, "not-kubernetes-object".to_owned(), "info".to_owned())]
    );
}

const PATCH: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: test
spec:
  template:
    spec:
      containers:
      - name: c
        args: [--x]
";

#[test]
fn unlisted_and_bare_string_patches_are_patches() {
    let t = project();
    // kubebuilder's scaffold: the patch entry is commented out.
    t.write(
        "config/default/kustomization.yaml",
        "resources:\n- ../app\n#patches:\n#- path: manager_auth_proxy_patch.yaml\n",
    );
    t.write(
        "config/app/kustomization.yaml",
        "resources:\n- deploy.yaml\n",
    );
    t.write("config/app/deploy.yaml", DEPLOY);
    t.write("config/default/manager_auth_proxy_patch.yaml", PATCH);
    // argocd-example-apps: a bare string under `patches`.
    t.write(
        "plugin/kustomization.yaml",
        "resources:\n- deploy.yaml\npatches:\n- overlays/deploy.yaml\n",
    );
    t.write("plugin/deploy.yaml", DEPLOY);
    t.write("plugin/overlays/deploy.yaml", PATCH);
    let all = lint(&t.0, &["."], None);
    for f in ["manager_auth_proxy_patch.yaml", "overlays/deploy.yaml"] {
        assert!(!has(&all, f, "schema", "error"), "{f}: {:?}", rows(&all));
        assert!(
            has(&all, f, "not-kubernetes-object", "info"),
            "{f}: {:?}",
            rows(&all)
        );
    }
    // Named alone, the same.
    let one = lint(
        &t.0,
        &["config/default/manager_auth_proxy_patch.yaml"],
        None,
    );
    assert!(
        !has(&one, "patch.yaml", "schema", "error"),
        "{:?}",
        rows(&one)
    );
}

/// A CRD of kind Widget (group example.test) whose spec has one field, `field`.
fn widget_crd(field: &str) -> String {
    format!(
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.test
spec:
  group: example.test
  names: {{kind: Widget, plural: widgets}}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              {field}: {{type: string}}
"
    )
}

#[test]
fn objects_are_checked_against_the_nearest_copy_of_their_crd() {
    let t = project();
    // Two adapters, each with its own version of one CRD and a sample beside it.
    t.write("old/crd/widget.yaml", &widget_crd("result"));
    t.write(
        "old/samples/w.yaml",
        "apiVersion: example.test/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: test\nspec:\n  result: ok\n",
    );
    t.write("new/crd/widget.yaml", &widget_crd("status"));
    t.write(
        "new/samples/w.yaml",
        "apiVersion: example.test/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: test\nspec:\n  status: ok\n",
    );
    let all = lint(&t.0, &["."], None);
    assert!(
        !rows(&all).iter().any(|(_, _, r, _)| r == "schema"),
        "{:?}",
        rows(&all)
    );
    // A sample beside the new CRD that uses the old field is still an error.
    t.write(
        "new/samples/stale.yaml",
        "apiVersion: example.test/v1\nkind: Widget\nmetadata:\n  name: s\n  namespace: test\nspec:\n  result: ok\n",
    );
    let all = lint(&t.0, &["."], None);
    assert!(
        has(&all, "new/samples/stale.yaml", "schema", "error"),
        "{:?}",
        rows(&all)
    );
}

#[test]
fn setweight_rounding_is_an_info_and_a_larger_exposure_a_warning() {
    let t = project();
    // 1 replica: setWeight 10 gives the canary half the traffic.
    t.write("app/one.yaml", FIXTURE_ROLLOUT);
    // 3 replicas: setWeight 20 gives 25%, a rounding.
    t.write(
        "app/three.yaml",
        &FIXTURE_ROLLOUT
            .replace("name: fixture", "name: three")
            .replace("replicas: 1", "replicas: 3")
            .replace("setWeight: 10", "setWeight: 20"),
    );
    let all = lint(&t.0, &["app"], None);
    assert!(has(
        &all,
        "one.yaml",
        "argo-setweight-unachievable",
        "warning"
    ));
    assert!(has(
        &all,
        "three.yaml",
        "argo-setweight-unachievable",
        "info"
    ));
    assert!(!has(
        &all,
        "three.yaml",
        "argo-setweight-unachievable",
        "warning"
    ));
    let msg = all.json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| {
            f["file"]
                .as_str()
                .is_some_and(|n| n.ends_with("three.yaml"))
        })
        .and_then(|f| f["message"].as_str())
        .unwrap_or_default()
        .to_owned();
    assert!(msg.contains("a rounding of the weight"), "{msg}");
}

#[test]
fn monitors_of_installer_services_are_infos() {
    let t = project();
    let bundle = "apiVersion: v1
kind: Service
metadata:
  name: metrics-server
  namespace: kube-system
  labels: {k8s-app: metrics-server}
spec:
  selector: {k8s-app: metrics-server}
  ports: [{name: https, port: 443}]
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: kubelet
  namespace: monitoring
spec:
  namespaceSelector: {matchNames: [kube-system]}
  selector:
    matchLabels: {k8s-app: kubelet}
  endpoints: [{port: https-metrics}]
";
    t.write("monitoring/bundle.yaml", bundle);
    let all = lint(&t.0, &["monitoring"], None);
    assert!(
        has(
            &all,
            "bundle.yaml",
            "servicemonitor-no-matching-service",
            "info"
        ),
        "{:?}",
        rows(&all)
    );
    assert!(!has(
        &all,
        "bundle.yaml",
        "servicemonitor-no-matching-service",
        "warning"
    ));
    // The same monitor of an application namespace with other Services there: a warning.
    let app = bundle.replace("kube-system", "apps");
    t.write("monitoring/bundle.yaml", &app);
    let all = lint(&t.0, &["monitoring"], None);
    assert!(
        has(
            &all,
            "bundle.yaml",
            "servicemonitor-no-matching-service",
            "warning"
        ),
        "{:?}",
        rows(&all)
    );
    // Every namespace (`any: true`), beside Services of istio-system only: an info.
    let any = bundle
        .replace("namespace: kube-system", "namespace: istio-system")
        .replace(
            "namespaceSelector: {matchNames: [kube-system]}",
            "namespaceSelector: {any: true}",
        );
    t.write("monitoring/bundle.yaml", &any);
    let all = lint(&t.0, &["monitoring"], None);
    assert!(
        has(
            &all,
            "bundle.yaml",
            "servicemonitor-no-matching-service",
            "info"
        ),
        "{:?}",
        rows(&all)
    );
    // Strict: an error in any namespace.
    t.write("monitoring/bundle.yaml", bundle);
    let strict = lint(&t.0, &["--strict-references", "monitoring"], None);
    assert!(has(
        &strict,
        "bundle.yaml",
        "servicemonitor-no-matching-service",
        "error"
    ));
}

#[test]
fn a_dead_fallback_to_the_same_destinations_is_an_info() {
    let t = project();
    let vs = "apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: details
  namespace: test
spec:
  hosts: [details]
  http:
  - fault:
      abort: {httpStatus: 555, percentage: {value: 100}}
    route:
    - destination: {host: details}
  - route:
    - destination: {host: details}
";
    t.write("mesh/fault.yaml", vs);
    t.write(
        "mesh/lost.yaml",
        &vs.replace("name: details", "name: other").replacen(
            "  - route:\n    - destination: {host: details}\n",
            "  - route:\n    - destination: {host: reviews}\n",
            1,
        ),
    );
    let all = lint(&t.0, &["mesh"], None);
    assert!(
        has(&all, "fault.yaml", "istio-route-unreachable", "info"),
        "{:?}",
        rows(&all)
    );
    assert!(!has(
        &all,
        "fault.yaml",
        "istio-route-unreachable",
        "warning"
    ));
    assert!(
        has(&all, "lost.yaml", "istio-route-unreachable", "warning"),
        "{:?}",
        rows(&all)
    );
}

#[test]
fn a_file_in_a_kustomization_folder_sees_the_whole_project() {
    // stefanprodan/gitops-istio: apps/backend is a kustomization; the MetricTemplates its
    // Canary names live in another folder of the repository.
    let t = Tmp::new("gitops");
    std::fs::create_dir_all(t.0.join(".git")).expect("git");
    t.write(
        "apps/backend/kustomization.yaml",
        "resources:\n- canary.yaml\n- deploy.yaml\n",
    );
    t.write("apps/backend/canary.yaml", CANARY);
    t.write("apps/backend/deploy.yaml", DEPLOY);
    t.write("infrastructure/templates/latency.yaml", TEMPLATE);
    let folder = lint(&t.0, &["."], None);
    let one = lint(&t.0, &["apps/backend/canary.yaml"], None);
    assert_eq!(
        rules_of(&folder, "canary.yaml"),
        rules_of(&one, "canary.yaml"),
        "{}",
        one.stderr
    );
    assert!(!has(&one, "canary.yaml", "template-not-found", "info"));
    assert!(has(&one, "canary.yaml", "unit-mismatch", "warning"));
    assert!(
        one.stderr.contains("nearest folder holding .git"),
        "{}",
        one.stderr
    );
}

/// The standard output of `rollgate lint --format json ARGS` in `dir` with the context cache in
/// `cache` (`off`: none).
fn lint_cached(dir: &Path, cache: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .current_dir(dir)
        .env("ROLLGATE_CACHE_DIR", cache)
        .args(["lint", "--no-config", "--format", "json", "--show-info"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Context files read from the cache of the last run (manifest/cache.rs) give the very same
/// report as parsing them, related places in context files included; a context file whose
/// text changed is parsed again.
#[test]
fn context_cache_gives_the_same_report() {
    let t = project();
    let cache = Tmp::new("cache");
    let args = ["app/canary.yaml"];
    let off = lint_cached(&t.0, Path::new("off"), &args);
    let cold = lint_cached(&t.0, &cache.0, &args);
    let files: Vec<_> = std::fs::read_dir(&cache.0).expect("cache dir").collect();
    assert_eq!(files.len(), 1, "one cache file per project");
    let warm = lint_cached(&t.0, &cache.0, &args);
    assert_eq!(off, cold);
    assert_eq!(off, warm);
    // The finding relates to the template, a context file: its place is found again.
    let json: Value = serde_json::from_str(&warm).expect("json");
    let related_lines: Vec<u64> = json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .flat_map(|f| f["related"].as_array().into_iter().flatten())
        .filter(|r| {
            r["file"]
                .as_str()
                .is_some_and(|f| f.ends_with("template.yaml"))
        })
        .filter_map(|r| r["line"].as_u64())
        .collect();
    assert!(!related_lines.is_empty(), "{warm}");
    // A changed context file is a miss: the template without the finding's cause.
    t.write(
        "app/template.yaml",
        &TEMPLATE.replace(
            "[{{ interval }}])) by (le))",
            "[{{ interval }}])) by (le)) * 1000",
        ),
    );
    let changed_off = lint_cached(&t.0, Path::new("off"), &args);
    assert_ne!(changed_off, off, "the change matters");
    assert_eq!(changed_off, lint_cached(&t.0, &cache.0, &args));
    // A corrupt cache file is a miss, never an error.
    for f in std::fs::read_dir(&cache.0).expect("cache dir").flatten() {
        std::fs::write(f.path(), b"rollgate-ctx-v1\n garbage").expect("write");
    }
    assert_eq!(changed_off, lint_cached(&t.0, &cache.0, &args));
}

/// A Service with the name Flagger generates for a Canary that lives in a sibling folder
/// (another example of the repository), found on rollgate's own testdata: not the same rollout,
/// no warning; the same Canary next to it, the warning.
#[test]
fn a_canary_in_a_sibling_folder_does_not_own_a_service() {
    const PRIMARY: &str = "apiVersion: v1
kind: Service
metadata:
  name: podinfo-primary
  namespace: test
spec:
  selector: {app: something-else}
  ports:
  - port: 9898
";
    let t = project();
    t.write("examples/routes/svc.yaml", PRIMARY);
    t.write("examples/flagger/canary.yaml", CANARY);
    let apart = lint(&t.0, &["examples/routes/"], None);
    assert!(
        !has(&apart, "svc.yaml", "object-owned-by-flagger", "warning"),
        "{:?}",
        rows(&apart)
    );
    t.write("examples/routes/canary.yaml", CANARY);
    let together = lint(&t.0, &["examples/routes/"], None);
    assert!(
        has(&together, "svc.yaml", "object-owned-by-flagger", "warning"),
        "{:?}",
        rows(&together)
    );
}

/// A Deployment with no selector, named `name`, as kustomize bases write them when their
/// kustomization adds the selector with `commonLabels`.
fn bare_deploy(name: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  template:
    metadata:
      labels: {{app: x}}
    spec:
      containers:
      - name: c
        image: x
"
    )
}

#[test]
fn kustomize_name_prefixes_deletions_and_added_selectors() {
    // kubeflow/manifests: one build holds several apps' bases, each with a Deployment named
    // `deployment` under its own `namePrefix`, and each base leaves the selector to
    // `commonLabels`; a Namespace the build also gets from another app is removed there by a
    // `$patch: delete`.
    let t = Tmp::new("kustomize-names");
    std::fs::create_dir_all(t.0.join(".git")).expect("git");
    t.write(
        "example/kustomization.yaml",
        "resources:\n- ../apps/a\n- ../apps/b\n- ../apps/c\n- ../ns\n",
    );
    for (app, prefix) in [("a", "a-"), ("b", "b-")] {
        t.write(
            &format!("apps/{app}/kustomization.yaml"),
            &format!(
                "namePrefix: {prefix}\nnamespace: kubeflow\ncommonLabels:\n  app: {app}\nresources:\n- deployment.yaml\n"
            ),
        );
        t.write(
            &format!("apps/{app}/deployment.yaml"),
            &bare_deploy("deployment"),
        );
    }
    // No prefix, no labels: a true duplicate of nothing, but its selector is missing.
    t.write(
        "apps/c/kustomization.yaml",
        "resources:\n- deployment.yaml\n- namespace.yaml\npatches:\n- path: patches/remove-namespace.yaml\n",
    );
    t.write("apps/c/deployment.yaml", &bare_deploy("deployment"));
    t.write(
        "apps/c/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kubeflow\n",
    );
    t.write(
        "apps/c/patches/remove-namespace.yaml",
        "$patch: delete\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: kubeflow\n",
    );
    // A leftover patch beside it that nothing lists.
    t.write(
        "apps/c/patches/add-account.yaml",
        &bare_deploy("deployment"),
    );
    t.write("ns/kustomization.yaml", "resources:\n- namespace.yaml\n");
    t.write(
        "ns/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kubeflow\n",
    );
    let all = lint(&t.0, &["."], None);
    assert!(
        !rows(&all)
            .iter()
            .any(|(_, _, r, _)| r == "duplicate-object"),
        "{:?}",
        rows(&all)
    );
    for app in ["a", "b"] {
        assert!(
            !has(
                &all,
                &format!("apps/{app}/deployment.yaml"),
                "schema",
                "error"
            ),
            "{:?}",
            rows(&all)
        );
    }
    assert!(
        has(&all, "apps/c/deployment.yaml", "schema", "error"),
        "{:?}",
        rows(&all)
    );
    assert!(
        has(
            &all,
            "patches/add-account.yaml",
            "not-kubernetes-object",
            "info"
        ),
        "{:?}",
        rows(&all)
    );
    // The same prefix twice in one build: one identity, a true duplicate.
    t.write(
        "apps/b/kustomization.yaml",
        "namePrefix: a-\nnamespace: kubeflow\ncommonLabels:\n  app: b\nresources:\n- deployment.yaml\n",
    );
    let dup = lint(&t.0, &["."], None);
    assert!(
        has(&dup, "deployment.yaml", "duplicate-object", "error"),
        "{:?}",
        rows(&dup)
    );
    // Named alone, the same as in the folder pass.
    let one = lint(&t.0, &["apps/b/deployment.yaml"], None);
    assert_eq!(
        rules_of(&one, "apps/b/deployment.yaml"),
        rules_of(&dup, "apps/b/deployment.yaml")
    );
}

const VS_ROUTE: &str = "apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: NAME
  namespace: default
spec:
  hosts:
  - reviews
  http:
  - route:
    - destination:
        host: reviews
";

#[test]
fn virtualservices_of_sibling_examples_do_not_conflict() {
    // GoogleCloudPlatform/istio-samples: two examples route one host with VirtualServices of
    // different names; each is applied on its own.
    let t = Tmp::new("vs-siblings");
    std::fs::create_dir_all(t.0.join(".git")).expect("git");
    t.write("canary/vs.yaml", &VS_ROUTE.replace("NAME", "reviews"));
    t.write(
        "migration/step1/vs.yaml",
        &VS_ROUTE.replace("NAME", "reviews-migration"),
    );
    t.write(
        "migration/step1/vs-b.yaml",
        &VS_ROUTE.replace("NAME", "reviews-migration"),
    );
    let all = lint(&t.0, &["."], None);
    assert!(
        !rows(&all)
            .iter()
            .any(|(_, _, r, _)| r == "istio-vs-conflicting-hosts"),
        "{:?}",
        rows(&all)
    );
    // In one folder they are applied together: a conflict.
    t.write("canary/vs-2.yaml", &VS_ROUTE.replace("NAME", "reviews-2"));
    let near = lint(&t.0, &["."], None);
    assert!(
        has(
            &near,
            "canary/vs.yaml",
            "istio-vs-conflicting-hosts",
            "warning"
        ),
        "{:?}",
        rows(&near)
    );
}

#[test]
fn monitors_judged_by_what_the_service_selects_and_where_it_lives() {
    // KubeRay: a PodMonitor selecting `app.kubernetes.io/name: kuberay`, which the operator's
    // Service also selects its pods by; a ServiceMonitor for namespace `default` while a
    // kustomize base in a sibling folder deploys the Service to `ray-system` (the documented
    // path is a Helm install into `default`).
    let t = Tmp::new("monitors-kuberay");
    std::fs::create_dir_all(t.0.join(".git")).expect("git");
    t.write(
        "operator/service.yaml",
        "apiVersion: v1
kind: Service
metadata:
  name: kuberay-operator
  namespace: default
  labels: {app.kubernetes.io/name: kuberay}
spec:
  selector: {app.kubernetes.io/name: kuberay, app.kubernetes.io/component: operator}
  ports:
  - name: metrics
    port: 8080
",
    );
    t.write(
        "deploy/base/service.yaml",
        "apiVersion: v1
kind: Service
metadata:
  name: apiserver
  namespace: ray-system
  labels: {app.kubernetes.io/component: apiserver}
spec:
  selector: {app.kubernetes.io/component: apiserver}
  ports:
  - name: http
    port: 8888
",
    );
    t.write(
        "deploy/prometheus/pod-monitor.yaml",
        "apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata:
  name: ray
  namespace: prometheus-system
spec:
  podMetricsEndpoints:
  - port: metrics
  namespaceSelector: {matchNames: [default]}
  selector:
    matchLabels: {app.kubernetes.io/name: kuberay}
",
    );
    t.write(
        "deploy/prometheus/service-monitor.yaml",
        "apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: apiserver
  namespace: prometheus-system
spec:
  endpoints:
  - targetPort: http
  namespaceSelector: {matchNames: [default]}
  selector:
    matchLabels: {app.kubernetes.io/component: apiserver}
",
    );
    let all = lint(&t.0, &["."], None);
    assert!(
        !rows(&all)
            .iter()
            .any(|(_, _, r, _)| r == "podmonitor-selects-service-labels"),
        "{:?}",
        rows(&all)
    );
    assert!(
        has(
            &all,
            "service-monitor.yaml",
            "servicemonitor-no-matching-service",
            "info"
        ),
        "{:?}",
        rows(&all)
    );
    // The Service beside the monitor, in another namespace: a likely mistake.
    t.write(
        "deploy/prometheus/service.yaml",
        &std::fs::read_to_string(t.0.join("deploy/base/service.yaml")).expect("read"),
    );
    let near = lint(&t.0, &["."], None);
    assert!(
        has(
            &near,
            "service-monitor.yaml",
            "servicemonitor-no-matching-service",
            "warning"
        ),
        "{:?}",
        rows(&near)
    );
}

#[test]
fn a_prometheus_with_no_name_is_a_fragment_not_evidence() {
    // prometheus-operator's user guide on scrape classes: a Prometheus showing only
    // `scrapeClasses` (no name, no selectors) beside the monitors that use them.
    let t = Tmp::new("prometheus-fragment");
    std::fs::create_dir_all(t.0.join(".git")).expect("git");
    t.write(
        "guide/definition.yaml",
        "apiVersion: monitoring.coreos.com/v1
kind: Prometheus
spec:
  scrapeClasses:
  - name: istio-mtls
    default: true
",
    );
    t.write(
        "guide/servicemonitor.yaml",
        "apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: example
spec:
  scrapeClass: istio-mtls
  selector:
    matchLabels: {app: example}
  endpoints:
  - port: http
",
    );
    let all = lint(&t.0, &["."], None);
    assert!(
        !rows(&all)
            .iter()
            .any(|(_, _, r, _)| r == "monitor-not-selected-by-prometheus"),
        "{:?}",
        rows(&all)
    );
    // Named, the same Prometheus selects nothing: the monitor is not scraped.
    t.write(
        "guide/definition.yaml",
        "apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata:
  name: main
spec:
  scrapeClasses:
  - name: istio-mtls
    default: true
",
    );
    let named = lint(&t.0, &["."], None);
    assert!(
        has(
            &named,
            "servicemonitor.yaml",
            "monitor-not-selected-by-prometheus",
            "warning"
        ),
        "{:?}",
        rows(&named)
    );
}

#[test]
fn a_full_and_a_minimal_crd_copy_give_one_answer_alone_and_in_the_folder() {
    // kserve: `config/crd/full/` (the schemas), `config/crd/minimal/` (every field kept), and a
    // sample in `docs/`; the full copy of one CRD is over 2 MiB, the size above which other
    // context files are skipped.
    let t = Tmp::new("crd-copies");
    std::fs::create_dir_all(t.0.join(".git")).expect("git");
    let full = widget_crd("size").replace(
        "              size: {type: string}\n",
        &format!(
            "              size: {{type: string, description: \"{}\"}}\n",
            "x".repeat(2_200_000)
        ),
    );
    assert!(full.len() > 2 * 1024 * 1024);
    t.write("config/crd/full/widget.yaml", &full);
    t.write(
        "config/crd/minimal/widget.yaml",
        &widget_crd("size").replace(
            "            type: object\n            properties:\n              size: {type: string}\n",
            "            type: object\n            x-kubernetes-preserve-unknown-fields: true\n",
        ),
    );
    t.write(
        "docs/samples/w.yaml",
        "apiVersion: example.test/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: test\nspec:\n  colour: red\n",
    );
    let all = lint(&t.0, &["."], None);
    assert!(
        has(&all, "docs/samples/w.yaml", "schema", "error"),
        "{:?}",
        rows(&all)
    );
    let one = lint(&t.0, &["docs/samples/w.yaml"], None);
    assert_eq!(
        rules_of(&one, "docs/samples/w.yaml"),
        rules_of(&all, "docs/samples/w.yaml")
    );
}
