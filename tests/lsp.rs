//! `rollgate lsp` driven over stdio by a JSON-RPC client (tests/lsp_client): every capability,
//! and what a client may get wrong (cancellation, out-of-order versions, a change before the
//! open, invalid JSON-RPC, a 50 MB document, a client that disappears).

mod lsp_client;

use std::path::{Path, PathBuf};
use std::time::Duration;

use lsp_client::{Client, copy_dir, uri};
use serde_json::{Value, json};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rollgate"))
}

fn fixture(name: &str) -> PathBuf {
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/lsp/workspace"),
        name,
    )
}

/// The LSP position (0-based line, UTF-16 column) of the first `needle` in `text`, plus `skip`
/// characters.
fn pos_of(text: &str, needle: &str, skip: usize) -> Value {
    let at = text.find(needle).expect(needle);
    let line = text[..at].matches('\n').count();
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let col: usize = text[start..at].chars().map(char::len_utf16).sum();
    json!({"line": line, "character": col + skip})
}

fn rules(diags: &Value) -> Vec<String> {
    diags["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// Whether the template's dilution finding is the one bound to the Canary `checkout` (the
/// template alone gets the unbound form, "for every target T").
fn bound_dilution(diags: &Value) -> bool {
    diags["diagnostics"].as_array().unwrap().iter().any(|d| {
        d["code"] == "canary-query-includes-primary"
            && d["message"]
                .as_str()
                .is_some_and(|m| m.contains("`checkout-primary`"))
    })
}

fn start(name: &str) -> (Client, PathBuf) {
    let dir = fixture(name);
    let mut c = Client::spawn(&bin());
    let init = c.initialize(&dir, json!({}));
    let caps = &init["result"]["capabilities"];
    assert_eq!(caps["positionEncoding"], "utf-16");
    assert_eq!(caps["hoverProvider"], true);
    (c, dir)
}

fn read(dir: &Path, f: &str) -> String {
    std::fs::read_to_string(dir.join(f)).unwrap()
}

#[test]
fn cross_file_finding_on_open_at_utf16_position() {
    let (mut c, dir) = start("open");
    let path = dir.join("template.yaml");
    let text = read(&dir, "template.yaml");
    c.open(&path, 1, &text);
    let d = c.diagnostics(&uri(&path));
    assert_eq!(d["version"], 1);
    let found = d["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "canary-query-includes-primary")
        .unwrap_or_else(|| panic!("{d:#}"))
        .clone();
    // The matcher follows `reporter="😀é"`: one astral character (two UTF-16 units) and one
    // non-ASCII one (one unit) before it on the line.
    assert_eq!(
        found["range"]["start"],
        pos_of(&text, "destination_workload=~", 0)
    );
    assert_eq!(found["range"]["start"]["character"], 111);
    assert_eq!(found["severity"], 1);
    assert_eq!(found["source"], "rollgate");
    // Related: the Canary metric that renders the template, in the other file.
    let related = &found["relatedInformation"][0];
    assert_eq!(related["location"]["uri"], uri(&dir.join("canary.yaml")));
    assert_eq!(c.shutdown(), Some(0));
}

#[test]
fn edit_of_the_canary_republishes_the_template() {
    let (mut c, dir) = start("republish");
    let template = dir.join("template.yaml");
    let canary = dir.join("canary.yaml");
    c.open(&template, 1, &read(&dir, "template.yaml"));
    assert!(bound_dilution(&c.diagnostics(&uri(&template))));
    let ctext = read(&dir, "canary.yaml");
    c.open(&canary, 1, &ctext);
    // An incremental edit of the other file: the metric stops using the template.
    let at = pos_of(&ctext, "templateRef: {name: latency}", 0);
    let end = json!({"line": at["line"], "character": at["character"].as_u64().unwrap() + 28});
    c.notify(
        "textDocument/didChange",
        json!({
            "textDocument": {"uri": uri(&canary), "version": 2},
            "contentChanges": [{"range": {"start": at, "end": end}, "text": "query: up"}],
        }),
    );
    let d = c.diagnostics(&uri(&template));
    assert!(!bound_dilution(&d), "{d:#}");
    // The template's version is still 1: it was not edited.
    assert_eq!(d["version"], 1);
    assert_eq!(c.shutdown(), Some(0));
}

#[test]
fn hover_explains_the_finding_and_renders_the_query() {
    let (mut c, dir) = start("hover");
    let path = dir.join("template.yaml");
    let text = read(&dir, "template.yaml");
    c.open(&path, 1, &text);
    c.diagnostics(&uri(&path));
    let r = c.call(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri(&path)}, "position": pos_of(&text, "destination_workload=~", 3)}),
    );
    let v = r["result"]["contents"]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("{r:#}"));
    assert!(v.contains("**canary-query-includes-primary**"), "{v}");
    assert!(v.contains("## What it does"), "{v}");
    assert!(v.contains("## Why is this bad?"), "{v}");
    assert!(v.contains("`checkout-primary`"), "{v}");
    // The rendered query, as the Canary that binds it sends it.
    assert!(v.contains("rendered for Canary shop/checkout"), "{v}");
    assert!(v.contains("destination_workload=~\"checkout.*\""), "{v}");
    // Nothing to say on a plain key.
    let r = c.call(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri(&path)}, "position": pos_of(&text, "kind:", 1)}),
    );
    assert_eq!(r["result"], Value::Null, "{r:#}");
    assert_eq!(c.shutdown(), Some(0));
}

