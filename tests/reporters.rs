//! The output formats, driven through the library: a real lint run over in-memory files, then
//! each reporter's output checked for shape (SARIF against the official schema, JUnit through an
//! XML parser) and for the exact positions it shows.

use rollgate::engine::lint::{LintRun, lint};
use rollgate::engine::{Config, Engine, Settings};
use rollgate::manifest::Limits;
use rollgate::manifest::input::from_bytes;
use rollgate::report::{self, Format, Options};
use serde_json::Value;

/// Weights 95 + 10: the route is reported, each weight is a related location.
const VS_105: &str = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: default
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 95
    - destination: {host: reviews, subset: v2}
      weight: 10
";

/// The same mistake in flow style, with non-ASCII text (wide and accented) before the route
/// on the same line.
const VS_UNICODE: &str = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: café, namespace: prod}
spec:
  http: [{name: \"日本語-ünï\", route: [{destination: {host: a, subset: v1}, weight: 95}, {destination: {host: a, subset: v2}, weight: 10}]}]
";

const VS_OK: &str = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ok}
spec:
  http:
  - route:
    - destination: {host: a}
      weight: 100
";

fn run_of(files: &[(&str, &str)]) -> LintRun {
    let inputs = files
        .iter()
        .map(|(name, text)| from_bytes((*name).to_owned(), text.as_bytes().to_vec()))
        .collect();
    // The fixtures are about output formats: only the rule they were written for runs, so that
    // new rules (e.g. istio-subset-not-found, schema) do not change the expected output.
    let only = [
        "istio-weights-not-100",
        "not-kubernetes-object",
        "duplicate-key",
    ]
    .map(String::from);
    let engine = Engine::new(rollgate::rules::REGISTRY, &Config::default(), Some(&only));
    lint(inputs, &engine, &Settings::default(), Limits::default())
}

fn render(format: Format, run: &LintRun, color: bool) -> String {
    let mut out = Vec::new();
    report::write(format, run, &Options { color }, &mut out).expect("write to a Vec");
    String::from_utf8(out).expect("reporters write UTF-8")
}

/// 1-based line and 1-based column in characters of the `nth` (0-based) occurrence of `needle`.
fn pos_of(text: &str, needle: &str, nth: usize) -> (u64, u64) {
    let at = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("{needle:?} #{nth} not in text"))
        .0;
    let before = &text[..at];
    let line = before.matches('\n').count() as u64 + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = text[line_start..at].chars().count() as u64 + 1;
    (line, col)
}

// ---------------------------------------------------------------------------------------------
// SARIF

/// The official SARIF 2.1.0 schema (draft 4), compiled with format assertions on. (`boon`
/// passes the JSON-Schema-Test-Suite for draft 4; unlike `jsonschema` it does not bring in
/// `fancy-regex`, whose `regex-automata` features would change how the benchmarks' regexes
/// compile compared with the shipped binary.)
struct SarifSchema {
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
}

impl SarifSchema {
    /// What is wrong with `v`, all of it, or `None` when it validates.
    fn errors(&self, v: &Value) -> Option<String> {
        self.schemas
            .validate(v, self.index)
            .err()
            .map(|e| format!("{e:#}"))
    }

    fn is_valid(&self, v: &Value) -> bool {
        self.errors(v).is_none()
    }
}

fn sarif_validator() -> SarifSchema {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/schemas/sarif-schema-2.1.0.json"
    ))
    .expect("read the SARIF schema");
    let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
    let url = schema["id"]
        .as_str()
        .expect("the schema has an id")
        .to_owned();
    let mut compiler = boon::Compiler::new();
    compiler.set_default_draft(boon::Draft::V4);
    compiler.enable_format_assertions();
    compiler
        .add_resource(&url, schema)
        .expect("add the SARIF schema");
    let mut schemas = boon::Schemas::new();
    let index = compiler
        .compile(&url, &mut schemas)
        .expect("compile the SARIF schema");
    SarifSchema { schemas, index }
}

fn assert_valid_sarif(v: &Value) {
    if let Some(errors) = sarif_validator().errors(v) {
        panic!(
            "SARIF output does not validate:\n{errors}\n{}",
            serde_json::to_string_pretty(v).unwrap_or_default()
        );
    }
}

