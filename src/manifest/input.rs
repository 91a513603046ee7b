//! Reading inputs: files, directories (recursively, `.yaml`/`.yml`/`.json`), standard input.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::source::{Pos, Source};

/// Files larger than this are not loaded (a parse-error finding says so). Far above what the
/// apiserver accepts in one request (3 MiB) and what etcd stores per object (1.5 MiB).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 32 * 1024 * 1024;

/// A source whose content could be read. `unusable` says why its content cannot be linted
/// (binary, invalid UTF-8, too large); the source then holds whatever text helps show where.
#[derive(Debug, Clone)]
pub struct Input {
    pub source: Source,
    pub unusable: Option<(Pos, String)>,
    /// The file's canonical path, when it is a file (not standard input): how the same file
    /// named twice is recognised, and where it sits in the project (`engine::world`).
    pub path: Option<PathBuf>,
    /// Loaded only as context: its objects are part of the world the rules see, but nothing is
    /// reported on it (`engine::world`).
    pub context: bool,
    /// Read but not linted, and why (a named Helm chart template): one info finding says so.
    pub skipped: Option<String>,
}

/// Expand the command-line paths into the files to read, in a stable order. Directories are
/// walked recursively for `.yaml`, `.yml` and `.json` files; hidden entries inside them (`.git`)
/// are skipped; symbolic links to directories are not followed (no cycles). Files named
/// explicitly are read whatever their extension.
pub fn expand_paths(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<(PathBuf, std::io::Error)>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => walk(p, &mut files, &mut errors),
            Ok(_) => files.push(p.clone()),
            Err(e) => errors.push((p.clone(), e)),
        }
    }
    (files, errors)
}

/// A file to read and the folder named on the command line it was found under (`None`: the
/// file itself was named).
pub type Found = (PathBuf, Option<PathBuf>);

/// [`expand_paths`], saying for each file the folder named on the command line it was found
/// under (`None`: the file itself was named): the excludes apply to found files only.
pub fn expand_paths_found(paths: &[PathBuf]) -> (Vec<Found>, Vec<(PathBuf, std::io::Error)>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => {
                let mut found = Vec::new();
                walk(p, &mut found, &mut errors);
                files.extend(found.into_iter().map(|f| (f, Some(p.clone()))));
            }
            Ok(_) => files.push((p.clone(), None)),
            Err(e) => errors.push((p.clone(), e)),
        }
    }
    (files, errors)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<(PathBuf, std::io::Error)>) {
    let mut stack = vec![dir.to_path_buf()];
    let mut found = Vec::new();
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) => {
                errors.push((d, e));
                continue;
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                stack.push(path);
            } else if is_manifest_name(&path) && (ft.is_file() || path.is_file()) {
                found.push(path);
            }
        }
    }
    found.sort();
    files.extend(found);
}

