//! `rollgate lsp`: the rules as a language server over stdio.
//!
//! The only module that knows LSP (rust-analyzer's split): the world is an
//! [`engine::workspace::Workspace`](crate::engine::workspace::Workspace) of every manifest
//! under the workspace folders, with open buffers in place of their files. The main loop
//! applies notifications to it, drains whatever else the client already sent (so a burst of
//! keystrokes costs one check), re-checks what can have changed, and publishes the open
//! documents whose diagnostics changed, with their current version. Requests are answered on
//! the same loop after the pending changes are checked, so an answer never describes an older
//! text; a request cancelled while it waits is answered with `RequestCancelled`.

mod convert;
mod features;
pub mod transport;

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::Notification as _;
use lsp_types::request::Request as _;
use lsp_types::{
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString,
    Position, Range, Url, notification as notif, request as req,
};
use serde_json::{Value, json};

use crate::engine::config::{self, CONFIG_NAMES, Config};
use crate::engine::workspace::{FileId, Workspace};
use crate::engine::{Engine, Severity, all_metas};
use crate::manifest::{Limits, Source, Span, input};

/// Run the server on standard input and output. Returns the process exit code: 0 after
/// `shutdown` then `exit`, 1 when the client went away or sent `exit` without `shutdown`.
pub fn run_stdio() -> io::Result<u8> {
    let stdin = io::BufReader::new(io::stdin());
    let (connection, threads) = transport::connect(stdin, io::stdout());
    let code = serve(&connection);
    drop(connection);
    threads.join();
    Ok(code)
}

/// A document the client has open.
struct Doc {
    /// The world the document is reported in (its context root's).
    world: usize,
    file: FileId,
    path: PathBuf,
    version: i32,
    /// `None` while the text is over the file-size limit (not kept; a full-text change brings
    /// it back).
    text: Option<String>,
    /// Not a manifest of the workspace (excluded, or `.rollgate.yaml`): never linted.
    ignored: bool,
}

/// The world of one context root: what `rollgate lint <file>` loads for a file whose nearest
/// folder holding `.rollgate.yaml`, a kustomization or `.git` is `root` (`manifest::context`).
struct World {
    root: PathBuf,
    ws: Workspace,
}

struct Session<'c> {
    conn: &'c Connection,
    /// One per context root of an open document, made when the first such document opens.
    worlds: Vec<World>,
    /// The configuration every world is checked with.
    config: Config,
    settings: crate::engine::Settings,
    max_file_size: u64,
    roots: Vec<PathBuf>,
    config_path: Option<PathBuf>,
    exclude: Option<crate::manifest::exclude::Excludes>,
    docs: HashMap<Url, Doc>,
    /// Path → URI for the files the server names (untitled buffers have no path).
    uris: HashMap<PathBuf, Url>,
    published: HashMap<Url, Vec<Diagnostic>>,
    /// Opened since the last publication (a file whose text equals the disk's changes nothing
    /// in the world, yet the client needs its diagnostics).
    fresh: HashSet<Url>,
    pull: bool,
    refresh: bool,
    shutdown: bool,
    next_request: i32,
}

