//! The pre-commit hook (`.pre-commit-hooks.yaml`) run by real pre-commit on a temporary git
//! repository, with the built `rollgate` first on PATH (the hook is `language: system`).
//!
//! Skipped, with the reason printed, when `pre-commit` or `git` is not on PATH, unless
//! `ROLLGATE_REQUIRE_PRECOMMIT=1` (as `.ci/run` sets), which makes that a failure.

#[path = "integrations/support.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::{BAD_VS, GOOD_VS, TempDir, path_with_bin, root, text, tool};

const REQUIRE: &str = "ROLLGATE_REQUIRE_PRECOMMIT";

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=rollgate test",
            "-c",
            "user.email=test@rollgate.invalid",
        ])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_owned()
}

/// A repository that holds the hook definition as the one in this checkout (pre-commit clones
/// `repo:` at `rev:`), and its commit.
fn hook_repo(t: &TempDir) -> (std::path::PathBuf, String) {
    let dir = t.path().join("rollgate-hooks");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        root().join(".pre-commit-hooks.yaml"),
        dir.join(".pre-commit-hooks.yaml"),
    )
    .expect("copy .pre-commit-hooks.yaml");
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", ".pre-commit-hooks.yaml"]);
    git(&dir, &["commit", "-q", "-m", "hooks"]);
    let rev = git(&dir, &["rev-parse", "HEAD"]);
    (dir, rev)
}

fn pre_commit(project: &Path, home: &Path, args: &[&str]) -> Output {
    Command::new("pre-commit")
        .args(args)
        .current_dir(project)
        .env("PATH", path_with_bin())
        // pre-commit's cache of cloned hook repositories, kept out of ~/.cache.
        .env("PRE_COMMIT_HOME", home)
        .env("NO_COLOR", "1")
        .env_remove("GIT_DIR")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .expect("run pre-commit")
}

#[test]
fn pre_commit_hook_fails_on_bad_manifests_and_passes_on_good_ones() {
    if tool("pre-commit", REQUIRE).is_none() || tool("git", REQUIRE).is_none() {
        return;
    }
    let t = TempDir::new("precommit");
    let (hooks, rev) = hook_repo(&t);
    let project = t.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let home = t.path().join("pre-commit-home");
    git(&project, &["init", "-q"]);
    std::fs::write(
        project.join(".pre-commit-config.yaml"),
        format!(
            "repos:\n  - repo: {}\n    rev: {rev}\n    hooks:\n      - id: rollgate\n",
            hooks.display()
        ),
    )
    .unwrap();
    let write = |rel: &str, content: &str| {
        let p = project.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    };
    write("deploy/vs.yaml", GOOD_VS);
    // Not YAML by name: the hook (types: [yaml]) must not hand it to rollgate, which would
    // report it as a parse error.
    write("notes.txt", "weights: [95, 10\n");
    git(
        &project,
        &[
            "add",
            ".pre-commit-config.yaml",
            "deploy/vs.yaml",
            "notes.txt",
        ],
    );

    let out = pre_commit(&project, &home, &["run", "--all-files"]);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "good manifests:\n{all}");
    assert!(all.contains("rollgate") && all.contains("Passed"), "{all}");

    // A staged bad manifest: `pre-commit run` (the git hook's run, on staged files) fails and
    // shows the finding in gcc format.
    write("deploy/canary/vs-95-10.yaml", BAD_VS);
    git(&project, &["add", "deploy/canary/vs-95-10.yaml"]);
    let out = pre_commit(&project, &home, &["run"]);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "bad manifest:\n{all}");
    assert!(all.contains("Failed"), "{all}");
    assert!(
        all.contains(
            "deploy/canary/vs-95-10.yaml:10:5: error: weights sum to 105, not 100: podinfo-primary receives 90.5%, podinfo-canary receives 9.5% of traffic [istio-weights-not-100]"
        ),
        "{all}"
    );
    assert!(!all.contains("notes.txt"), "{all}");

    // Fixed and staged again: passes.
    write("deploy/canary/vs-95-10.yaml", GOOD_VS);
    git(&project, &["add", "deploy/canary/vs-95-10.yaml"]);
    let out = pre_commit(&project, &home, &["run"]);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "fixed:\n{all}");

    // The repository's .rollgate.yaml is honoured (pre-commit runs hooks from the root).
    write("deploy/canary/vs-95-10.yaml", BAD_VS);
    write(
        ".rollgate.yaml",
        "rules:\n  istio-weights-not-100: warning\n",
    );
    git(
        &project,
        &["add", "deploy/canary/vs-95-10.yaml", ".rollgate.yaml"],
    );
    let out = pre_commit(&project, &home, &["run"]);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "warning only:\n{all}");
}
