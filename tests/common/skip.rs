//! How a test that needs a real component (the upstream corpus, kube-apiserver, Prometheus,
//! pre-commit, helm, vim, …) says it did not run. Included with `#[path = "common/skip.rs"]`.
//!
//! It prints `SKIPPED: <reason>` on standard output. `.config/nextest.toml` shows the output of
//! these tests at the end of `cargo nextest run` even when they pass, so a skip is visible in
//! the run. With the component's `ROLLGATE_REQUIRE_*` variable set to 1 (`.ci/run` sets them
//! all), a missing component fails the test instead.
#![allow(dead_code)]

/// Skip (return `true`), or panic when `require_env` is `1`.
pub fn skip(require_env: &str, reason: &str) -> bool {
    if std::env::var(require_env).is_ok_and(|v| v == "1") {
        panic!("{require_env}=1 but this test cannot run: {reason}");
    }
    println!("SKIPPED: {reason} (set {require_env}=1 to make this a failure)");
    true
}

/// The upstream corpus (`ROLLGATE_CORPUS`, default `../shared/corpus` next to the clone), or
/// `None` after saying the test is skipped (`ROLLGATE_REQUIRE_CORPUS=1`: a failure).
pub fn corpus_dir() -> Option<std::path::PathBuf> {
    let dir = match std::env::var_os("ROLLGATE_CORPUS") {
        Some(p) => std::path::PathBuf::from(p),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
    };
    if dir.is_dir() {
        return Some(dir);
    }
    skip(
        "ROLLGATE_REQUIRE_CORPUS",
        &format!(
            "the corpus is not at {}; set ROLLGATE_CORPUS",
            dir.display()
        ),
    );
    None
}
