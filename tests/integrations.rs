//! Where users run rollgate (issue 10), each driven with the real output of the binary: editor
//! problem matchers (VS Code's regex through Node's RegExp, Vim's errorformat through Vim),
//! `kubectl kustomize` output on standard input, `helm template` output mapped back to the
//! templates, shell completions and the man page, and the example configuration.
//!
//! Tools that may be missing on a developer's machine (vim, node, kubectl, man) skip their test
//! with the reason printed; `.ci/run` sets ROLLGATE_REQUIRE_EDITORS=1 and ROLLGATE_REQUIRE_E2E=1
//! so that in CI they fail instead.

#[path = "integrations/support.rs"]
mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::{BIN, TempDir, root, run_with_input, text, tool};

/// `rollgate lint ARGS` in `dir`, with `stdin`; (exit code, stdout).
fn lint(dir: &Path, args: &[&str], stdin: &[u8]) -> (i32, String) {
    let out = run_with_input(
        Command::new(BIN)
            .arg("lint")
            .args(args)
            .current_dir(dir)
            .env("NO_COLOR", "1"),
        stdin,
    );
    assert!(out.stderr.is_empty(), "stderr: {}", text(&out.stderr));
    (out.status.code().unwrap_or(-1), text(&out.stdout))
}

/// What the JSON output says about each finding: (file, line, column, severity, rule, message).
fn expected(dir: &Path, args: &[&str], stdin: &[u8]) -> Vec<(String, u64, u64, String, String)> {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    let (_, out) = lint(dir, &a, stdin);
    let v: Value = serde_json::from_str(&out).expect("json output");
    v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap().to_owned(),
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
                f["severity"].as_str().unwrap().to_owned(),
                format!(
                    "{} [{}]",
                    f["message"].as_str().unwrap(),
                    f["rule"].as_str().unwrap()
                ),
            )
        })
        .collect()
}

