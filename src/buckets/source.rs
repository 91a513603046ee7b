//! Histograms declared in instrumentation source code: `rollgate lint --source PATH`, source
//! files named among the linted paths, the `sources:` globs of `.rollgate.yaml`, and by default
//! the source files of the linted folders ([`discover`]: bounded, no build tool is run).
//!
//! Lexer-level scanning, not compilation: find the constructor of a histogram, its name (and
//! the namespace/subsystem/prefix the API adds), and its buckets; a histogram declared without
//! buckets gets the library's default. Recognised:
//! - Python prometheus_client: `Histogram('name', 'help', [labels], namespace=, subsystem=,
//!   buckets=[…])` (`prometheus_client/metrics.py`: name = namespace_subsystem_name; default
//!   `DEFAULT_BUCKETS`);
//! - Go client_golang: `prometheus.HistogramOpts{Namespace:, Subsystem:, Name:, Buckets:}`
//!   (`prometheus.BuildFQName`), `DefBuckets`, `LinearBuckets(start, width, count)`,
//!   `ExponentialBuckets(start, factor, count)`, literal `[]float64{…}`; default `DefBuckets`;
//! - Java simpleclient: `Histogram.build().name("x").buckets(…)` / `.linearBuckets(…)` /
//!   `.exponentialBuckets(…)` (namespace/subsystem too); default Python's list;
//!   Java client 1.x `.classicUpperBounds(…)` (default Go's list);
//! - Node prom-client: `new Histogram({name: 'x', buckets: […]})`, `linearBuckets`,
//!   `exponentialBuckets`; default Go's list (`lib/histogram.js`);
//! - Rust `prometheus`: `HistogramOpts::new("x", "help").namespace(…).subsystem(…).buckets(vec![…])`,
//!   `histogram_opts!("x", "help", vec![…])`, `register_histogram!("x", "help", vec![…])`,
//!   `linear_buckets`/`exponential_buckets`; default `DEFAULT_BUCKETS` (Go's list);
//! - Rust `prometheus-client`: `Histogram::new(exponential_buckets(…))` / `[…].into_iter()`
//!   registered with `registry.register("x", "help", h)` (no default; the registry prefix is
//!   not followed; names get `_seconds`-style units only when registered with a unit).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::known::{GO_DEFAULT, PYTHON_DEFAULT};

/// Files larger than this are skipped.
const MAX_FILE: u64 = 2 * 1024 * 1024;
/// Files scanned at most.
const MAX_FILES: usize = 20_000;

/// A histogram found in source code.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The exposed base name (without `_bucket`).
    pub name: String,
    pub bounds: Vec<f64>,
    /// `path:line`.
    pub location: String,
    pub library: &'static str,
    /// No buckets were given: the library default.
    pub defaulted: bool,
    pub notes: Vec<String>,
}

impl Found {
    pub fn describe(&self) -> String {
        if self.defaulted {
            format!(
                "the {} default buckets of the histogram declared at {}",
                self.library, self.location
            )
        } else {
            format!(
                "the {} histogram declared at {}",
                self.library, self.location
            )
        }
    }
}

/// Every histogram found under the `--source` paths.
#[derive(Debug, Clone, Default)]
pub struct Scanned {
    pub histograms: BTreeMap<String, Vec<Found>>,
    pub files: usize,
    /// Histograms whose buckets could not be read (computed at run time), by name.
    pub unreadable: BTreeMap<String, String>,
}

pub enum Match<'a> {
    One(&'a Found),
    /// Declared with different layouts; the description says where.
    Conflict(String),
    None,
}

impl Scanned {
    pub fn find(&self, metric: &str) -> Match<'_> {
        let Some(v) = self.histograms.get(metric) else {
            return match self.unreadable.get(metric) {
                Some(loc) => Match::Conflict(format!(
                    "{metric} is declared at {loc} but its buckets are computed at run time"
                )),
                None => Match::None,
            };
        };
        let Some(first) = v.first() else {
            return Match::None;
        };
        let same_layout = |f: &Found| {
            f.bounds.len() == first.bounds.len()
                && f.bounds
                    .iter()
                    .zip(&first.bounds)
                    .all(|(a, b)| super::same(*a, *b))
        };
        if v.iter().all(same_layout) {
            Match::One(first)
        } else {
            let places: Vec<&str> = v.iter().map(|f| f.location.as_str()).collect();
            Match::Conflict(format!(
                "{metric} is declared with different buckets at {}",
                places.join(", ")
            ))
        }
    }

    pub fn is_empty(&self) -> bool {
        self.histograms.is_empty()
    }

    fn add(&mut self, f: Found) {
        self.histograms.entry(f.name.clone()).or_default().push(f);
    }
}