fn definition(c: &mut Client, path: &Path, pos: Value) -> Vec<(String, u64)> {
    let r = c.call(
        "textDocument/definition",
        json!({"textDocument": {"uri": uri(path)}, "position": pos}),
    );
    r["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{r:#}"))
        .iter()
        .map(|l| {
            (
                l["uri"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned(),
                l["range"]["start"]["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn line_of(text: &str, needle: &str) -> u64 {
    pos_of(text, needle, 0)["line"].as_u64().unwrap()
}

#[test]
fn definitions() {
    let (mut c, dir) = start("definition");
    let canary = dir.join("canary.yaml");
    let argo = dir.join("argo.yaml");
    let (ct, at, tt) = (
        read(&dir, "canary.yaml"),
        read(&dir, "argo.yaml"),
        read(&dir, "template.yaml"),
    );
    // templateRef → MetricTemplate (another file).
    assert_eq!(
        definition(&mut c, &canary, pos_of(&ct, "{name: latency}", 8)),
        vec![("template.yaml".into(), line_of(&tt, "name: latency"))]
    );
    // targetRef → the workload.
    assert_eq!(
        definition(&mut c, &canary, pos_of(&ct, "name: checkout}", 7)),
        vec![("canary.yaml".into(), line_of(&ct, "name: checkout"))]
    );
    // templateName → AnalysisTemplate.
    assert_eq!(
        definition(&mut c, &argo, pos_of(&at, "templateName: success-rate", 15)),
        vec![("argo.yaml".into(), line_of(&at, "  name: success-rate"))]
    );
    // canaryService → Service.
    assert_eq!(
        definition(&mut c, &argo, pos_of(&at, "canaryService: web-canary", 16)),
        vec![("argo.yaml".into(), line_of(&at, "  name: web-canary"))]
    );
    // A route's subset → the DestinationRule's subset.
    assert_eq!(
        definition(&mut c, &argo, pos_of(&at, "subset: canary", 9)),
        vec![("argo.yaml".into(), line_of(&at, "- name: canary"))]
    );
    // The Rollout's canarySubsetName → the same subset.
    assert_eq!(
        definition(&mut c, &argo, pos_of(&at, "canarySubsetName: canary", 19)),
        vec![("argo.yaml".into(), line_of(&at, "- name: canary"))]
    );
    // A ServiceMonitor's selector → the Services it selects (both labelled app: web).
    let monitor = at.find("kind: ServiceMonitor").unwrap();
    let sel = at[monitor..].find("matchLabels: {app: web}").unwrap() + monitor;
    let line = at[..sel].matches('\n').count();
    let col = sel - at[..sel].rfind('\n').unwrap() - 1 + 20;
    assert_eq!(
        definition(&mut c, &argo, json!({"line": line, "character": col})),
        vec![
            ("argo.yaml".into(), line_of(&at, "  name: web-canary")),
            ("argo.yaml".into(), line_of(&at, "  name: web-stable")),
        ]
    );
    // Nothing at a value that is not a reference.
    let r = c.call(
        "textDocument/definition",
        json!({"textDocument": {"uri": uri(&argo)}, "position": pos_of(&at, "setWeight: 20", 12)}),
    );
    assert_eq!(r["result"], Value::Null);
    assert_eq!(c.shutdown(), Some(0));
}

#[test]
fn document_symbols_are_the_objects() {
    let (mut c, dir) = start("symbols");
    let argo = dir.join("argo.yaml");
    let r = c.call(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": uri(&argo)}}),
    );
    let names: Vec<&str> = r["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Rollout web",
            "AnalysisTemplate success-rate",
            "Service web-canary",
            "Service web-stable",
            "DestinationRule web",
            "VirtualService web",
            "ServiceMonitor web",
            "Service web"
        ]
    );
    let at = read(&dir, "argo.yaml");
    let first = &r["result"][0];
    assert_eq!(first["range"]["start"]["line"], 0);
    assert_eq!(
        first["selectionRange"]["start"]["line"],
        line_of(&at, "name: web")
    );
    let second = &r["result"][1];
    assert_eq!(
        second["range"]["start"]["line"],
        line_of(&at, "kind: AnalysisTemplate") - 1
    );
    assert_eq!(c.shutdown(), Some(0));
}

#[test]
fn suppress_with_a_reason_code_action() {
    let (mut c, dir) = start("action");
    let path = dir.join("template.yaml");
    let text = read(&dir, "template.yaml");
    c.open(&path, 1, &text);
    let d = c.diagnostics(&uri(&path));
    let diag = d["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "canary-query-includes-primary")
        .unwrap()
        .clone();
    let r = c.call(
        "textDocument/codeAction",
        json!({
            "textDocument": {"uri": uri(&path)},
            "range": diag["range"],
            "context": {"diagnostics": [diag]},
        }),
    );
    let action = r["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["title"]
                .as_str()
                .unwrap()
                .contains("canary-query-includes-primary")
        })
        .unwrap_or_else(|| panic!("{r:#}"))
        .clone();
    assert_eq!(action["kind"], "quickfix");
    assert_eq!(
        action["diagnostics"][0]["code"],
        "canary-query-includes-primary"
    );
    let edits = action["edit"]["changes"][uri(&path)]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(edits.len(), 1);
    // Apply the edit as a client does (UTF-16 positions; an insertion here).
    let e = &edits[0];
    assert_eq!(e["range"]["start"], e["range"]["end"]);
    let line = e["range"]["start"]["line"].as_u64().unwrap() as usize;
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let col = e["range"]["start"]["character"].as_u64().unwrap() as usize;
    let l = lines[line].clone();
    lines[line] = format!(
        "{}{}{}",
        &l[..col],
        e["newText"].as_str().unwrap(),
        &l[col..]
    );
    let fixed = lines.join("\n") + "\n";
    assert!(fixed.contains("    ignore-check.rollgate.dev/canary-query-includes-primary: \"TODO"));
    c.change_full(&path, 2, &fixed);
    let d = c.diagnostics(&uri(&path));
    assert_eq!(d["version"], 2);
    assert!(
        !rules(&d).contains(&"canary-query-includes-primary".into()),
        "{d:#}"
    );
    assert!(!rules(&d).contains(&"invalid-suppression".into()), "{d:#}");
    assert!(!rules(&d).contains(&"parse-error".into()), "{d:#}");
    assert_eq!(c.shutdown(), Some(0));
}

#[test]
fn pull_diagnostics_when_the_client_asks() {
    let dir = fixture("pull");
    let mut c = Client::spawn(&bin());
    let init = c.initialize(
        &dir,
        json!({"textDocument": {"diagnostic": {"dynamicRegistration": false}}}),
    );
    assert_eq!(
        init["result"]["capabilities"]["diagnosticProvider"]["interFileDependencies"],
        true
    );
    let path = dir.join("template.yaml");
    c.open(&path, 1, &read(&dir, "template.yaml"));
    let r = c.call(
        "textDocument/diagnostic",
        json!({"textDocument": {"uri": uri(&path)}}),
    );
    assert_eq!(r["result"]["kind"], "full");
    let codes: Vec<&str> = r["result"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"canary-query-includes-primary"), "{r:#}");
    // No push to a pull client.
    assert_eq!(c.shutdown(), Some(0));
}

#[test]
fn watched_files_and_config_reload() {
    let (mut c, dir) = start("watched");
    let template = dir.join("template.yaml");
    c.open(&template, 1, &read(&dir, "template.yaml"));
    assert!(bound_dilution(&c.diagnostics(&uri(&template))));
    // The Canary's file changes on disk (not open): the template's finding goes.
    let canary = dir.join("canary.yaml");
    std::fs::write(
        &canary,
        read(&dir, "canary.yaml").replace("templateRef: {name: latency}", "query: up"),
    )
    .unwrap();
    c.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": uri(&canary), "type": 2}]}),
    );
    let d = c.diagnostics(&uri(&template));
    assert!(!bound_dilution(&d), "{d:#}");
    // A new file on disk brings it back.
    std::fs::write(
        dir.join("canary2.yaml"),
        read(&dir, "canary.yaml").replace("query: up", "templateRef: {name: latency}"),
    )
    .unwrap();
    c.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": uri(&dir.join("canary2.yaml")), "type": 1}]}),
    );
    let d = c.diagnostics(&uri(&template));
    assert!(bound_dilution(&d), "{d:#}");
    // `.rollgate.yaml` turns the rule off.
    let cfg = dir.join(".rollgate.yaml");
    std::fs::write(&cfg, "rules:\n  canary-query-includes-primary: off\n").unwrap();
    c.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": uri(&cfg), "type": 1}]}),
    );
    let d = c.diagnostics(&uri(&template));
    assert!(
        !rules(&d).contains(&"canary-query-includes-primary".into()),
        "{d:#}"
    );
    assert_eq!(c.shutdown(), Some(0));
}

