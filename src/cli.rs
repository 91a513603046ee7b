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
use crate::engine::lint::{LintRun, lint};
use crate::engine::{Engine, Severity, all_metas};
use crate::manifest::Limits;
use crate::manifest::input::{self, DEFAULT_MAX_FILE_SIZE, Input};
use crate::report::{self, Format};

const VERSION: &str = concat!(
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
    Serve(crate::webhook::args::ServeArgs),
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
    /// The input is complete: a referent missing from it is an error, not a warning.
    #[arg(long)]
    pub strict_references: bool,
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
            crate::timeline::run(&paths, format == RulesFormat::Json, &mut out)
        }
        Command::Serve(args) => crate::webhook::args::run(args),
        Command::Lsp => unreachable!("handled above"),
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
            out.write_all(m.doc.as_bytes())?;
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

/// Files excluded by the config's globs (matched against the path relative to the config's
/// folder, and against the path as given).
pub(crate) fn excluder(cfg: &Config) -> Option<(globset::GlobSet, PathBuf)> {
    if cfg.exclude.is_empty() {
        return None;
    }
    let mut b = globset::GlobSetBuilder::new();
    for g in &cfg.exclude {
        if let Ok(glob) = globset::Glob::new(g) {
            b.add(glob);
        }
    }
    let base = cfg
        .path
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    b.build().ok().map(|set| (set, base))
}

pub fn run_lint(args: LintArgs, out: &mut dyn Write) -> io::Result<u8> {
    let mut cfg = match load_config(&args) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let known: Vec<&str> = all_metas().iter().map(|m| m.id).collect();
    for id in args.select.iter().flatten().chain(&args.ignore) {
        if !known.contains(&id.as_str()) {
            let hint = config::suggest(id, &known)
                .map(|s| format!("; did you mean \"{s}\"?"))
                .unwrap_or_default();
            return usage_error(format!("unknown rule \"{id}\"{hint}"));
        }
    }
    for id in &args.ignore {
        cfg.rules.insert(
            id.clone(),
            config::RuleConfig {
                severity: None,
                options: Default::default(),
            },
        );
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
    let mut source_failed = false;
    if !args.sources.is_empty() {
        let (scanned, errors) = crate::buckets::source::scan(&args.sources);
        for (p, e) in &errors {
            eprintln!("rollgate: error: --source {}: {e}", p.display());
            source_failed = true;
        }
        cfg.settings.source_histograms = scanned;
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
    let (stdin, files): (Vec<PathBuf>, Vec<PathBuf>) =
        paths.into_iter().partition(|p| p.as_os_str() == "-");
    let (files, errors) = input::expand_paths(&files);
    let mut failed = source_failed;
    for (p, e) in &errors {
        eprintln!("rollgate: error: {}: {e}", p.display());
        failed = true;
    }
    let exclude = excluder(&cfg);
    let mut inputs: Vec<Input> = Vec::new();
    if !stdin.is_empty() {
        match input::read_stdin(&args.stdin_filename, args.max_file_size) {
            Ok(i) => inputs.push(i),
            Err(e) => {
                eprintln!("rollgate: error: reading standard input: {e}");
                failed = true;
            }
        }
    }
    for f in files {
        if let Some((set, base)) = &exclude {
            let rel = f.strip_prefix(base).unwrap_or(&f);
            let rel = rel.strip_prefix("./").unwrap_or(rel);
            if set.is_match(rel) || set.is_match(&f) {
                continue;
            }
        }
        match input::read_file(&f, args.max_file_size) {
            Ok(i) => inputs.push(i),
            Err(e) => {
                eprintln!("rollgate: error: {}: {e}", f.display());
                failed = true;
            }
        }
    }

    let rules = crate::rules::REGISTRY;
    let engine = Engine::new(rules, &cfg, args.select.as_deref());
    let mut run = lint(inputs, &engine, &cfg.settings, Limits::default());
    if !args.show_info {
        run.diagnostics
            .retain(|d| d.finding.severity > Severity::Info);
        // The summary describes what is reported.
        run.summary.infos = 0;
    }
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    report::write(args.format, &run, &report::Options { color }, out)?;
    out.flush()?;
    // The process exits next and the kernel takes its pages back at once: freeing the objects
    // node by node first would only cost time (~5 ms on the upstream corpus).
    std::mem::forget(std::mem::take(&mut run.world));
    if failed {
        return Ok(2);
    }
    Ok(exit_code(&run, args.fail_level))
}

fn exit_code(run: &LintRun, level: FailLevel) -> u8 {
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