pub fn is_manifest_name(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// Read one file. I/O errors (missing, permission) are returned; content problems are not errors.
pub fn read_file(path: &Path, max_size: u64) -> std::io::Result<Input> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let canonical = std::fs::canonicalize(path).ok();
    if len > max_size {
        let mut i = too_large(name, Some(len), max_size);
        i.path = canonical;
        return Ok(i);
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(max_size + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_size {
        // The file grew while being read: only `max_size + 1` bytes were read.
        let mut i = too_large(name, None, max_size);
        i.path = canonical;
        return Ok(i);
    }
    let mut i = from_bytes(name, bytes);
    i.path = canonical;
    Ok(i)
}

/// Read standard input (bounded like a file).
pub fn read_stdin(name: &str, max_size: u64) -> std::io::Result<Input> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(max_size + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_size {
        // Reading stopped one byte past the limit: the real length is unknown.
        return Ok(too_large(name.to_owned(), None, max_size));
    }
    Ok(from_bytes(name.to_owned(), bytes))
}

/// `len` is the size when known (a file's metadata), `None` when reading stopped one byte past
/// the limit (standard input, a growing file).
fn too_large(name: String, len: Option<u64>, max: u64) -> Input {
    let what = match len {
        Some(len) => format!("file is {len} bytes, over"),
        None => "input is over".to_owned(),
    };
    Input {
        path: None,
        context: false,
        skipped: None,
        source: Source::new(name, ""),
        unusable: Some((
            Pos::new(1, 1),
            format!("{what} the {max}-byte limit (--max-file-size); not linted"),
        )),
    }
}

/// Check the bytes are text a YAML parser should see.
pub fn from_bytes(name: String, bytes: Vec<u8>) -> Input {
    match String::from_utf8(bytes) {
        Ok(text) => {
            if let Some(at) = text.find('\0') {
                let source = Source::new(name, text[..at].to_owned());
                let pos = source.pos(at);
                return Input {
                    path: None,
                    context: false,
                    skipped: None,
                    source,
                    unusable: Some((pos, "binary file (contains a NUL byte); not linted".into())),
                };
            }
            Input {
                path: None,
                context: false,
                skipped: None,
                source: Source::new(name, text),
                unusable: None,
            }
        }
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let source = Source::new(name, String::from_utf8_lossy(&bytes).into_owned());
            // Columns count characters, so the lossy text (one U+FFFD per bad sequence) agrees
            // with the valid prefix up to the first bad byte.
            let prefix = std::str::from_utf8(&bytes[..valid]).unwrap_or("");
            let pos = Source::new("", prefix).pos(prefix.len());
            let message = if bytes.contains(&0) {
                "binary file (not UTF-8 text); not linted".to_owned()
            } else {
                format!("invalid UTF-8 at byte {valid}; YAML must be UTF-8; not linted")
            };
            Input {
                path: None,
                context: false,
                skipped: None,
                source,
                unusable: Some((pos, message)),
            }
        }
    }
}

/// Write a fixed file: only when it still holds the text that was linted (else another program
/// changed it meanwhile), through a temporary file in the same folder renamed over it (a reader
/// sees the old or the new text, never half of one), keeping its permissions and its byte order
/// mark. A symbolic link is followed: its target is rewritten.
pub fn write_fixed(path: &Path, original: &str, fixed: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let target = std::fs::canonicalize(path)?;
    let meta = std::fs::metadata(&target)?;
    if meta.permissions().readonly() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "the file is read-only",
        ));
    }
    let mut now = Vec::new();
    std::fs::File::open(&target)?.read_to_end(&mut now)?;
    let bom = now.starts_with("\u{feff}".as_bytes());
    let body = if bom { &now[3..] } else { &now[..] };
    if body != original.as_bytes() {
        return Err(std::io::Error::other(
            "the file changed after it was read; run again",
        ));
    }
    let dir = target.parent().unwrap_or(Path::new("."));
    let file_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.rollgate-fix.{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        if bom {
            f.write_all("\u{feff}".as_bytes())?;
        }
        f.write_all(fixed.as_bytes())?;
        f.sync_all()?;
        std::fs::set_permissions(&tmp, meta.permissions())?;
        // Checked again just before the rename: the window for a lost edit is this short.
        let mut again = Vec::new();
        std::fs::File::open(&target)?.read_to_end(&mut again)?;
        if again != now {
            return Err(std::io::Error::other(
                "the file changed after it was read; run again",
            ));
        }
        std::fs::rename(&tmp, &target)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_located() {
        let i = from_bytes("x".into(), b"a: 1\nb: \xff\n".to_vec());
        let (pos, msg) = i.unusable.unwrap();
        assert_eq!(pos, Pos::new(2, 4));
        assert!(msg.contains("UTF-8"));
    }

    #[test]
    fn nul_byte_is_binary() {
        let i = from_bytes("x".into(), b"a: 1\n\0\0".to_vec());
        assert!(i.unusable.unwrap().1.contains("binary"));
    }
}