/// Scan files and directories (recursively; hidden directories, `node_modules`, `vendor` and
/// `target` skipped). Unreadable paths are returned as errors; the rest is scanned.
pub fn scan(paths: &[PathBuf]) -> (Scanned, Vec<(PathBuf, String)>) {
    let mut out = Scanned::default();
    let mut errors = Vec::new();
    let mut files = Vec::new();
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => walk(p, &mut files, 0),
            Ok(_) => files.push(p.clone()),
            Err(e) => errors.push((p.clone(), e.to_string())),
        }
    }
    files.truncate(MAX_FILES);
    for f in files {
        let Some(lang) = Lang::of(&f) else { continue };
        if std::fs::metadata(&f)
            .map(|m| m.len() > MAX_FILE)
            .unwrap_or(true)
        {
            continue;
        }
        match std::fs::read(&f) {
            Ok(bytes) => {
                out.files += 1;
                let text = String::from_utf8_lossy(&bytes);
                scan_text(&text, lang, &f.display().to_string(), &mut out);
            }
            Err(e) => errors.push((f.clone(), e.to_string())),
        }
    }
    (out, errors)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, depth: usize) {
    if depth > 32 || files.len() >= MAX_FILES {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            if name.starts_with('.')
                || matches!(name.as_str(), "node_modules" | "vendor" | "target")
            {
                continue;
            }
            walk(&e.path(), files, depth + 1);
        } else if ft.is_file() {
            files.push(e.path());
        }
    }
}

/// Bounds of the default discovery of source files in the linted folders: a linted folder may
/// be a whole repository, so only small text files that mention a histogram are read.
#[derive(Debug, Clone, Copy)]
pub struct DiscoverLimits {
    /// Source files (by extension) looked at, at most.
    pub max_files: usize,
    /// Larger files are skipped (generated code, bundles).
    pub max_file_size: u64,
    /// Bytes read in all.
    pub max_total: u64,
    /// Entries (files and folders) visited in all, and folder depth.
    pub max_entries: usize,
    pub max_depth: usize,
}

impl Default for DiscoverLimits {
    fn default() -> Self {
        DiscoverLimits {
            max_files: 2_000,
            max_file_size: 512 * 1024,
            max_total: 32 * 1024 * 1024,
            max_entries: 100_000,
            max_depth: 24,
        }
    }
}

/// What the default discovery did, for `--show-info` notes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovery {
    /// Source files read (those that mention a histogram).
    pub read: usize,
    /// Skipped: too large, binary, unreadable, or past a bound.
    pub skipped: usize,
    /// A bound stopped the walk.
    pub truncated: bool,
}

/// Folders never walked by discovery: dependencies, build output, VCS data.
const SKIP_DIRS: &[&str] = &[
    "node_modules",
    "vendor",
    "target",
    "dist",
    "build",
    "__pycache__",
    "site-packages",
    "third_party",
];