/// RFC 3986 URI reference: only URI characters, well-formed percent escapes, and a relative
/// reference whose first segment has no `:` (else it would read as a scheme).
fn assert_uri_reference(uri: &str) {
    let re = regex::Regex::new(r"^(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-F]{2})*$")
        .expect("regex");
    assert!(re.is_match(uri), "not a URI reference: {uri:?}");
    let scheme = regex::Regex::new("^[A-Za-z][A-Za-z0-9+.-]*:").expect("regex");
    let first = uri.split('/').next().unwrap_or("");
    assert!(
        scheme.is_match(uri) || !first.contains(':'),
        "relative reference with ':' in its first segment: {uri:?}"
    );
}

fn sarif(run: &LintRun) -> Value {
    serde_json::from_str(&render(Format::Sarif, run, false)).expect("SARIF output is JSON")
}

#[test]
fn the_validator_rejects_invalid_sarif() {
    // Guards the test below against a validator that accepts everything.
    let validator = sarif_validator();
    assert!(!validator.is_valid(&serde_json::json!({"version": "2.1.0"})));
    assert!(!validator.is_valid(&serde_json::json!({
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"message": {"text": "m"},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": "a"},
                "region": {"startLine": 0}}}]}]}]
    })));
    // Formats are checked too (draft 4 knows `uri`; `uri-reference`, which SARIF uses for
    // artifact locations, is checked by `assert_uri_reference` below).
    assert!(!validator.is_valid(&serde_json::json!({
        "$schema": "not a uri", "version": "2.1.0", "runs": []
    })));
}

#[test]
fn sarif_validates_against_the_official_schema() {
    let run = run_of(&[
        ("vs.yaml", VS_105),
        ("dir/ünï code.yaml", VS_UNICODE),
        ("/abs/path/ok.yaml", VS_OK),
        ("broken.yaml", "a: [1\n"),
        ("not-k8s.yaml", "just: data\n"),
    ]);
    assert!(run.diagnostics.len() >= 4, "{:#?}", run.diagnostics);
    let v = sarif(&run);
    assert_valid_sarif(&v);
    for a in v["runs"][0]["artifacts"].as_array().expect("artifacts") {
        assert_uri_reference(a["location"]["uri"].as_str().expect("uri"));
    }

    // No findings at all.
    assert_valid_sarif(&sarif(&run_of(&[("ok.yaml", VS_OK)])));
    assert_valid_sarif(&sarif(&run_of(&[])));
}

#[test]
fn sarif_without_a_place_omits_the_physical_location() {
    // Findings about cluster objects (the webhook's world) have no source and no span.
    let mut run = run_of(&[("vs.yaml", VS_105)]);
    for d in &mut run.diagnostics {
        d.source = None;
        d.span = None;
        for r in &mut d.related {
            r.span = None;
        }
    }
    let v = sarif(&run);
    assert_valid_sarif(&v);
    let result = &v["runs"][0]["results"][0];
    let loc = &result["locations"][0];
    assert!(loc.get("physicalLocation").is_none(), "{loc:#}");
    assert_eq!(loc["logicalLocations"][0]["name"], "reviews");
    assert_eq!(loc["logicalLocations"][0]["kind"], "resource");
    let rel = &result["relatedLocations"][0];
    assert!(rel["physicalLocation"].get("region").is_none(), "{rel:#}");
    assert_eq!(
        rel["physicalLocation"]["artifactLocation"]["uri"],
        "vs.yaml"
    );
}