#[test]
fn out_of_order_versions_are_ignored() {
    let (mut c, dir) = start("versions");
    let path = dir.join("template.yaml");
    let text = read(&dir, "template.yaml");
    c.open(&path, 5, &text);
    assert_eq!(c.diagnostics(&uri(&path))["version"], 5);
    // An older version arrives late: ignored (a parse error it would bring is not shown).
    c.change_full(&path, 3, "kind: [unclosed\n");
    c.change_full(&path, 6, &format!("# v6\n{text}"));
    let d = c.diagnostics(&uri(&path));
    assert_eq!(d["version"], 6, "{d:#}");
    assert!(!rules(&d).contains(&"parse-error".into()), "{d:#}");
    // Hover answers from version 6 (the finding moved down one line).
    let r = c.call(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri(&path)}, "position": pos_of(&format!("# v6\n{text}"), "destination_workload=~", 2)}),
    );
    assert!(r["result"]["contents"]["value"].as_str().is_some(), "{r:#}");
    assert_eq!(c.shutdown(), Some(0));
}

#[test]
fn change_before_open() {
    let (mut c, dir) = start("early");
    let path = dir.join("new.yaml");
    // An incremental change of a document never opened: nothing to apply it to.
    c.notify(
        "textDocument/didChange",
        json!({
            "textDocument": {"uri": uri(&path), "version": 1},
            "contentChanges": [{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "text": "x"}],
        }),
    );
    // A full text is taken as the document.
    c.change_full(
        &path,
        2,
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  name: b\n",
    );
    let d = c.diagnostics(&uri(&path));
    assert_eq!(d["version"], 2);
    assert!(rules(&d).contains(&"duplicate-key".into()), "{d:#}");
    assert_eq!(c.shutdown(), Some(0));
}

