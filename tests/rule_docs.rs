//! The rule documentation is the test suite (like ruff's Markdown tests).
//!
//! For every `rules/<id>.md`:
//! - each ```` ```yaml ```` block under `## Example` is linted with only rule `<id>` enabled (the
//!   engine keeps `parse-error` on by itself) and info findings kept. A line carrying
//!   `# expect: <rule-id>[, <rule-id>…]` (alone or as a trailing comment) says that a finding of
//!   that rule starts on that very line. Every finding must be matched by one expectation and
//!   every expectation by one finding;
//! - each YAML block under `## Use instead` must produce no finding at all;
//! - a rule whose findings carry fixes has a `## Fix` section (after "Use instead"): what the fix
//!   does and whether it is safe. Its first YAML block is linted like an Example block; fixing
//!   it (unsafe fixes too, to a fixed point) must leave a text that parses, has no finding of
//!   the rule and is fixed again to itself; a second YAML block, if any, is that fixed text
//!   exactly. Fixing every Example block must parse and leave only findings that had no fix;
//! - blocks in other sections (e.g. "How to ignore" snippets) are not run.
//!
//! Failures name `rules/<id>.md:<line>` (the Markdown file's own line numbers) so they can be
//! clicked, and show the block, the unmatched items and the messages.
//!
//! The meta-tests below check that every rule has its doc with the required sections, that ids
//! are unique kebab-case, and that no doc or rule file is orphaned.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rollgate::engine::lint::lint;
use rollgate::engine::{Applicability, Config, Engine, Settings, all_metas};
use rollgate::manifest::Limits;
use rollgate::manifest::input::from_bytes;

const REQUIRED_SECTIONS: &[&str] = &[
    "What it does",
    "Why is this bad?",
    "Example",
    "Use instead",
    "Options",
    "How to ignore",
    "References",
];

const EXPECT: &str = "# expect:";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fenced code block of a Markdown document.
#[derive(Debug)]
struct Block {
    /// The `## ` section it is in ("" before the first one).
    section: String,
    /// The info string after the opening fence (`yaml`).
    lang: String,
    /// 1-based line of the Markdown file holding the block's first content line.
    first_line: usize,
    text: String,
}

/// `## ` headings (outside fences) in order, and every fenced block with its section.
fn parse_markdown(md: &str) -> (Vec<String>, Vec<Block>) {
    let mut sections = Vec::new();
    let mut blocks = Vec::new();
    let mut current = String::new();
    let mut open: Option<(String, String, usize, String)> = None; // (fence, lang, first, text)
    for (i, line) in md.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some((fence, lang, first, text)) = &mut open {
            if trimmed.starts_with(fence.as_str())
                && trimmed.trim_start_matches('`').trim().is_empty()
            {
                blocks.push(Block {
                    section: current.clone(),
                    lang: std::mem::take(lang),
                    first_line: *first,
                    text: std::mem::take(text),
                });
                open = None;
            } else {
                text.push_str(line);
                text.push('\n');
            }
            continue;
        }
        if trimmed.starts_with("```") {
            let fence: String = trimmed.chars().take_while(|&c| c == '`').collect();
            let lang = trimmed[fence.len()..].trim().to_owned();
            open = Some((fence, lang, i + 2, String::new()));
        } else if let Some(h) = line.strip_prefix("## ") {
            current = h.trim().to_owned();
            sections.push(current.clone());
        }
    }
    if let Some((_, lang, first, text)) = open {
        // An unterminated fence: keep it so the caller can complain.
        blocks.push(Block {
            section: format!("{current} (unterminated fence)"),
            lang,
            first_line: first,
            text,
        });
    }
    (sections, blocks)
}

/// `(1-based line in the block, rule id)` for every `# expect:` marker of a block.
fn expectations(block: &str) -> Vec<(usize, String)> {
    let mut v = Vec::new();
    for (i, line) in block.lines().enumerate() {
        if let Some(at) = line.find(EXPECT) {
            for id in line[at + EXPECT.len()..].split(',') {
                let id = id.trim();
                if !id.is_empty() {
                    v.push((i + 1, id.to_owned()));
                }
            }
        }
    }
    v
}

/// One finding of a block: `(1-based line in the block or None, rule, message)`.
type Found = (Option<usize>, String, String);

