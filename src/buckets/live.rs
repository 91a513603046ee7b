//! Live bucket discovery on a Prometheus server (opt-in: `--prometheus URL` or
//! `.rollgate.yaml` `prometheus.url`).
//!
//! `GET /api/v1/label/le/values?match[]=<selector>` returns the `le` values of the matching
//! series sorted as strings (`"0.1" < "1" < "10" < "2.5"`), so they are parsed and sorted
//! numerically here; Prometheus 3 writes `le="1.0"` where 2.x wrote `le="1"`, equal
//! numerically. A minimal HTTP/1.1 client over `std::net::TcpStream` keeps the dependency
//! footprint small; only `http://` URLs are supported (`https://` is reported, not attempted).
//! Every step is bounded: connect and read timeouts, one overall deadline, a response-size cap.
//! Answers are kept for 5 minutes per (URL, selector); a server that does not answer is left
//! alone for 30 s, so a hanging Prometheus costs one timeout per run, not one per gate; and
//! while a lookup on a server has gone unanswered for 250 ms, other lookups on it do not start
//! (the webhook looks up concurrently: each would wait for the whole timeout of a hanging
//! server, tests/webhook_faults.rs).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Largest response read.
const MAX_RESPONSE: usize = 4 * 1024 * 1024;

/// How long an answer is reused (the webhook is a long-running process).
const KEEP_OK: Duration = Duration::from_secs(300);
/// How long a server that failed to answer is left alone before it is asked again (so a
/// Prometheus that hangs costs one timeout per run, not one per gate).
const KEEP_DOWN: Duration = Duration::from_secs(30);
/// A lookup unanswered for this long makes other lookups on the same server fall back at once
/// instead of each waiting for its own timeout (a healthy Prometheus answers in milliseconds).
const SLOW: Duration = Duration::from_millis(250);

type Answers = HashMap<(String, String), (Instant, Result<Vec<f64>, String>)>;

struct Cache {
    answers: Answers,
    /// URL → when it failed and why.
    down: HashMap<String, (Instant, String)>,
    /// URL → lookups in flight: (ticket, start).
    in_flight: HashMap<String, Vec<(u64, Instant)>>,
    next_ticket: u64,
}

fn cache() -> &'static Mutex<Cache> {
    static C: OnceLock<Mutex<Cache>> = OnceLock::new();
    C.get_or_init(|| {
        Mutex::new(Cache {
            answers: HashMap::new(),
            down: HashMap::new(),
            in_flight: HashMap::new(),
            next_ticket: 0,
        })
    })
}

/// Whether an error means the server itself is unusable (not just this query).
fn server_down(e: &str) -> bool {
    e.starts_with("cannot ") || e.starts_with("no complete answer") || e.contains("not HTTP")
}

/// The finite and infinite `le` values of the series matching `selector` (or, when that finds
/// none, of `metric`_bucket), sorted numerically, distinct.
pub fn bounds(
    url: &str,
    selector: &str,
    metric: &str,
    timeout_ms: u64,
) -> Result<Vec<f64>, String> {
    let key = (url.to_owned(), selector.to_owned());
    let mut ticket = None;
    if let Ok(mut c) = cache().lock() {
        // A kept answer first: while the server is down, what it said a minute ago still holds
        // (without this, a Prometheus outage flipped the verdicts of gates it had answered).
        if let Some((at, r)) = c.answers.get(&key) {
            if at.elapsed() < KEEP_OK {
                return r.clone();
            }
        }
        if let Some((at, why)) = c.down.get(url) {
            if at.elapsed() < KEEP_DOWN {
                return Err(format!(
                    "{why}; not asked again for {} s",
                    KEEP_DOWN.as_secs()
                ));
            }
        }
        c.down.remove(url);
        c.next_ticket += 1;
        let t = c.next_ticket;
        let running = c.in_flight.entry(url.to_owned()).or_default();
        if let Some((_, since)) = running.iter().find(|(_, at)| at.elapsed() >= SLOW) {
            return Err(format!(
                "cannot get an answer: a lookup has waited {} ms for one; not asked again until it ends",
                since.elapsed().as_millis()
            ));
        }
        running.push((t, Instant::now()));
        ticket = Some(t);
    }
    let timeout = Duration::from_millis(timeout_ms.clamp(100, 30_000));
    let mut r = le_values(url, selector, timeout);
    let plain = format!("{metric}_bucket");
    if matches!(&r, Ok(v) if v.is_empty()) && selector != plain {
        r = le_values(url, &plain, timeout);
    }
    if let Ok(mut c) = cache().lock() {
        if let Some(running) = c.in_flight.get_mut(url) {
            running.retain(|(t, _)| Some(*t) != ticket);
            if running.is_empty() {
                c.in_flight.remove(url);
            }
        }
        if c.answers.len() > 10_000 {
            c.answers.clear();
        }
        match &r {
            Err(e) if server_down(e) => {
                c.down.insert(url.to_owned(), (Instant::now(), e.clone()));
            }
            _ => {
                c.answers.insert(key, (Instant::now(), r.clone()));
            }
        }
    }
    r
}

