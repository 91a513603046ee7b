//! What the loader made of each context file, kept between runs (`manifest::context`).
//!
//! The editor path lints one buffer against its project folder on every keystroke pause: the
//! context files are the same run after run, and parsing them is most of the run (a 20-file
//! context more than doubled the instructions of a 200-line buffer). The cache holds the
//! documents' values of every context file the last run of a project read, keyed by a 128-bit
//! hash of the file's text, so a file whose text changed is a miss whatever its mtime says;
//! the key also holds this binary's identity (version, size and mtime of the executable) and
//! the loader's limits, so another build never reads another build's values.
//!
//! Only values are kept, never positions: a finding placed on a context file (related
//! information) has that file parsed again (`engine::lint`), so places are exactly the
//! loader's. A cache that is missing, unreadable, corrupt or from another build is a miss;
//! writing it is best effort (a temporary file renamed into place), and never an error.
//! `ROLLGATE_CACHE_DIR` sets the folder (`off` turns the cache off); by default
//! `$XDG_CACHE_HOME/rollgate/context`, else `~/.cache/rollgate/context`. It holds one file per
//! project (at most [`MAX_PROJECTS`], the least recently written removed first), of at most
//! [`MAX_CACHE_BYTES`].

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Map, Number, Value};

use super::yaml::{Limits, Loaded, load};
use super::{Document, Pos, SpanIndex};

/// Bytes of one project's cache file; values beyond are not kept.
pub const MAX_CACHE_BYTES: usize = 64 << 20;
/// Cache files kept (one per project).
pub const MAX_PROJECTS: usize = 64;

const MAGIC: &[u8; 16] = b"rollgate-ctx-v1\n";

/// The cache of one context root for one run.
pub struct ContextCache {
    /// The cache file.
    file: PathBuf,
    /// Identity of the binary and the limits: entries of another are never read.
    build: u128,
    /// Entries read from the file: text hash → encoded documents.
    stored: HashMap<u128, Vec<u8>>,
    /// Entries of this run.
    this_run: Mutex<ThisRun>,
}

/// The entries of one run: text hashes looked up (kept on writing), documents parsed (encoded).
#[derive(Default)]
struct ThisRun {
    used: HashSet<u128>,
    parsed: Vec<(u128, Vec<u8>)>,
}

impl std::fmt::Debug for ContextCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContextCache")
            .field("file", &self.file)
            .field("stored", &self.stored.len())
            .finish_non_exhaustive()
    }
}

/// The folder of the cache files, unless turned off.
fn folder() -> Option<PathBuf> {
    match std::env::var_os("ROLLGATE_CACHE_DIR") {
        Some(d) if d == "off" || d.is_empty() => None,
        Some(d) => Some(PathBuf::from(d)),
        None => {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME")
                        .filter(|d| !d.is_empty())
                        .map(|h| PathBuf::from(h).join(".cache"))
                })?;
            Some(base.join("rollgate").join("context"))
        }
    }
}

/// A 128-bit hash of `parts`: SipHash-1-3 and foldhash with fixed keys, each over all of it.
fn hash128(parts: &[&[u8]]) -> u128 {
    use std::hash::BuildHasher;
    let mut sip = std::hash::DefaultHasher::new();
    let mut fold = foldhash::fast::FixedState::with_seed(0x726f_6c6c_6761_7465).build_hasher();
    for p in parts {
        p.hash(&mut sip);
        p.hash(&mut fold);
    }
    (u128::from(sip.finish()) << 64) | u128::from(fold.finish())
}

/// This binary and these limits.
fn build_id(limits: Limits) -> u128 {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| std::fs::metadata(p).ok());
    let (len, mtime) = exe.map_or((0, 0), |m| {
        let t = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        (m.len(), t)
    });
    hash128(&[
        env!("CARGO_PKG_VERSION").as_bytes(),
        &len.to_le_bytes(),
        &mtime.to_le_bytes(),
        format!("{limits:?}").as_bytes(),
    ])
}

impl ContextCache {
    /// The cache of the context under `root` (canonical), read from its file; `None` when the
    /// cache is off or there is no folder for it.
    pub fn open(root: &Path, limits: Limits) -> Option<ContextCache> {
        let dir = folder()?;
        let name = format!(
            "{:032x}.bin",
            hash128(&[root.as_os_str().as_encoded_bytes()])
        );
        let build = build_id(limits);
        let file = dir.join(name);
        let stored = read(&file, build).unwrap_or_default();
        Some(ContextCache {
            file,
            build,
            stored,
            this_run: Mutex::new(ThisRun::default()),
        })
    }