fn lint_block(doc_path: &str, rule: &str, text: &str) -> Vec<Found> {
    let input = from_bytes(doc_path.to_owned(), text.as_bytes().to_vec());
    let only = [rule.to_owned()];
    let engine = Engine::new(rollgate::rules::REGISTRY, &Config::default(), Some(&only));
    let run = lint(
        vec![input],
        &engine,
        &Settings::default(),
        Limits::default(),
    );
    run.diagnostics
        .iter()
        .map(|d| {
            (
                d.span.map(|s| s.start.line as usize),
                d.finding.rule.to_owned(),
                d.finding.message.clone(),
            )
        })
        .collect()
}

/// Fix a block (unsafe fixes too) with only `rule` enabled: the fixed text, how many findings
/// of the rule had an applicable fix at first, and why fixing failed (if it did).
fn fix_block(rule: &str, text: &str) -> (String, usize, Option<String>) {
    let input = from_bytes("block.yaml".to_owned(), text.as_bytes().to_vec());
    let only = [rule.to_owned()];
    let engine = Engine::new(rollgate::rules::REGISTRY, &Config::default(), Some(&only));
    let before = lint(
        vec![input.clone()],
        &engine,
        &Settings::default(),
        Limits::default(),
    );
    let fixable = before
        .diagnostics
        .iter()
        .filter(|d| {
            d.finding.rule == rule
                && d.fix
                    .as_ref()
                    .is_some_and(|f| f.applicability >= Applicability::Unsafe)
        })
        .count();
    let fr = rollgate::engine::apply::lint_fix(
        vec![input],
        &engine,
        &Settings::default(),
        Limits::default(),
        1,
        Applicability::Unsafe,
    );
    let f = &fr.files[0];
    (f.text.clone(), fixable, f.failure.clone())
}

fn show_block(doc_path: &str, b: &Block) -> String {
    let mut s = format!(
        "{doc_path}:{} (```{} block under ## {}):\n",
        b.first_line, b.lang, b.section
    );
    for (i, line) in b.text.lines().enumerate() {
        let _ = writeln!(s, "  {:>4} | {line}", b.first_line + i);
    }
    s
}

