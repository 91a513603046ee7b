//! Bounds on what the webhook logs (issue 26): request fields are cut to a length, lines that
//! any client can cause are rate-limited (the metrics keep the full counts), and no line is
//! longer than [`MAX_LINE_BYTES`] whatever a field holds.

use std::io::{self, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Longest log line written, newline included. A longer one (a message built from a long
/// error) is replaced by a line that says so and keeps its beginning.
pub const MAX_LINE_BYTES: usize = 4096;
/// Longest request field (uid, name, namespace, kind, reason) in a log line or echoed in a
/// response message, in characters.
pub const MAX_FIELD_CHARS: usize = 256;

/// `s` cut to at most `max` characters, with `…` and the original length when cut.
pub fn cap(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(s),
        Some((end, _)) => std::borrow::Cow::Owned(format!("{}…({} bytes)", &s[..end], s.len())),
    }
}

/// A token bucket: `per_second` lines on average, bursts of `burst`.
pub struct RateLimited {
    state: Mutex<(f64, Instant)>,
    per_second: f64,
    burst: f64,
    suppressed: AtomicU64,
}

impl RateLimited {
    pub fn new(per_second: f64, burst: u32) -> RateLimited {
        RateLimited {
            state: Mutex::new((f64::from(burst), Instant::now())),
            per_second,
            burst: f64::from(burst),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(lines suppressed since the last one allowed)` when a line may be written now.
    pub fn allow(&self) -> Option<u64> {
        let Ok(mut st) = self.state.lock() else {
            return None;
        };
        let now = Instant::now();
        let (tokens, last) = *st;
        let tokens =
            (tokens + now.duration_since(last).as_secs_f64() * self.per_second).min(self.burst);
        if tokens >= 1.0 {
            *st = (tokens - 1.0, now);
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            *st = (tokens, now);
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// stderr, one `write` per line, lines over [`MAX_LINE_BYTES`] replaced.
pub struct CappedStderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CappedStderr {
    type Writer = CappedLine;
    fn make_writer(&'a self) -> CappedLine {
        CappedLine(Vec::new())
    }
}

/// One log line, buffered until dropped (tracing-subscriber formats an event into one buffer
/// and writes it at once; the buffer here makes the cap independent of that).
pub struct CappedLine(Vec<u8>);

impl Write for CappedLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for CappedLine {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let line = capped_line(&self.0);
        let _ = io::stderr().lock().write_all(&line);
    }
}

/// `line` as is when it fits, else a JSON line saying it was cut, with its beginning.
pub fn capped_line(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if line.len() <= MAX_LINE_BYTES {
        return std::borrow::Cow::Borrowed(line);
    }
    let text = String::from_utf8_lossy(line);
    // Room for the envelope below; the head is re-escaped as a JSON string.
    let mut head: String = text.chars().take(MAX_LINE_BYTES / 2).collect();
    loop {
        let out = serde_json::json!({
            "level": "WARN",
            "fields": {
                "message": "log line cut: longer than the line cap",
                "line_bytes": line.len(),
                "cap_bytes": MAX_LINE_BYTES,
                "head": head,
            },
            "target": "rollgate::webhook::logs",
        });
        let mut v = serde_json::to_vec(&out).unwrap_or_default();
        v.push(b'\n');
        if v.len() <= MAX_LINE_BYTES || head.is_empty() {
            return std::borrow::Cow::Owned(v);
        }
        let keep = head.chars().count() / 2;
        head = head.chars().take(keep).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_capped_at_char_boundaries() {
        assert_eq!(cap("abc", 3), "abc");
        assert_eq!(cap("abcd", 3), "abc…(4 bytes)");
        assert_eq!(cap("ééé", 2), "éé…(6 bytes)");
    }

    #[test]
    fn long_lines_are_replaced_by_valid_json_within_the_cap() {
        let long = format!("{{\"fields\":{{\"uid\":\"{}\"}}}}\n", "\"\\".repeat(10_000));
        let out = capped_line(long.as_bytes());
        assert!(out.len() <= MAX_LINE_BYTES, "{}", out.len());
        let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(v["fields"]["line_bytes"], long.len());
        let short = b"{\"a\":1}\n";
        assert_eq!(&*capped_line(short), short);
    }

    #[test]
    fn rate_limit_allows_a_burst_then_counts() {
        let r = RateLimited::new(0.0001, 3);
        assert_eq!(r.allow(), Some(0));
        assert_eq!(r.allow(), Some(0));
        assert_eq!(r.allow(), Some(0));
        assert_eq!(r.allow(), None);
        assert_eq!(r.allow(), None);
    }
}
