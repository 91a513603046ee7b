//! A real LSP client: Neovim (`vim.lsp`, headless) opens a file of a workspace, receives the
//! cross-file diagnostics at the right positions (Neovim turns UTF-16 columns into byte columns
//! of its buffer), applies the rule's fix and the suppress code action, and jumps to a definition
//! (tests/lsp_neovim/client.lua). Skipped without `nvim` unless `ROLLGATE_REQUIRE_NVIM=1`
//! (`.ci/run` sets it and installs Debian's `neovim`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn nvim() -> Option<PathBuf> {
    let ok = Command::new("nvim")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| PathBuf::from("nvim"))
}

#[test]
fn neovim_diagnostics_code_action_definition() {
    let Some(nvim) = nvim() else {
        assert!(
            std::env::var_os("ROLLGATE_REQUIRE_NVIM").is_none(),
            "ROLLGATE_REQUIRE_NVIM is set and nvim is not installed (apt-get install neovim)"
        );
        eprintln!("note: nvim not installed; skipped");
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ws = std::env::temp_dir().join(format!("rollgate-nvim-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&ws);
    std::fs::create_dir_all(&ws).unwrap();
    for f in ["template.yaml", "canary.yaml", "argo.yaml"] {
        std::fs::copy(root.join("testdata/lsp/workspace").join(f), ws.join(f)).unwrap();
    }
    let out = ws.join("result.json");
    let mut child = Command::new(nvim)
        .args(["--headless", "--clean", "-n", "-c"])
        .arg(format!(
            "luafile {}",
            root.join("tests/lsp_neovim/client.lua").display()
        ))
        .env("ROLLGATE_BIN", env!("CARGO_BIN_EXE_rollgate"))
        .env("ROLLGATE_WS", &ws)
        .env("ROLLGATE_OUT", &out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("nvim did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&out).expect("nvim wrote no result");
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(r["ok"], true, "{r:#}");

    // The cross-file finding, on the line and byte column of the matcher (after "😀é": the
    // server's UTF-16 column 111 is byte 113 of the line).
    let template = std::fs::read_to_string(ws.join("template.yaml")).unwrap();
    let line = template
        .lines()
        .position(|l| l.contains("destination_workload"))
        .unwrap();
    let col = template
        .lines()
        .nth(line)
        .unwrap()
        .find("destination_workload")
        .unwrap();
    let d = r["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "canary-query-includes-primary")
        .unwrap_or_else(|| panic!("{r:#}"));
    assert_eq!(d["lnum"], line, "{r:#}");
    assert_eq!(d["col"], col, "{r:#}");
    assert_eq!(d["severity"], 1);

    // The rule's fix, applied by Neovim: the isolating matcher (after "😀é" on the line, so
    // its UTF-16 range differs from the byte range) removes the finding.
    assert!(
        r["fix"]
            .as_str()
            .unwrap()
            .starts_with("Fix (unsafe: changes what runs, review it): use `destination_workload=\"{{ target }}\"`"),
        "{r:#}"
    );
    assert_eq!(r["fix_preferred"], false, "{r:#}");
    let fixed = template.lines().nth(line).unwrap().replace(
        r#"destination_workload=~"{{ target }}.*""#,
        r#"destination_workload="{{ target }}""#,
    );
    assert_eq!(r["fixed_line"], fixed, "{r:#}");

    // The suppress code action, with a reason to fill in.
    assert!(
        r["action"]
            .as_str()
            .unwrap()
            .starts_with("Suppress rate-window-too-short on MetricTemplate latency"),
        "{r:#}"
    );
    assert!(
        r["suppression"]
            .as_str()
            .unwrap()
            .contains("ignore-check.rollgate.dev/rate-window-too-short: \"TODO"),
        "{r:#}"
    );
    let after: Vec<&str> = r["after_action"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert!(!after.contains(&"invalid-suppression"), "{r:#}");

    // The definition of the Canary's templateRef: the template's name, in the other file.
    let def = &r["definition"];
    assert!(
        def["file"].as_str().unwrap().ends_with("template.yaml"),
        "{r:#}"
    );
    // The unsaved buffer wins over the file: the jump lands on the name in the buffer (an
    // unsaved line was added above it), not in the file.
    let on_disk = template
        .lines()
        .position(|l| l == "  name: latency")
        .unwrap()
        + 1;
    assert_eq!(def["line"], r["name_line"], "{r:#}");
    assert_eq!(r["name_line"], on_disk + 1, "{r:#}");
    let _ = std::fs::remove_dir_all(&ws);
}