/// `/api/v1/label/le/values?match[]=selector`, parsed and sorted numerically.
pub fn le_values(url: &str, selector: &str, timeout: Duration) -> Result<Vec<f64>, String> {
    let path = format!(
        "/api/v1/label/le/values?match[]={}",
        percent_encode(selector)
    );
    let body = get(url, &path, timeout)?;
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    if v.get("status").and_then(|s| s.as_str()) != Some("success") {
        let err = v
            .get("error")
            .and_then(|s| s.as_str())
            .unwrap_or("no error given");
        return Err(format!(
            "the API answered status {:?}: {err}",
            v.get("status")
        ));
    }
    let data = v
        .get("data")
        .and_then(|d| d.as_array())
        .ok_or("the answer has no `data` list")?;
    let mut out = Vec::new();
    for d in data {
        let s = d.as_str().ok_or("an `le` value is not a string")?;
        let b = super::parse_bound(s).ok_or_else(|| format!("`le` value {s:?} is not a number"))?;
        if !b.is_nan() {
            out.push(b);
        }
    }
    out.sort_by(f64::total_cmp);
    out.dedup_by(|a, b| super::same(*a, *b));
    Ok(out)
}

/// Percent-encode a query-string value.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `(host, port, base path)` of an `http://` URL.
pub fn parse_url(url: &str) -> Result<(String, u16, String), String> {
    if url.starts_with("https://") {
        return Err(
            "https:// is not supported for live discovery (rollgate speaks plain HTTP to Prometheus; use a port-forward or an http:// address)"
                .to_owned(),
        );
    }
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?} is not an http:// URL"))?;
    let (authority, base) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err("credentials in the URL are not supported".to_owned());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
            let port = p
                .parse::<u16>()
                .map_err(|_| format!("bad port {p:?} in {url:?}"))?;
            (h.trim_start_matches('[').trim_end_matches(']'), port)
        }
        _ => (authority, 80),
    };
    if host.is_empty() {
        return Err(format!("no host in {url:?}"));
    }
    Ok((host.to_owned(), port, base.to_owned()))
}

/// GET `base + path` with an overall deadline of `timeout`; the body of a 200 answer.
pub fn get(url: &str, path: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    let (host, port, base) = parse_url(url)?;
    let deadline = Instant::now() + timeout;
    let addrs: Vec<_> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let addr = addrs
        .first()
        .ok_or_else(|| format!("{host} has no address"))?;
    let mut s = TcpStream::connect_timeout(addr, timeout)
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    let left = |d: Instant| d.saturating_duration_since(Instant::now());
    let _ = s.set_write_timeout(Some(left(deadline).max(Duration::from_millis(1))));
    let host_header = if port == 80 {
        host.clone()
    } else {
        format!("{host}:{port}")
    };
    let req = format!(
        "GET {base}{path} HTTP/1.1\r\nHost: {host_header}\r\nAccept: application/json\r\nUser-Agent: rollgate\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes())
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let rem = left(deadline);
        if rem.is_zero() {
            return Err(format!(
                "no complete answer within {} ms",
                timeout.as_millis()
            ));
        }
        let _ = s.set_read_timeout(Some(rem));
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > MAX_RESPONSE {
                    return Err(format!("the answer exceeds {} MiB", MAX_RESPONSE >> 20));
                }
                if response_complete(&buf) {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!(
                    "no complete answer within {} ms",
                    timeout.as_millis()
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("reading the answer failed: {e}")),
        }
    }
    parse_response(&buf)
}

fn header_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn content_length(head: &str) -> Option<usize> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse().ok())?
    })
}

fn chunked(head: &str) -> bool {
    head.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding")
                && v.to_ascii_lowercase().contains("chunked")
        })
    })
}

/// Whether a full response is in `buf` (so a server that keeps the connection open is fine).
fn response_complete(buf: &[u8]) -> bool {
    let Some(end) = header_end(buf) else {
        return false;
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    if let Some(n) = content_length(&head) {
        return buf.len() >= end + n;
    }
    if chunked(&head) {
        return buf[end..].windows(5).any(|w| w == b"0\r\n\r\n");
    }
    false
}

/// Status, headers and body → the body of a 200 answer.
pub fn parse_response(buf: &[u8]) -> Result<Vec<u8>, String> {
    let end = header_end(buf).ok_or("the answer is not HTTP (no header end)")?;
    let head = String::from_utf8_lossy(&buf[..end]);
    let status_line = head.lines().next().unwrap_or("");
    let mut parts = status_line.split_whitespace();
    let proto = parts.next().unwrap_or("");
    if !proto.starts_with("HTTP/1.") {
        return Err(format!("the answer is not HTTP/1.x: {status_line:?}"));
    }
    let code: u16 = parts
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut body = buf[end..].to_vec();
    if let Some(n) = content_length(&head) {
        body.truncate(n);
    } else if chunked(&head) {
        body = dechunk(&body).ok_or("bad chunked encoding")?;
    }
    if code != 200 {
        let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
        return Err(format!("HTTP {code}: {}", text.trim()));
    }
    Ok(body)
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let i = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..i]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[i + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:9090/").unwrap(),
            ("127.0.0.1".into(), 9090, String::new())
        );
        assert_eq!(
            parse_url("http://prom/sub/").unwrap(),
            ("prom".into(), 80, "/sub".into())
        );
        assert!(
            parse_url("https://prom")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("http://:80").is_err());
    }

    #[test]
    fn responses() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}xx";
        assert_eq!(parse_response(ok).unwrap(), b"{}");
        let ch = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
        assert!(response_complete(ch));
        assert_eq!(parse_response(ch).unwrap(), b"{}");
        let e = b"HTTP/1.1 500 Internal\r\nContent-Length: 4\r\n\r\noops";
        assert!(parse_response(e).unwrap_err().contains("500"));
        assert!(parse_response(b"garbage").is_err());
        assert!(parse_response(b"SSH-2.0\r\n\r\n").is_err());
    }

    #[test]
    fn encodes() {
        assert_eq!(
            percent_encode("x_bucket{a=\"b\"}"),
            "x_bucket%7Ba%3D%22b%22%7D"
        );
    }
}