#[test]
fn cancellation() {
    let (mut c, dir) = start("cancel");
    let path = dir.join("big.yaml");
    // A document that takes the server a while, then a request and its cancellation: the
    // cancel arrives while the server checks, before it answers.
    let mut big = String::new();
    for i in 0..4_000 {
        big.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s{i}\n  labels: {{app: a{i}}}\nspec:\n  selector: {{app: a{i}}}\n  ports: [{{port: 80}}]\n"
        ));
    }
    let open = json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": uri(&path), "languageId": "yaml", "version": 1, "text": big}}});
    let (id, hover) = c.request_message(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri(&path)}, "position": {"line": 4, "character": 9}}),
    );
    let cancel = json!({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": id}});
    let mut bytes = Client::frame(&open);
    bytes.extend(Client::frame(&hover));
    bytes.extend(Client::frame(&cancel));
    c.write_raw(&bytes);
    let r = c.response(id);
    assert_eq!(r["error"]["code"], -32800, "{r:#}");
    // The server goes on: the next request is answered.
    let r = c.call(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": uri(&path)}}),
    );
    assert_eq!(r["result"].as_array().unwrap().len(), 4_000);
    assert_eq!(c.shutdown(), Some(0));
}

#[test]
fn invalid_json_rpc_is_answered_and_the_server_goes_on() {
    let (mut c, dir) = start("invalid");
    c.write_raw(b"Content-Length: 9\r\n\r\n{not json");
    let r = c.wait(Duration::from_secs(10), |v| v["error"]["code"] == -32700);
    assert_eq!(r["id"], Value::Null);
    let body = br#"{"jsonrpc":"2.0","id":77,"params":{}}"#;
    let mut m = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    m.extend_from_slice(body);
    c.write_raw(&m);
    let r = c.wait(Duration::from_secs(10), |v| v["error"]["code"] == -32600);
    assert_eq!(r["id"], 77);
    // A header block without a length.
    c.write_raw(b"Content-Type: x\r\n\r\n");
    c.wait(Duration::from_secs(10), |v| v["error"]["code"] == -32700);
    // An unknown method.
    let r = c.call("rollgate/nothing", json!({}));
    assert_eq!(r["error"]["code"], -32601);
    // Params of the wrong shape.
    let r = c.call("textDocument/hover", json!({"textDocument": 3}));
    assert_eq!(r["error"]["code"], -32602);
    let path = dir.join("template.yaml");
    c.open(&path, 1, &read(&dir, "template.yaml"));
    assert!(
        !c.diagnostics(&uri(&path))["diagnostics"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(c.shutdown(), Some(0));
}

#[test]
fn a_50_mb_document_is_refused_within_bounds() {
    let (mut c, dir) = start("huge");
    let path = dir.join("huge.yaml");
    let line = "# a comment line to make the document large, not interesting to parse\n";
    let text = line.repeat(50_000_000 / line.len() + 1);
    assert!(text.len() >= 50_000_000);
    c.open(&path, 1, &text);
    let d = c.diagnostics(&uri(&path));
    let msg = d["diagnostics"][0]["message"].as_str().unwrap();
    assert!(msg.contains("limit"), "{msg}");
    assert_eq!(d["diagnostics"][0]["code"], "parse-error");
    // Edits of a document too large to keep are not applied; a small full text is.
    c.notify(
        "textDocument/didChange",
        json!({
            "textDocument": {"uri": uri(&path), "version": 2},
            "contentChanges": [{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}}, "text": "x"}],
        }),
    );
    c.change_full(
        &path,
        3,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: small}\n",
    );
    // Version 2 may be published on its own (the server checks what arrived so far).
    let u = uri(&path);
    let d = c.wait(std::time::Duration::from_secs(30), |v| {
        v["method"] == "textDocument/publishDiagnostics"
            && v["params"]["uri"] == u
            && v["params"]["version"] == 3
    })["params"]
        .clone();
    assert_eq!(d["version"], 3);
    assert!(d["diagnostics"].as_array().unwrap().is_empty(), "{d:#}");
    // The text is read once, held as the message and the parsed string, then dropped.
    let peak = c.peak_rss_kib();
    assert!(peak < 400 * 1024, "peak RSS {peak} KiB");
    let now = c.rss_kib();
    eprintln!(
        "50 MB document: peak RSS {} MiB, after {} MiB",
        peak / 1024,
        now / 1024
    );
    // A message over the transport's limit is skipped without being held.
    let over = 100 << 20;
    let mut m = format!("Content-Length: {over}\r\n\r\n").into_bytes();
    m.resize(m.len() + over, b' ');
    c.write_raw(&m);
    let r = c.wait(Duration::from_secs(30), |v| v["error"]["code"] == -32600);
    assert!(r["error"]["message"].as_str().unwrap().contains("limit"));
    assert!(c.peak_rss_kib() < 400 * 1024);
    assert_eq!(c.shutdown(), Some(0));
}

