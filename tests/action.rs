//! The GitHub Action (`action.yml`, composite) run the way the runner runs it: each `run:` step
//! with `bash --noprofile --norc -eo pipefail`, in a temporary workspace, with the variables the
//! runner provides (GITHUB_WORKSPACE, GITHUB_ACTION_PATH, GITHUB_OUTPUT, GITHUB_PATH,
//! RUNNER_TEMP), `${{ … }}` expressions of the steps substituted, `if:` conditions evaluated,
//! step outputs passed on, and GITHUB_PATH entries put on PATH for the next steps.
//!
//! What cannot run here: the `uses:` step (github/codeql-action/upload-sarif) is checked, not run
//! (that it runs when asked and that the file it uploads exists and is SARIF); and `cargo install`
//! is a stand-in `cargo` on PATH that records its arguments and installs the binary this test
//! was built with (a real release build from scratch would take many minutes of both CPUs).

#[path = "integrations/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::{BAD_VS, BIN, GOOD_VS, TempDir, bin_dir, root, text};

fn action() -> Value {
    let text = std::fs::read_to_string(root().join("action.yml")).expect("action.yml");
    let loaded = rollgate::manifest::load(&text, rollgate::manifest::Limits::default());
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    loaded
        .documents
        .into_iter()
        .next()
        .expect("a document")
        .value
}

#[derive(Debug)]
enum Step {
    Skipped,
    Ran {
        code: i32,
        stdout: String,
        stderr: String,
    },
    /// A `uses:` step that would run, with its evaluated `with:`.
    Uses {
        uses: String,
        with: BTreeMap<String, String>,
    },
}

#[derive(Debug)]
struct Run {
    steps: Vec<(String, Step)>,
    outputs: BTreeMap<String, String>,
    /// The action failed (a step exited non-zero).
    failed: bool,
    cargo_log: String,
}

impl Run {
    fn step(&self, name: &str) -> &Step {
        &self
            .steps
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no step {name}: {self:?}"))
            .1
    }

    fn stdout(&self, name: &str) -> &str {
        match self.step(name) {
            Step::Ran { stdout, .. } => stdout,
            s => panic!("step {name} did not run: {s:?}"),
        }
    }

    fn stderr(&self, name: &str) -> &str {
        match self.step(name) {
            Step::Ran { stderr, .. } => stderr,
            s => panic!("step {name} did not run: {s:?}"),
        }
    }

    fn code(&self, name: &str) -> i32 {
        match self.step(name) {
            Step::Ran { code, .. } => *code,
            s => panic!("step {name} did not run: {s:?}"),
        }
    }
}

struct Ctx<'a> {
    inputs: &'a BTreeMap<String, String>,
    outputs: &'a BTreeMap<String, BTreeMap<String, String>>,
    action_path: &'a Path,
}

