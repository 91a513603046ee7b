//! Command-line interface. `main.rs` only calls `run` and exits with its code.
//!
//! Exit codes (like ripgrep and ruff): 0 no finding at or above `--fail-level`; 1 findings;
//! 2 usage errors, configuration errors or unreadable paths (the readable ones are still linted
//! and reported). A closed stdout (`rollgate lint … | head`) ends the program quietly.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::engine::config::{self, Config};
use crate::engine::lint::{LintRun, default_threads, lint_in_project};
use crate::engine::{Engine, Severity, all_metas};
use crate::manifest::Limits;
use crate::manifest::input::{self, DEFAULT_MAX_FILE_SIZE, Input};
use crate::report::{self, Format};

pub(crate) const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("ROLLGATE_GIT_COMMIT"),
    ")"
);

#[derive(Parser, Debug)]
#[command(
    name = "rollgate",
    version = VERSION,
    about = "Find canary rollout configs that fail silently: Flagger, Argo Rollouts, Istio, Prometheus Operator",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Lint manifest files, directories (recursively: .yaml, .yml, .json) or standard input (-).
    Lint(LintArgs),
    /// List the rules.
    Rules {
        #[arg(long, value_enum, default_value_t = RulesFormat::Text)]
        format: RulesFormat,
    },
    /// Print a rule's documentation.
    Explain {
        /// The rule id, e.g. istio-weights-not-100.
        rule: String,
    },
    /// Check a bare PromQL gate query (from a script or another tool) with the query rules.
    CheckQuery(crate::promql::check::CheckQueryArgs),
    /// Show what each Flagger Canary and Argo Rollout will do over time: steps, weights,
    /// gates, fastest rollback and time to promotion.
    ExplainRollout {
        /// Manifest files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = RulesFormat::Text)]
        format: RulesFormat,
    },
    /// Serve the rules as a language server over standard input and output (diagnostics as
    /// you type with the workspace folder as context, hover, quick fixes, go to definition).
    Lsp,
    /// Serve the rules as a validating admission webhook (HTTPS, AdmissionReview v1).
    Serve(Box<crate::webhook::args::ServeArgs>),
    /// Audit the objects already in a cluster (read-only paged LISTs) with the lint rules;
    /// with --write-reports, keep rollgate's PolicyReports in line with the findings.
    Audit(crate::webhook::audit_cli::AuditArgs),
    /// Print a shell completion script (e.g. `rollgate completions bash > /etc/bash_completion.d/rollgate`).
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff; `rollgate man > rollgate.1 && man -l rollgate.1`).
    Man {
        /// Instead, write rollgate.1 and one page per subcommand (rollgate-lint.1, …) into
        /// this folder.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RulesFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailLevel {
    Error,
    Warning,
    Info,
    /// Always exit 0 when linting ran (findings are still printed).
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Args, Debug)]
pub struct LintArgs {
    /// Files, directories, or - for standard input. Default: the current directory.
    pub paths: Vec<PathBuf>,
    #[arg(long, short, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Exit 1 when a finding at or above this severity is reported.
    #[arg(long, value_enum, default_value_t = FailLevel::Error)]
    pub fail_level: FailLevel,
    /// Configuration file (default: the nearest .rollgate.yaml in this folder or a parent).
    #[arg(long, conflicts_with = "no_config")]
    pub config: Option<PathBuf>,
    /// Ignore configuration files.
    #[arg(long)]
    pub no_config: bool,
    /// The name standard input is reported under (an editor passes the buffer's path).
    #[arg(long, default_value = "<stdin>")]
    pub stdin_filename: String,
    /// Also show info-level findings.
    #[arg(long)]
    pub show_info: bool,
    /// Namespace of objects that set none (like kubectl's current namespace).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Run only these rules (comma-separated ids).
    #[arg(long, value_delimiter = ',')]
    pub select: Option<Vec<String>>,
    /// Turn these rules off (comma-separated ids).
    #[arg(long, value_delimiter = ',')]
    pub ignore: Vec<String>,
    /// The input is complete: a referent missing from it is an error, not an info.
    #[arg(long)]
    pub strict_references: bool,
    /// The folder whose manifests are the world the rules see besides the named files (never
    /// reported). Default: the nearest folder holding .rollgate.yaml or .git, else a kustomization.
    #[arg(long, value_name = "DIR", conflicts_with = "no_context")]
    pub context: Option<PathBuf>,
    /// Only the named files are the world (no context).
    #[arg(long)]
    pub no_context: bool,
    /// Apply the excludes (the defaults, `exclude`, `extend-exclude`) to the files named on the
    /// command line too, as pre-commit needs (it names every changed file).
    #[arg(long)]
    pub force_exclude: bool,
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Files larger than this many bytes are reported and not linted.
    #[arg(long, default_value_t = DEFAULT_MAX_FILE_SIZE)]
    pub max_file_size: u64,
    /// CustomResourceDefinitions (files or directories) whose schemas rule `schema` uses
    /// instead of the built-in ones; repeatable.
    #[arg(long = "crd", value_name = "PATH")]
    pub crds: Vec<PathBuf>,
    /// Instrumentation source code (files or directories) to read histogram bucket layouts
    /// from (Python, Go, Java, Node and Rust Prometheus clients); repeatable.
    #[arg(long = "source", value_name = "PATH")]
    pub sources: Vec<PathBuf>,
    /// Discover histogram bucket layouts on this Prometheus (an http:// URL; opt-in, bounded by
    /// `prometheus.timeout`, falls back to the other sources when it does not answer).
    #[arg(long, value_name = "URL")]
    pub prometheus: Option<String>,
    /// Apply safe fixes in place (standard input: print the fixed text), then report what
    /// remains. A file whose fixed text would not parse or would gain an error is left as is.
    #[arg(long)]
    pub fix: bool,
    /// With --fix or --diff, also apply unsafe fixes (they change behaviour the way the
    /// finding says is intended).
    #[arg(long)]
    pub unsafe_fixes: bool,
    /// Print the fixes as a unified diff and write nothing; exit 1 when there would be changes.
    #[arg(long, conflicts_with = "fix")]
    pub diff: bool,
    /// Check what kustomize builds: run `kustomize build` (or `kubectl kustomize`) on each
    /// kustomization the named files belong to and lint the rendered objects, findings mapped
    /// back to the source files and patches (docs/worlds.md). A build that fails is read
    /// without the binary, with a note.
    #[arg(long, conflicts_with_all = ["fix", "diff"])]
    pub render_kustomize: bool,
}