/// Check one Markdown doc's runnable blocks for rule `rule`. Returns the failures, each ready
/// to print.
fn check_doc(doc_path: &str, rule: &str, md: &str) -> Vec<String> {
    let (_, blocks) = parse_markdown(md);
    let mut failures = Vec::new();
    for b in &blocks {
        let runnable = matches!(b.section.as_str(), "Example" | "Use instead" | "Fix");
        if b.section.ends_with("(unterminated fence)") {
            failures.push(format!(
                "{doc_path}:{}: unterminated code fence",
                b.first_line - 1
            ));
            continue;
        }
        if !runnable || b.lang != "yaml" {
            continue;
        }
        let fix_blocks: Vec<&Block> = blocks
            .iter()
            .filter(|x| x.section == "Fix" && x.lang == "yaml")
            .collect();
        if b.section == "Fix" && !std::ptr::eq(*fix_blocks.first().unwrap_or(&b), b) {
            // The "after" block: checked with the "before" one.
            continue;
        }
        let found = lint_block(doc_path, rule, &b.text);
        let mut problems = Vec::new();
        let (fixed, fixable, failure) = fix_block(rule, &b.text);
        if fixable > 0 && fix_blocks.is_empty() && doc_path.starts_with("rules/") {
            problems.push(format!(
                "{doc_path}: findings of {rule} carry fixes but the doc has no `## Fix` section"
            ));
        }
        if let Some(why) = &failure {
            problems.push(format!("{doc_path}:{}: fixing failed: {why}", b.first_line));
        }
        if matches!(b.section.as_str(), "Example" | "Fix") && failure.is_none() {
            let after = lint_block(doc_path, rule, &fixed);
            let syntax = |v: &[Found]| {
                v.iter()
                    .filter(|(_, r, _)| r == "parse-error" || r == "duplicate-key")
                    .count()
            };
            let broken = syntax(&after) > syntax(&found);
            if broken {
                problems.push(format!(
                    "{doc_path}:{}: the fixed text does not parse:\n{fixed}",
                    b.first_line
                ));
            }
            // Example blocks may keep findings without a fix, or that a fix reveals (a renamed
            // reference that is missing too); the fixed point is checked below.
            let left = after.iter().filter(|(_, r, _)| r == rule).count();
            if b.section == "Fix" && left > 0 {
                problems.push(format!(
                    "{doc_path}:{}: after fixing, {left} finding(s) of {rule} remain:\n{fixed}",
                    b.first_line
                ));
            }
            let (again, _, _) = fix_block(rule, &fixed);
            if again != fixed {
                problems.push(format!(
                    "{doc_path}:{}: a second fix changes the text again",
                    b.first_line
                ));
            }
            if b.section == "Fix" {
                match fix_blocks.get(1) {
                    Some(want) if want.text != fixed => problems.push(format!(
                        "{doc_path}:{}: the fixed text differs from this block; it is:\n{fixed}",
                        want.first_line
                    )),
                    _ => {}
                }
            }
        }
        let md_line = |l: Option<usize>| match l {
            Some(l) => format!("{doc_path}:{}", b.first_line + l - 1),
            None => format!("{doc_path} (no position)"),
        };
        if b.section == "Use instead" {
            for (line, r, msg) in &found {
                problems.push(format!(
                    "{}: unexpected [{r}] in a \"Use instead\" block: {msg}",
                    md_line(*line)
                ));
            }
            if expectations(&b.text).iter().any(|_| true) {
                problems.push(format!(
                    "{}: `{EXPECT}` markers do not belong in \"Use instead\" blocks",
                    md_line(Some(1))
                ));
            }
        } else {
            let mut unmatched: Vec<(usize, String)> = expectations(&b.text);
            for (line, r, msg) in &found {
                let hit =
                    line.and_then(|l| unmatched.iter().position(|(el, er)| *el == l && er == r));
                match hit {
                    Some(i) => {
                        unmatched.remove(i);
                    }
                    None => problems.push(format!(
                        "{}: finding [{r}] has no `{EXPECT} {r}` on its line: {msg}",
                        md_line(*line)
                    )),
                }
            }
            for (line, r) in unmatched {
                let near: Vec<String> = found
                    .iter()
                    .filter(|(_, fr, _)| *fr == r)
                    .map(|(l, _, m)| format!("{} ({m})", md_line(*l)))
                    .collect();
                let near = if near.is_empty() {
                    String::from("no finding of that rule in this block")
                } else {
                    format!("findings of that rule are at: {}", near.join("; "))
                };
                problems.push(format!(
                    "{}: expected a [{r}] finding starting on this line; {near}",
                    md_line(Some(line))
                ));
            }
        }
        if !problems.is_empty() {
            let mut s = format!("rule {rule}: ");
            s.push_str(&show_block(doc_path, b));
            for p in problems {
                let _ = writeln!(s, "  - {p}");
            }
            failures.push(s);
        }
    }
    failures
}

