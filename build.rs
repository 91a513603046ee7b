//! Records the git commit for `rollgate --version`: `ROLLGATE_GIT_COMMIT` when set (the
//! container build has no `.git`: deploy/Dockerfile passes it as a build argument), else
//! `git rev-parse`.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=ROLLGATE_GIT_COMMIT");
    if let Some(commit) = std::env::var("ROLLGATE_GIT_COMMIT")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
    {
        println!("cargo:rustc-env=ROLLGATE_GIT_COMMIT={commit}");
        return;
    }
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown commit".to_owned());
    println!("cargo:rustc-env=ROLLGATE_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
}