/// Parse arguments, run, and map the outcome to an exit code.
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if let Command::Lsp = cli.command {
        // The server's writer thread owns standard output: no lock held here.
        return match crate::lsp::run_stdio() {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                eprintln!("rollgate: error: {e}");
                ExitCode::from(2)
            }
        };
    }
    let mut out = io::stdout().lock();
    let result = match cli.command {
        Command::Lint(args) => run_lint(args, &mut out),
        Command::Rules { format } => print_rules(format, &mut out).map(|()| 0),
        Command::Explain { rule } => explain(&rule, &mut out),
        Command::CheckQuery(args) => crate::promql::check::run(args, &mut out),
        Command::ExplainRollout { paths, format } => {
            let format = match format {
                RulesFormat::Text => crate::timeline::Output::Text,
                RulesFormat::Json => crate::timeline::Output::Json,
                RulesFormat::Markdown => crate::timeline::Output::Markdown,
            };
            crate::timeline::run(&paths, format, &mut out)
        }
        Command::Serve(args) => crate::webhook::args::run(*args),
        Command::Lsp => unreachable!("handled above"),
        Command::Audit(args) => crate::webhook::audit_cli::run(args, &mut out),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "rollgate", &mut out);
            Ok(0)
        }
        Command::Man { dir: None } => {
            // The page `generate_to` writes as rollgate.1.
            let mut cmd = Cli::command().disable_help_subcommand(true);
            cmd.build();
            clap_mangen::Man::new(cmd).render(&mut out).map(|()| 0)
        }
        Command::Man { dir: Some(dir) } => {
            clap_mangen::generate_to(Cli::command(), &dir).map(|()| 0)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rollgate: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn usage_error(msg: impl std::fmt::Display) -> io::Result<u8> {
    eprintln!("rollgate: error: {msg}");
    Ok(2)
}

fn explain(rule: &str, out: &mut dyn Write) -> io::Result<u8> {
    match crate::engine::meta(rule) {
        Some(m) => {
            out.write_all(m.reader_doc().as_bytes())?;
            Ok(0)
        }
        None => {
            let ids: Vec<&str> = all_metas().iter().map(|m| m.id).collect();
            let hint = config::suggest(rule, &ids)
                .map(|s| format!("; did you mean \"{s}\"?"))
                .unwrap_or_default();
            usage_error(format!(
                "unknown rule \"{rule}\"{hint} (`rollgate rules` lists them)"
            ))
        }
    }
}

fn print_rules(format: RulesFormat, out: &mut dyn Write) -> io::Result<()> {
    let metas = all_metas();
    match format {
        RulesFormat::Text => {
            let width = metas.iter().map(|m| m.id.len()).max().unwrap_or(0);
            for m in metas {
                writeln!(
                    out,
                    "{:<width$}  {:<7}  {}",
                    m.id,
                    m.severity.as_str(),
                    m.summary()
                )?;
            }
        }
        RulesFormat::Json => {
            let v: Vec<serde_json::Value> = metas
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "id": m.id,
                        "severity": m.severity,
                        "summary": m.summary(),
                        "kinds": m.kinds.iter().map(|(g, k)| format!("{}{}{k}", g, if g.is_empty() { "" } else { "/" })).collect::<Vec<_>>(),
                        "help_uri": report::help_uri(m.id),
                    })
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &v)?;
            writeln!(out)?;
        }
        RulesFormat::Markdown => {
            writeln!(out, "| rule | severity | what it catches |")?;
            writeln!(out, "|---|---|---|")?;
            for m in metas {
                writeln!(
                    out,
                    "| [`{}`](rules/{}.md) | {} | {} |",
                    m.id,
                    m.id,
                    m.severity,
                    m.summary().replace('|', "\\|")
                )?;
            }
        }
    }
    Ok(())
}

