//! `.ci/msrv.py`, the CI step that keeps `rust-version` true: it fails when a locked
//! dependency declares a newer `rust-version` than rollgate, and passes on this repository.
//! Needs python3 (`.ci/run` installs it).

use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn msrv(metadata: &serde_json::Value) -> Output {
    let dir = std::env::temp_dir().join(format!("rollgate-msrv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join(format!(
        "{}.json",
        metadata["packages"][1]["name"].as_str().unwrap_or("m")
    ));
    std::fs::write(&file, metadata.to_string()).expect("write");
    let out = Command::new("python3")
        .arg(format!("{ROOT}/.ci/msrv.py"))
        .arg(&file)
        .output()
        .expect("python3 runs (.ci/run installs it)");
    let _ = std::fs::remove_file(&file);
    out
}

fn metadata(ours: Option<&str>, dep: &str, dep_rv: Option<&str>) -> serde_json::Value {
    serde_json::json!({
        "workspace_members": ["path+file:///r#rollgate@0.1.0"],
        "packages": [
            {"id": "path+file:///r#rollgate@0.1.0", "name": "rollgate", "version": "0.1.0", "rust_version": ours},
            {"id": format!("registry+x#{dep}@1.0.0"), "name": dep, "version": "1.0.0", "rust_version": dep_rv},
        ],
    })
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

#[test]
fn a_dependency_needing_newer_rust_fails_the_check() {
    let out = msrv(&metadata(Some("1.89"), "kube", Some("1.90.0")));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("rust-version is 1.89"), "{err}");
    assert!(err.contains("kube 1.0.0 needs Rust 1.90.0"), "{err}");

    for (dep_rv, why) in [
        (Some("1.89.0"), "equal"),
        (Some("1.85"), "older"),
        (None, "none declared"),
    ] {
        let out = msrv(&metadata(Some("1.89"), "serde", dep_rv));
        assert_eq!(out.status.code(), Some(0), "{why}: {}", text(&out.stderr));
        assert!(
            text(&out.stdout).starts_with("ok: rust-version 1.89"),
            "{why}"
        );
    }
    // rollgate itself must declare one.
    let out = msrv(&metadata(None, "serde", Some("1.60")));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn the_declared_rust_version_holds_for_cargo_lock() {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(ROOT)
        .output()
        .expect("cargo metadata");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let check = msrv(&v);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}{}",
        text(&check.stdout),
        text(&check.stderr)
    );
    // The README says the same minimum as Cargo.toml.
    let ours = v["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "rollgate")
        .and_then(|p| p["rust_version"].as_str())
        .expect("rollgate declares rust-version");
    let readme = std::fs::read_to_string(format!("{ROOT}/README.md")).expect("README");
    assert!(
        readme.contains(&format!("Needs Rust {ours} or newer")),
        "README \"Install\" does not say Rust {ours}"
    );
}
