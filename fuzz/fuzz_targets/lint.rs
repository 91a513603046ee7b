//! The whole linter on one input: loader, engine, every rule, and every output format. Never a
//! panic; every finding's place lies inside the input.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rollgate::engine::lint::lint;
use rollgate::engine::{Config, Engine, Settings};
use rollgate::manifest::input::from_bytes;
use rollgate::manifest::{Limits, Pos, Source};
use rollgate::report::{Format, Options, write};

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::new(rollgate::rules::REGISTRY, &Config::default(), None))
}

fn inside(src: &Source, p: Pos, what: &str) {
    let line = src
        .line(p.line)
        .unwrap_or_else(|| panic!("{what}: line {} of {}", p.line, src.line_count()));
    assert!(p.column >= 1, "{what}: column 0");
    assert!(
        p.column as usize <= line.chars().count() + 2,
        "{what}: {p:?} past the end of line {}",
        p.line
    );
}

fuzz_target!(|data: &[u8]| {
    let settings = Settings::default();
    let input = from_bytes("fuzz.yaml".into(), data.to_vec());
    let run = lint(vec![input], engine(), &settings, Limits::default());
    for d in &run.diagnostics {
        let what = format!("{}: {}", d.finding.rule, d.finding.message);
        if let (Some(s), Some(span)) = (d.source, d.span) {
            inside(&run.sources[s], span.start, &what);
            inside(&run.sources[s], span.end, &what);
        }
        for r in &d.related {
            if let (Some(s), Some(span)) = (r.source, r.span) {
                inside(&run.sources[s], span.start, &r.message);
                inside(&run.sources[s], span.end, &r.message);
            }
        }
    }
    for format in [Format::Human, Format::Json, Format::Sarif, Format::Github] {
        let mut out = Vec::new();
        write(format, &run, &Options { color: false }, &mut out).expect("write to a Vec");
        if format == Format::Json || format == Format::Sarif {
            serde_json::from_slice::<serde_json::Value>(&out).expect("JSON output parses");
        }
    }
});
