//! `rollgate check-query`: the query rules on a bare PromQL query, for gates that live outside
//! manifests (shell scripts, cron jobs, other tools). Output is gcc-like with the position inside
//! the query; exit code 0 (no error), 1 (error findings), 2 (usage).

use std::io::{self, Read, Write};

use clap::{Args, ValueEnum};

use super::gates::Thresholds;
use super::scrape::{ScrapeInterval, parse_duration};
use super::{BareFinding, check_bare};
use crate::engine::Severity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompareOp {
    /// The gate passes while the value is greater than the threshold (success rate).
    Gt,
    /// The gate passes while the value is less than the threshold (latency, error rate).
    Lt,
}

#[derive(Args, Debug)]
pub struct CheckQueryArgs {
    /// The PromQL query as the controller sends it (template variables already substituted);
    /// `-` reads it from standard input.
    pub query: String,
    /// The threshold the gate compares the query's value with.
    #[arg(long, requires = "op", allow_hyphen_values = true)]
    pub threshold: Option<f64>,
    /// How the gate compares the value with the threshold.
    #[arg(long, value_enum, requires = "threshold")]
    pub op: Option<CompareOp>,
    /// The scrape interval of the queried metrics, e.g. 15s (default: the Prometheus Operator's
    /// 30s, assumed).
    #[arg(long, value_name = "DURATION")]
    pub scrape_interval: Option<String>,
}

/// Byte offset → 1-based line and column (in characters).
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

pub fn run(args: CheckQueryArgs, out: &mut dyn Write) -> io::Result<u8> {
    let query = if args.query == "-" {
        let mut s = String::new();
        if let Err(e) = io::stdin().read_to_string(&mut s) {
            eprintln!("rollgate: error: reading the query from standard input: {e}");
            return Ok(2);
        }
        s
    } else {
        args.query.clone()
    };
    if query.trim().is_empty() {
        eprintln!("rollgate: error: the query is empty");
        return Ok(2);
    }
    let scrape = match &args.scrape_interval {
        Some(s) => match parse_duration(s).filter(|d| !d.is_zero()) {
            Some(value) => ScrapeInterval::stated(value, format!("--scrape-interval {s}")),
            None => {
                eprintln!(
                    "rollgate: error: --scrape-interval {s:?} is not a duration like 15s or 1m"
                );
                return Ok(2);
            }
        },
        None => ScrapeInterval::assumed_default(),
    };
    if args.threshold.is_some_and(|t| !t.is_finite()) {
        eprintln!("rollgate: error: --threshold must be a finite number");
        return Ok(2);
    }
    let thresholds = Thresholds::Bare {
        threshold: args.threshold,
        op: args.op.map(|o| match o {
            CompareOp::Gt => "gt".to_owned(),
            CompareOp::Lt => "lt".to_owned(),
        }),
    };
    let findings = check_bare(&query, scrape, thresholds);
    write_findings(&query, &findings, out)?;
    let templated = query.contains("{{");
    if templated {
        writeln!(
            out,
            "query:1:1: note: the query contains template syntax ({{{{ … }}}}); check-query expects the rendered query"
        )?;
    }
    Ok(u8::from(
        findings.iter().any(|f| f.issue.severity == Severity::Error),
    ))
}

fn write_findings(query: &str, findings: &[BareFinding], out: &mut dyn Write) -> io::Result<()> {
    for f in findings {
        let (line, col) = line_col(query, f.issue.span.start);
        let msg = f.issue.message.replace('\n', " ");
        writeln!(
            out,
            "query:{line}:{col}: {}: {msg} [{}]",
            f.issue.severity, f.rule
        )?;
        if let Some(h) = &f.issue.help {
            writeln!(out, "query:{line}:{col}: note: {}", h.replace('\n', " "))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns() {
        assert_eq!(line_col("abc", 1), (1, 2));
        assert_eq!(line_col("a\nbé c", 5), (2, 3));
    }
}