/// The initialize handshake, then the main loop. Returns the exit code.
fn serve(conn: &Connection) -> u8 {
    let Some((id, params)) = wait_initialize(conn) else {
        return 1;
    };
    let init: lsp_types::InitializeParams = match serde_json::from_value(params) {
        Ok(p) => p,
        Err(e) => {
            let _ = conn.sender.send(
                Response::new_err(
                    id,
                    ErrorCode::InvalidParams as i32,
                    format!("initialize: {e}"),
                )
                .into(),
            );
            return 1;
        }
    };
    let caps = &init.capabilities;
    let pull = caps
        .text_document
        .as_ref()
        .and_then(|t| t.diagnostic.as_ref())
        .is_some();
    let refresh = caps
        .workspace
        .as_ref()
        .and_then(|w| w.diagnostic.as_ref())
        .and_then(|d| d.refresh_support)
        .unwrap_or(false);
    let watch = caps
        .workspace
        .as_ref()
        .and_then(|w| w.did_change_watched_files.as_ref())
        .and_then(|d| d.dynamic_registration)
        .unwrap_or(false);
    let mut roots: Vec<PathBuf> = init
        .workspace_folders
        .iter()
        .flatten()
        .filter_map(|f| f.uri.to_file_path().ok())
        .collect();
    #[allow(deprecated)]
    if roots.is_empty() {
        roots.extend(init.root_uri.as_ref().and_then(|u| u.to_file_path().ok()));
    }
    // Canonical, as the context walk and the linter name files.
    let roots: Vec<PathBuf> = roots
        .into_iter()
        .map(|r| std::fs::canonicalize(&r).unwrap_or(r))
        .collect();
    let result = json!({
        "capabilities": capabilities(pull),
        "serverInfo": { "name": "rollgate", "version": env!("CARGO_PKG_VERSION") },
    });
    if conn
        .sender
        .send(Response::new_ok(id, result).into())
        .is_err()
    {
        return 1;
    }
    let mut s = Session {
        conn,
        worlds: Vec::new(),
        config: Config::default(),
        settings: Default::default(),
        max_file_size: input::DEFAULT_MAX_FILE_SIZE,
        roots,
        config_path: None,
        exclude: None,
        docs: HashMap::new(),
        uris: HashMap::new(),
        published: HashMap::new(),
        fresh: HashSet::new(),
        pull,
        refresh,
        shutdown: false,
        next_request: 0,
    };
    s.load_config();
    // The workspace folder's world is loaded at once (requests may name its files before any
    // is opened); other context roots load when a document of theirs opens.
    if let Some(r) = s.roots.first().cloned() {
        let root = s.root_of_dir(&r);
        s.world_at(root);
    }
    if watch {
        s.register_watchers();
    }
    s.main_loop()
}

/// Wait for `initialize`, answering requests before it with `ServerNotInitialized`.
fn wait_initialize(conn: &Connection) -> Option<(RequestId, Value)> {
    loop {
        match conn.receiver.recv().ok()? {
            Message::Request(r) if r.method == req::Initialize::METHOD => {
                return Some((r.id, r.params));
            }
            Message::Request(r) => {
                let _ = conn.sender.send(
                    Response::new_err(
                        r.id,
                        ErrorCode::ServerNotInitialized as i32,
                        "the server is not initialized".into(),
                    )
                    .into(),
                );
            }
            Message::Notification(n) if n.method == notif::Exit::METHOD => return None,
            _ => {}
        }
    }
}

fn capabilities(pull: bool) -> Value {
    let mut caps = json!({
        "positionEncoding": "utf-16",
        "textDocumentSync": {
            "openClose": true,
            "change": 2,
            "save": { "includeText": false },
        },
        "hoverProvider": true,
        "definitionProvider": true,
        "documentSymbolProvider": true,
        "codeActionProvider": { "codeActionKinds": ["quickfix"] },
        "workspace": { "workspaceFolders": { "supported": true, "changeNotifications": false } },
    });
    if pull {
        caps["diagnosticProvider"] = json!({
            "identifier": "rollgate",
            "interFileDependencies": true,
            "workspaceDiagnostics": false,
        });
    }
    caps
}