#[test]
fn the_server_exits_when_the_client_disappears() {
    let (mut c, dir) = start("gone");
    let path = dir.join("template.yaml");
    c.open(&path, 1, &read(&dir, "template.yaml"));
    c.diagnostics(&uri(&path));
    c.close_stdin();
    assert_eq!(c.wait_exit(Duration::from_secs(10)), Some(1));
}

#[test]
fn exit_without_shutdown_is_an_error_and_requests_after_shutdown_are_refused() {
    let (mut c, _dir) = start("exit");
    let r = c.call("shutdown", Value::Null);
    assert_eq!(r["result"], Value::Null);
    let r = c.call(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": "file:///x.yaml"}}),
    );
    assert_eq!(r["error"]["code"], -32600);
    c.notify("exit", Value::Null);
    assert_eq!(c.wait_exit(Duration::from_secs(10)), Some(0));

    let (mut c, _dir) = start("exit2");
    c.notify("exit", Value::Null);
    assert_eq!(c.wait_exit(Duration::from_secs(10)), Some(1));
}

#[test]
fn requests_before_initialize_are_refused() {
    let mut c = Client::spawn(&bin());
    let r = c.call("textDocument/hover", json!({}));
    assert_eq!(r["error"]["code"], -32002);
    let dir = fixture("preinit");
    c.initialize(&dir, json!({}));
    assert_eq!(c.shutdown(), Some(0));
}