impl Ctx<'_> {
    /// The value of an expression the action uses; anything else fails the test, so a new kind
    /// of expression in action.yml needs this runner to learn it first.
    fn value(&self, expr: &str) -> String {
        let expr = expr.trim();
        if let Some(name) = expr.strip_prefix("inputs.") {
            return self
                .inputs
                .get(name)
                .unwrap_or_else(|| panic!("undeclared input {name}"))
                .clone();
        }
        if expr == "github.action_path" {
            return self.action_path.display().to_string();
        }
        if let Some(rest) = expr.strip_prefix("steps.") {
            let (id, out) = rest
                .split_once(".outputs.")
                .expect("steps.<id>.outputs.<name>");
            return self
                .outputs
                .get(id)
                .and_then(|o| o.get(out))
                .cloned()
                .unwrap_or_default();
        }
        panic!("expression not understood by this test: {expr}")
    }

    fn substitute(&self, s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find("${{") {
            out.push_str(&rest[..i]);
            let end = rest[i..].find("}}").expect("unclosed ${{") + i;
            out.push_str(&self.value(&rest[i + 3..end]));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    /// `if:` conditions: `<expr> == '<literal>'` or `!=`.
    fn condition(&self, cond: &str) -> bool {
        let cond = cond.trim();
        let cond = cond
            .strip_prefix("${{")
            .and_then(|c| c.strip_suffix("}}"))
            .unwrap_or(cond);
        for (op, eq) in [("==", true), ("!=", false)] {
            if let Some((l, r)) = cond.split_once(op) {
                let lit = r
                    .trim()
                    .strip_prefix('\'')
                    .and_then(|r| r.strip_suffix('\''))
                    .unwrap_or_else(|| panic!("condition not understood: {cond}"));
                return (self.value(l) == lit) == eq;
            }
        }
        panic!("condition not understood by this test: {cond}")
    }
}

/// Run the action in `workspace` with `with` as its inputs and `path` as PATH.
fn run_action(workspace: &Path, with: &[(&str, &str)], path: &[PathBuf]) -> Run {
    let action = action();
    assert_eq!(action["runs"]["using"], "composite");
    let declared = action["inputs"].as_object().expect("inputs");
    let mut inputs: BTreeMap<String, String> = declared
        .iter()
        .map(|(k, v)| {
            let d = match &v["default"] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (k.clone(), d)
        })
        .collect();
    for (k, v) in with {
        assert!(
            declared.contains_key(*k),
            "action.yml declares no input {k}"
        );
        inputs.insert((*k).into(), (*v).into());
    }

    let runner = TempDir::new("runner");
    let temp = runner.path().join("temp");
    std::fs::create_dir_all(&temp).unwrap();
    let github_path = runner.path().join("github_path");
    std::fs::write(&github_path, "").unwrap();
    let cargo_log = runner.path().join("cargo.log");

    let mut outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut steps = Vec::new();
    let mut failed = false;
    for (i, step) in action["runs"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .enumerate()
    {
        let name = step["name"].as_str().unwrap_or("unnamed").to_owned();
        let cx = Ctx {
            inputs: &inputs,
            outputs: &outputs,
            action_path: &root(),
        };
        if failed || step["if"].as_str().is_some_and(|c| !cx.condition(c)) {
            steps.push((name, Step::Skipped));
            continue;
        }
        if let Some(uses) = step["uses"].as_str() {
            let with = step["with"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), cx.substitute(v.as_str().unwrap())))
                        .collect()
                })
                .unwrap_or_default();
            let uses = uses.to_owned();
            steps.push((name, Step::Uses { uses, with }));
            continue;
        }
        assert_eq!(step["shell"], "bash", "step {name}");
        let script = runner.path().join(format!("step{i}.sh"));
        std::fs::write(&script, step["run"].as_str().expect("run")).unwrap();
        let output_file = runner.path().join(format!("output{i}"));
        std::fs::write(&output_file, "").unwrap();
        // GITHUB_PATH lines of earlier steps come first, the last one written first of all.
        let added = std::fs::read_to_string(&github_path).unwrap();
        let dirs: Vec<PathBuf> = added
            .lines()
            .rev()
            .map(PathBuf::from)
            .chain(path.iter().cloned())
            .collect();
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script)
            .current_dir(workspace)
            .env_clear()
            .env("PATH", std::env::join_paths(dirs).unwrap())
            .env("HOME", runner.path())
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_WORKSPACE", workspace)
            .env("GITHUB_ACTION_PATH", root())
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_PATH", &github_path)
            .env("RUNNER_TEMP", &temp)
            .env("FAKE_CARGO_LOG", &cargo_log)
            .env("ROLLGATE_BUILT", BIN);
        if let Some(env) = step["env"].as_object() {
            for (k, v) in env {
                cmd.env(k, cx.substitute(v.as_str().expect("env value")));
            }
        }
        let out = cmd.output().expect("bash");
        let code = out.status.code().unwrap_or(-1);
        let mut outs = BTreeMap::new();
        for line in std::fs::read_to_string(&output_file).unwrap().lines() {
            let (k, v) = line.split_once('=').expect("name=value in GITHUB_OUTPUT");
            outs.insert(k.to_owned(), v.to_owned());
        }
        if let Some(id) = step["id"].as_str() {
            outputs.insert(id.to_owned(), outs);
        }
        failed = code != 0;
        steps.push((
            name,
            Step::Ran {
                code,
                stdout: text(&out.stdout),
                stderr: text(&out.stderr),
            },
        ));
    }
    let cx = Ctx {
        inputs: &inputs,
        outputs: &outputs,
        action_path: &root(),
    };
    let outputs = action["outputs"]
        .as_object()
        .expect("outputs")
        .iter()
        .map(|(k, v)| (k.clone(), cx.substitute(v["value"].as_str().unwrap())))
        .collect();
    Run {
        steps,
        outputs,
        failed,
        cargo_log: std::fs::read_to_string(&cargo_log).unwrap_or_default(),
    }
}