    /// What `load(text, limits)` gives, from the cache when it holds `text`: then the
    /// documents' values and indexes only (no positions, no problems: a context file's
    /// problems are never reported, and its positions are found again when needed).
    pub fn load(&self, text: &str, limits: Limits) -> Loaded {
        let key = hash128(&[text.as_bytes()]);
        if let Some(docs) = self.stored.get(&key).and_then(|b| decode(b, limits)) {
            if let Ok(mut run) = self.this_run.lock() {
                run.used.insert(key);
            }
            return Loaded {
                documents: docs
                    .into_iter()
                    .map(|(index, value)| Document {
                        index,
                        value,
                        spans: SpanIndex::default(),
                        start: Pos::new(1, 1),
                    })
                    .collect(),
                problems: Vec::new(),
            };
        }
        let loaded = load(text, limits);
        let encoded = encode(&loaded.documents);
        if let Ok(mut run) = self.this_run.lock() {
            run.used.insert(key);
            run.parsed.push((key, encoded));
        }
        loaded
    }

    /// Write the entries of this run (those read and those parsed), when some were parsed or
    /// some stored ones were not used: the file then holds exactly the project's current
    /// context. Best effort.
    pub fn save(&self) {
        let Ok(run) = self.this_run.lock() else {
            return;
        };
        let ThisRun { used, parsed } = &*run;
        if parsed.is_empty() && used.len() == self.stored.len() {
            return;
        }
        let mut out = Vec::with_capacity(MAX_CACHE_BYTES.min(1 << 20));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.build.to_le_bytes());
        let entries = self
            .stored
            .iter()
            .filter(|(k, _)| used.contains(k))
            .map(|(k, v)| (*k, v.as_slice()))
            .chain(parsed.iter().map(|(k, v)| (*k, v.as_slice())));
        let mut written = HashSet::new();
        for (key, value) in entries {
            if out.len() + 20 + value.len() > MAX_CACHE_BYTES {
                break;
            }
            if !written.insert(key) {
                continue;
            }
            out.extend_from_slice(&key.to_le_bytes());
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
            out.extend_from_slice(value);
        }
        let Some(dir) = self.file.parent() else {
            return;
        };
        if std::fs::create_dir_all(dir).is_err() {
            return;
        }
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            self.file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        if std::fs::write(&tmp, &out).is_err() || std::fs::rename(&tmp, &self.file).is_err() {
            let _ = std::fs::remove_file(&tmp);
            return;
        }
        prune(dir);
    }
}

/// Keep the [`MAX_PROJECTS`] most recently written cache files of `dir`.
fn prune(dir: &Path) {
    let Ok(list) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = list
        .flatten()
        .take(10 * MAX_PROJECTS)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".bin"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if files.len() <= MAX_PROJECTS {
        return;
    }
    files.sort();
    for (_, f) in &files[..files.len() - MAX_PROJECTS] {
        let _ = std::fs::remove_file(f);
    }
}

