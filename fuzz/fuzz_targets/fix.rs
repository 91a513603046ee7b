//! `lint --fix --unsafe-fixes` on one input: applying every fix yields a text that parses and
//! has no error finding the input did not have (the engine's guard, which would undo such a
//! fix, never has to), and fixing again changes nothing. Every lowered edit lies on character
//! boundaries inside the text.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rollgate::engine::apply::lint_fix;
use rollgate::engine::lint::lint;
use rollgate::engine::{Applicability, Config, Engine, Settings};
use rollgate::manifest::Limits;
use rollgate::manifest::input::from_bytes;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::new(rollgate::rules::REGISTRY, &Config::default(), None))
}

fn fix(text: &[u8]) -> (String, Option<String>) {
    let fr = lint_fix(
        vec![from_bytes("fuzz.yaml".into(), text.to_vec())],
        &Default::default(),
        engine(),
        &Settings::default(),
        Limits::default(),
        1,
        Applicability::Unsafe,
    );
    let f = &fr.files[0];
    (f.text.clone(), f.failure.clone())
}

fuzz_target!(|data: &[u8]| {
    let input = from_bytes("fuzz.yaml".into(), data.to_vec());
    let usable = input.unusable.is_none();
    let run = lint(
        vec![input],
        engine(),
        &Settings::default(),
        Limits::default(),
    );
    for d in &run.diagnostics {
        let (Some(s), Some(f)) = (d.source, &d.fix) else {
            continue;
        };
        let text = &run.sources[s].text;
        for e in &f.edits {
            assert!(e.range.start <= e.range.end && e.range.end <= text.len());
            assert!(text.is_char_boundary(e.range.start) && text.is_char_boundary(e.range.end));
        }
        for w in f.edits.windows(2) {
            assert!(
                w[0].range.end <= w[1].range.start,
                "{}: overlapping edits",
                d.finding.rule
            );
        }
    }
    if !usable {
        return;
    }
    let (fixed, failure) = fix(data);
    if failure.is_some() {
        // A file whose fixes would break it or make it gain an error finding (a reference
        // fixed so that it binds a template with its own error) is refused whole: unchanged.
        let original = from_bytes("fuzz.yaml".into(), data.to_vec()).source.text;
        assert_eq!(fixed, original, "a refused file was changed: {failure:?}");
        return;
    }
    let (again, failure) = fix(fixed.as_bytes());
    assert!(failure.is_none(), "second pass: {failure:?}");
    assert_eq!(again, fixed, "fixing the fixed text changed it");
});
