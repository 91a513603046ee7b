//! Gate queries end to end: the corpus, generated templates (property tests), bad input.

use std::path::PathBuf;

use rollgate::engine::MemoryInventory;
use rollgate::engine::lint::objects_of;
use rollgate::manifest::input::{DEFAULT_MAX_FILE_SIZE, expand_paths, read_file};
use rollgate::manifest::{Limits, load};
use rollgate::promql::gates::{Gate, gates};

fn corpus_dir() -> PathBuf {
    match std::env::var_os("ROLLGATE_CORPUS") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
    }
}

/// Every object of the corpus, with the file it came from.
fn corpus() -> Option<(MemoryInventory, Vec<String>)> {
    let dir = corpus_dir();
    if !dir.is_dir() {
        eprintln!("corpus not found at {}; skipped", dir.display());
        return None;
    }
    let (files, _) = expand_paths(&[dir.clone()]);
    let mut objects = Vec::new();
    let mut names = Vec::new();
    for (si, f) in files.iter().enumerate() {
        let Ok(input) = read_file(f, DEFAULT_MAX_FILE_SIZE) else {
            continue;
        };
        let rel = f.strip_prefix(&dir).unwrap_or(f).display().to_string();
        names.push(rel);
        for d in load(&input.source.text, Limits::default()).documents {
            if let Ok(objs) = objects_of(d.value, si, d.index, "default") {
                objects.extend(objs);
            }
        }
    }
    Some((MemoryInventory::new(objects, "the corpus", false), names))
}

fn source_of(g: &Gate<'_>, names: &[String]) -> String {
    match &g.report.object.origin {
        rollgate::engine::Origin::File { source, .. } => names[*source].clone(),
        _ => "?".into(),
    }
}

#[test]
fn corpus_survey() {
    let Some((world, names)) = corpus() else {
        return;
    };
    let mut n = 0;
    for o in world.objects() {
        for g in gates(o, &world) {
            n += 1;
            let a = &g.analysis;
            let file = source_of(&g, &names);
            for e in &a.rendered.errors {
                println!(
                    "RENDER {file} {} {}: {} [{}]",
                    o.kind,
                    o.name,
                    e.message,
                    &a.template[e.src.clone()]
                );
            }
            if let Some(u) = &a.rendered.unsupported {
                println!("UNSUPPORTED {file} {}: {}", o.name, u.1);
            }
            if let Some(e) = a.parse_error() {
                println!(
                    "PARSE {file} {} {}: {} at {:?}\n   {}",
                    o.kind,
                    o.name,
                    e.message,
                    &a.sent.get(e.span.clone()),
                    a.sent
                );
            }
            if let Some(q) = a.query() {
                if !q.located() {
                    println!("UNLOCATED {file} {}: {}", o.name, a.sent);
                }
            }
        }
    }
    println!("{n} gates");
}