#[test]
fn sarif_regions_are_the_real_positions() {
    let run = run_of(&[("vs.yaml", VS_105), ("uni.yaml", VS_UNICODE)]);
    let v = sarif(&run);
    let r = &v["runs"][0];
    assert_eq!(r["columnKind"], "unicodeCodePoints");
    let results = r["results"].as_array().expect("results");
    assert_eq!(results.len(), 2, "{results:#?}");

    for (result, file, text) in [
        (&results[0], "vs.yaml", VS_105),
        (&results[1], "uni.yaml", VS_UNICODE),
    ] {
        assert_eq!(result["ruleId"], "istio-weights-not-100");
        assert_eq!(result["level"], "error");
        assert!(
            result["message"]["text"]
                .as_str()
                .is_some_and(|m| m.starts_with("weights sum to 105, not 100")),
            "{result:#}"
        );
        let phys = &result["locations"][0]["physicalLocation"];
        assert_eq!(phys["artifactLocation"]["uri"], file);
        assert_eq!(phys["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        let (line, col) = pos_of(text, "route", 0);
        let region = &phys["region"];
        assert_eq!(region["startLine"], line, "{file}: {region}");
        assert_eq!(region["startColumn"], col, "{file}: {region}");
        assert_eq!(region["endLine"], line);
        assert_eq!(region["endColumn"], col + 5);

        let related = result["relatedLocations"].as_array().expect("related");
        assert_eq!(related.len(), 2);
        for (i, (rel, weight)) in related.iter().zip(["95", "10"]).enumerate() {
            let (line, col) = pos_of(text, &format!("weight: {weight}"), 0);
            let col = col + "weight: ".len() as u64;
            let region = &rel["physicalLocation"]["region"];
            assert_eq!(rel["id"], i as u64 + 1);
            assert_eq!(region["startLine"], line, "{file}: {rel}");
            assert_eq!(region["startColumn"], col, "{file}: {rel}");
            assert_eq!(region["endColumn"], col + 2, "{file}: {rel}");
            assert!(
                rel["message"]["text"]
                    .as_str()
                    .is_some_and(|m| m.contains(&format!("weight {weight}")))
            );
        }
        let props = &result["properties"];
        assert_eq!(props["pointer"], "/spec/http/0/route");
        assert_eq!(props["object"]["kind"], "VirtualService");
    }
    // The non-ASCII line: the column counts code points, not bytes (UTF-8 would say 36).
    assert_eq!(
        results[1]["locations"][0]["physicalLocation"]["region"]["startColumn"],
        28
    );
    assert_eq!(
        results[1]["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "VirtualService prod/café"
    );
}

#[test]
fn sarif_describes_every_rule() {
    let run = run_of(&[("vs.yaml", VS_105)]);
    let v = sarif(&run);
    let driver = &v["runs"][0]["tool"]["driver"];
    assert_eq!(driver["name"], "rollgate");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    let rules = driver["rules"].as_array().expect("rules");
    let metas = rollgate::engine::all_metas();
    assert_eq!(rules.len(), metas.len());
    for (r, m) in rules.iter().zip(&metas) {
        assert_eq!(r["id"], m.id);
        assert_eq!(r["helpUri"], report::help_uri(m.id));
        // Brief: where the documentation is, not the documentation (the log stays small).
        let help = r["help"]["text"].as_str().expect("help.text");
        assert!(
            help.contains(&format!("rollgate explain {}", m.id)),
            "{help}"
        );
        assert!(help.len() < 300, "{help}");
        assert_eq!(r["shortDescription"]["text"], m.summary());
        assert!(r.get("fullDescription").is_none());
        assert!(
            ["error", "warning", "note"]
                .contains(&r["defaultConfiguration"]["level"].as_str().unwrap_or(""))
        );
    }
    for result in v["runs"][0]["results"].as_array().expect("results") {
        let i = result["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[i]["id"], result["ruleId"]);
    }
}

#[test]
fn sarif_of_a_small_run_is_small_and_valid() {
    // Every rule is described in every log; the descriptions must stay brief (issue 24: three
    // findings made 410 KB when each rule's documentation was embedded).
    let run = run_of(&[("a.yaml", VS_105), ("b.yaml", VS_105), ("c.yaml", VS_105)]);
    let text = render(Format::Sarif, &run, false);
    let v: Value = serde_json::from_str(&text).expect("SARIF output is JSON");
    assert_eq!(v["runs"][0]["results"].as_array().map(Vec::len), Some(3));
    assert_valid_sarif(&v);
    assert!(
        text.len() <= 64 * 1024,
        "SARIF of three findings is {} bytes",
        text.len()
    );
}

#[test]
fn sarif_file_names_are_uri_references() {
    let run = run_of(&[
        ("./dir/a b#1.yaml", VS_105),
        ("/abs/x.yaml", VS_105),
        ("c:d%e/ü?.yaml", VS_105),
    ]);
    let v = sarif(&run);
    assert_valid_sarif(&v);
    for a in v["runs"][0]["artifacts"].as_array().expect("artifacts") {
        assert_uri_reference(a["location"]["uri"].as_str().expect("uri"));
    }
    let uri = |i: usize| {
        v["runs"][0]["results"][i]["locations"][0]["physicalLocation"]["artifactLocation"].clone()
    };
    assert_eq!(uri(0)["uri"], "dir/a%20b%231.yaml");
    assert_eq!(uri(0)["uriBaseId"], "%SRCROOT%");
    assert_eq!(uri(1)["uri"], "file:///abs/x.yaml");
    assert!(uri(1).get("uriBaseId").is_none());
    assert_eq!(uri(2)["uri"], "c%3Ad%25e/%C3%BC%3F.yaml");
}

// ---------------------------------------------------------------------------------------------
// human

/// The caret row under a source line: the cell where the first mark starts.
fn marks_cell(row: &str, mark: char) -> usize {
    let bar = row.find('|').expect("gutter");
    let after = &row[bar + 2..];
    after.chars().take_while(|&c| c != mark).count()
}

#[test]
fn human_shows_place_snippet_and_caret() {
    let run = run_of(&[("vs.yaml", VS_105)]);
    let out = render(Format::Human, &run, false);
    assert!(
        out.starts_with(
            "error[istio-weights-not-100]: weights sum to 105, not 100: v1 receives 90.5%"
        ),
        "{out}"
    );
    assert!(out.contains("  --> vs.yaml:9:5\n"), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    let src = lines
        .iter()
        .position(|l| l.starts_with(" 9 |   - route:"))
        .unwrap_or_else(|| panic!("no source line in\n{out}"));
    assert_eq!(lines[src + 1], "   |     ^^^^^", "{out}");
    // Related locations: each weight underlined with its label.
    let w95 = lines
        .iter()
        .position(|l| l.starts_with("11 |       weight: 95"))
        .unwrap_or_else(|| panic!("no weight line in\n{out}"));
    assert_eq!(
        lines[w95 + 1],
        "   |               -- v1: weight 95 (90.5%)"
    );
    assert!(
        out.contains("   = note: VirtualService default/reviews\n"),
        "{out}"
    );
    assert!(
        out.contains("   = help: Istio treats weights as relative shares"),
        "{out}"
    );
    // The fix: a help line and the lines it changes.
    assert!(
        out.contains("   = help: set the weights to 90, 10 (rounded: the shares change by less than one percentage point) (unsafe fix: --fix --unsafe-fixes)\n11 -       weight: 95\n11 +       weight: 90\n"),
        "{out}"
    );
    assert!(
        out.ends_with(
            "1 error in 1 file (1 object checked, 1 fixable with --fix --unsafe-fixes)\n"
        ),
        "{out}"
    );
    assert!(!out.contains('\x1b'), "no ANSI without colour: {out:?}");
}

#[test]
fn human_caret_is_under_the_node_after_non_ascii_text() {
    let run = run_of(&[("uni.yaml", VS_UNICODE)]);
    let out = render(Format::Human, &run, false);
    let (line, col) = pos_of(VS_UNICODE, "route", 0);
    assert_eq!((line, col), (5, 28));
    assert!(
        out.contains(&format!("--> uni.yaml:{line}:{col}\n")),
        "{out}"
    );
    let lines: Vec<&str> = out.lines().collect();
    let src = lines
        .iter()
        .position(|l| l.starts_with("5 |   http:"))
        .unwrap_or_else(|| panic!("no source line in\n{out}"));
    let caret = lines[src + 1];
    // `日本語` takes two terminal cells per character: 27 characters before `route`, 30 cells.
    assert_eq!(marks_cell(caret, '^'), 30, "{out}");
    assert!(caret.ends_with("^^^^^"), "{out}");
    let shown = &lines[src][4..];
    let before: String = shown.chars().take(27).collect();
    assert!(
        shown
            .chars()
            .skip(27)
            .collect::<String>()
            .starts_with("route"),
        "{out}"
    );
    assert!(before.contains("日本語-ünï"));
}

#[test]
fn human_colour_only_when_asked() {
    let run = run_of(&[("vs.yaml", VS_105)]);
    let plain = render(Format::Human, &run, false);
    let coloured = render(Format::Human, &run, true);
    assert!(!plain.contains('\x1b'));
    assert!(
        coloured.contains("\x1b[1;31merror[istio-weights-not-100]\x1b[0m"),
        "{coloured:?}"
    );
    // Stripping the escapes gives the plain output back.
    let re = regex::Regex::new("\x1b\\[[0-9;]*m").expect("regex");
    assert_eq!(re.replace_all(&coloured, ""), plain);
}

#[test]
fn human_never_echoes_control_characters_from_the_input() {
    let text = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: \"x\\e[31m\"}
spec:
  http:
  - route:
    - destination: {host: a}
      weight: \"9\\e[2J0\"
    - destination: {host: b}
      weight: 10
";
    let run = run_of(&[("esc.yaml", text)]);
    assert!(!run.diagnostics.is_empty());
    let out = render(Format::Human, &run, false);
    assert!(!out.contains('\x1b'), "{out:?}");
    assert!(out.contains("\u{241b}[2J"), "{out}");
}

#[test]
fn human_without_source_or_findings() {
    let mut run = run_of(&[("vs.yaml", VS_105)]);
    for d in &mut run.diagnostics {
        d.source = None;
        d.span = None;
        for r in &mut d.related {
            r.source = None;
            r.span = None;
        }
    }
    let out = render(Format::Human, &run, false);
    assert!(!out.contains("-->"), "{out}");
    assert!(!out.contains(" | "), "{out}");
    assert!(
        out.contains("= note: VirtualService default/reviews at /spec/http/0/route"),
        "{out}"
    );
    assert!(out.contains("= note: v1: weight 95 (90.5%)"), "{out}");

    let out = render(
        Format::Human,
        &run_of(&[("ok.yaml", VS_OK), ("b.yaml", VS_OK)]),
        false,
    );
    assert_eq!(out, "no problems found in 2 files (2 objects checked)\n");
}

#[test]
fn human_cuts_long_lines_around_the_node() {
    let padding = "x".repeat(5000);
    let json = format!(
        r#"{{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{{"name":"m","annotations":{{"pad":"{padding}"}}}},"spec":{{"http":[{{"route":[{{"destination":{{"host":"a"}},"weight":"95"}},{{"destination":{{"host":"b"}},"weight":5}}]}}]}}}}"#
    );
    let run = run_of(&[("min.json", &json)]);
    let out = render(Format::Human, &run, false);
    let (line, col) = pos_of(&json, r#""95""#, 0);
    assert!(out.contains(&format!("--> min.json:{line}:{col}")), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    let src = lines
        .iter()
        .position(|l| l.starts_with("1 | ..."))
        .expect("cut line");
    assert!(lines[src].chars().count() < 200, "{out}");
    let caret = lines[src + 1];
    let shown = &lines[src][4..];
    let cell = marks_cell(caret, '^');
    assert!(
        shown
            .chars()
            .skip(cell)
            .collect::<String>()
            .starts_with(r#""95""#),
        "{out}"
    );
    assert!(caret.ends_with("^^^^"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// JUnit

#[test]
fn junit_is_well_formed_and_escaped() {
    let nasty = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: nasty}
spec:
  http:
  - route:
    - destination: {host: a}
      weight: \"<&'\\\"x\\x01]]>\"
    - destination: {host: b}
      weight: 10
";
    let run = run_of(&[
        ("a<&\"'>.yaml", nasty),
        ("vs.yaml", VS_105),
        ("ok.yaml", VS_OK),
    ]);
    let out = render(Format::Junit, &run, false);
    let doc = roxmltree::Document::parse(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 3, "{out}");
    assert_eq!(suites[0].attribute("name"), Some("a<&\"'>.yaml"));

    // The message survives escaping; the control character XML cannot carry is made visible.
    let failure = suites[0]
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .expect("failure");
    let message = failure.attribute("message").expect("message");
    assert!(message.contains("\"<&'\"x\u{2401}]]>\""), "{message}");
    assert_eq!(failure.attribute("type"), Some("error"));
    assert!(failure.text().is_some_and(|t| t.contains("<&'")), "{out}");

    // Weights 95 + 10: one failing test case with its place and related places.
    let case = suites[1]
        .children()
        .find(|n| n.has_tag_name("testcase"))
        .expect("testcase");
    assert_eq!(case.attribute("name"), Some("istio-weights-not-100 at 9:5"));
    assert_eq!(case.attribute("file"), Some("vs.yaml"));
    assert_eq!(case.attribute("line"), Some("9"));
    let body = case
        .children()
        .find(|n| n.has_tag_name("failure"))
        .and_then(|f| f.text())
        .unwrap_or("");
    assert!(
        body.starts_with("vs.yaml:9:5: error: weights sum to 105"),
        "{body}"
    );
    assert!(
        body.contains("related: vs.yaml:11:15: v1: weight 95 (90.5%)"),
        "{body}"
    );
    assert_eq!(suites[1].attribute("failures"), Some("1"));

    // A clean file still shows up, with one passing test case.
    assert_eq!(suites[2].attribute("name"), Some("ok.yaml"));
    assert_eq!(suites[2].attribute("tests"), Some("1"));
    assert_eq!(suites[2].attribute("failures"), Some("0"));
    let pass = suites[2].first_element_child().expect("testcase");
    assert!(pass.has_tag_name("testcase") && pass.first_element_child().is_none());
}

#[test]
fn junit_without_findings_has_passing_cases() {
    for files in [&[("ok.yaml", VS_OK)][..], &[]] {
        let out = render(Format::Junit, &run_of(files), false);
        let doc = roxmltree::Document::parse(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
        let cases: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert_eq!(cases.len(), 1, "{out}");
        assert!(
            doc.descendants().all(|n| !n.has_tag_name("failure")),
            "{out}"
        );
        assert_eq!(doc.root_element().attribute("failures"), Some("0"));
    }
}

// ---------------------------------------------------------------------------------------------
// JSON

#[test]
fn json_has_the_documented_fields() {
    let run = run_of(&[("vs.yaml", VS_105), ("uni.yaml", VS_UNICODE)]);
    let v: Value = serde_json::from_str(&render(Format::Json, &run, false)).expect("JSON");
    let findings = v["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 2);
    for f in findings {
        for key in [
            "rule",
            "severity",
            "message",
            "file",
            "line",
            "column",
            "end_line",
            "end_column",
            "pointer",
            "object",
            "related",
            "help",
        ] {
            assert!(f.get(key).is_some(), "finding has no {key}: {f:#}");
        }
        for key in ["apiVersion", "kind", "namespace", "name"] {
            assert!(f["object"].get(key).is_some(), "object has no {key}: {f:#}");
        }
        for r in f["related"].as_array().expect("related") {
            for key in [
                "message",
                "file",
                "line",
                "column",
                "end_line",
                "end_column",
                "pointer",
            ] {
                assert!(r.get(key).is_some(), "related has no {key}: {r:#}");
            }
        }
    }
    let f = &findings[1];
    assert_eq!(f["rule"], "istio-weights-not-100");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["file"], "uni.yaml");
    assert_eq!(
        (f["line"].clone(), f["column"].clone()),
        (5.into(), 28.into())
    );
    assert_eq!(
        (f["end_line"].clone(), f["end_column"].clone()),
        (5.into(), 33.into())
    );
    assert_eq!(f["pointer"], "/spec/http/0/route");
    assert_eq!(f["object"]["namespace"], "prod");
    assert_eq!(f["object"]["name"], "café");
    assert!(f["help"].is_string());
    let summary = &v["summary"];
    for key in [
        "files",
        "documents",
        "objects",
        "errors",
        "warnings",
        "infos",
        "suppressed",
    ] {
        assert!(
            summary.get(key).is_some(),
            "summary has no {key}: {summary:#}"
        );
    }
    assert_eq!(summary["files"], 2);
    assert_eq!(summary["errors"], 2);
}