/// Read the histograms declared in the source files under `dirs` (recursively; hidden folders
/// and [`SKIP_DIRS`] skipped; symlinks not followed), or in the files under `base` whose path
/// relative to it matches `globs` (when given). Bounded by `limits`; a file that cannot be read
/// is skipped, never an error (the user did not name it).
pub fn discover(
    dirs: &[PathBuf],
    globs: Option<(&globset::GlobSet, &Path)>,
    limits: DiscoverLimits,
    out: &mut Scanned,
) -> Discovery {
    let mut d = Discovery::default();
    let mut candidates: Vec<PathBuf> = Vec::new();
    let mut entries = 0usize;
    let roots: Vec<PathBuf> = match globs {
        Some((_, base)) => vec![base.to_path_buf()],
        None => dirs.to_vec(),
    };
    let mut stack: Vec<(PathBuf, usize)> = roots.into_iter().map(|r| (r, 0)).collect();
    let mut seen_roots: Vec<PathBuf> = Vec::new();
    'walk: while let Some((dir, depth)) = stack.pop() {
        if depth == 0 {
            // The same folder named twice (or inside another named one) is walked once.
            let canon = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
            if seen_roots.iter().any(|r| canon.starts_with(r)) {
                continue;
            }
            seen_roots.push(canon);
        }
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut here: Vec<_> = rd.flatten().collect();
        here.sort_by_key(|e| e.file_name());
        for e in here {
            entries += 1;
            if entries > limits.max_entries || candidates.len() >= limits.max_files {
                d.truncated = true;
                break 'walk;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            // `file_type` does not follow symlinks: a link loop is never entered.
            let Ok(ft) = e.file_type() else { continue };
            let path = e.path();
            if ft.is_dir() {
                if name.starts_with('.') || SKIP_DIRS.contains(&name.as_str()) {
                    continue;
                }
                if depth + 1 > limits.max_depth {
                    d.truncated = true;
                    continue;
                }
                stack.push((path, depth + 1));
            } else if ft.is_file() && Lang::of(&path).is_some() {
                let wanted = match globs {
                    Some((set, base)) => {
                        let rel = path.strip_prefix(base).unwrap_or(&path);
                        set.is_match(rel)
                    }
                    None => true,
                };
                if wanted {
                    candidates.push(path);
                }
            }
        }
    }
    candidates.sort();
    let mut total = 0u64;
    for f in candidates {
        let Some(lang) = Lang::of(&f) else { continue };
        let size = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(u64::MAX);
        if size > limits.max_file_size {
            d.skipped += 1;
            continue;
        }
        if total + size > limits.max_total {
            d.skipped += 1;
            d.truncated = true;
            continue;
        }
        let Ok(bytes) = std::fs::read(&f) else {
            d.skipped += 1;
            continue;
        };
        total += bytes.len() as u64;
        // Binary (a NUL in the first 8 KiB, like git's heuristic) or not UTF-8: not source.
        if bytes.iter().take(8192).any(|b| *b == 0) {
            d.skipped += 1;
            continue;
        }
        let Ok(text) = std::str::from_utf8(&bytes) else {
            d.skipped += 1;
            continue;
        };
        // Every recognised declaration names a histogram (`Histogram`, `histogram_opts!`,
        // `HistogramOpts`); the rest of the files is not parsed.
        if !text.contains("istogram") {
            continue;
        }
        d.read += 1;
        out.files += 1;
        scan_text(text, lang, &f.display().to_string(), out);
    }
    d
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Python,
    Go,
    Java,
    Node,
    Rust,
}

impl Lang {
    pub fn of(p: &Path) -> Option<Lang> {
        Some(match p.extension()?.to_str()? {
            "py" => Lang::Python,
            "go" => Lang::Go,
            "java" | "kt" => Lang::Java,
            "js" | "mjs" | "cjs" | "ts" => Lang::Node,
            "rs" => Lang::Rust,
            _ => return None,
        })
    }
}

/// Scan one file's text.
pub fn scan_text(text: &str, lang: Lang, path: &str, out: &mut Scanned) {
    let cx = Cx { text, path };
    match lang {
        Lang::Python => python(&cx, out),
        Lang::Go => go(&cx, out),
        Lang::Java => java(&cx, out),
        Lang::Node => node(&cx, out),
        Lang::Rust => {
            rust_prometheus(&cx, out);
            rust_prometheus_client(&cx, out);
        }
    }
}

struct Cx<'a> {
    text: &'a str,
    path: &'a str,
}

impl Cx<'_> {
    fn loc(&self, at: usize) -> String {
        let line = self.text[..at.min(self.text.len())]
            .bytes()
            .filter(|b| *b == b'\n')
            .count()
            + 1;
        format!("{}:{line}", self.path)
    }
}

/// What a bucket expression evaluates to.
enum Bounds {
    List(Vec<f64>),
    /// Written, but not something rollgate evaluates (a variable, a computation).
    Unreadable,
}

/// Add a found histogram (or record an unreadable one).
#[allow(clippy::too_many_arguments)]
fn record(
    out: &mut Scanned,
    cx: &Cx<'_>,
    at: usize,
    name: String,
    buckets: Option<Bounds>,
    default: &[f64],
    library: &'static str,
) {
    if name.is_empty() {
        return;
    }
    let (raw, defaulted) = match buckets {
        Some(Bounds::List(v)) => (v, false),
        Some(Bounds::Unreadable) => {
            out.unreadable.insert(name, cx.loc(at));
            return;
        }
        None => (default.to_vec(), true),
    };
    let (bounds, notes) = super::normalize(&raw);
    if bounds.is_empty() {
        out.unreadable.insert(name, cx.loc(at));
        return;
    }
    out.add(Found {
        name,
        bounds,
        location: cx.loc(at),
        library,
        defaulted,
        notes,
    });
}

