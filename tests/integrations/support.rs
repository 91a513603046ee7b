//! Shared by tests/integrations.rs, tests/precommit.rs and tests/action.rs: the built binary,
//! temporary folders, and the rule for tools that may be missing on a developer's machine.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const BIN: &str = env!("CARGO_BIN_EXE_rollgate");

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The folder holding the built `rollgate`, for PATH.
pub fn bin_dir() -> PathBuf {
    Path::new(BIN)
        .parent()
        .expect("binary folder")
        .to_path_buf()
}

/// PATH with the built `rollgate` first.
pub fn path_with_bin() -> std::ffi::OsString {
    let mut dirs = vec![bin_dir()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("PATH")
}

/// `tool` on PATH; when it is missing the test is skipped with the reason printed, unless
/// `require_env=1` (as `.ci/run` sets), which makes it a failure.
pub fn tool(name: &str, require_env: &str) -> Option<PathBuf> {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var(require_env).is_ok_and(|v| v == "1") {
            panic!("{require_env}=1 but `{name}` is not on PATH");
        }
        println!("SKIPPED: `{name}` is not on PATH (set {require_env}=1 to make this a failure)");
    }
    found
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p =
            std::env::temp_dir().join(format!("rollgate-integ-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
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

/// Run to completion with the given standard input.
pub fn run_with_input(cmd: &mut Command, input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    out
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A manifest with one error finding: weights 95/10 (istio-weights-not-100 at line 10, col 5).
pub const BAD_VS: &str = "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: podinfo
  namespace: test
spec:
  hosts: [podinfo.example.com]
  http:
  - name: canary
    route:
    - destination: {host: podinfo-primary}
      weight: 95
    - destination: {host: podinfo-canary}
      weight: 10
";

/// The same route, weights 95/5: no finding.
pub const GOOD_VS: &str = "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: podinfo
  namespace: test
spec:
  hosts: [podinfo.example.com]
  http:
  - name: canary
    route:
    - destination: {host: podinfo-primary}
      weight: 95
    - destination: {host: podinfo-canary}
      weight: 5
";