/// A workspace whose lint reports an error, a warning, an info (with --show-info), a parse
/// error, and a file name with a colon and a space, so the matchers see every shape.
fn editor_workspace() -> TempDir {
    let t = TempDir::new("editor");
    t.write("deploy/vs.yaml", support::BAD_VS);
    std::fs::copy(
        root().join("testdata/examples/bookinfo/reviews.yaml"),
        t.path().join("deploy/reviews.yaml"),
    )
    .expect("copy example");
    t.write("deploy/broken: v2 copy.yaml", "a: [1, 2\nb: 3\n");
    t.write("deploy/notes.yaml", "just: a mapping\n");
    // Non-ASCII text before a finding on its line: columns count characters (`%v` in Vim).
    t.write(
        "deploy/accents.yaml",
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: accents}\n\
         spec:\n  hosts: [r\u{e9}views]\n  http:\n  \
         - route: [{destination: {host: r\u{e9}views-\u{e8}, subset: v1}, weight: \"90\"}, \
         {destination: {host: r\u{e9}views, subset: v2}, weight: 10}]\n",
    );
    t
}

const EDITOR_ARGS: &[&str] = &["--show-info", "deploy"];

#[test]
fn vscode_problem_matcher_parses_gcc_output() {
    let t = editor_workspace();
    let (code, gcc) = lint(t.path(), &[EDITOR_ARGS, &["--format", "gcc"]].concat(), b"");
    assert_eq!(code, 1, "{gcc}");
    let want = expected(t.path(), EDITOR_ARGS, b"");
    let severities: Vec<&str> = want.iter().map(|w| w.3.as_str()).collect();
    for s in ["error", "warning", "info"] {
        assert!(severities.contains(&s), "no {s} finding in {want:?}");
    }

    let tasks: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("editors/vscode/tasks.json")).expect("tasks.json"),
    )
    .expect("tasks.json is JSON");
    let tasks = tasks["tasks"].as_array().expect("tasks");
    assert!(tasks.len() >= 2);
    for task in tasks {
        assert_eq!(task["command"], "rollgate");
        let args: Vec<&str> = task["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(
            args.windows(2).any(|w| w == ["--format", "gcc"]),
            "{args:?}"
        );
        let m = &task["problemMatcher"];
        let p = &m["pattern"];
        let regexp = p["regexp"].as_str().expect("regexp");
        let group = |k: &str| p[k].as_u64().unwrap_or_else(|| panic!("pattern.{k}")) as usize;
        let parse = |line: &str, caps: &[Option<String>]| {
            let g = |k: &str| {
                caps.get(group(k))
                    .cloned()
                    .flatten()
                    .unwrap_or_else(|| panic!("group {k} did not match in {line:?}"))
            };
            (
                g("file"),
                g("line").parse::<u64>().unwrap(),
                g("column").parse::<u64>().unwrap(),
                g("severity"),
                format!("{} [{}]", g("message"), g("code")),
            )
        };

        // VS Code runs the pattern with JavaScript's RegExp: run it with Node.
        if tool("node", "ROLLGATE_REQUIRE_EDITORS").is_some() {
            let script = "const fs = require('fs'); const re = new RegExp(process.argv[1]); \
                const lines = fs.readFileSync(0, 'utf8').split('\\n').filter(l => l); \
                console.log(JSON.stringify(lines.map(l => { const m = re.exec(l); \
                return m ? Array.from(m, x => x === undefined ? null : x) : null; })));";
            let out = run_with_input(
                Command::new("node").args(["-e", script, regexp]),
                gcc.as_bytes(),
            );
            assert!(out.status.success(), "node: {}", text(&out.stderr));
            let all: Vec<Option<Vec<Option<String>>>> =
                serde_json::from_slice(&out.stdout).expect("node output");
            let got: Vec<_> = gcc
                .lines()
                .zip(all)
                .map(|(l, m)| parse(l, &m.unwrap_or_else(|| panic!("no match: {l:?}"))))
                .collect();
            assert_eq!(got, want, "node RegExp");
        }
        // And with the regex crate (always available), so this test never skips entirely.
        let re = regex::Regex::new(regexp).expect("regexp");
        let got: Vec<_> = gcc
            .lines()
            .map(|l| {
                let c = re.captures(l).unwrap_or_else(|| panic!("no match: {l:?}"));
                let caps: Vec<Option<String>> =
                    c.iter().map(|m| m.map(|m| m.as_str().to_owned())).collect();
                parse(l, &caps)
            })
            .collect();
        assert_eq!(got, want, "regex crate");
        // VS Code maps these severity words itself; anything else would need "severity" maps.
        assert!(
            got.iter()
                .all(|g| ["error", "warning", "info"].contains(&g.3.as_str()))
        );
    }
}

/// The errorformat of the Vim compiler file.
fn vim_errorformat() -> String {
    let f = std::fs::read_to_string(root().join("editors/vim/compiler/rollgate.vim"))
        .expect("compiler file");
    let line = f
        .lines()
        .find_map(|l| l.strip_prefix("CompilerSet errorformat="))
        .expect("CompilerSet errorformat=");
    // Unescape the :set argument (`\ ` is a space).
    line.replace("\\ ", " ")
}