/// Apply LSP text edits (UTF-16 positions) to `text`, as a client does.
fn apply_edits(text: &str, edits: &[Value]) -> String {
    let offset = |p: &Value| -> usize {
        let line = p["line"].as_u64().unwrap() as usize;
        let character = p["character"].as_u64().unwrap() as usize;
        let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
        let mut units = 0;
        for (i, c) in text[start..].char_indices() {
            if units >= character || c == '\n' {
                return start + i;
            }
            units += c.len_utf16();
        }
        text.len()
    };
    let mut ranges: Vec<(usize, usize, &str)> = edits
        .iter()
        .map(|e| {
            (
                offset(&e["range"]["start"]),
                offset(&e["range"]["end"]),
                e["newText"].as_str().unwrap(),
            )
        })
        .collect();
    ranges.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut out = text.to_owned();
    for (s, e, t) in ranges {
        out.replace_range(s..e, t);
    }
    out
}

/// The code actions offered for the first diagnostic of `rule` in `path` (as a client asks:
/// the diagnostic's range and the diagnostic).
fn actions_for(c: &mut Client, path: &Path, d: &Value, rule: &str) -> Vec<Value> {
    let diag = d["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == rule)
        .unwrap_or_else(|| panic!("no {rule}: {d:#}"))
        .clone();
    let r = c.call(
        "textDocument/codeAction",
        json!({
            "textDocument": {"uri": uri(path)},
            "range": diag["range"],
            "context": {"diagnostics": [diag]},
        }),
    );
    r["result"].as_array().unwrap().clone()
}

#[test]
fn quick_fix_from_the_fix_engine_in_utf16_positions() {
    let (mut c, dir) = start("fix");
    let path = dir.join("template.yaml");
    let text = read(&dir, "template.yaml");
    c.open(&path, 1, &text);
    let d = c.diagnostics(&uri(&path));
    let actions = actions_for(&mut c, &path, &d, "canary-query-includes-primary");
    // The rule's fix is unsafe (it changes what the gate measures): offered, labelled, not
    // preferred; the suppression is offered too.
    let fix = actions
        .iter()
        .find(|a| a["title"].as_str().unwrap().starts_with("Fix (unsafe"))
        .unwrap_or_else(|| panic!("{actions:#?}"));
    assert_eq!(fix["kind"], "quickfix");
    assert_eq!(fix["isPreferred"], Value::Null, "{fix:#}");
    assert_eq!(
        fix["diagnostics"][0]["code"],
        "canary-query-includes-primary"
    );
    assert!(actions.iter().any(|a| {
        a["title"]
            .as_str()
            .unwrap()
            .starts_with("Suppress canary-query-includes-primary")
    }));
    let edits = fix["edit"]["changes"][uri(&path)]
        .as_array()
        .unwrap()
        .clone();
    // The edit starts after "😀é" on its line, so its UTF-16 column is neither its byte nor
    // its character column (the application below is by UTF-16 units).
    let start = &edits[0]["range"]["start"];
    let line = text
        .lines()
        .nth(start["line"].as_u64().unwrap() as usize)
        .unwrap();
    let after_emoji = line[..line.find('é').unwrap()].encode_utf16().count() as u64;
    assert!(
        start["character"].as_u64().unwrap() > after_emoji,
        "{edits:#?}"
    );
    let fixed = apply_edits(&text, &edits);
    // What `rollgate lint --unsafe-fixes --fix` writes.
    assert_eq!(
        fixed,
        text.replace(
            r#"destination_workload=~"{{ target }}.*""#,
            r#"destination_workload="{{ target }}""#
        )
    );
    c.change_full(&path, 2, &fixed);
    let d = c.diagnostics(&uri(&path));
    assert_eq!(d["version"], 2);
    assert!(
        !rules(&d).contains(&"canary-query-includes-primary".into()),
        "{d:#}"
    );
    assert_eq!(c.shutdown(), Some(0));
}

#[test]
fn a_safe_fix_is_the_preferred_action() {
    let dir = copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/examples/bookinfo"),
        "safe-fix",
    );
    let mut c = Client::spawn(&bin());
    c.initialize(&dir, json!({}));
    let path = dir.join("reviews.yaml");
    let text = read(&dir, "reviews.yaml");
    c.open(&path, 1, &text);
    let d = c.diagnostics(&uri(&path));
    let actions = actions_for(&mut c, &path, &d, "istio-weights-not-100");
    let fix = actions
        .iter()
        .find(|a| a["title"].as_str().unwrap().starts_with("Fix: "))
        .unwrap_or_else(|| panic!("{actions:#?}"));
    assert_eq!(fix["isPreferred"], true, "{fix:#}");
    let fixed = apply_edits(
        &text,
        fix["edit"]["changes"][uri(&path)].as_array().unwrap(),
    );
    assert!(
        fixed.contains("        subset: v3\n      weight: 0\n"),
        "{fixed}"
    );
    c.change_full(&path, 2, &fixed);
    let d = c.diagnostics(&uri(&path));
    assert!(
        !rules(&d).contains(&"istio-weights-not-100".into()),
        "{d:#}"
    );
    assert_eq!(c.shutdown(), Some(0));
}