/// Load the configuration named on the command line, or the nearest one.
fn load_config(args: &LintArgs) -> Result<Config, String> {
    if args.no_config {
        return Ok(Config::default());
    }
    let metas = all_metas();
    let path = match &args.config {
        Some(p) => Some(p.clone()),
        None => std::env::current_dir()
            .ok()
            .and_then(|d| config::discover(&d)),
    };
    match path {
        Some(p) => Config::from_file(&p, &metas).map_err(|e| e.to_string()),
        None => Ok(Config::default()),
    }
}

/// `--select` and `--ignore`: every id must be a rule (with a "did you mean"); ignored rules
/// are turned off in `cfg`.
pub(crate) fn rule_flags(
    cfg: &mut Config,
    select: Option<&[String]>,
    ignore: &[String],
) -> Result<(), String> {
    let known: Vec<&str> = all_metas().iter().map(|m| m.id).collect();
    for id in select.into_iter().flatten().chain(ignore) {
        if !known.contains(&id.as_str()) {
            let hint = config::suggest(id, &known)
                .map(|s| format!("; did you mean \"{s}\"?"))
                .unwrap_or_default();
            return Err(format!("unknown rule \"{id}\"{hint}"));
        }
    }
    for id in ignore {
        cfg.rules.insert(
            id.clone(),
            config::RuleConfig {
                severity: None,
                options: Default::default(),
            },
        );
    }
    Ok(())
}

/// Whether to colour standard output (`--color`; `auto`: a terminal, and `NO_COLOR` unset).
pub(crate) fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
}

