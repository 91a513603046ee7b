//! `.rollgate.yaml`: rule selection and severities, path excludes, and settings later analyses
//! read (histogram bucket declarations, a Prometheus URL). Unknown keys are errors with their
//! position, so a typo never silently disables a setting.
//!
//! ```yaml
//! rules:
//!   istio-weights-not-100: error          # a severity (error, warning, info) or "off"
//!   query-returns-many-series: off
//!   rate-window-too-short: {severity: warning}
//! extend-exclude: ["generated/**"]      # globs, relative to the config file's folder, added
//!                                        # to the defaults (test trees, fixture folders)
//! exclude: ["charts/**"]                 # instead of the defaults (docs/configuration.md)
//! force-exclude: false                   # the excludes apply to named files too (pre-commit)
//! sources: ["src/**/*.py"]               # instrumentation to read histograms from (default:
//!                                        # the source files of the linted folders; [] = none)
//! namespace: default                     # namespace of objects that set none (like kubectl)
//! strict-references: false               # the input is complete: missing referents are errors
//! histograms:                            # bucket bounds per histogram metric
//!   http_request_duration_seconds: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
//! prometheus:
//!   url: http://127.0.0.1:9090            # live bucket discovery (opt-in)
//!   timeout: 2s
//!   scrape-interval: 15s                  # the global scrape interval (rate-window-too-short)
//! flagger:
//!   mesh-provider: nginx                  # Flagger's -mesh-provider (builtin metric queries)
//!   namespace: apps                       # Flagger's -namespace (the one it watches)
//! context: .                             # the world the rules see (a folder, relative to this
//!                                        # file), or false; default: the project folder
//! ```
//!
//! The controller settings are also discovered in the world (a Flagger Deployment's container
//! args, a `Prometheus` object's `scrapeInterval`): [`crate::engine::controllers`]. A value
//! written here wins over a discovered one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::finding::Severity;
use super::rule::RuleMeta;
use crate::manifest::{Limits, Pos, Source, SpanIndex, load};

/// A rule's configured state.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleConfig {
    /// `None` means the rule is off.
    pub severity: Option<Severity>,
    pub options: serde_json::Map<String, Value>,
}

/// Settings rules may read.
#[derive(Debug, Clone)]
pub struct Settings {
    pub default_namespace: String,
    pub strict_references: bool,
    pub histograms: BTreeMap<String, Vec<f64>>,
    pub prometheus_url: Option<String>,
    pub prometheus_timeout_ms: u64,
    /// `prometheus.scrape-interval`: the global scrape interval, as (value, text written).
    pub scrape_interval: Option<(std::time::Duration, String)>,
    /// `flagger.mesh-provider`: Flagger's `-mesh-provider` flag.
    pub flagger_mesh_provider: Option<String>,
    /// `flagger.namespace`: Flagger's `-namespace` flag (the only namespace it watches).
    pub flagger_namespace: Option<String>,
    /// Histograms found in instrumentation code given with `--source` (rollgate::buckets).
    pub source_histograms: crate::buckets::source::Scanned,
    pub rule_options: BTreeMap<String, serde_json::Map<String, Value>>,
    /// CustomResourceDefinitions given with `--crd`: their schemas take precedence over the
    /// built-in ones (rule `schema`).
    pub crds: crate::schema::CrdSet,
    /// The folder whose files are the run's context (`manifest::context`), when there is one:
    /// where discovery of other project files (instrumentation sources) should look.
    pub context_root: Option<PathBuf>,
    /// Values of context files kept between runs (`manifest::cache`), when the run has a
    /// context and the cache is on.
    pub context_cache: Option<std::sync::Arc<crate::manifest::cache::ContextCache>>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            default_namespace: "default".into(),
            strict_references: false,
            histograms: BTreeMap::new(),
            prometheus_url: None,
            prometheus_timeout_ms: 2000,
            scrape_interval: None,
            flagger_mesh_provider: None,
            flagger_namespace: None,
            source_histograms: Default::default(),
            rule_options: BTreeMap::new(),
            crds: crate::schema::CrdSet::default(),
            context_root: None,
            context_cache: None,
        }
    }
}