impl Session<'_> {
    fn main_loop(&mut self) -> u8 {
        let mut queue: VecDeque<Message> = VecDeque::new();
        let mut cancelled: HashSet<RequestId> = HashSet::new();
        loop {
            if queue.is_empty() {
                // Everything received is applied: check and publish before waiting.
                self.sync();
                let Ok(m) = self.conn.receiver.recv() else {
                    // The client went away without `exit`.
                    return 1;
                };
                queue.push_back(m);
            }
            self.absorb(&mut queue, &mut cancelled, None);
            let Some(m) = queue.pop_front() else { continue };
            match m {
                Message::Request(r) => {
                    // Answer from the texts received so far; a cancel that arrived meanwhile
                    // still counts.
                    self.sync();
                    self.absorb(&mut queue, &mut cancelled, Some(&r.id));
                    if cancelled.remove(&r.id) {
                        self.reply_err(r.id, ErrorCode::RequestCanceled as i32, "cancelled".into());
                        continue;
                    }
                    self.request(r);
                }
                Message::Notification(n) => {
                    if n.method == notif::Exit::METHOD {
                        return if self.shutdown { 0 } else { 1 };
                    }
                    if n.method != notif::Cancel::METHOD {
                        self.notification(n);
                    }
                }
                Message::Response(_) => {}
            }
        }
    }

    /// Move what the client already sent into `queue`, noting cancellations of requests that
    /// wait in it or of `current` (a cancel of an answered request is ignored).
    fn absorb(
        &self,
        queue: &mut VecDeque<Message>,
        cancelled: &mut HashSet<RequestId>,
        current: Option<&RequestId>,
    ) {
        while let Ok(m) = self.conn.receiver.try_recv() {
            queue.push_back(m);
        }
        for m in queue.iter() {
            let Message::Notification(n) = m else {
                continue;
            };
            if n.method != notif::Cancel::METHOD {
                continue;
            }
            let id = match n.params.get("id") {
                Some(Value::Number(x)) => x.as_i64().map(|x| RequestId::from(x as i32)),
                Some(Value::String(x)) => Some(RequestId::from(x.clone())),
                _ => None,
            };
            let waiting = |id: &RequestId| {
                current == Some(id)
                    || queue
                        .iter()
                        .any(|m| matches!(m, Message::Request(r) if &r.id == id))
            };
            if let Some(id) = id.filter(waiting) {
                cancelled.insert(id);
            }
        }
        queue.retain(
            |m| !matches!(m, Message::Notification(n) if n.method == notif::Cancel::METHOD),
        );
    }

    /// Check what changed and publish the open documents whose diagnostics changed.
    fn sync(&mut self) {
        let mut checked = false;
        for w in &mut self.worlds {
            if w.ws.needs_check() {
                w.ws.check();
                checked = true;
            }
        }
        let fresh = std::mem::take(&mut self.fresh);
        if self.pull {
            if checked && self.refresh {
                self.send_request("workspace/diagnostic/refresh", Value::Null);
            }
            return;
        }
        let uris: Vec<Url> = if checked {
            self.docs.keys().cloned().collect()
        } else {
            fresh.into_iter().collect()
        };
        for uri in uris {
            self.publish(&uri);
        }
    }

    fn publish(&mut self, uri: &Url) {
        let Some(doc) = self.docs.get(uri) else {
            return;
        };
        let version = doc.version;
        let diags = if doc.ignored {
            Vec::new()
        } else {
            self.diagnostics(doc.world, doc.file)
        };
        if self.published.get(uri) == Some(&diags) {
            return;
        }
        self.notify(
            notif::PublishDiagnostics::METHOD,
            lsp_types::PublishDiagnosticsParams {
                uri: uri.clone(),
                diagnostics: diags.clone(),
                version: Some(version),
            },
        );
        self.published.insert(uri.clone(), diags);
    }

    fn diagnostics(&self, world: usize, file: FileId) -> Vec<Diagnostic> {
        let Some(ws) = self.worlds.get(world).map(|w| &w.ws) else {
            return Vec::new();
        };
        let Some(slot) = ws.slot(file) else {
            return Vec::new();
        };
        ws.diagnostics(file)
            .into_iter()
            .map(|d| {
                let f = &d.finding;
                let mut message = f.message.clone();
                if let Some(h) = &f.help {
                    message.push_str("\nhelp: ");
                    message.push_str(h);
                }
                let related: Vec<DiagnosticRelatedInformation> = d
                    .related
                    .iter()
                    .filter_map(|r| {
                        let slot = ws.slot(FileId(r.source? as u32))?;
                        Some(DiagnosticRelatedInformation {
                            location: Location {
                                uri: self.uri_of(&slot.path)?,
                                range: range(&slot.source, r.span?),
                            },
                            message: r.message.clone(),
                        })
                    })
                    .collect();
                Diagnostic {
                    range: d.span.map(|s| range(&slot.source, s)).unwrap_or_default(),
                    severity: Some(match f.severity {
                        Severity::Error => DiagnosticSeverity::ERROR,
                        Severity::Warning => DiagnosticSeverity::WARNING,
                        Severity::Info => DiagnosticSeverity::INFORMATION,
                    }),
                    code: Some(NumberOrString::String(f.rule.to_owned())),
                    source: Some("rollgate".into()),
                    message,
                    related_information: (!related.is_empty()).then_some(related),
                    ..Diagnostic::default()
                }
            })
            .collect()
    }

    fn uri_of(&self, path: &Path) -> Option<Url> {
        self.uris
            .get(path)
            .cloned()
            .or_else(|| Url::from_file_path(path).ok())
    }

    fn notify(&self, method: &str, params: impl serde::Serialize) {
        let _ = self
            .conn
            .sender
            .send(Notification::new(method.to_owned(), params).into());
    }

    fn send_request(&mut self, method: &str, params: impl serde::Serialize) {
        self.next_request += 1;
        let id = RequestId::from(format!("rollgate-{}", self.next_request));
        let _ = self
            .conn
            .sender
            .send(Request::new(id, method.to_owned(), params).into());
    }

    fn log(&self, typ: lsp_types::MessageType, message: String) {
        self.notify(
            notif::LogMessage::METHOD,
            lsp_types::LogMessageParams { typ, message },
        );
    }

    fn show(&self, typ: lsp_types::MessageType, message: String) {
        self.notify(
            notif::ShowMessage::METHOD,
            lsp_types::ShowMessageParams { typ, message },
        );
    }

    fn reply(&self, id: RequestId, result: impl serde::Serialize) {
        let _ = self.conn.sender.send(Response::new_ok(id, result).into());
    }

    fn reply_err(&self, id: RequestId, code: i32, message: String) {
        let _ = self
            .conn
            .sender
            .send(Response::new_err(id, code, message).into());
    }

    fn register_watchers(&mut self) {
        let watchers: Vec<Value> = ["**/*.{yaml,yml,json}", "**/.rollgate.{yaml,yml}"]
            .iter()
            .map(|g| json!({ "globPattern": g }))
            .collect();
        self.send_request(
            "client/registerCapability",
            json!({ "registrations": [{
                "id": "rollgate-watched-files",
                "method": "workspace/didChangeWatchedFiles",
                "registerOptions": { "watchers": watchers },
            }]}),
        );
    }

    /// Read `.rollgate.yaml` (the nearest to the first workspace folder) and configure the
    /// engine. A broken config keeps the previous one and says why.
    fn load_config(&mut self) {
        let path = self.roots.first().and_then(|r| config::discover(r));
        let cfg = match &path {
            Some(p) => match Config::from_file(p, &all_metas()) {
                Ok(c) => c,
                Err(e) => {
                    self.show(lsp_types::MessageType::ERROR, format!("rollgate: {e}"));
                    return;
                }
            },
            None => Config::default(),
        };
        self.config_path = path;
        // The configured globs only: a file open in the editor is named, and a named file is
        // linted whatever the default excludes say (`rollgate lint <file>`), unless
        // `force-exclude` asks otherwise.
        self.exclude = Some(crate::manifest::exclude::Excludes::new(
            Some(cfg.exclude.as_deref().unwrap_or_default()),
            &cfg.extend_exclude,
            cfg.path
                .as_deref()
                .and_then(Path::parent)
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            cfg.force_exclude,
        ));
        // The linter's settings for a file of the workspace: the context root, and the
        // instrumentation's histograms around the workspace (`cli::run_lint`).
        let mut scanned = crate::buckets::source::Scanned::default();
        crate::cli::discover_sources(&cfg, &self.roots, &mut scanned);
        let mut settings = cfg.settings.clone();
        settings.source_histograms = scanned;
        // No network on the typing path: bucket layouts come from the config and the sources.
        settings.prometheus_url = None;
        self.config = cfg;
        self.settings = settings;
        for i in 0..self.worlds.len() {
            let (engine, settings) = self.configured(&self.worlds[i].root.clone());
            self.worlds[i].ws.set_config(engine, settings);
        }
    }

    fn excluded(&self, path: &Path) -> bool {
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| CONFIG_NAMES.contains(&n))
        {
            return true;
        }
        self.exclude
            .as_ref()
            .is_some_and(|e| e.configured(path, Some(path)))
    }

    /// The engine and settings of the world of `root` (the context root is a setting).
    fn configured(&self, root: &Path) -> (Engine, crate::engine::Settings) {
        let engine = Engine::new(crate::rules::REGISTRY, &self.config, None);
        let mut settings = self.settings.clone();
        settings.context_root = Some(root.to_path_buf());
        (engine, settings)
    }

    /// The context root of `path`, as `rollgate lint <path>` finds it: the nearest folder above
    /// it holding `.rollgate.yaml`, a kustomization or `.git`. Where there is none (the linter
    /// then has no context) and for untitled buffers: the workspace folder holding it, else the
    /// first one (a folder opened in an editor is a project).
    fn context_root(&self, path: &Path) -> PathBuf {
        let inside = || {
            self.roots
                .iter()
                .find(|r| path.starts_with(r))
                .or(self.roots.first())
                .cloned()
        };
        if !path.is_absolute() {
            return inside().unwrap_or_default();
        }
        let dir = path.parent().unwrap_or(path);
        crate::manifest::context::find_root(dir)
            .map(|r| r.dir)
            .or_else(inside)
            .unwrap_or_else(|| dir.to_path_buf())
    }

    /// [`Session::context_root`] of the files of folder `dir`.
    fn root_of_dir(&self, dir: &Path) -> PathBuf {
        crate::manifest::context::find_root(dir)
            .map(|r| r.dir)
            .unwrap_or_else(|| dir.to_path_buf())
    }

    /// The world `path` is reported in: its context root's, loaded now if no open document
    /// needed it before.
    fn world_for(&mut self, path: &Path) -> usize {
        let root = self.context_root(path);
        self.world_at(root)
    }

    /// The world of context root `root`, loaded now if it was not.
    fn world_at(&mut self, root: PathBuf) -> usize {
        if let Some(i) = self.worlds.iter().position(|w| w.root == root) {
            return i;
        }
        let (engine, settings) = self.configured(&root);
        let mut ws = Workspace::new(engine, settings, Limits::default());
        ws.max_file_size = self.max_file_size;
        self.worlds.push(World { root, ws });
        let i = self.worlds.len() - 1;
        self.scan(i);
        i
    }

    /// The worlds holding `path` (under their root, or included by a kustomization).
    fn worlds_with(&self, path: &Path) -> Vec<usize> {
        (0..self.worlds.len())
            .filter(|&i| {
                let w = &self.worlds[i];
                path.starts_with(&w.root)
                    || w.ws.file_id(path).is_some_and(|f| w.ws.slot(f).is_some())
            })
            .collect()
    }

    /// Load world `i` as the linter loads a file's context (`manifest::context::load` of its
    /// root: the same walk, bounds and kustomize scopes); open buffers keep their text.
    fn scan(&mut self, i: usize) {
        use crate::manifest::context;
        let start = Instant::now();
        let root = self.worlds[i].root.clone();
        let loaded = context::load(
            &[],
            std::slice::from_ref(&root),
            context::Bounds::default(),
            self.max_file_size,
        );
        for note in &loaded.notes {
            self.log(lsp_types::MessageType::INFO, format!("rollgate: {note}"));
        }
        let open: HashMap<&Path, &Doc> =
            self.docs.values().map(|d| (d.path.as_path(), d)).collect();
        let mut inputs = Vec::new();
        let mut buffers = Vec::new();
        for mut i in loaded.inputs {
            let Some(f) = i.path.clone() else { continue };
            match open.get(f.as_path()) {
                Some(d) if !d.ignored => buffers.push((f, d.text.clone())),
                _ => {
                    i.context = false;
                    inputs.push((f, i));
                }
            }
        }
        let project = context::project_of(&root).or_else(|| Some(root.clone()));
        let ws = &mut self.worlds[i].ws;
        ws.set_scopes(loaded.scopes, project);
        let n = inputs.len();
        ws.set_inputs(inputs);
        for (f, text) in buffers {
            match text {
                Some(t) => {
                    ws.set_text(&f, t);
                }
                None => {
                    let limit = ws.max_file_size;
                    ws.set_input(&f, input::too_large(f.display().to_string(), None, limit));
                }
            }
        }
        let loaded = start.elapsed();
        let stats = ws.check();
        self.log(
            lsp_types::MessageType::INFO,
            format!(
                "rollgate: {}: {n} files loaded in {} ms, {} objects checked in {} ms",
                root.display(),
                loaded.as_millis(),
                stats.objects,
                (start.elapsed() - loaded).as_millis()
            ),
        );
    }

    /// Set the text of `path` in every world that holds it (`None`: over the size limit).
    fn set_text(
        &mut self,
        path: &Path,
        text: Option<String>,
        also: Option<usize>,
    ) -> Option<FileId> {
        let mut worlds = self.worlds_with(path);
        worlds.extend(also.filter(|a| !worlds.contains(a)));
        let mut id = None;
        for i in worlds {
            let ws = &mut self.worlds[i].ws;
            let f = match &text {
                Some(t) => ws.set_text(path, t.clone()),
                None => {
                    let limit = ws.max_file_size;
                    ws.set_input(
                        path,
                        input::too_large(path.display().to_string(), None, limit),
                    )
                }
            };
            if Some(i) == also {
                id = Some(f);
            }
        }
        id
    }

    /// `path` is gone (deleted, or an untitled buffer closed): out of every world.
    fn remove(&mut self, path: &Path) {
        for w in &mut self.worlds {
            w.ws.remove(path);
        }
    }

    /// Read a file from disk into the workspace (a watched change of a file not open).
    fn reload_from_disk(&mut self, path: &Path) {
        // An excluded file is still context (the linter's context walk does not exclude).
        if self.docs.values().any(|d| d.path == path) || is_config(path) {
            return;
        }
        let manifest =
            input::is_manifest_name(path) || crate::manifest::kustomize::is_kustomization(path);
        if !manifest {
            return;
        }
        match input::read_file(path, self.max_file_size) {
            Ok(i) => {
                for w in self.worlds_with(path) {
                    self.worlds[w].ws.set_input(path, i.clone());
                }
            }
            Err(_) => self.remove(path),
        }
    }

    fn notification(&mut self, n: Notification) {
        match n.method.as_str() {
            notif::DidOpenTextDocument::METHOD => {
                if let Ok(p) =
                    serde_json::from_value::<lsp_types::DidOpenTextDocumentParams>(n.params)
                {
                    let d = p.text_document;
                    self.open(d.uri, d.version, d.text);
                }
            }
            notif::DidChangeTextDocument::METHOD => {
                if let Ok(p) =
                    serde_json::from_value::<lsp_types::DidChangeTextDocumentParams>(n.params)
                {
                    self.change(p);
                }
            }
            notif::DidCloseTextDocument::METHOD => {
                if let Ok(p) =
                    serde_json::from_value::<lsp_types::DidCloseTextDocumentParams>(n.params)
                {
                    self.close(&p.text_document.uri);
                }
            }
            notif::DidSaveTextDocument::METHOD => {
                if let Ok(p) =
                    serde_json::from_value::<lsp_types::DidSaveTextDocumentParams>(n.params)
                {
                    if let Ok(path) = p.text_document.uri.to_file_path() {
                        if is_config(&path) {
                            self.reload_config();
                        }
                    }
                }
            }
            notif::DidChangeWatchedFiles::METHOD => {
                if let Ok(p) =
                    serde_json::from_value::<lsp_types::DidChangeWatchedFilesParams>(n.params)
                {
                    let mut config = false;
                    for c in p.changes {
                        let Ok(path) = c.uri.to_file_path() else {
                            continue;
                        };
                        let path = canonical(path);
                        if is_config(&path) {
                            config = true;
                        } else if c.typ == lsp_types::FileChangeType::DELETED {
                            if !self.docs.values().any(|d| d.path == path) {
                                self.remove(&path);
                            }
                        } else {
                            self.reload_from_disk(&path);
                        }
                    }
                    if config {
                        self.reload_config();
                    }
                }
            }
            _ => {}
        }
    }

    /// The config changed: configure again, re-scan (`exclude` may have changed), re-publish.
    fn reload_config(&mut self) {
        self.load_config();
        for i in 0..self.worlds.len() {
            self.scan(i);
        }
        // Every open document again (the scan already checked: nothing is pending).
        self.fresh.extend(self.docs.keys().cloned());
    }

    fn path_of(&mut self, uri: &Url) -> PathBuf {
        // Canonical, as the linter names files (the workspace's paths come from the same walk).
        let path = uri
            .to_file_path()
            .map(canonical)
            .unwrap_or_else(|()| PathBuf::from(format!("untitled:{uri}")));
        self.uris.insert(path.clone(), uri.clone());
        path
    }

    fn open(&mut self, uri: Url, version: i32, text: String) {
        let path = self.path_of(&uri);
        let ignored = self.excluded(&path);
        // A text over the limit is not kept (nor copied): the file is reported as too large.
        let keep = (text.len() as u64 <= self.max_file_size).then(|| text.clone());
        let world = self.world_for(&path);
        let file = if ignored {
            FileId(u32::MAX)
        } else {
            // Every world holding the file sees the buffer (it is context there).
            self.set_text(&path, Some(text), Some(world))
                .unwrap_or(FileId(u32::MAX))
        };
        self.published.remove(&uri);
        self.fresh.insert(uri.clone());
        self.docs.insert(
            uri,
            Doc {
                world,
                file,
                path,
                version,
                text: keep,
                ignored,
            },
        );
    }

    fn change(&mut self, p: lsp_types::DidChangeTextDocumentParams) {
        let uri = p.text_document.uri;
        let version = p.text_document.version;
        let Some(doc) = self.docs.get_mut(&uri) else {
            // didChange before didOpen: only a full text can be taken as it is.
            if let Some(full) = p.content_changes.iter().rev().find(|c| c.range.is_none()) {
                let text = full.text.clone();
                self.log(
                    lsp_types::MessageType::WARNING,
                    format!("{uri}: changed before it was opened; taking the full text"),
                );
                self.open(uri, version, text);
            } else {
                self.log(
                    lsp_types::MessageType::WARNING,
                    format!("{uri}: changed before it was opened; ignored"),
                );
            }
            return;
        };
        if version <= doc.version {
            // Out of order: an older text than the one applied.
            let message = format!(
                "{uri}: change to version {version} after version {}; ignored",
                doc.version
            );
            self.log(lsp_types::MessageType::WARNING, message);
            return;
        }
        doc.version = version;
        for c in p.content_changes {
            match (c.range, doc.text.as_mut()) {
                (None, _) => doc.text = Some(c.text),
                (Some(r), Some(text)) => {
                    let start = convert::offset(text, r.start);
                    let end = convert::offset(text, r.end).max(start);
                    text.replace_range(start..end, &c.text);
                }
                // An edit of a text that was too large to keep: wait for a full text.
                (Some(_), None) => {}
            }
            if doc
                .text
                .as_ref()
                .is_some_and(|t| t.len() as u64 > self.max_file_size)
            {
                doc.text = None;
            }
        }
        if doc.ignored {
            return;
        }
        let (path, text, world) = (doc.path.clone(), doc.text.clone(), doc.world);
        // `None`: over the limit, the file is reported as such, its text not kept.
        self.set_text(&path, text, Some(world));
    }

    fn close(&mut self, uri: &Url) {
        let Some(doc) = self.docs.remove(uri) else {
            return;
        };
        // Clear what was shown; the file on disk (if any) is the world's again.
        if self.published.remove(uri).is_some() {
            self.notify(
                notif::PublishDiagnostics::METHOD,
                lsp_types::PublishDiagnosticsParams {
                    uri: uri.clone(),
                    diagnostics: Vec::new(),
                    version: None,
                },
            );
        }
        if doc.ignored {
            return;
        }
        // The file on disk (if any) is the world's again.
        match input::read_file(&doc.path, self.max_file_size) {
            Ok(i) if doc.path.is_file() => {
                for w in self.worlds_with(&doc.path) {
                    self.worlds[w].ws.set_input(&doc.path, i.clone());
                }
            }
            _ => self.remove(&doc.path),
        }
    }

    fn request(&mut self, r: Request) {
        if self.shutdown {
            self.reply_err(
                r.id,
                ErrorCode::InvalidRequest as i32,
                "the server is shutting down".into(),
            );
            return;
        }
        let id = r.id.clone();
        let result: Result<Value, (ErrorCode, String)> = match r.method.as_str() {
            req::Shutdown::METHOD => {
                self.shutdown = true;
                Ok(Value::Null)
            }
            req::HoverRequest::METHOD => self.with_params(r, |s, p: lsp_types::HoverParams| {
                let pp = p.text_document_position_params;
                s.at(&pp.text_document.uri, pp.position, features::hover)
            }),
            req::GotoDefinition::METHOD => {
                self.with_params(r, |s, p: lsp_types::GotoDefinitionParams| {
                    let pp = p.text_document_position_params;
                    let targets = s
                        .at(&pp.text_document.uri, pp.position, features::definition)
                        .unwrap_or_default();
                    let (w, _) = s.file(&pp.text_document.uri)?;
                    let ws = &s.worlds[w].ws;
                    let locations: Vec<Location> = targets
                        .into_iter()
                        .filter_map(|(file, span)| {
                            let slot = ws.slot(file)?;
                            Some(Location {
                                uri: s.uri_of(&slot.path)?,
                                range: range(&slot.source, span),
                            })
                        })
                        .collect();
                    (!locations.is_empty()).then_some(locations)
                })
            }
            req::DocumentSymbolRequest::METHOD => {
                self.with_params(r, |s, p: lsp_types::DocumentSymbolParams| {
                    let (w, file) = s.file(&p.text_document.uri)?;
                    Some(features::symbols(&s.worlds[w].ws, file))
                })
            }
            req::CodeActionRequest::METHOD => {
                self.with_params(r, |s, p: lsp_types::CodeActionParams| {
                    let (w, file) = s.file(&p.text_document.uri)?;
                    Some(features::code_actions(
                        &s.worlds[w].ws,
                        file,
                        &p.text_document.uri,
                        p.range,
                        &p.context.diagnostics,
                    ))
                })
            }
            req::DocumentDiagnosticRequest::METHOD => {
                self.with_params(r, |s, p: lsp_types::DocumentDiagnosticParams| {
                    let found = s.file(&p.text_document.uri);
                    let items = found.map(|(w, f)| s.diagnostics(w, f)).unwrap_or_default();
                    let revision = found.map_or(0, |(w, _)| s.worlds[w].ws.revision());
                    Some(json!({
                        "kind": "full",
                        "resultId": revision.to_string(),
                        "items": items,
                    }))
                })
            }
            _ => Err((
                ErrorCode::MethodNotFound,
                format!("unknown method {}", r.method),
            )),
        };
        match result {
            Ok(v) => self.reply(id, v),
            Err((code, message)) => self.reply_err(id, code as i32, message),
        }
    }

    fn with_params<P: serde::de::DeserializeOwned, R: serde::Serialize>(
        &mut self,
        r: Request,
        f: impl FnOnce(&mut Self, P) -> Option<R>,
    ) -> Result<Value, (ErrorCode, String)> {
        let p: P = serde_json::from_value(r.params)
            .map_err(|e| (ErrorCode::InvalidParams, format!("{}: {e}", r.method)))?;
        Ok(serde_json::to_value(f(self, p)).unwrap_or(Value::Null))
    }

    /// The linted file of an open document (or of a workspace file named by URI).
    fn file(&self, uri: &Url) -> Option<(usize, FileId)> {
        match self.docs.get(uri) {
            Some(d) if !d.ignored => Some((d.world, d.file)),
            Some(_) => None,
            None => {
                let path = canonical(uri.to_file_path().ok()?);
                self.worlds
                    .iter()
                    .enumerate()
                    .find_map(|(i, w)| Some((i, w.ws.file_id(&path)?)))
            }
        }
    }

    fn at<R>(
        &self,
        uri: &Url,
        position: Position,
        f: impl FnOnce(&Workspace, FileId, crate::manifest::Pos) -> Option<R>,
    ) -> Option<R> {
        let (w, file) = self.file(uri)?;
        let ws = &self.worlds[w].ws;
        let slot = ws.slot(file)?;
        f(ws, file, convert::from_lsp(&slot.source, position))
    }
}

/// `path` as the linter names files: canonical, or (a deleted file) its canonical folder joined
/// with its name.
fn canonical(path: PathBuf) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(&path) {
        return p;
    }
    match (path.parent(), path.file_name()) {
        (Some(d), Some(n)) => std::fs::canonicalize(d).map(|d| d.join(n)).unwrap_or(path),
        _ => path,
    }
}

fn is_config(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| CONFIG_NAMES.contains(&n))
}

/// The LSP range of a span.
pub(crate) fn range(source: &Source, span: Span) -> Range {
    Range {
        start: convert::to_lsp(source, span.start),
        end: convert::to_lsp(source, span.end),
    }
}