/// The entries of a cache file written by this build (`None`: no file, or not usable).
fn read(file: &Path, build: u128) -> Option<HashMap<u128, Vec<u8>>> {
    let meta = std::fs::metadata(file).ok()?;
    if meta.len() > MAX_CACHE_BYTES as u64 + 64 {
        return None;
    }
    let bytes = std::fs::read(file).ok()?;
    let mut r = Reader {
        bytes: &bytes,
        at: 0,
    };
    if r.take(MAGIC.len())? != MAGIC || r.u128()? != build {
        return None;
    }
    let mut entries = HashMap::new();
    while r.at < bytes.len() {
        let key = r.u128()?;
        let len = r.u32()? as usize;
        entries.insert(key, r.take(len)?.to_vec());
    }
    Some(entries)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn u128(&mut self) -> Option<u128> {
        Some(u128::from_le_bytes(self.take(16)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

// Value encoding: a tag byte, then the value's bytes (little-endian numbers, lengths as u32).
const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const UNSIGNED: u8 = 3;
const NEGATIVE: u8 = 4;
const FLOAT: u8 = 5;
const STRING: u8 = 6;
const ARRAY: u8 = 7;
const OBJECT: u8 = 8;

/// The documents' indexes and values.
fn encode(docs: &[Document]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(docs.len() as u32).to_le_bytes());
    for d in docs {
        out.extend_from_slice(&(d.index as u32).to_le_bytes());
        encode_value(&d.value, &mut out);
    }
    out
}

fn put_str(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn encode_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(NULL),
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Number(n) => {
            // Each of serde_json's three representations as itself, so it compares equal.
            if let Some(u) = n.as_u64() {
                out.push(UNSIGNED);
                out.extend_from_slice(&u.to_le_bytes());
            } else if let Some(i) = n.as_i64() {
                out.push(NEGATIVE);
                out.extend_from_slice(&i.to_le_bytes());
            } else {
                out.push(FLOAT);
                out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_bits().to_le_bytes());
            }
        }
        Value::String(s) => {
            out.push(STRING);
            put_str(s, out);
        }
        Value::Array(items) => {
            out.push(ARRAY);
            out.extend_from_slice(&(items.len() as u32).to_le_bytes());
            for i in items {
                encode_value(i, out);
            }
        }
        Value::Object(map) => {
            out.push(OBJECT);
            out.extend_from_slice(&(map.len() as u32).to_le_bytes());
            for (k, v) in map {
                put_str(k, out);
                encode_value(v, out);
            }
        }
    }
}

/// The documents of an entry; `None` if it is not one this module wrote (then a miss).
fn decode(bytes: &[u8], limits: Limits) -> Option<Vec<(usize, Value)>> {
    let mut r = Reader { bytes, at: 0 };
    let n = r.u32()? as usize;
    let mut docs = Vec::with_capacity(n.min(bytes.len()));
    for _ in 0..n {
        let index = r.u32()? as usize;
        docs.push((index, decode_value(&mut r, limits.max_depth + 1)?));
    }
    (r.at == bytes.len()).then_some(docs)
}

fn decode_value(r: &mut Reader<'_>, depth: usize) -> Option<Value> {
    Some(match r.u8()? {
        NULL => Value::Null,
        FALSE => Value::Bool(false),
        TRUE => Value::Bool(true),
        UNSIGNED => Value::Number(Number::from(r.u64()?)),
        NEGATIVE => Value::Number(Number::from(r.u64()? as i64)),
        FLOAT => Value::Number(Number::from_f64(f64::from_bits(r.u64()?))?),
        STRING => Value::String(r.str()?),
        ARRAY => {
            let depth = depth.checked_sub(1)?;
            let n = r.u32()? as usize;
            let mut items = Vec::with_capacity(n.min(r.bytes.len() - r.at));
            for _ in 0..n {
                items.push(decode_value(r, depth)?);
            }
            Value::Array(items)
        }
        OBJECT => {
            let depth = depth.checked_sub(1)?;
            let n = r.u32()? as usize;
            let mut map = Map::new();
            for _ in 0..n {
                let k = r.str()?;
                let v = decode_value(r, depth)?;
                map.insert(k, v);
            }
            Value::Object(map)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values come back equal, numbers in the same representation, order of keys kept.
    #[test]
    fn values_round_trip() {
        let text = "a: 1\nb: -2\nc: 2.5\nd: [x, {e: null, f: true}]\ng: 18446744073709551615\nh: 1e300\n---\n---\n- \"é\\u0001\"\n";
        let loaded = load(text, Limits::default());
        let encoded = encode(&loaded.documents);
        let back = decode(&encoded, Limits::default()).expect("decodes");
        let want: Vec<(usize, Value)> = loaded
            .documents
            .iter()
            .map(|d| (d.index, d.value.clone()))
            .collect();
        assert_eq!(back, want);
        assert_eq!(back[0].1["c"].as_f64(), Some(2.5));
        assert!(back[0].1["b"].is_i64() && back[0].1["g"].is_u64());
        // Truncated or extended entries are not read.
        assert!(decode(&encoded[..encoded.len() - 1], Limits::default()).is_none());
        let mut longer = encoded.clone();
        longer.push(0);
        assert!(decode(&longer, Limits::default()).is_none());
        // Nesting deeper than the loader allows is refused, not recursed into.
        let mut deep = vec![1, 0, 0, 0, 0, 0, 0, 0];
        for _ in 0..10_000 {
            deep.extend_from_slice(&[ARRAY, 1, 0, 0, 0]);
        }
        deep.push(NULL);
        assert!(decode(&deep, Limits::default()).is_none());
    }

    /// A run reads back what the previous one wrote; another text is a miss.
    #[test]
    fn a_second_run_reads_the_first_ones_values() {
        let dir = std::env::temp_dir().join(format!("rollgate-cache-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = dir.join("p.bin");
        let limits = Limits::default();
        let open = || ContextCache {
            file: file.clone(),
            build: 7,
            stored: read(&file, 7).unwrap_or_default(),
            this_run: Mutex::new(ThisRun::default()),
        };
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n";
        let first = open();
        let parsed = first.load(text, limits);
        assert!(!parsed.documents[0].spans.is_empty());
        first.save();
        let second = open();
        assert_eq!(second.stored.len(), 1);
        let cached = second.load(text, limits);
        assert!(cached.documents[0].spans.is_empty(), "values only");
        assert_eq!(cached.documents[0].value, parsed.documents[0].value);
        assert!(
            !second.load("kind: Other\n", limits).documents[0]
                .spans
                .is_empty()
        );
        // Another build reads nothing.
        assert!(read(&file, 8).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