impl Settings {
    /// Options given for a rule under `rules.<id>` in the config file.
    pub fn options(&self, rule: &str) -> Option<&serde_json::Map<String, Value>> {
        self.rule_options.get(rule)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Where it was read from (for messages), if anywhere.
    pub path: Option<PathBuf>,
    pub rules: BTreeMap<String, RuleConfig>,
    /// `exclude:` globs, which replace the default excludes
    /// ([`crate::manifest::exclude::DEFAULT_EXCLUDE`]); `None`: the defaults.
    pub exclude: Option<Vec<String>>,
    /// `extend-exclude:` globs, added to `exclude` or the defaults.
    pub extend_exclude: Vec<String>,
    /// `force-exclude:` the excludes apply to the files named on the command line too.
    pub force_exclude: bool,
    /// `sources:` globs (relative to the config's folder) naming the instrumentation source files
    /// to read histograms from; `None`: the source files of the linted folders are discovered;
    /// an empty list turns discovery off.
    pub sources: Option<Vec<String>>,
    pub settings: Settings,
    /// `context:` (`None`: not set, the default discovery).
    pub context: Option<ContextSetting>,
}

/// `context:` in `.rollgate.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextSetting {
    /// `context: false`: only the named files are the world.
    Off,
    /// `context: true`: the default (the enclosing project folder).
    Discover,
    /// `context: <folder>`, relative to the config file's folder.
    Dir(PathBuf),
}

/// A configuration error, with its position in the config file.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}:{}:{}: {message}", pos.line, pos.column)]
pub struct ConfigError {
    pub file: String,
    pub pos: Pos,
    pub message: String,
}

pub const CONFIG_NAMES: &[&str] = &[".rollgate.yaml", ".rollgate.yml"];

/// The nearest config file in `dir` or one of its parents.
pub fn discover(dir: &Path) -> Option<PathBuf> {
    let mut d = Some(dir);
    while let Some(cur) = d {
        for n in CONFIG_NAMES {
            let p = cur.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
        d = cur.parent();
    }
    None
}

/// The keys a config file may have (`examples/rollgate.yaml` must show each: tests/integrations.rs).
pub const TOP_KEYS: &[&str] = &[
    "rules",
    "exclude",
    "extend-exclude",
    "force-exclude",
    "namespace",
    "strict-references",
    "histograms",
    "prometheus",
    "flagger",
    "sources",
    "context",
];

/// The keys of `prometheus:`.
pub const PROMETHEUS_KEYS: &[&str] = &["url", "timeout", "scrape-interval"];

/// The keys of `flagger:`.
pub const FLAGGER_KEYS: &[&str] = &["mesh-provider", "namespace"];

/// The mesh providers Flagger's router and observer factories know (`pkg/router/factory.go`,
/// `pkg/metrics/observers/factory.go`); `appmesh`, `gloo`, `gatewayapi` and `smi` are matched
/// by prefix there (`appmesh:v1beta2`, `gatewayapi:v1`, `smi:v1alpha3`, ...).
pub const MESH_PROVIDERS: &[&str] = &[
    "istio",
    "linkerd",
    "appmesh",
    "contour",
    "gloo",
    "nginx",
    "kubernetes",
    "gatewayapi",
    "skipper",
    "traefik",
    "osm",
    "kuma",
    "apisix",
    "knative",
    "smi",
    "supergloo",
];

/// Whether Flagger knows `provider` (exactly, or by one of its prefix-matched families).
pub fn known_mesh_provider(provider: &str) -> bool {
    MESH_PROVIDERS.contains(&provider)
        || ["appmesh", "gloo", "gatewayapi", "smi", "supergloo"]
            .iter()
            .any(|p| provider.starts_with(p))
}

struct Cx<'a> {
    file: &'a str,
    spans: &'a SpanIndex,
}

