//! The stdio transport: `Content-Length` framed JSON-RPC on standard input and output.
//!
//! lsp-server's own stdio transport ends the connection on the first payload that is not a
//! message and allocates whatever `Content-Length` claims. This one bounds a message
//! ([`MAX_MESSAGE`]: a larger one is read past in small chunks and answered with an error),
//! answers a body that is not JSON with a JSON-RPC parse error (-32700) and one that is JSON
//! but not a message with an invalid-request error (-32600), and keeps reading.

use std::io::{self, BufRead, Read, Write};
use std::thread;

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use lsp_server::{Connection, Message};

/// The largest message read. A document of the linter's file limit (32 MiB), escaped as JSON,
/// fits; anything larger is skipped without being held in memory.
pub const MAX_MESSAGE: usize = 96 << 20;

/// Longest header line (headers are a few dozen bytes).
const MAX_HEADER_LINE: u64 = 1024;

pub struct Threads {
    writer: thread::JoinHandle<io::Result<()>>,
}

impl Threads {
    /// Wait for the writer to send what was queued (after the connection's sender is dropped).
    pub fn join(self) {
        let _ = self.writer.join();
    }
}

/// A connection over `input` and `output`, served by a reader and a writer thread.
pub fn connect(
    input: impl BufRead + Send + 'static,
    output: impl Write + Send + 'static,
) -> (Connection, Threads) {
    let (to_writer, from_server) = unbounded::<Message>();
    let (raw_tx, raw_rx) = unbounded::<String>();
    let (to_server, from_reader) = bounded::<Message>(64);
    let writer = thread::Builder::new()
        .name("rollgate-lsp-writer".into())
        .spawn(move || write_loop(output, from_server, raw_rx))
        .expect("spawn the writer thread");
    thread::Builder::new()
        .name("rollgate-lsp-reader".into())
        .spawn(move || read_loop(input, to_server, raw_tx))
        .expect("spawn the reader thread");
    (
        Connection {
            sender: to_writer,
            receiver: from_reader,
        },
        Threads { writer },
    )
}

fn write_loop(
    mut out: impl Write,
    messages: Receiver<Message>,
    raw: Receiver<String>,
) -> io::Result<()> {
    loop {
        crossbeam_channel::select! {
            recv(messages) -> m => match m {
                Ok(m) => m.write(&mut out)?,
                Err(_) => break,
            },
            recv(raw) -> r => if let Ok(r) = r {
                write!(out, "Content-Length: {}\r\n\r\n{r}", r.len())?;
                out.flush()?;
            },
        }
    }
    // The server is done: send what the reader still queued.
    while let Ok(r) = raw.try_recv() {
        write!(out, "Content-Length: {}\r\n\r\n{r}", r.len())?;
    }
    out.flush()
}

fn error_response(code: i32, message: &str, id: serde_json::Value) -> String {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code, "message": message },
    })
    .to_string()
}

fn read_loop(mut input: impl BufRead, to_server: Sender<Message>, raw: Sender<String>) {
    loop {
        let length = match read_headers(&mut input) {
            Ok(Some(Ok(n))) => n,
            Ok(Some(Err(why))) => {
                let _ = raw.send(error_response(-32700, &why, serde_json::Value::Null));
                continue;
            }
            // End of input or a broken pipe: the client is gone.
            Ok(None) | Err(_) => return,
        };
        if length > MAX_MESSAGE {
            if io::copy(&mut (&mut input).take(length as u64), &mut io::sink()).is_err() {
                return;
            }
            let why = format!("message of {length} bytes is over the {MAX_MESSAGE}-byte limit");
            let _ = raw.send(error_response(-32600, &why, serde_json::Value::Null));
            continue;
        }
        let mut body = vec![0; length];
        if input.read_exact(&mut body).is_err() {
            return;
        }
        match serde_json::from_slice::<Message>(&body) {
            Ok(m) => {
                if to_server.send(m).is_err() {
                    return;
                }
            }
            Err(e) => {
                let reply = match serde_json::from_slice::<serde_json::Value>(&body) {
                    Err(_) => error_response(
                        -32700,
                        &format!("parse error: {e}"),
                        serde_json::Value::Null,
                    ),
                    Ok(v) => error_response(
                        -32600,
                        &format!("invalid request: {e}"),
                        v.get("id").cloned().unwrap_or_default(),
                    ),
                };
                let _ = raw.send(reply);
            }
        }
    }
}

/// The `Content-Length` of the next message: `None` at the end of input, `Err(why)` for a
/// header block without a usable length.
fn read_headers(input: &mut impl BufRead) -> io::Result<Option<Result<usize, String>>> {
    let mut length = None;
    let mut bad = None;
    let mut any = false;
    loop {
        let mut line = Vec::new();
        let n = input
            .by_ref()
            .take(MAX_HEADER_LINE)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(None);
        }
        if !line.ends_with(b"\n") {
            // A header line over the bound: skip the rest of it.
            let mut rest = Vec::new();
            input.read_until(b'\n', &mut rest)?;
            bad = Some("header line too long".to_owned());
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if !any {
                // Blank lines between messages.
                continue;
            }
            break;
        }
        any = true;
        let Some((name, value)) = text.split_once(':') else {
            bad = Some(format!("malformed header {text:?}"));
            continue;
        };
        if name.trim().eq_ignore_ascii_case("content-length") {
            match value.trim().parse::<usize>() {
                Ok(n) => length = Some(n),
                Err(_) => bad = Some(format!("bad Content-Length {:?}", value.trim())),
            }
        }
    }
    Ok(Some(match (length, bad) {
        // A usable length wins over other bad headers: the body can still be read past.
        (Some(n), _) => Ok(n),
        (None, Some(why)) => Err(why),
        (None, None) => Err("no Content-Length header".into()),
    }))
}