fn doc_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("rules"))
        .expect("rules/ exists")
        .map(|e| e.expect("readable rules/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    v.sort();
    v
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn rule_doc_examples() {
    let files = doc_files();
    assert!(!files.is_empty(), "no rules/*.md found");
    let mut failures = Vec::new();
    let mut blocks_run = 0;
    for path in files {
        let id = stem(&path);
        let md = std::fs::read_to_string(&path).expect("readable doc");
        let (_, blocks) = parse_markdown(&md);
        blocks_run += blocks
            .iter()
            .filter(|b| {
                b.lang == "yaml" && matches!(b.section.as_str(), "Example" | "Use instead" | "Fix")
            })
            .count();
        failures.extend(check_doc(&format!("rules/{id}.md"), &id, &md));
    }
    assert!(blocks_run > 0, "no runnable blocks found");
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_rule_has_a_complete_doc() {
    let mut failures = Vec::new();
    for m in all_metas() {
        let path = root().join("rules").join(format!("{}.md", m.id));
        let Ok(md) = std::fs::read_to_string(&path) else {
            failures.push(format!("rule {}: rules/{}.md is missing", m.id, m.id));
            continue;
        };
        if md != m.doc {
            failures.push(format!(
                "rule {}: RuleMeta.doc is not the text of rules/{}.md (use include_str!)",
                m.id, m.id
            ));
        }
        let (sections, blocks) = parse_markdown(&md);
        let mut last = None;
        for want in REQUIRED_SECTIONS {
            match sections.iter().position(|s| s == want) {
                None => failures.push(format!("rules/{}.md: missing section `## {want}`", m.id)),
                Some(i) => {
                    if last.is_some_and(|l| i < l) {
                        failures.push(format!(
                            "rules/{}.md: section `## {want}` is out of order (expected: {})",
                            m.id,
                            REQUIRED_SECTIONS.join(", ")
                        ));
                    }
                    last = Some(i);
                }
            }
        }
        let expects_self = blocks
            .iter()
            .filter(|b| b.section == "Example" && b.lang == "yaml")
            .flat_map(|b| expectations(&b.text))
            .any(|(_, r)| r == m.id);
        if !expects_self {
            failures.push(format!(
                "rules/{}.md: no `{EXPECT} {}` in a ```yaml block under ## Example",
                m.id, m.id
            ));
        }
        if !blocks
            .iter()
            .any(|b| b.section == "Use instead" && b.lang == "yaml")
        {
            failures.push(format!(
                "rules/{}.md: no ```yaml block under ## Use instead",
                m.id
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn is_kebab(id: &str) -> bool {
    !id.is_empty()
        && id.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

#[test]
fn ids_are_unique_kebab_case() {
    let mut seen = BTreeSet::new();
    for m in all_metas() {
        assert!(is_kebab(m.id), "rule id {:?} is not kebab-case", m.id);
        assert!(seen.insert(m.id), "rule id {:?} is registered twice", m.id);
    }
}

#[test]
fn every_doc_belongs_to_a_rule() {
    let ids: BTreeSet<&str> = all_metas().iter().map(|m| m.id).collect();
    for path in doc_files() {
        let id = stem(&path);
        assert!(
            ids.contains(id.as_str()),
            "rules/{id}.md documents no known rule (known: {ids:?})"
        );
    }
}

#[test]
fn every_rule_file_is_registered() {
    let registered: BTreeSet<&str> = rollgate::rules::REGISTRY
        .iter()
        .map(|r| r.meta().id)
        .collect();
    let mut files = 0;
    for entry in std::fs::read_dir(root().join("src/rules")).expect("src/rules exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().is_none_or(|e| e != "rs") || stem(&path) == "mod" {
            continue;
        }
        files += 1;
        let id = stem(&path).replace('_', "-");
        assert!(
            registered.contains(id.as_str()),
            "src/rules/{}.rs is not registered in rollgate::rules::REGISTRY (no rule with id {id})",
            stem(&path)
        );
    }
    assert_eq!(
        files,
        registered.len(),
        "REGISTRY and src/rules/*.rs disagree: {registered:?}"
    );
}

// The harness itself must be able to fail: a wrong marker, a missing marker, a finding in
// "Use instead" must all be reported (with Markdown line numbers), and other sections ignored.

const SELF_TEST_DOC: &str = "# istio-weights-not-100

## Example
```yaml
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: r
spec:
  http:
  - route:
    - destination: {host: a}
      weight: 95 # expect: istio-weights-not-100
    - destination: {host: b}
      weight: 10
```

## Use instead
```yaml
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: r
spec:
  http:
  - route:
    - destination: {host: a}
      weight: 1
    - destination: {host: b}
      weight: 1
```

## How to ignore
```yaml
this: [is not even valid
```
";

#[test]
fn harness_reports_misplaced_markers_and_dirty_use_instead() {
    let failures = check_doc("self.md", "istio-weights-not-100", SELF_TEST_DOC);
    let all = failures.join("\n");
    assert_eq!(failures.len(), 2, "{all}");
    // The route starts on line 11 of the Markdown text; the marker sits on line 13.
    assert!(
        all.contains("self.md:11: finding [istio-weights-not-100] has no"),
        "{all}"
    );
    assert!(
        all.contains("self.md:13: expected a [istio-weights-not-100]"),
        "{all}"
    );
    assert!(all.contains("weights sum to 105"), "{all}");
    assert!(
        all.contains("unexpected [istio-weights-not-100] in a \"Use instead\" block"),
        "{all}"
    );
    assert!(
        !all.contains("is not even valid"),
        "How to ignore blocks must not run: {all}"
    );
}

#[test]
fn harness_accepts_correct_markers_and_several_ids() {
    let doc = SELF_TEST_DOC
        .replace("  - route:\n    - destination: {host: a}\n      weight: 95 # expect: istio-weights-not-100",
                 "  - route: # expect: istio-weights-not-100\n    - destination: {host: a}\n      weight: 95")
        .replace("weight: 1\n    - destination: {host: b}\n      weight: 1", "weight: 50\n    - destination: {host: b}\n      weight: 50");
    let failures = check_doc("self.md", "istio-weights-not-100", &doc);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        expectations("a: 1 # expect: x, y-z\n# expect: w\nb: 2\n"),
        vec![(1, "x".into()), (1, "y-z".into()), (2, "w".into())]
    );
}