impl Cx<'_> {
    fn err(&self, pointer: &str, key: bool, message: String) -> ConfigError {
        let pos = self
            .spans
            .locate(pointer)
            .map(|(_, s)| match (key, s.key) {
                (true, Some(k)) => k.start,
                _ => s.value.start,
            })
            .unwrap_or(Pos::new(1, 1));
        ConfigError {
            file: self.file.to_owned(),
            pos,
            message,
        }
    }
}

fn ptr(parts: &[&str]) -> String {
    let mut p = String::new();
    for part in parts {
        crate::manifest::push_segment(&mut p, part);
    }
    p
}

impl Config {
    pub fn from_file(path: &Path, rules: &[&'static RuleMeta]) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            pos: Pos::new(1, 1),
            message: format!("cannot read config: {e}"),
        })?;
        let mut cfg = Config::parse(&path.display().to_string(), &text, rules)?;
        cfg.path = Some(path.to_path_buf());
        Ok(cfg)
    }

    pub fn parse(
        file: &str,
        text: &str,
        rules: &[&'static RuleMeta],
    ) -> Result<Config, ConfigError> {
        let source = Source::new(file, text);
        let loaded = load(&source.text, Limits::default());
        if let Some(p) = loaded.problems.first() {
            return Err(ConfigError {
                file: file.to_owned(),
                pos: p.span.start,
                message: p.message.clone(),
            });
        }
        let mut cfg = Config::default();
        let Some(doc) = loaded.documents.into_iter().next() else {
            return Ok(cfg);
        };
        let cx = Cx {
            file,
            spans: &doc.spans,
        };
        let top = match &doc.value {
            Value::Null => return Ok(cfg),
            Value::Object(m) => m,
            _ => return Err(cx.err("", false, "config must be a mapping".into())),
        };
        for (k, v) in top {
            let p = ptr(&[k]);
            match k.as_str() {
                "rules" => cfg.parse_rules(&cx, v, rules)?,
                "sources" => {
                    let items = v.as_array().ok_or_else(|| {
                        cx.err(&p, false, "`sources` must be a list of globs".into())
                    })?;
                    let mut globs = Vec::new();
                    for (i, it) in items.iter().enumerate() {
                        let s = it.as_str().ok_or_else(|| {
                            cx.err(&format!("{p}/{i}"), false, "expected a glob string".into())
                        })?;
                        globset::Glob::new(s).map_err(|e| {
                            cx.err(&format!("{p}/{i}"), false, format!("invalid glob: {e}"))
                        })?;
                        globs.push(s.to_owned());
                    }
                    cfg.sources = Some(globs);
                }
                "exclude" | "extend-exclude" => {
                    let items = v.as_array().ok_or_else(|| {
                        cx.err(&p, false, format!("`{k}` must be a list of globs"))
                    })?;
                    let mut globs = Vec::new();
                    for (i, it) in items.iter().enumerate() {
                        let s = it.as_str().ok_or_else(|| {
                            cx.err(&format!("{p}/{i}"), false, "expected a glob string".into())
                        })?;
                        globset::Glob::new(s).map_err(|e| {
                            cx.err(&format!("{p}/{i}"), false, format!("invalid glob: {e}"))
                        })?;
                        globs.push(s.to_owned());
                    }
                    if k == "exclude" {
                        cfg.exclude = Some(globs);
                    } else {
                        cfg.extend_exclude = globs;
                    }
                }
                "force-exclude" => {
                    cfg.force_exclude = v.as_bool().ok_or_else(|| {
                        cx.err(&p, false, "`force-exclude` must be true or false".into())
                    })?;
                }
                "namespace" => {
                    cfg.settings.default_namespace = v
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .ok_or_else(|| {
                            cx.err(&p, false, "`namespace` must be a non-empty string".into())
                        })?
                        .to_owned();
                }
                "context" => {
                    cfg.context = Some(match v {
                        Value::Bool(false) => ContextSetting::Off,
                        Value::Bool(true) => ContextSetting::Discover,
                        Value::String(d) if !d.is_empty() => ContextSetting::Dir(PathBuf::from(d)),
                        _ => {
                            return Err(cx.err(
                                &p,
                                false,
                                "`context` must be a folder (relative to this file), true or false"
                                    .into(),
                            ));
                        }
                    });
                }
                "strict-references" => {
                    cfg.settings.strict_references = v.as_bool().ok_or_else(|| {
                        cx.err(
                            &p,
                            false,
                            "`strict-references` must be true or false".into(),
                        )
                    })?;
                }
                "histograms" => {
                    let m = v.as_object().ok_or_else(|| {
                        cx.err(
                            &p,
                            false,
                            "`histograms` maps metric names to lists of bucket bounds".into(),
                        )
                    })?;
                    for (name, bounds) in m {
                        let bp = ptr(&["histograms", name]);
                        let list = bounds.as_array().ok_or_else(|| {
                            cx.err(&bp, false, "expected a list of numbers".into())
                        })?;
                        let mut out = Vec::new();
                        for (i, b) in list.iter().enumerate() {
                            let f = match b {
                                Value::Number(n) => n.as_f64(),
                                Value::String(s) if s == "+Inf" || s == ".inf" => {
                                    Some(f64::INFINITY)
                                }
                                _ => None,
                            }
                            .ok_or_else(|| {
                                cx.err(
                                    &format!("{bp}/{i}"),
                                    false,
                                    "bucket bound must be a number".into(),
                                )
                            })?;
                            out.push(f);
                        }
                        cfg.settings.histograms.insert(name.clone(), out);
                    }
                }
                "prometheus" => {
                    let m = v.as_object().ok_or_else(|| {
                        cx.err(&p, false, "`prometheus` must be a mapping".into())
                    })?;
                    for (pk, pv) in m {
                        let pp = ptr(&["prometheus", pk]);
                        match pk.as_str() {
                            "url" => {
                                cfg.settings.prometheus_url = Some(
                                    pv.as_str()
                                        .ok_or_else(|| {
                                            cx.err(&pp, false, "`url` must be a string".into())
                                        })?
                                        .to_owned(),
                                )
                            }
                            "scrape-interval" => {
                                let text = pv.as_str().ok_or_else(|| {
                                    cx.err(
                                        &pp,
                                        false,
                                        "`scrape-interval` must be a Prometheus duration like 15s or 1m".into(),
                                    )
                                })?;
                                let d = crate::promql::scrape::parse_duration(text)
                                    .filter(|d| !d.is_zero())
                                    .ok_or_else(|| {
                                        cx.err(
                                            &pp,
                                            false,
                                            format!("`scrape-interval` \"{text}\" is not a positive Prometheus duration like 15s or 1m"),
                                        )
                                    })?;
                                cfg.settings.scrape_interval = Some((d, text.to_owned()));
                            }
                            "timeout" => {
                                cfg.settings.prometheus_timeout_ms =
                                    pv.as_str().and_then(parse_duration_ms).ok_or_else(|| {
                                        cx.err(
                                            &pp,
                                            false,
                                            "`timeout` must be a duration like 2s or 500ms".into(),
                                        )
                                    })?
                            }
                            other => {
                                return Err(cx.err(
                                    &pp,
                                    true,
                                    format!(
                                        "unknown key \"{other}\" in prometheus (expected {})",
                                        PROMETHEUS_KEYS.join(", ")
                                    ),
                                ));
                            }
                        }
                    }
                }
                "flagger" => cfg.parse_flagger(&cx, v)?,
                other => {
                    return Err(cx.err(
                        &p,
                        true,
                        format!(
                            "unknown key \"{other}\"{} (expected one of: {})",
                            suggest(other, TOP_KEYS)
                                .map(|s| format!("; did you mean \"{s}\"?"))
                                .unwrap_or_default(),
                            TOP_KEYS.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(cfg)
    }

    fn parse_flagger(&mut self, cx: &Cx<'_>, v: &Value) -> Result<(), ConfigError> {
        let m = v
            .as_object()
            .ok_or_else(|| cx.err("/flagger", false, "`flagger` must be a mapping".into()))?;
        for (k, val) in m {
            let p = ptr(&["flagger", k]);
            let text = || {
                val.as_str()
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .ok_or_else(|| cx.err(&p, false, format!("`{k}` must be a non-empty string")))
            };
            match k.as_str() {
                "mesh-provider" => {
                    let provider = text()?;
                    if !known_mesh_provider(&provider) {
                        return Err(cx.err(
                            &p,
                            false,
                            format!(
                                "unknown mesh provider \"{provider}\"{} (Flagger knows: {})",
                                suggest(&provider, MESH_PROVIDERS)
                                    .map(|s| format!("; did you mean \"{s}\"?"))
                                    .unwrap_or_default(),
                                MESH_PROVIDERS.join(", ")
                            ),
                        ));
                    }
                    self.settings.flagger_mesh_provider = Some(provider);
                }
                "namespace" => self.settings.flagger_namespace = Some(text()?),
                other => {
                    return Err(cx.err(
                        &p,
                        true,
                        format!(
                            "unknown key \"{other}\" in flagger{} (expected {})",
                            suggest(other, FLAGGER_KEYS)
                                .map(|s| format!("; did you mean \"{s}\"?"))
                                .unwrap_or_default(),
                            FLAGGER_KEYS.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn parse_rules(
        &mut self,
        cx: &Cx<'_>,
        v: &Value,
        rules: &[&'static RuleMeta],
    ) -> Result<(), ConfigError> {
        let m = v.as_object().ok_or_else(|| {
            cx.err(
                "/rules",
                false,
                "`rules` maps rule ids to a severity or \"off\"".into(),
            )
        })?;
        let ids: Vec<&str> = rules.iter().map(|r| r.id).collect();
        for (id, setting) in m {
            let p = ptr(&["rules", id]);
            let Some(meta) = rules.iter().find(|r| r.id == id) else {
                return Err(cx.err(
                    &p,
                    true,
                    format!(
                        "unknown rule \"{id}\"{}",
                        suggest(id, &ids)
                            .map(|s| format!("; did you mean \"{s}\"?"))
                            .unwrap_or_default()
                    ),
                ));
            };
            let parse_sev = |val: &Value, at: &str| -> Result<Option<Severity>, ConfigError> {
                match val {
                    Value::String(s) if s == "off" => Ok(None),
                    Value::Bool(false) => Ok(None), // `off` unquoted is YAML 1.1 false
                    Value::String(s) => Severity::parse(s).map(Some).ok_or_else(|| {
                        cx.err(
                            at,
                            false,
                            format!(
                                "invalid severity \"{s}\" (expected error, warning, info or off)"
                            ),
                        )
                    }),
                    _ => Err(cx.err(
                        at,
                        false,
                        "expected a severity (error, warning, info) or off".into(),
                    )),
                }
            };
            let rc = match setting {
                Value::Object(o) => {
                    let mut rc = RuleConfig {
                        severity: Some(meta.severity),
                        options: serde_json::Map::new(),
                    };
                    for (k, val) in o {
                        let kp = ptr(&["rules", id, k]);
                        if k == "severity" {
                            rc.severity = parse_sev(val, &kp)?;
                        } else if meta.options.contains(&k.as_str()) {
                            rc.options.insert(k.clone(), val.clone());
                        } else {
                            let mut allowed = vec!["severity"];
                            allowed.extend(meta.options);
                            return Err(cx.err(
                                &kp,
                                true,
                                format!(
                                    "unknown option \"{k}\" for rule {id} (expected: {})",
                                    allowed.join(", ")
                                ),
                            ));
                        }
                    }
                    rc
                }
                other => RuleConfig {
                    severity: parse_sev(other, &p)?,
                    options: serde_json::Map::new(),
                },
            };
            if !rc.options.is_empty() {
                self.settings
                    .rule_options
                    .insert(id.clone(), rc.options.clone());
            }
            self.rules.insert(id.clone(), rc);
        }
        Ok(())
    }
}

/// `2s`, `500ms`, `1m` → milliseconds.
pub fn parse_duration_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let ms = match unit {
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => return None,
    };
    (0.0..1e12).contains(&ms).then_some(ms as u64)
}

/// The closest candidate by edit distance, if it is close enough to be a typo.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .filter_map(|c| {
            let bound = (c.len().max(word.len()) / 3).max(1);
            levenshtein_within(word, c, bound).map(|d| (d, *c))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `levenshtein(a, b)` when it is at most `bound`; the pairs whose difference in length alone
/// puts them further apart are not measured.
pub fn levenshtein_within(a: &str, b: &str, bound: usize) -> Option<usize> {
    if a.is_ascii() && b.is_ascii() {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        if a.len().abs_diff(b.len()) > bound {
            return None;
        }
        // A missing referent is compared with every name of its kind: names up to 64 bytes
        // (all Kubernetes names but a few) take the bit-parallel measure, with no table.
        if (1..=64).contains(&b.len()) {
            return Some(bit_parallel(a, b)).filter(|&d| d <= bound);
        }
        return within(a, b, bound);
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    within(&a, &b, bound)
}

/// The Levenshtein distance of ASCII `a` and `b` (`1 <= b.len() <= 64`), one column of the
/// table per machine word: Myers' bit-vector algorithm (J. ACM 46(3), 1999) in Hyyrö's
/// formulation for the distance of two whole strings ("A bit-vector algorithm for computing
/// Levenshtein and Damerau edit distances", 2003): bit `i` of `pv`/`mv` says the vertical
/// difference at row `i` of the current column is +1/-1; the score follows the last row.
fn bit_parallel(a: &[u8], b: &[u8]) -> usize {
    let m = b.len();
    let mut peq = [0u64; 128];
    for (i, &c) in b.iter().enumerate() {
        peq[usize::from(c & 0x7f)] |= 1 << i;
    }
    let last = 1u64 << (m - 1);
    let mut pv = if m == 64 { !0 } else { (1u64 << m) - 1 };
    let mut mv = 0u64;
    let mut score = m;
    for &c in a {
        let eq = peq[usize::from(c & 0x7f)];
        let xv = eq | mv;
        let xh = ((eq & pv).wrapping_add(pv) ^ pv) | eq;
        let ph = mv | !(xh | pv);
        let mh = pv & xh;
        if ph & last != 0 {
            score += 1;
        } else if mh & last != 0 {
            score -= 1;
        }
        // The top row of the table is 0, 1, 2, …: its horizontal difference is +1.
        let ph = (ph << 1) | 1;
        let mh = mh << 1;
        pv = mh | !(xv | ph);
        mv = ph & xv;
    }
    score
}

/// [`levenshtein_within`] over characters (bytes of ASCII text, else `char`s). A row's minimum
/// never decreases down the table, so once it is over `bound` the distance is too: the
/// measure stops there (a missing referent is compared with every name of its kind).
fn within<T: PartialEq>(a: &[T], b: &[T], bound: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > bound {
        return None;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut least = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            least = least.min(cur[j]);
        }
        if least > bound {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    Some(prev[b.len()]).filter(|&d| d <= bound)
}

pub fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    static META: RuleMeta = RuleMeta {
        id: "istio-weights-not-100",
        severity: Severity::Error,
        kinds: &[],
        doc: "",
        options: &[],
        builtin: false,
    };

    #[test]
    fn levenshtein_within_agrees_with_the_full_measure() {
        let words = [
            "",
            "a",
            "ab",
            "podinfo",
            "podinfo-canary",
            "podinf",
            "pdoinfo",
            "frontend",
            "front-end",
            "backend",
            "bäckend",
            "ünïcode",
            "unicode",
            "x-y-z",
            "xyz",
            "kitten",
            "sitting",
            "flagger-loadtester",
            "flagger-loadtest",
            "aaaaaaaaaa",
            "aaaaaaaaab",
        ];
        // Long names take the table, others the bit-parallel measure: both against the full one.
        let long_a = "a".repeat(64) + "-canary";
        let long_b = "a".repeat(63) + "b";
        let long_c = "x".repeat(70);
        let mut words: Vec<&str> = words.to_vec();
        words.extend([
            long_a.as_str(),
            long_b.as_str(),
            long_c.as_str(),
            &long_a[..64],
        ]);
        for &a in &words {
            for &b in &words {
                let d = levenshtein(a, b);
                for bound in [0, 1, 2, 3, 4, 5, 6, 10, 30, 80] {
                    assert_eq!(
                        levenshtein_within(a, b, bound),
                        (d <= bound).then_some(d),
                        "{a:?} {b:?} within {bound}"
                    );
                }
            }
        }
    }

    #[test]
    fn unknown_keys_are_located() {
        let e = Config::parse("c.yaml", "rules: {}\nexclud: [a]\n", &[&META]).unwrap_err();
        assert_eq!(e.pos, Pos::new(2, 1));
        assert!(
            e.message.contains("did you mean \"exclude\""),
            "{}",
            e.message
        );
        let e =
            Config::parse("c.yaml", "rules:\n  istio-weights-not-10: off\n", &[&META]).unwrap_err();
        assert_eq!(e.pos, Pos::new(2, 3));
        assert!(e.message.contains("istio-weights-not-100"));
    }

    #[test]
    fn severities_and_off() {
        let c = Config::parse(
            "c.yaml",
            "rules:\n  istio-weights-not-100: off\nnamespace: prod\n",
            &[&META],
        )
        .unwrap();
        assert_eq!(c.rules["istio-weights-not-100"].severity, None);
        assert_eq!(c.settings.default_namespace, "prod");
        let c = Config::parse(
            "c.yaml",
            "rules:\n  istio-weights-not-100: warning\n",
            &[&META],
        )
        .unwrap();
        assert_eq!(
            c.rules["istio-weights-not-100"].severity,
            Some(Severity::Warning)
        );
    }

    #[test]
    fn controller_settings() {
        let c = Config::parse(
            "c.yaml",
            "flagger:\n  mesh-provider: nginx\n  namespace: apps\nprometheus:\n  scrape-interval: 15s\n",
            &[&META],
        )
        .unwrap();
        assert_eq!(c.settings.flagger_mesh_provider.as_deref(), Some("nginx"));
        assert_eq!(c.settings.flagger_namespace.as_deref(), Some("apps"));
        assert_eq!(
            c.settings.scrape_interval,
            Some((std::time::Duration::from_secs(15), "15s".to_owned()))
        );
        let c = Config::parse(
            "c.yaml",
            "flagger: {mesh-provider: \"gatewayapi:v1\"}\n",
            &[&META],
        )
        .unwrap();
        assert_eq!(
            c.settings.flagger_mesh_provider.as_deref(),
            Some("gatewayapi:v1")
        );
        for (text, pos, needle) in [
            (
                "flagger:\n  mesh-provider: nginxx\n",
                Pos::new(2, 18),
                "did you mean \"nginx\"",
            ),
            (
                "flagger:\n  mesh-providr: nginx\n",
                Pos::new(2, 3),
                "did you mean \"mesh-provider\"",
            ),
            (
                "flagger:\n  namespace: \"\"\n",
                Pos::new(2, 14),
                "non-empty",
            ),
            ("flagger: nginx\n", Pos::new(1, 10), "mapping"),
            (
                "prometheus:\n  scrape-interval: 15\n",
                Pos::new(2, 20),
                "duration",
            ),
            (
                "prometheus:\n  scrape-interval: 0s\n",
                Pos::new(2, 20),
                "positive",
            ),
        ] {
            let e = Config::parse("c.yaml", text, &[&META]).unwrap_err();
            assert_eq!(e.pos, pos, "{text}: {}", e.message);
            assert!(e.message.contains(needle), "{text}: {}", e.message);
        }
    }
}