/// The index just past the bracket matching the one at `open` (strings and comments skipped).
fn matching(text: &str, open: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            q @ (b'"' | b'\'' | b'`') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'#' if depth > 0 && b.get(i + 1) == Some(&b' ') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Split at top-level commas.
fn split_top(s: &str) -> Vec<&str> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            q @ (b'"' | b'\'' | b'`') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    let last = s[start.min(s.len())..].trim();
    if !last.is_empty() {
        out.push(last);
    }
    out
}

/// A string literal's value.
fn string_lit(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s
        .strip_prefix('r')
        .filter(|r| r.starts_with('"'))
        .unwrap_or(s);
    for q in ['"', '\'', '`'] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            if !inner.contains(q) || q == '`' {
                return Some(inner.to_owned());
            }
        }
    }
    None
}

/// A numeric literal (with language suffixes) or an infinity spelling.
fn num_lit(s: &str) -> Option<f64> {
    let s = s.trim();
    match s {
        "float('inf')"
        | "float(\"inf\")"
        | "math.inf"
        | "INF"
        | "Infinity"
        | "+Infinity"
        | "math.Inf(1)"
        | "math.Inf(+1)"
        | "Double.POSITIVE_INFINITY"
        | "f64::INFINITY"
        | "std::f64::INFINITY"
        | "Number.POSITIVE_INFINITY" => return Some(f64::INFINITY),
        _ => {}
    }
    let t: String = s.chars().filter(|c| *c != '_').collect();
    let t = t
        .strip_suffix("f64")
        .or_else(|| t.strip_suffix("f32"))
        .or_else(|| t.strip_suffix(['f', 'F', 'd', 'D']))
        .unwrap_or(&t);
    if t.starts_with("0x") {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| !v.is_nan())
}

/// The argument list of a call starting at `open` (the `(`), without the parentheses.
fn args_at(text: &str, open: usize) -> Option<(&str, usize)> {
    let end = matching(text, open)?;
    Some((&text[open + 1..end - 1], end))
}

/// Evaluate a bucket expression of any supported language.
fn bounds_expr(e: &str) -> Bounds {
    let e = e.trim();
    let e = e
        .trim_end_matches(".unwrap()")
        .trim_end_matches(".expect(\"buckets\")")
        .trim_end_matches(".into_iter()")
        .trim_end_matches(".iter().copied()")
        .trim_end_matches(".to_vec()")
        .trim();
    let e = e.strip_prefix('&').unwrap_or(e).trim();
    let tail = |e: &str| e.rsplit(['.', ':']).next().unwrap_or(e).to_owned();
    let ident = tail(e.split('(').next().unwrap_or(e).trim());
    match ident.as_str() {
        "DefBuckets" | "DEFAULT_BUCKETS" if !e.contains('(') => {
            // Python's Histogram.DEFAULT_BUCKETS differs from Go's/Rust's.
            return Bounds::List(if e.contains("Histogram.DEFAULT_BUCKETS") {
                PYTHON_DEFAULT.to_vec()
            } else {
                GO_DEFAULT.to_vec()
            });
        }
        "LinearBuckets"
        | "linearBuckets"
        | "linear_buckets"
        | "ExponentialBuckets"
        | "exponentialBuckets"
        | "exponential_buckets" => {
            let Some(open) = e.find('(') else {
                return Bounds::Unreadable;
            };
            let Some((args, _)) = args_at(e, open) else {
                return Bounds::Unreadable;
            };
            let a: Vec<Option<f64>> = split_top(args).into_iter().map(num_lit).collect();
            let [Some(start), Some(step), Some(count)] = a[..] else {
                return Bounds::Unreadable;
            };
            if !(1.0..=10_000.0).contains(&count) {
                return Bounds::Unreadable;
            }
            let linear = ident.to_ascii_lowercase().starts_with("linear");
            let mut v = Vec::new();
            let mut x = start;
            for _ in 0..count as usize {
                v.push(x);
                if linear {
                    x += step;
                } else {
                    x *= step;
                }
            }
            return Bounds::List(v);
        }
        _ => {}
    }
    // A literal list: [..], vec![..], []float64{..}, new double[]{..}, (..), List.of(..).
    let open = e.find(['[', '{', '(']);
    let Some(open) = open else {
        return Bounds::Unreadable;
    };
    let head = &e[..open];
    let ok_head = head.is_empty()
        || head == "vec!"
        || head.ends_with("float64")
        || head.ends_with("[]")
        || head.ends_with("List.of")
        || head.ends_with("Arrays.asList")
        || head.ends_with("new double[]")
        || head.trim_end() == "new double[]";
    let (inner_open, e2) = if e[open..].starts_with("[]") {
        // Go `[]float64{…}`.
        match e[open..].find('{') {
            Some(i) => (open + i, e),
            None => return Bounds::Unreadable,
        }
    } else {
        (open, e)
    };
    if !ok_head && !e[..inner_open].ends_with("float64") {
        return Bounds::Unreadable;
    }
    let Some(end) = matching(e2, inner_open) else {
        return Bounds::Unreadable;
    };
    if !e2[end..].trim().is_empty() {
        return Bounds::Unreadable;
    }
    list(&e2[inner_open + 1..end - 1])
}