/// A stand-in `cargo` (see the module comment) in a folder of its own, and the system PATH
/// without the folder of the built rollgate: rollgate is found only where the action puts it.
fn path_with_fake_cargo(t: &TempDir) -> Vec<PathBuf> {
    let cargo = t.write(
        "fake-bin/cargo",
        "#!/bin/bash\necho \"$*\" >>\"$FAKE_CARGO_LOG\"\n[[ $1 == install ]] || exit 101\n\
         root=\nwhile (($#)); do [[ $1 == --root ]] && root=$2; shift; done\n\
         mkdir -p \"$root/bin\" && cp \"$ROLLGATE_BUILT\" \"$root/bin/rollgate\"\n",
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut dirs = vec![cargo.parent().unwrap().to_path_buf()];
    dirs.extend(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .filter(|d| !d.join("rollgate").exists()),
    );
    dirs
}

/// The system PATH with the built rollgate first (for `install: false`).
fn path_with_rollgate() -> Vec<PathBuf> {
    std::env::split_paths(&support::path_with_bin()).collect()
}

fn workspace(manifest: &str) -> TempDir {
    let w = TempDir::new("workspace");
    w.write("deploy/vs.yaml", manifest);
    w.write("README.md", "not linted: the action is given deploy/\n");
    w
}

#[test]
fn annotations_on_findings_and_the_job_fails() {
    let w = workspace(BAD_VS);
    let t = TempDir::new("tools");
    let run = run_action(w.path(), &[("paths", "deploy")], &path_with_fake_cargo(&t));

    // Installed from the action's own checkout, then on PATH through GITHUB_PATH.
    assert_eq!(run.code("Install rollgate"), 0);
    let root_dir = run
        .cargo_log
        .split("--root ")
        .nth(1)
        .unwrap_or_default()
        .trim();
    assert_eq!(
        run.cargo_log,
        format!(
            "install --locked --path {} --root {root_dir}\n",
            root().display()
        )
    );
    assert!(root_dir.ends_with("/temp/rollgate"), "{}", run.cargo_log);
    let lint = run.stdout("Lint");
    assert!(lint.starts_with("rollgate 0.1.0 ("), "{lint}");
    assert!(
        lint.contains(
            "::error file=deploy/vs.yaml,line=10,col=5,endLine=10,endColumn=10,title=istio-weights-not-100::weights sum to 105"
        ),
        "{lint}"
    );
    assert_eq!(run.stderr("Lint"), "");
    assert_eq!(
        run.code("Lint"),
        0,
        "the lint step records the code, the last step fails"
    );
    assert!(matches!(
        run.step("Upload SARIF to code scanning"),
        Step::Skipped
    ));
    assert_eq!(run.code("Fail on findings"), 1);
    assert!(run.failed);
    assert_eq!(run.outputs["exit-code"], "1");
    assert_eq!(run.outputs["sarif-file"], "");
}

#[test]
fn clean_manifests_pass() {
    let w = workspace(GOOD_VS);
    let t = TempDir::new("tools");
    let run = run_action(w.path(), &[("paths", "deploy")], &path_with_fake_cargo(&t));
    assert!(!run.failed, "{run:?}");
    assert_eq!(run.outputs["exit-code"], "0");
    assert!(!run.stdout("Lint").contains("::"), "{run:?}");
}

#[test]
fn sarif_is_written_and_uploaded() {
    // The SARIF file's folder is created (out/ does not exist).
    let w = workspace(BAD_VS);
    let run = run_action(
        w.path(),
        &[
            ("paths", "deploy"),
            ("sarif", "true"),
            ("sarif-file", "out/rollgate.sarif"),
            ("install", "false"),
        ],
        &path_with_rollgate(),
    );
    assert_eq!(run.code("Install rollgate"), 0);
    assert_eq!(run.code("Lint"), 0);
    let Step::Uses { uses, with } = run.step("Upload SARIF to code scanning") else {
        panic!("upload step did not run: {run:?}");
    };
    assert!(
        uses.starts_with("github/codeql-action/upload-sarif@"),
        "{uses}"
    );
    assert_eq!(with["sarif_file"], "out/rollgate.sarif");
    assert_eq!(run.outputs["sarif-file"], "out/rollgate.sarif");
    let sarif: Value =
        serde_json::from_slice(&std::fs::read(w.path().join(&with["sarif_file"])).unwrap())
            .expect("SARIF is JSON");
    assert_eq!(sarif["version"], "2.1.0");
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "istio-weights-not-100");
    let loc = &result["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "deploy/vs.yaml");
    assert_eq!(loc["region"]["startLine"], 10);
    // The upload is not the last step: the job still fails on the finding.
    assert_eq!(run.code("Fail on findings"), 1);
}

#[test]
fn inputs_reach_rollgate() {
    // `fail-level: warning` fails on a warning; `args` and `config` are passed on.
    let w = workspace(BAD_VS);
    w.write(
        "ci/rollgate.yaml",
        "rules:\n  istio-weights-not-100: warning\n",
    );
    let base = [
        ("paths", "deploy README.md"),
        ("install", "false"),
        ("format", "gcc"),
        ("config", "ci/rollgate.yaml"),
    ];
    let run = run_action(w.path(), &base, &path_with_rollgate());
    // README.md, named explicitly, is read: a Markdown file is no Kubernetes object (info, not
    // shown). The 95/10 route is a warning by the configuration: the job passes.
    assert!(!run.failed, "{run:?}");
    assert!(
        run.stdout("Lint")
            .contains("deploy/vs.yaml:10:5: warning: weights sum to 105"),
        "{run:?}"
    );
    let run = run_action(
        w.path(),
        &[&base[..], &[("fail-level", "warning")]].concat(),
        &path_with_rollgate(),
    );
    assert_eq!(run.outputs["exit-code"], "1");
    assert!(run.failed);
    let run = run_action(
        w.path(),
        &[
            &base[..],
            &[("args", "--ignore istio-weights-not-100 --show-info")],
        ]
        .concat(),
        &path_with_rollgate(),
    );
    assert!(!run.failed, "{run:?}");
    let lint = run.stdout("Lint");
    assert!(!lint.contains("istio-weights-not-100"), "{lint}");
    assert!(lint.contains("README.md:1:1: info: "), "{lint}");

    // A configuration error stops the action at the lint step, with rollgate's exit code 2.
    let run = run_action(
        w.path(),
        &[&base[..], &[("config", "ci/missing.yaml")]].concat(),
        &path_with_rollgate(),
    );
    assert_eq!(run.code("Lint"), 2);
    assert!(matches!(run.step("Fail on findings"), Step::Skipped));
}

#[test]
fn install_false_needs_rollgate_on_path() {
    let w = workspace(GOOD_VS);
    let path: Vec<PathBuf> = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .filter(|d| !d.join("rollgate").exists() && *d != bin_dir())
        .collect();
    let run = run_action(w.path(), &[("install", "false")], &path);
    assert_eq!(run.code("Install rollgate"), 2);
    let Step::Ran { stdout, .. } = run.step("Install rollgate") else {
        unreachable!()
    };
    assert!(stdout.contains("::error title=rollgate::"), "{stdout}");
    assert!(matches!(run.step("Lint"), Step::Skipped));
}