#[test]
fn vim_errorformat_parses_gcc_output() {
    let Some(vim) = tool("vim", "ROLLGATE_REQUIRE_EDITORS") else {
        return;
    };
    let t = editor_workspace();
    let (code, gcc) = lint(t.path(), &[EDITOR_ARGS, &["--format", "gcc"]].concat(), b"");
    assert_eq!(code, 1);
    let want: Vec<_> = expected(t.path(), EDITOR_ARGS, b"")
        .into_iter()
        .map(|(file, line, col, sev, msg)| (file, line, col, sev[..1].to_owned(), msg))
        .collect();
    std::fs::write(t.path().join("out.txt"), &gcc).unwrap();
    // Vim with no vimrc and no plugins, the compiler file from the checkout, the output read
    // into the quickfix list, and the list written as JSON.
    let out = Command::new(vim)
        .args(["-Nu", "NONE", "-i", "NONE", "-es"])
        .arg("-c")
        .arg(format!(
            "set rtp^={}",
            root().join("editors/vim").display().to_string().replace(' ', "\\ ")
        ))
        .args(["-c", "compiler rollgate"])
        .args(["-c", "cgetfile out.txt"])
        .args([
            "-c",
            "call writefile([json_encode(map(getqflist(), {_, e -> extend(e, {'file': bufname(e.bufnr)})})), &errorformat, &makeprg], 'qf.json')",
        ])
        // Jump to each entry as a user would: the text from the cursor to the end of the line.
        .args([
            "-c",
            "let g:at = [] | for i in range(1, len(getqflist())) | silent exe 'cc' i | call add(g:at, getline('.')[col('.') - 1 :]) | endfor | call writefile([json_encode(g:at)], 'at.json')",
        ])
        .args(["-c", "qa!"])
        .current_dir(t.path())
        .output()
        .expect("run vim");
    assert!(out.status.success(), "vim: {}", text(&out.stderr));
    let qf = std::fs::read_to_string(t.path().join("qf.json")).expect("qf.json");
    let mut lines = qf.lines();
    let items: Vec<Value> = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(lines.next(), Some(vim_errorformat().as_str()));
    assert_eq!(lines.next(), Some("rollgate lint --format gcc"));
    let got: Vec<_> = items
        .iter()
        .map(|e| {
            assert_eq!(e["valid"], 1, "{e}");
            (
                e["file"].as_str().unwrap().to_owned(),
                e["lnum"].as_u64().unwrap(),
                e["col"].as_u64().unwrap(),
                e["type"].as_str().unwrap().to_owned(),
                e["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, want);
    // The cursor lands on the character the finding names, also after non-ASCII text.
    let at: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(t.path().join("at.json")).unwrap()).unwrap();
    let expected_at: Vec<String> = want
        .iter()
        .map(|(file, line, col, _, _)| {
            let text = std::fs::read_to_string(t.path().join(file)).unwrap_or_default();
            let l = text.lines().nth(*line as usize - 1).unwrap_or("");
            l.chars().skip(*col as usize - 1).collect()
        })
        .collect();
    assert_eq!(at, expected_at);
    assert!(
        want.iter().any(|w| w.0.ends_with("accents.yaml")),
        "the non-ASCII case has a finding: {want:?}"
    );
}

#[test]
fn neovim_snippet_uses_the_tested_errorformat() {
    let lua = std::fs::read_to_string(root().join("editors/neovim/rollgate.lua")).unwrap();
    let efm = lua
        .lines()
        .find_map(|l| l.strip_prefix("local errorformat = '"))
        .and_then(|l| l.strip_suffix('\''))
        .expect("local errorformat = '…'");
    assert_eq!(efm, vim_errorformat());
    for arg in ["'--format'", "'gcc'", "'--stdin-filename'", "'-'"] {
        assert!(lua.contains(arg), "{arg}");
    }
}

/// The editor path: the unsaved buffer on standard input, findings under the buffer's name.
#[test]
fn stdin_with_stdin_filename_is_what_editors_see() {
    let t = TempDir::new("stdin");
    let (code, out) = lint(
        t.path(),
        &["--format", "gcc", "--stdin-filename", "deploy/vs.yaml", "-"],
        support::BAD_VS.as_bytes(),
    );
    assert_eq!(code, 1);
    assert!(
        out.starts_with("deploy/vs.yaml:10:5: error: weights sum to 105"),
        "{out}"
    );
    let (code, out) = lint(
        t.path(),
        &["--format", "gcc", "--stdin-filename", "deploy/vs.yaml", "-"],
        support::GOOD_VS.as_bytes(),
    );
    assert_eq!((code, out.as_str()), (0, ""));
}

#[test]
fn kubectl_kustomize_output_on_stdin() {
    let Some(kubectl) = tool("kubectl", "ROLLGATE_REQUIRE_E2E") else {
        return;
    };
    let dir = root().join("testdata/integrations/kustomize");
    let build = |overlay: &str| {
        let out = Command::new(&kubectl)
            .arg("kustomize")
            .arg(dir.join(overlay))
            .output()
            .expect("kubectl kustomize");
        assert!(out.status.success(), "kubectl: {}", text(&out.stderr));
        out.stdout
    };
    let t = TempDir::new("kustomize");

    // The base: 90/10, nothing to report.
    let base = build("base");
    assert_eq!(
        lint(t.path(), &["--format", "gcc", "-"], &base),
        (0, String::new())
    );

    // The overlay patches the primary's weight to 95: weights 95/10 in the rendered output only.
    let rendered = build("overlays/canary-95-10");
    let rendered_text = text(&rendered);
    let args = ["--stdin-filename", "rendered.yaml", "-"];
    let (code, gcc) = lint(
        t.path(),
        &[&args[..], &["--format", "gcc"]].concat(),
        &rendered,
    );
    assert_eq!(code, 1, "{gcc}");
    let found = expected(t.path(), &args, &rendered);
    assert_eq!(found.len(), 1, "{found:?}");
    let (file, line, col, sev, msg) = &found[0];
    assert_eq!((file.as_str(), sev.as_str()), ("rendered.yaml", "error"));
    assert!(
        msg.ends_with("[istio-weights-not-100]") && msg.contains("105"),
        "{msg}"
    );
    // The position is that of `route:` in kubectl's output (kustomize re-indents and reorders).
    let at = rendered_text.lines().nth(*line as usize - 1).unwrap();
    assert_eq!(
        &at[*col as usize - 1..],
        "route:",
        "line {line} of:\n{rendered_text}"
    );
    assert!(
        gcc.starts_with(&format!("rendered.yaml:{line}:{col}: error: ")),
        "{gcc}"
    );
    // kustomize added the namespace; the finding names the object in it.
    let (_, json) = lint(
        t.path(),
        &[&args[..], &["--format", "json"]].concat(),
        &rendered,
    );
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["findings"][0]["object"]["namespace"], "test");
    assert_eq!(v["summary"]["objects"], 3);
}

/// `helm template` output: findings are reported in the template file, at the line inside the
/// rendered document. The stream in testdata was written the way Helm writes it (helm is not
/// installable on the project's machines); the chart next to it is the one it renders.
#[test]
fn helm_template_output_maps_to_templates() {
    let dir = root().join("testdata/integrations/helm");
    let rendered = std::fs::read(dir.join("rendered.yaml")).unwrap();
    let t = TempDir::new("helm");
    // Run where the chart is: `# Source: podinfo/templates/…` exists relative to it.
    let found = expected(&dir, &["-"], &rendered);
    assert_eq!(found.len(), 1, "{found:?}");
    let (file, line, col, _, msg) = &found[0];
    assert_eq!(file, "podinfo/templates/virtualservice.yaml");
    assert!(msg.ends_with("[istio-weights-not-100]"), "{msg}");
    // The template renders line for line, so the line is the template's own.
    let template = std::fs::read_to_string(dir.join(file)).unwrap();
    let at = template.lines().nth(*line as usize - 1).unwrap();
    assert_eq!((*line, &at[*col as usize - 1..]), (12, "route:"));

    // Related locations (each weight) are mapped too, and the human output shows the
    // rendered document's lines under the template's name.
    let (_, json) = lint(&dir, &["--format", "json", "-"], &rendered);
    let v: Value = serde_json::from_str(&json).unwrap();
    let related: Vec<(String, u64)> = v["findings"][0]["related"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["file"].as_str().unwrap().to_owned(),
                r["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        related,
        [(file.clone(), 17), (file.clone(), 22)],
        "{related:?}"
    );
    for (_, l) in &related {
        assert!(
            template
                .lines()
                .nth(*l as usize - 1)
                .unwrap()
                .contains("weight: {{")
        );
    }
    assert_eq!(v["summary"]["files"], 1);
    let (_, human) = lint(&dir, &["-"], &rendered);
    assert!(
        human.contains("--> podinfo/templates/virtualservice.yaml:12:7"),
        "{human}"
    );
    assert!(human.contains("12 |       route:"), "{human}");

    // Saved away from its chart (the template path does not exist from here), the finding
    // stays at the rendered output's own line and names the template as related information.
    let away = expected(
        t.path(),
        &["--stdin-filename", "out/rendered.yaml", "-"],
        &rendered,
    );
    assert_eq!(away.len(), 1, "{away:?}");
    assert_eq!(away[0].0, "out/rendered.yaml");
    let stream_line = String::from_utf8_lossy(&rendered)
        .lines()
        .nth(away[0].1 as usize - 1)
        .unwrap()
        .to_owned();
    assert!(
        stream_line.trim_start().starts_with("route:"),
        "{stream_line}"
    );
    let (_, json) = lint(
        t.path(),
        &[
            "--format",
            "json",
            "--stdin-filename",
            "out/rendered.yaml",
            "-",
        ],
        &rendered,
    );
    let v: Value = serde_json::from_str(&json).unwrap();
    let notes: Vec<&str> = v["findings"][0]["related"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["message"].as_str())
        .collect();
    assert!(
        notes
            .iter()
            .any(|m| m.contains("podinfo/templates/virtualservice.yaml")),
        "{notes:?}"
    );
    // Weights stay in the rendered output too.
    assert!(
        v["findings"][0]["related"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| !r["file"].is_null())
            .all(|r| r["file"] == "out/rendered.yaml"),
        "{json}"
    );

    // A duplicate key in the second document of a template is placed in that document (line
    // 5 of it, the first occurrence at line 4); a syntax error in a document without a
    // `# Source:` comment keeps the stream's name and lines.
    std::fs::create_dir_all(t.path().join("app/templates")).unwrap();
    std::fs::write(
        t.path().join("app/templates/svc.yaml"),
        "# the chart's template\n",
    )
    .unwrap();
    let broken = b"---\n# Source: app/templates/svc.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\n# Source: app/templates/svc.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\n  name: c\n---\nkind: [\n";
    let found = expected(t.path(), &["--stdin-filename", "all.yaml", "-"], broken);
    let places: Vec<(&str, u64, &str)> = found
        .iter()
        .map(|f| (f.0.as_str(), f.1, f.4.rsplit('[').next().unwrap()))
        .collect();
    // The input's own findings come first, then those of the documents, in stream order.
    assert_eq!(
        places,
        [
            ("all.yaml", 15, "parse-error]"),
            ("app/templates/svc.yaml", 5, "duplicate-key]"),
        ],
        "{found:?}"
    );
    let (_, json) = lint(t.path(), &["--format", "json", "-"], broken);
    let v: Value = serde_json::from_str(&json).unwrap();
    let first = &v["findings"][1]["related"][0];
    assert_eq!(
        (&first["file"], &first["line"]),
        (&"app/templates/svc.yaml".into(), &4.into())
    );

    // A `# Source:` note that is not a chart path changes nothing.
    let note = format!("# Source: https://example.com/vs.yaml\n{}", support::BAD_VS);
    let found = expected(
        t.path(),
        &["--stdin-filename", "vs.yaml", "-"],
        note.as_bytes(),
    );
    assert_eq!((found[0].0.as_str(), found[0].1), ("vs.yaml", 11));
}

/// Where helm is installed, the handwritten stream must be exactly what it prints.
#[test]
fn helm_fixture_is_what_helm_prints() {
    let Some(helm) = tool("helm", "ROLLGATE_REQUIRE_HELM") else {
        return;
    };
    let dir = root().join("testdata/integrations/helm");
    let out = Command::new(helm)
        .args(["template", "podinfo"])
        .arg(dir.join("podinfo"))
        .output()
        .expect("helm template");
    assert!(out.status.success(), "helm: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        std::fs::read_to_string(dir.join("rendered.yaml")).unwrap()
    );
}

#[test]
fn completions_are_valid_shell() {
    let t = TempDir::new("completions");
    for (shell, check) in [
        ("bash", Some(("bash", "-n"))),
        ("zsh", None),
        ("fish", None),
        ("elvish", None),
        ("powershell", None),
    ] {
        let out = Command::new(BIN)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        for sub in ["lint", "rules", "explain", "serve", "completions", "man"] {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
        assert!(script.contains("stdin-filename"), "{shell}");
        if let Some((sh, flag)) = check {
            let f = t.write(&format!("rollgate.{shell}"), &out.stdout);
            let st = Command::new(sh).arg(flag).arg(&f).status().unwrap();
            assert!(st.success(), "{sh} {flag} rejects the {shell} completion");
        }
    }
    // Sourced into bash, it completes subcommands and `lint`'s options.
    let f = t.path().join("rollgate.bash");
    let script = format!(
        "source '{}'\nCOMP_WORDS=(rollgate li); COMP_CWORD=1; _rollgate rollgate li rollgate\n\
         echo \"${{COMPREPLY[*]}}\"\nCOMP_WORDS=(rollgate lint --stdin-f); COMP_CWORD=2\n\
         _rollgate rollgate --stdin-f lint; echo \"${{COMPREPLY[*]}}\"\n",
        f.display()
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert_eq!(
        text(&out.stdout),
        "lint\n--stdin-filename\n",
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn man_page_renders() {
    let t = TempDir::new("man");
    let out = Command::new(BIN).arg("man").output().unwrap();
    assert!(out.status.success());
    let roff = text(&out.stdout);
    assert!(
        roff.starts_with(".ie \\n(.g .ds Aq") || roff.contains(".TH rollgate 1"),
        "{roff}"
    );
    let st = Command::new(BIN)
        .args(["man", "--dir"])
        .arg(t.path())
        .status()
        .unwrap();
    assert!(st.success());
    let lint_page = t.path().join("rollgate-lint.1");
    assert!(lint_page.is_file());
    assert_eq!(
        std::fs::read_to_string(t.path().join("rollgate.1")).unwrap(),
        roff
    );
    let Some(man) = tool("man", "ROLLGATE_REQUIRE_EDITORS") else {
        return;
    };
    let render = |page: &Path| {
        let out = Command::new(&man)
            .arg("-l")
            .arg(page)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .unwrap();
        assert!(out.status.success(), "man: {}", text(&out.stderr));
        // man marks bold and underline with backspaces when writing to a pipe.
        let s = text(&out.stdout);
        let mut plain = String::new();
        for c in s.chars() {
            if c == '\u{8}' {
                plain.pop();
            } else {
                plain.push(c);
            }
        }
        plain
    };
    let page = render(&t.path().join("rollgate.1"));
    for want in [
        "NAME",
        "SYNOPSIS",
        "rollgate-lint(1)",
        "rollgate-serve(1)",
        "rollgate-completions(1)",
        "rollgate-man(1)",
        "Find canary rollout configs",
    ] {
        assert!(page.contains(want), "{want} missing from:\n{page}");
    }
    let page = render(&lint_page);
    for want in ["--stdin-filename", "--fail-level", "--format", "gcc"] {
        assert!(page.contains(want), "{want} missing from:\n{page}");
    }
}

#[test]
fn version_names_the_commit() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    let v = text(&out.stdout);
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| text(&o.stdout).trim().to_owned());
    assert!(
        v.starts_with(&format!("rollgate {} (", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
    if let Some(c) = commit {
        // The binary may lag HEAD by the commits made since it was built; it names a commit.
        let named = v.trim().trim_end_matches(')').rsplit('(').next().unwrap();
        assert_eq!(named.len(), c.len(), "{v}");
        assert!(named.chars().all(|ch| ch.is_ascii_hexdigit()), "{v}");
    }
}

/// The example configuration loads, and shows every key the parser accepts: adding an option
/// without documenting it there fails this test.
#[test]
fn example_config_covers_every_option() {
    use rollgate::engine::config::{Config, FLAGGER_KEYS, PROMETHEUS_KEYS, TOP_KEYS};
    let path = root().join("examples/rollgate.yaml");
    let metas = rollgate::engine::all_metas();
    let cfg = Config::from_file(&path, &metas).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        cfg.exclude.as_ref().is_some_and(|e| !e.is_empty()) && !cfg.settings.histograms.is_empty()
    );
    assert!(cfg.settings.prometheus_url.is_some());

    let text = std::fs::read_to_string(&path).unwrap();
    let loaded = rollgate::manifest::load(&text, rollgate::manifest::Limits::default());
    let doc = &loaded.documents[0].value;
    for k in TOP_KEYS {
        assert!(doc.get(k).is_some(), "examples/rollgate.yaml lacks `{k}`");
    }
    for k in PROMETHEUS_KEYS {
        assert!(doc["prometheus"].get(k).is_some(), "lacks `prometheus.{k}`");
    }
    for k in FLAGGER_KEYS {
        assert!(doc["flagger"].get(k).is_some(), "lacks `flagger.{k}`");
    }
    let rules = doc["rules"].as_object().unwrap();
    let forms: Vec<&Value> = rules.values().collect();
    for (what, ok) in [
        (
            "a severity",
            forms.iter().any(|v| v.as_str().is_some_and(|s| s != "off")),
        ),
        ("off", forms.iter().any(|v| *v == "off" || *v == false)),
        (
            "the long form",
            forms.iter().any(|v| v.get("severity").is_some()),
        ),
    ] {
        assert!(ok, "examples/rollgate.yaml shows no rule set to {what}");
    }
    for m in &metas {
        for opt in m.options {
            assert!(
                rules.get(m.id).and_then(|r| r.get(opt)).is_some(),
                "examples/rollgate.yaml does not show option `{opt}` of rule {}",
                m.id
            );
        }
    }
    // And the linter accepts it (exit 1: the examples have an error; 2 would be a config error).
    let (code, _) = lint(
        &root(),
        &["--config", "examples/rollgate.yaml", "testdata/examples"],
        b"",
    );
    assert_eq!(code, 1);
}

/// Discovery: the nearest .rollgate.yaml of the working folder or a parent; --config names one;
/// --no-config reads none.
#[test]
fn config_is_discovered_upwards() {
    let t = TempDir::new("discover");
    t.write(".rollgate.yaml", "rules:\n  istio-weights-not-100: off\n");
    t.write("sub/dir/vs.yaml", support::BAD_VS);
    let sub = t.path().join("sub/dir");
    assert_eq!(lint(&sub, &["--format", "gcc", "vs.yaml"], b"").0, 0);
    assert_eq!(
        lint(&sub, &["--format", "gcc", "--no-config", "vs.yaml"], b"").0,
        1
    );
    t.write(
        "sub/.rollgate.yml",
        "rules:\n  istio-weights-not-100: warning\n",
    );
    let (code, out) = lint(&sub, &["--format", "gcc", "vs.yaml"], b"");
    assert_eq!(code, 0);
    assert!(out.contains(": warning: "), "{out}");
}