pub fn run_lint(args: LintArgs, out: &mut dyn Write) -> io::Result<u8> {
    let mut cfg = match load_config(&args) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    if let Err(e) = rule_flags(&mut cfg, args.select.as_deref(), &args.ignore) {
        return usage_error(e);
    }
    if let Some(ns) = &args.namespace {
        cfg.settings.default_namespace = ns.clone();
    }
    cfg.settings.strict_references |= args.strict_references;
    if let Some(url) = &args.prometheus {
        if let Err(e) = crate::buckets::live::parse_url(url) {
            return usage_error(format!("--prometheus: {e}"));
        }
        cfg.settings.prometheus_url = Some(url.clone());
    }
    if !args.crds.is_empty() {
        match crate::schema::CrdSet::load(&args.crds) {
            Ok(set) => cfg.settings.crds = set,
            Err(e) => return usage_error(e),
        }
    }

    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let paths_given = paths.clone();
    let (stdin, files): (Vec<PathBuf>, Vec<PathBuf>) =
        paths.into_iter().partition(|p| p.as_os_str() == "-");
    let (files, errors) = input::expand_paths_found(&files);
    // Instrumentation (rollgate::buckets::source): `--source`, source files named among the
    // paths (read as sources, not YAML), then the `sources:` globs or, by default, the source
    // files of the linted folders (bounded discovery).
    let (named_sources, files): (Vec<_>, Vec<_>) = files
        .into_iter()
        .partition(|(f, _)| crate::buckets::source::Lang::of(f).is_some());
    let named_sources: Vec<PathBuf> = named_sources.into_iter().map(|(f, _)| f).collect();
    let explicit: Vec<PathBuf> = args.sources.iter().chain(&named_sources).cloned().collect();
    let mut source_failed = false;
    let (mut scanned, source_errors) = crate::buckets::source::scan(&explicit);
    for (p, e) in &source_errors {
        eprintln!("rollgate: error: --source {}: {e}", p.display());
        source_failed = true;
    }
    discover_sources(&cfg, &paths_given, &mut scanned);
    cfg.settings.source_histograms = scanned;
    let mut failed = source_failed;
    for (p, e) in &errors {
        eprintln!("rollgate: error: {}: {e}", p.display());
        failed = true;
    }
    let excludes = crate::manifest::exclude::Excludes::new(
        cfg.exclude.as_deref(),
        &cfg.extend_exclude,
        cfg.path
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        cfg.force_exclude || args.force_exclude,
    );
    let mut not_reported = NotReported::default();
    let mut inputs: Vec<Input> = Vec::new();
    let stdin_path = stdin_canonical(&args, &stdin);
    if !stdin.is_empty() {
        match input::read_stdin(&args.stdin_filename, args.max_file_size) {
            Ok(mut i) => {
                // The buffer stands for that file: the file itself (named too, or in the
                // context) is not read again.
                i.path = stdin_path.clone();
                inputs.push(i)
            }
            Err(e) => {
                eprintln!("rollgate: error: reading standard input: {e}");
                failed = true;
            }
        }
    }
    // The project folder each named folder (or file) is in: the default excludes are relative
    // to it. Computed once per named path.
    let mut projects: Vec<(PathBuf, PathBuf, bool)> = Vec::new();
    for (f, under) in files {
        let named_dir = under.clone().unwrap_or_else(|| {
            f.parent()
                .filter(|d| !d.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        });
        let (project, defaults_apply) = match projects.iter().find(|(d, _, _)| *d == named_dir) {
            Some((_, p, a)) => (p.clone(), *a),
            None => {
                let canon = std::fs::canonicalize(&named_dir).unwrap_or(named_dir.clone());
                let project = crate::manifest::context::project_of(&canon).unwrap_or(canon.clone());
                let apply = excludes.defaults_apply_under(&canon, &project);
                projects.push((named_dir, project.clone(), apply));
                (project, apply)
            }
        };
        let canonical = std::fs::canonicalize(&f).ok();
        if under.is_some() || excludes.force {
            if excludes.configured(&f, canonical.as_deref()) {
                continue;
            }
            // A folder named inside a test tree is linted; a file named with --force-exclude
            // is checked against the defaults like any other.
            if (defaults_apply || under.is_none())
                && excludes.default(canonical.as_deref(), &project)
            {
                not_reported.fixtures += 1;
                continue;
            }
        }
        match input::read_file(&f, args.max_file_size) {
            Ok(mut i) => {
                use crate::manifest::exclude::{json_may_be_manifest, template_reason};
                if under.is_some()
                    && i.unusable.is_none()
                    && f.extension().is_some_and(|e| e == "json")
                    && !json_may_be_manifest(&i.source.text)
                {
                    // Not a manifest (package.json, a dashboard, JSON lines): a walk reads
                    // manifests only, as it reads no `.txt`.
                    continue;
                }
                let template = match (&canonical, &i.unusable) {
                    (Some(c), None) => template_reason(c, &i.source.text, Some(&project)),
                    _ => None,
                };
                if let Some(why) = template {
                    if under.is_some() {
                        not_reported.charts += 1;
                        continue;
                    }
                    i.skipped = Some(why);
                }
                inputs.push(i)
            }
            Err(e) => {
                eprintln!("rollgate: error: {}: {e}", f.display());
                failed = true;
            }
        }
    }

    let mut world = load_context(&args, &cfg, &inputs, &stdin_path);
    if let Some(root) = world.roots.first() {
        cfg.settings.context_root = Some(root.dir.clone());
    }
    // Context files parse from the cache of the project's last run (`manifest::cache`).
    let context_cache = (!world.loaded.inputs.is_empty())
        .then(|| world.roots.first())
        .flatten()
        .and_then(|r| crate::manifest::cache::ContextCache::open(&r.dir, Limits::default()))
        .map(std::sync::Arc::new);
    cfg.settings.context_cache = context_cache.clone();
    inputs.extend(world.loaded.inputs);
    let rules = crate::rules::REGISTRY;
    let engine = Engine::new(rules, &cfg, args.select.as_deref());
    let from_stdin = !stdin.is_empty();
    // The same file named twice is one input (`lint X X` = `lint X`).
    let mut inputs = crate::engine::lint::dedupe(inputs);
    let rendered = if args.render_kustomize {
        let binary = crate::manifest::render::find_binary();
        let prepared = crate::manifest::render::prepare(
            &mut inputs,
            &mut world.loaded.scopes,
            binary.as_ref(),
            crate::manifest::render::Bounds::default(),
            stdin_path.as_deref(),
        );
        for f in &prepared.failures {
            eprintln!("rollgate: note: {f}");
        }
        Some(prepared)
    } else {
        None
    };
    let mut fixed_stdin: Option<String> = None;
    let mut run = if args.fix || args.diff {
        let required = if args.unsafe_fixes {
            crate::engine::Applicability::Unsafe
        } else {
            crate::engine::Applicability::Safe
        };
        let paths: Vec<Option<PathBuf>> = inputs
            .iter()
            .enumerate()
            .map(|(i, input)| (!(from_stdin && i == 0)).then(|| PathBuf::from(&input.source.name)))
            .collect();
        // Context files are read for their objects, never fixed or diffed.
        let context: Vec<bool> = inputs.iter().map(|i| i.context).collect();
        let fr = crate::engine::apply::lint_fix(
            inputs,
            &world.loaded.scopes,
            &engine,
            &cfg.settings,
            Limits::default(),
            crate::engine::lint::default_threads(),
            required,
        );
        for (f, path) in fr.files.iter().zip(&paths) {
            if let Some(why) = &f.failure {
                let name = path
                    .as_ref()
                    .map_or(args.stdin_filename.clone(), |p| p.display().to_string());
                eprintln!("rollgate: warning: {name}: {why}");
            }
        }
        if args.diff {
            let mut changed = false;
            for ((f, path), _) in fr
                .files
                .iter()
                .zip(&paths)
                .zip(&context)
                .filter(|(_, c)| !**c)
            {
                let name = path
                    .as_ref()
                    .map_or(args.stdin_filename.clone(), |p| p.display().to_string());
                let d = crate::engine::apply::unified_diff(&f.original, &f.text, &name);
                if !d.is_empty() {
                    changed = true;
                    out.write_all(d.as_bytes())?;
                }
            }
            out.flush()?;
            let n: usize = fr.files.iter().map(|f| f.fixed_count()).sum();
            eprintln!(
                "rollgate: {n} {} would be applied (--diff writes nothing)",
                if n == 1 { "fix" } else { "fixes" }
            );
            std::mem::forget(fr.run.world);
            return Ok(if failed { 2 } else { u8::from(changed) });
        }
        let mut fr = fr;
        for ((f, path), _) in fr
            .files
            .iter()
            .zip(&paths)
            .zip(&context)
            .filter(|(_, c)| !**c)
        {
            if f.text == f.original {
                continue;
            }
            match path {
                None => fixed_stdin = Some(f.text.clone()),
                Some(p) => {
                    if let Err(e) = input::write_fixed(p, &f.original, &f.text) {
                        eprintln!(
                            "rollgate: error: {}: {e}; not fixed (the findings below are those of the fixed text)",
                            p.display()
                        );
                        fr.run.summary.fixed -= f.fixed_count();
                        failed = true;
                    }
                }
            }
        }
        fr.run
    } else {
        lint_in_project(
            inputs,
            &world.loaded.scopes,
            &engine,
            &cfg.settings,
            Limits::default(),
            default_threads(),
        )
    };
    if let Some(prepared) = &rendered {
        crate::manifest::render::map_back(&mut run, prepared);
    }
    if let Some(cache) = &context_cache {
        cache.save();
    }
    if args.fix && from_stdin {
        // The fixed text (or the text unchanged) goes to standard output, findings to stderr.
        // A failed read of standard input has no text to print.
        if let Some(src) = run
            .sources
            .first()
            .filter(|_| !failed || fixed_stdin.is_some())
        {
            let text = fixed_stdin.clone().unwrap_or_else(|| src.text.clone());
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    if args.show_info {
        for r in &world.roots {
            eprintln!(
                "rollgate: note: context: {} (the nearest folder holding {}); {} file(s) loaded as context, never reported",
                r.dir.display(),
                r.marker,
                run.context_files
            );
        }
        if world.roots.is_empty() && (args.context.is_some() || args.no_context) {
            eprintln!("rollgate: note: context: {}", world.why_none);
        }
        for n in &world.loaded.notes {
            eprintln!("rollgate: note: {n}");
        }
        for n in rendered.iter().flat_map(|p| &p.infos) {
            eprintln!("rollgate: note: kustomize: {n}");
        }
    } else if !world.loaded.notes.is_empty() {
        eprintln!(
            "rollgate: note: {} note(s) about the context (--show-info shows them)",
            world.loaded.notes.len()
        );
    }
    not_reported.print();
    if !args.show_info {
        run.diagnostics
            .retain(|d| d.finding.severity > Severity::Info);
        // The summary describes what is reported.
        run.summary.infos = 0;
    }
    let color = use_color(args.color);
    if args.fix && from_stdin {
        let mut err = io::stderr().lock();
        report::write(
            args.format,
            &run,
            &report::Options { color: false },
            &mut err,
        )?;
    } else {
        report::write(args.format, &run, &report::Options { color }, out)?;
    }
    out.flush()?;
    // The process exits next and the kernel takes its pages back at once: freeing the objects
    // node by node first would only cost time (~5 ms on the upstream corpus).
    std::mem::forget(std::mem::take(&mut run.world));
    if failed {
        return Ok(2);
    }
    Ok(exit_code(&run, args.fail_level))
}

/// Histograms of the instrumentation around the linted files: the files matching the config's
/// `sources:` globs (relative to its folder), or by default the source files of the linted
/// folders (a named file's folder included). Bounded, never an error: nobody named these files.
pub(crate) fn discover_sources(
    cfg: &Config,
    paths: &[PathBuf],
    out: &mut crate::buckets::source::Scanned,
) {
    use crate::buckets::source::{DiscoverLimits, discover};
    match &cfg.sources {
        Some(globs) if globs.is_empty() => {}
        Some(globs) => {
            let mut b = globset::GlobSetBuilder::new();
            for g in globs {
                if let Ok(glob) = globset::Glob::new(g) {
                    b.add(glob);
                }
            }
            let base = cfg
                .path
                .as_deref()
                .and_then(Path::parent)
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            let base = if base.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                base
            };
            if let Ok(set) = b.build() {
                discover(&[], Some((&set, &base)), DiscoverLimits::default(), out);
            }
        }
        None => {
            let mut dirs: Vec<PathBuf> = Vec::new();
            for p in paths.iter().filter(|p| p.as_os_str() != "-") {
                let dir = if p.is_dir() {
                    p.clone()
                } else {
                    match p.parent() {
                        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                        _ => PathBuf::from("."),
                    }
                };
                if !dirs.contains(&dir) {
                    dirs.push(dir);
                }
            }
            discover(&dirs, None, DiscoverLimits::default(), out);
        }
    }
}

/// Files a folder walk found and did not report, by reason: what the defaults leave out is said
/// in one line, never silent (what `exclude`/`extend-exclude` leave out, the user wrote).
#[derive(Debug, Default)]
struct NotReported {
    fixtures: usize,
    charts: usize,
}

impl NotReported {
    fn print(&self) {
        let mut parts = Vec::new();
        if self.fixtures > 0 {
            parts.push(format!(
                "{} in test trees and fixture folders (the default excludes: test/, tests/, e2e/ at the project's top, testdata/ and fixtures/ anywhere; `exclude: []` or naming the files lints them)",
                self.fixtures
            ));
        }
        if self.charts > 0 {
            parts.push(format!(
                "{} Helm chart or Ansible role template(s), not manifests until rendered (`helm template CHART | rollgate lint -`)",
                self.charts
            ));
        }
        if !parts.is_empty() {
            // Files the configuration's own globs exclude are not counted: the user asked.
            let n = self.fixtures + self.charts;
            eprintln!(
                "rollgate: note: {n} file(s) not reported: {} (docs/configuration.md, \"Excludes\")",
                parts.join("; ")
            );
        }
    }
}

/// The canonical path standard input stands for (`--stdin-filename`), when it names a file or
/// a place in an existing folder.
fn stdin_canonical(args: &LintArgs, stdin: &[PathBuf]) -> Option<PathBuf> {
    if stdin.is_empty() || args.stdin_filename == "<stdin>" {
        return None;
    }
    let p = Path::new(&args.stdin_filename);
    std::fs::canonicalize(p).ok().or_else(|| {
        let parent = p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Some(std::fs::canonicalize(parent).ok()?.join(p.file_name()?))
    })
}

/// The context of a run: its roots and files.
struct World {
    roots: Vec<crate::manifest::context::Root>,
    /// Why there is no context, when there is none.
    why_none: String,
    loaded: crate::manifest::context::Loaded,
}

/// Find and load the context of the named inputs (`manifest::context`): `--no-context` or
/// `context: false` for none; `--context DIR`; `context: DIR`; else the nearest project folder
/// of each named file. Kustomizations among the named files are analysed in every case.
fn load_context(args: &LintArgs, cfg: &Config, inputs: &[Input], stdin: &Option<PathBuf>) -> World {
    use crate::engine::config::ContextSetting;
    use crate::manifest::context::{self, Bounds, Root};
    let mut named: Vec<PathBuf> = inputs.iter().filter_map(|i| i.path.clone()).collect();
    named.extend(stdin.iter().cloned());
    let mut roots: Vec<Root> = Vec::new();
    let mut why_none = String::new();
    let setting = if args.no_context {
        Some(ContextSetting::Off)
    } else if let Some(d) = &args.context {
        Some(ContextSetting::Dir(d.clone()))
    } else {
        cfg.context.clone()
    };
    match setting {
        Some(ContextSetting::Off) => {
            why_none = if args.no_context {
                "none (--no-context)".into()
            } else {
                "none (context: false in the configuration)".into()
            };
        }
        Some(ContextSetting::Dir(d)) => {
            let (dir, marker) = if args.context.is_some() {
                (d, "--context".to_owned())
            } else {
                let base = cfg
                    .path
                    .as_deref()
                    .and_then(Path::parent)
                    .map(Path::to_path_buf)
                    .unwrap_or_default();
                (base.join(d), "context: in the configuration".to_owned())
            };
            match std::fs::canonicalize(&dir) {
                Ok(dir) if dir.is_dir() => roots.push(Root {
                    dir,
                    marker: format!("{marker}: given"),
                }),
                _ => {
                    eprintln!(
                        "rollgate: warning: context folder {} does not exist; linting without context",
                        dir.display()
                    );
                    why_none = format!("none ({} does not exist)", dir.display());
                }
            }
        }
        Some(ContextSetting::Discover) | None => {
            let mut finder = context::RootFinder::default();
            for p in &named {
                let start = if p.is_dir() {
                    p.as_path()
                } else {
                    p.parent().unwrap_or(p)
                };
                if let Some(r) = finder.find(start) {
                    if !roots.iter().any(|x| x.dir == r.dir) {
                        roots.push(r);
                    }
                }
            }
            if roots.is_empty() {
                why_none = "none (no folder above the named files holds .rollgate.yaml, a kustomization or .git; --context DIR sets one)".into();
            }
        }
    }
    let dirs: Vec<PathBuf> = roots.iter().map(|r| r.dir.clone()).collect();
    let loaded = context::load(&named, &dirs, Bounds::default(), args.max_file_size);
    World {
        roots,
        why_none,
        loaded,
    }
}

pub(crate) fn exit_code(run: &LintRun, level: FailLevel) -> u8 {
    let threshold = match level {
        FailLevel::Error => Severity::Error,
        FailLevel::Warning => Severity::Warning,
        FailLevel::Info => Severity::Info,
        FailLevel::Never => return 0,
    };
    let s = &run.summary;
    let hit = match threshold {
        Severity::Error => s.errors > 0,
        Severity::Warning => s.errors + s.warnings > 0,
        Severity::Info => s.errors + s.warnings + s.infos > 0,
    };
    u8::from(hit)
}