/// (rule, 1-based line, 1-based column, message) of each finding `rollgate lint <file>` reports
/// (with infos), run in `root`.
fn cli_rows(root: &Path, file: &str) -> std::collections::BTreeSet<(String, u64, u64, String)> {
    let o = std::process::Command::new(bin())
        .args(["lint", file, "--format", "json", "--show-info"])
        .current_dir(root)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["file"].as_str().is_some_and(|n| n.ends_with(file)))
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
                f["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The same rows from the server's diagnostics (ASCII files: UTF-16 columns are characters).
fn lsp_rows(d: &Value) -> std::collections::BTreeSet<(String, u64, u64, String)> {
    d["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let message = d["message"].as_str().unwrap();
            (
                d["code"].as_str().unwrap().to_owned(),
                d["range"]["start"]["line"].as_u64().unwrap() + 1,
                d["range"]["start"]["character"].as_u64().unwrap() + 1,
                message.split("\nhelp: ").next().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Opening each file of a kustomize project (a base in two overlays of other namespaces,
/// patches, a duplicate inside one build, a Canary and its template in separate files) shows
/// exactly what `rollgate lint <that file>` shows.
#[test]
fn each_open_file_shows_what_lint_of_that_file_shows() {
    let dir = copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/lsp/workspace"),
        "same-as-lint",
    );
    std::fs::create_dir_all(dir.join(".git")).unwrap();
    let write = |rel: &str, text: &str| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\nspec:\n  selector:\n    matchLabels: {app: podinfo}\n  template:\n    metadata:\n      labels: {app: podinfo}\n    spec:\n      containers:\n      - name: c\n        image: x\n";
    write("base/kustomization.yaml", "resources:\n- deploy.yaml\n");
    write("base/deploy.yaml", deploy);
    for env in ["prod", "staging"] {
        let extra = if env == "prod" { "- again.yaml\n" } else { "" };
        write(
            &format!("overlays/{env}/kustomization.yaml"),
            &format!(
                "namespace: {env}\nresources:\n- ../../base\n- canary.yaml\n{extra}patches:\n- path: patch.yaml\n"
            ),
        );
        write(
            &format!("overlays/{env}/canary.yaml"),
            "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata:\n  name: podinfo\nspec:\n  targetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: podinfo\n  service:\n    port: 80\n  analysis:\n    interval: 1m\n    threshold: 5\n    maxWeight: 50\n    stepWeight: 10\n",
        );
        write(
            &format!("overlays/{env}/patch.yaml"),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\nspec:\n  replicas: 3\n",
        );
    }
    write("overlays/prod/again.yaml", deploy);
    // Templates of other tools: one `not-kubernetes-object` info each, not a parse error per
    // `{{` (a Helm chart's, an Ansible role's).
    write(
        "chart/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    );
    write(
        "chart/templates/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Values.name }}\nspec:\n  replicas: {{ .Values.replicas }}\n",
    );
    write(
        "roles/web/templates/svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ app_name }}\n",
    );
    let files = [
        "chart/templates/deploy.yaml",
        "roles/web/templates/svc.yaml",
        "canary.yaml",
        "argo.yaml",
        "base/deploy.yaml",
        "base/kustomization.yaml",
        "overlays/prod/canary.yaml",
        "overlays/prod/patch.yaml",
        "overlays/prod/again.yaml",
        "overlays/prod/kustomization.yaml",
        "overlays/staging/canary.yaml",
    ];
    let mut c = Client::spawn(&bin());
    c.initialize(&dir, json!({}));
    let mut compared = 0;
    for f in files {
        let path = dir.join(f);
        c.open(&path, 1, &std::fs::read_to_string(&path).unwrap());
        let got = lsp_rows(&c.diagnostics(&uri(&path)));
        let want = cli_rows(&dir, f);
        assert_eq!(got, want, "{f}");
        if f.contains("templates/") {
            let rules: Vec<&str> = got.iter().map(|r| r.0.as_str()).collect();
            assert_eq!(rules, ["not-kubernetes-object"], "{f}");
        }
        compared += want.len();
    }
    // The comparison is not of empty sets: the duplicate, the patch, the kustomization.
    assert!(compared >= 4, "{compared}");
    // The template's finding, bound to the Canary of the other file, as lint shows it.
    let template = dir.join("template.yaml");
    c.open(&template, 1, &read(&dir, "template.yaml"));
    let d = c.diagnostics(&uri(&template));
    assert!(bound_dilution(&d), "{d:#}");
    // (Columns differ by the astral character before the finding: UTF-16 against characters.)
    let no_column = |rows: std::collections::BTreeSet<(String, u64, u64, String)>| {
        rows.into_iter()
            .map(|(r, l, _, m)| (r, l, m))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        no_column(lsp_rows(&d)),
        no_column(cli_rows(&dir, "template.yaml"))
    );
    assert_eq!(c.shutdown(), Some(0));
}