fn list(items: &str) -> Bounds {
    let mut v = Vec::new();
    for it in split_top(items) {
        match num_lit(it) {
            Some(x) => v.push(x),
            None => return Bounds::Unreadable,
        }
    }
    Bounds::List(v)
}

/// `key=value` / `key: value` pairs of an argument list or literal.
fn fields<'a>(items: &[&'a str], sep: char) -> Vec<(&'a str, &'a str)> {
    items
        .iter()
        .filter_map(|it| {
            let (k, v) = it.split_once(sep)?;
            let k = k.trim().trim_matches(['"', '\'']);
            (!k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_'))
                .then(|| (k, v.trim()))
        })
        .collect()
}

fn get<'a>(f: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    f.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

fn join_name(parts: &[Option<String>]) -> String {
    parts
        .iter()
        .flatten()
        .filter(|p| !p.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join("_")
}

fn finds<'a>(text: &'a str, re: &'a regex::Regex) -> impl Iterator<Item = regex::Match<'a>> + 'a {
    re.find_iter(text)
}

fn re(p: &str) -> regex::Regex {
    // Patterns are constants of this file; an invalid one is a bug caught by the tests.
    regex::Regex::new(p).unwrap_or_else(|_| regex::Regex::new("$^").expect("empty regex"))
}

fn python(cx: &Cx<'_>, out: &mut Scanned) {
    let r = re(r"\bHistogram\s*\(");
    for m in finds(cx.text, &r) {
        let Some((args, _)) = args_at(cx.text, m.end() - 1) else {
            continue;
        };
        let items = split_top(args);
        let f = fields(&items, '=');
        let name = get(&f, "name")
            .and_then(string_lit)
            .or_else(|| items.first().and_then(|i| string_lit(i)));
        let Some(name) = name else { continue };
        let mut full = join_name(&[
            get(&f, "namespace").and_then(string_lit),
            get(&f, "subsystem").and_then(string_lit),
            Some(name),
        ]);
        if let Some(unit) = get(&f, "unit")
            .and_then(string_lit)
            .filter(|u| !u.is_empty())
        {
            if !full.ends_with(&format!("_{unit}")) {
                full = format!("{full}_{unit}");
            }
        }
        let buckets = get(&f, "buckets").map(bounds_expr);
        record(
            out,
            cx,
            m.start(),
            full,
            buckets,
            PYTHON_DEFAULT,
            "Python prometheus_client",
        );
    }
}

fn go(cx: &Cx<'_>, out: &mut Scanned) {
    let r = re(r"\bHistogramOpts\s*\{");
    for m in finds(cx.text, &r) {
        let Some((body, _)) = args_at(cx.text, m.end() - 1) else {
            continue;
        };
        let items = split_top(body);
        let f = fields(&items, ':');
        let Some(name) = get(&f, "Name").and_then(string_lit) else {
            continue;
        };
        let full = join_name(&[
            get(&f, "Namespace").and_then(string_lit),
            get(&f, "Subsystem").and_then(string_lit),
            Some(name),
        ]);
        let buckets = get(&f, "Buckets").map(bounds_expr);
        record(
            out,
            cx,
            m.start(),
            full,
            buckets,
            GO_DEFAULT,
            "Go client_golang",
        );
    }
}

/// The `.method(args)` calls chained after `from`, until the statement ends.
fn chain(text: &str, mut from: usize) -> Vec<(&str, &str)> {
    let mut v = Vec::new();
    let b = text.as_bytes();
    loop {
        while from < b.len() && b[from].is_ascii_whitespace() {
            from += 1;
        }
        if b.get(from) != Some(&b'.') {
            return v;
        }
        let start = from + 1;
        let mut i = start;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        let name = &text[start..i];
        if b.get(i) != Some(&b'(') {
            return v;
        }
        let Some((args, end)) = args_at(text, i) else {
            return v;
        };
        v.push((name, args));
        from = end;
        if v.len() > 64 {
            return v;
        }
    }
}

fn java(cx: &Cx<'_>, out: &mut Scanned) {
    let r = re(r"\bHistogram\s*\.\s*(build|builder)\s*\(");
    for m in finds(cx.text, &r) {
        let Some((args, end)) = args_at(cx.text, m.end() - 1) else {
            continue;
        };
        let v1 = m.as_str().contains("builder");
        let mut name = split_top(args).first().and_then(|a| string_lit(a));
        let (mut ns, mut sub, mut buckets) = (None, None, None);
        for (method, a) in chain(cx.text, end) {
            match method {
                "name" => name = string_lit(a),
                "namespace" => ns = string_lit(a),
                "subsystem" => sub = string_lit(a),
                "buckets" | "classicUpperBounds" => buckets = Some(list_or_expr(a)),
                "linearBuckets" | "classicLinearUpperBounds" => {
                    buckets = Some(bounds_expr(&format!("linearBuckets({a})")))
                }
                "exponentialBuckets" | "classicExponentialUpperBounds" => {
                    buckets = Some(bounds_expr(&format!("exponentialBuckets({a})")))
                }
                _ => {}
            }
        }
        let Some(name) = name else { continue };
        // Java client 1.x turns dots into underscores in exposed names.
        let name = name.replace('.', "_");
        let (default, lib) = if v1 {
            (GO_DEFAULT, "Java client")
        } else {
            (PYTHON_DEFAULT, "Java simpleclient")
        };
        record(
            out,
            cx,
            m.start(),
            join_name(&[ns, sub, Some(name)]),
            buckets,
            default,
            lib,
        );
    }
}

/// Varargs (`.buckets(0.1, 0.5)`) or one list expression.
fn list_or_expr(a: &str) -> Bounds {
    let items = split_top(a);
    if items.len() == 1 {
        if let Some(x) = num_lit(items[0]) {
            return Bounds::List(vec![x]);
        }
        return bounds_expr(items[0]);
    }
    list(a)
}

fn node(cx: &Cx<'_>, out: &mut Scanned) {
    let r = re(r"\bnew\s+(?:[A-Za-z_$][\w$]*\.)*Histogram\s*\(\s*\{");
    for m in finds(cx.text, &r) {
        let Some((body, _)) = args_at(cx.text, m.end() - 1) else {
            continue;
        };
        let items = split_top(body);
        let f = fields(&items, ':');
        let Some(name) = get(&f, "name").and_then(string_lit) else {
            continue;
        };
        let buckets = get(&f, "buckets").map(bounds_expr);
        record(
            out,
            cx,
            m.start(),
            name,
            buckets,
            GO_DEFAULT,
            "Node prom-client",
        );
    }
}

fn rust_prometheus(cx: &Cx<'_>, out: &mut Scanned) {
    let r = re(r"\bHistogramOpts::new\s*\(");
    for m in finds(cx.text, &r) {
        let Some((args, end)) = args_at(cx.text, m.end() - 1) else {
            continue;
        };
        let Some(name) = split_top(args).first().and_then(|a| string_lit(a)) else {
            continue;
        };
        let (mut ns, mut sub, mut buckets) = (None, None, None);
        for (method, a) in chain(cx.text, end) {
            match method {
                "namespace" => ns = string_lit(a),
                "subsystem" => sub = string_lit(a),
                "buckets" => buckets = Some(bounds_expr(a)),
                _ => {}
            }
        }
        record(
            out,
            cx,
            m.start(),
            join_name(&[ns, sub, Some(name)]),
            buckets,
            GO_DEFAULT,
            "Rust prometheus",
        );
    }
    // histogram_opts!(name, help[, buckets]) and register_histogram!(name, help[, buckets]);
    // register_histogram_vec!(name, help, labels[, buckets]).
    let r = re(r"\b(histogram_opts|register_histogram|register_histogram_vec)!\s*\(");
    for m in finds(cx.text, &r) {
        let Some((args, _)) = args_at(cx.text, m.end() - 1) else {
            continue;
        };
        let items = split_top(args);
        let Some(name) = items.first().and_then(|a| string_lit(a)) else {
            continue;
        };
        let at = if m.as_str().starts_with("register_histogram_vec") {
            3
        } else {
            2
        };
        let buckets = items.get(at).map(|b| bounds_expr(b));
        record(
            out,
            cx,
            m.start(),
            name,
            buckets,
            GO_DEFAULT,
            "Rust prometheus",
        );
    }
}

fn rust_prometheus_client(cx: &Cx<'_>, out: &mut Scanned) {
    if !cx.text.contains("prometheus_client") {
        return;
    }
    // let NAME = … Histogram::new(BUCKETS) …;
    let r = re(r"\blet\s+(?:mut\s+)?([A-Za-z_]\w*)\s*(?::[^=]*)?=");
    let hist = re(r"\bHistogram::new\s*\(");
    let mut vars: Vec<(String, Bounds, usize)> = Vec::new();
    for c in r.captures_iter(cx.text) {
        let (Some(all), Some(var)) = (c.get(0), c.get(1)) else {
            continue;
        };
        let stmt_end = cx.text[all.end()..]
            .find(';')
            .map_or(cx.text.len(), |i| all.end() + i);
        let stmt = &cx.text[all.end()..stmt_end];
        let Some(h) = hist.find(stmt) else { continue };
        let Some((args, _)) = args_at(stmt, h.end() - 1) else {
            continue;
        };
        vars.push((var.as_str().to_owned(), bounds_expr(args), all.start()));
    }
    let reg = re(r"\.register(_with_unit)?\s*\(");
    for m in finds(cx.text, &reg) {
        let Some((args, _)) = args_at(cx.text, m.end() - 1) else {
            continue;
        };
        let items = split_top(args);
        let Some(name) = items.first().and_then(|a| string_lit(a)) else {
            continue;
        };
        let with_unit = m.as_str().contains("with_unit");
        let (metric_arg, unit) = if with_unit {
            (items.get(3), items.get(2))
        } else {
            (items.get(2), None)
        };
        let Some(metric_arg) = metric_arg else {
            continue;
        };
        let mut full = name;
        if let Some(u) = unit {
            let u = u.rsplit("::").next().unwrap_or(u).to_ascii_lowercase();
            let suffix = match u.as_str() {
                "seconds" => Some("seconds"),
                "bytes" => Some("bytes"),
                "ratio" => Some("ratio"),
                "volts" => Some("volts"),
                "amperes" => Some("amperes"),
                "joules" => Some("joules"),
                "grams" => Some("grams"),
                "meters" => Some("meters"),
                "celsius" => Some("celsius"),
                _ => None,
            };
            if let Some(s) = suffix {
                full = format!("{full}_{s}");
            }
        }
        let buckets = if let Some(h) = hist.find(metric_arg) {
            args_at(metric_arg, h.end() - 1).map(|(a, _)| bounds_expr(a))
        } else {
            let id = metric_arg
                .trim_start_matches('&')
                .trim_end_matches(".clone()")
                .trim_start_matches("Box::new(")
                .trim_end_matches(')')
                .trim();
            match vars.iter().find(|(v, _, _)| v == id) {
                Some((_, Bounds::List(b), _)) => Some(Bounds::List(b.clone())),
                Some((_, Bounds::Unreadable, _)) => Some(Bounds::Unreadable),
                None => continue,
            }
        };
        // prometheus-client has no default buckets: a histogram always names them.
        let Some(buckets) = buckets else { continue };
        record(
            out,
            cx,
            m.start(),
            full,
            Some(buckets),
            &[],
            "Rust prometheus-client",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(text: &str, lang: Lang) -> Scanned {
        let mut s = Scanned::default();
        scan_text(text, lang, "f", &mut s);
        s
    }

    fn bounds(s: &Scanned, name: &str) -> Vec<f64> {
        match s.find(name) {
            Match::One(f) => f.bounds.clone(),
            _ => panic!("{name} not found in {s:?}"),
        }
    }

    #[test]
    fn python_client() {
        let s = scan(
            "from prometheus_client import Histogram\nH = Histogram('request_latency_seconds', 'Latency', ['route'], namespace='shop', buckets=(0.1, 0.5, 1.0, float('inf')))\nD = Histogram(name='plain', documentation='x')\n",
            Lang::Python,
        );
        assert_eq!(
            bounds(&s, "shop_request_latency_seconds"),
            vec![0.1, 0.5, 1.0]
        );
        assert_eq!(bounds(&s, "plain"), PYTHON_DEFAULT.to_vec());
    }

    #[test]
    fn go_client() {
        let s = scan(
            r#"var h = promauto.NewHistogramVec(prometheus.HistogramOpts{
	Namespace: "api",
	Subsystem: "http",
	Name:      "request_duration_seconds",
	Help:      "x",
	Buckets:   prometheus.ExponentialBuckets(0.01, 2, 4),
}, []string{"code"})
var d = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "d_seconds", Buckets: prometheus.DefBuckets})
var l = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "l_seconds", Buckets: prometheus.LinearBuckets(1, 1, 3)})
var x = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "x_seconds", Buckets: []float64{.5, 1, 2}})
var v = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "v_seconds", Buckets: myBuckets})
"#,
            Lang::Go,
        );
        assert_eq!(
            bounds(&s, "api_http_request_duration_seconds"),
            vec![0.01, 0.02, 0.04, 0.08]
        );
        assert_eq!(bounds(&s, "d_seconds"), GO_DEFAULT.to_vec());
        assert_eq!(bounds(&s, "l_seconds"), vec![1.0, 2.0, 3.0]);
        assert_eq!(bounds(&s, "x_seconds"), vec![0.5, 1.0, 2.0]);
        assert!(matches!(s.find("v_seconds"), Match::Conflict(_)));
    }

    #[test]
    fn java_node_rust() {
        let s = scan(
            "static final Histogram h = Histogram.build().name(\"req_seconds\").help(\"x\").buckets(0.1, 0.2, 0.4).register();\nstatic final Histogram d = Histogram.build().namespace(\"ns\").name(\"d\").help(\"x\").register();",
            Lang::Java,
        );
        assert_eq!(bounds(&s, "req_seconds"), vec![0.1, 0.2, 0.4]);
        assert_eq!(bounds(&s, "ns_d"), PYTHON_DEFAULT.to_vec());
        let s = scan(
            "const h = new client.Histogram({\n  name: 'http_seconds',\n  help: 'x',\n  buckets: [0.1, 5, 15, 50, 100, 500],\n});\nnew Histogram({ name: 'n', help: 'x', buckets: client.linearBuckets(0, 10, 3) })",
            Lang::Node,
        );
        assert_eq!(
            bounds(&s, "http_seconds"),
            vec![0.1, 5.0, 15.0, 50.0, 100.0, 500.0]
        );
        assert_eq!(bounds(&s, "n"), vec![0.0, 10.0, 20.0]);
        let s = scan(
            "let opts = HistogramOpts::new(\"lat_seconds\", \"x\").namespace(\"svc\").buckets(vec![0.5, 1.0]);\nlet h = register_histogram!(\"plain_seconds\", \"x\").unwrap();\nlet e = register_histogram_vec!(\"e_seconds\", \"x\", &[\"a\"], exponential_buckets(1.0, 10.0, 3).unwrap());",
            Lang::Rust,
        );
        assert_eq!(bounds(&s, "svc_lat_seconds"), vec![0.5, 1.0]);
        assert_eq!(bounds(&s, "plain_seconds"), GO_DEFAULT.to_vec());
        assert_eq!(bounds(&s, "e_seconds"), vec![1.0, 10.0, 100.0]);
        let s = scan(
            "use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};\nlet h = Histogram::new(exponential_buckets(0.005, 2.0, 3));\nregistry.register_with_unit(\"latency\", \"x\", Unit::Seconds, h.clone());\nregistry.register(\"size\", \"x\", Histogram::new([1.0, 10.0].into_iter()));",
            Lang::Rust,
        );
        assert_eq!(bounds(&s, "latency_seconds"), vec![0.005, 0.01, 0.02]);
        assert_eq!(bounds(&s, "size"), vec![1.0, 10.0]);
    }

    #[test]
    fn bad_declarations_are_noted() {
        let s = scan(
            "Histogram('u_seconds', 'x', buckets=[1, 0.5, 0.5, float('inf')])",
            Lang::Python,
        );
        let Match::One(f) = s.find("u_seconds") else {
            panic!()
        };
        assert_eq!(f.bounds, vec![0.5, 1.0]);
        assert!(
            f.notes.iter().any(|n| n.contains("increasing")),
            "{:?}",
            f.notes
        );
    }
}
