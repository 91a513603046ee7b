//! A JSON-RPC client for `rollgate lsp`, over the server process' standard input and output
//! (shared by tests/lsp.rs and benches/lsp.rs).
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub struct Client {
    pub child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<Value>,
    /// Messages received and not yet taken.
    backlog: VecDeque<Value>,
    next_id: i64,
}

pub fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

impl Client {
    pub fn spawn(bin: &Path) -> Client {
        let mut child = Command::new(bin)
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn rollgate lsp");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut len = None;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length: ") {
                        len = v.parse::<usize>().ok();
                    }
                }
                let Some(len) = len else { return };
                let mut body = vec![0; len];
                if r.read_exact(&mut body).is_err() {
                    return;
                }
                let Ok(v) = serde_json::from_slice::<Value>(&body) else {
                    return;
                };
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        Client {
            child,
            stdin,
            rx,
            backlog: VecDeque::new(),
            next_id: 0,
        }
    }

    /// Write raw bytes (framing included).
    pub fn write_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    pub fn frame(v: &Value) -> Vec<u8> {
        let body = v.to_string();
        let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        out.extend_from_slice(body.as_bytes());
        out
    }

    pub fn send(&mut self, v: &Value) {
        let bytes = Self::frame(v);
        self.write_raw(&bytes);
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    pub fn request_message(&mut self, method: &str, params: Value) -> (i64, Value) {
        self.next_id += 1;
        let id = self.next_id;
        (
            id,
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
        )
    }

    /// Send a request; returns its id.
    pub fn request(&mut self, method: &str, params: Value) -> i64 {
        let (id, m) = self.request_message(method, params);
        self.send(&m);
        id
    }

    /// Send a request and wait for its response.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.request(method, params);
        self.response(id)
    }

    /// The next message that satisfies `pred` (others are kept for later), within `timeout`.
    pub fn wait(&mut self, timeout: Duration, mut pred: impl FnMut(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&mut pred) {
            return self.backlog.remove(i).unwrap();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(v) => {
                    // Answer the server's own requests (registrations, refresh) like a client.
                    if v.get("method").is_some() && v.get("id").is_some() {
                        let id = v["id"].clone();
                        self.send(&json!({"jsonrpc": "2.0", "id": id, "result": null}));
                    }
                    if pred(&v) {
                        return v;
                    }
                    self.backlog.push_back(v);
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "no matching message within {timeout:?}; received: {:#?}",
                    self.backlog
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("server closed its output; received: {:#?}", self.backlog)
                }
            }
        }
    }

    pub fn response(&mut self, id: i64) -> Value {
        self.wait(Duration::from_secs(30), |v| {
            v.get("id") == Some(&json!(id)) && v.get("method").is_none()
        })
    }

    /// The next diagnostics published for `uri`.
    pub fn diagnostics(&mut self, uri: &str) -> Value {
        self.wait(Duration::from_secs(30), |v| {
            v["method"] == "textDocument/publishDiagnostics" && v["params"]["uri"] == uri
        })["params"]
            .clone()
    }

    /// Drop the messages received so far.
    pub fn drain(&mut self) {
        self.backlog.clear();
        while self.rx.try_recv().is_ok() {}
    }

    pub fn initialize(&mut self, root: &Path, capabilities: Value) -> Value {
        let r = self.call(
            "initialize",
            json!({
                "processId": null,
                "rootUri": uri(root),
                "workspaceFolders": [{"uri": uri(root), "name": "ws"}],
                "capabilities": capabilities,
            }),
        );
        self.notify("initialized", json!({}));
        r
    }

    pub fn open(&mut self, path: &Path, version: i64, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {
                "uri": uri(path), "languageId": "yaml", "version": version, "text": text,
            }}),
        );
    }

    pub fn change_full(&mut self, path: &Path, version: i64, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({
                "textDocument": {"uri": uri(path), "version": version},
                "contentChanges": [{"text": text}],
            }),
        );
    }

    /// Close standard input (the client goes away).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// `shutdown` then `exit`; the exit code.
    pub fn shutdown(mut self) -> Option<i32> {
        let r = self.call("shutdown", Value::Null);
        assert_eq!(r["result"], Value::Null, "{r}");
        self.notify("exit", Value::Null);
        self.wait_exit(Duration::from_secs(10))
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("server did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Peak resident set of the server process (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Current resident set (VmRSS), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A copy of `src` in a fresh temporary folder.
pub fn copy_dir(src: &Path, name: &str) -> PathBuf {
    let dst = std::env::temp_dir().join(format!(
        "rollgate-lsp-{name}-{}-{:?}",
        std::process::id(),
        Instant::now()
    ));
    let dst = PathBuf::from(dst.to_string_lossy().replace([' ', '{', '}', ':'], "_"));
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
    dst
}
