//! Which files found in a folder are reported: the default excludes (upstream test fixtures),
//! the configured ones, and Helm chart templates (not manifests until rendered).
//!
//! ruff's model (`exclude` / `extend-exclude` / `force-exclude`, crates/ruff_workspace): the
//! excludes apply to the files a folder walk finds, never to a file named on the command line
//! unless `force-exclude` says so (what pre-commit runs: it names every changed file). Nothing
//! is dropped silently: the run ends with one line counting what was not reported, and why.
//!
//! Why fixtures are excluded by default: measured on 25 public repositories (docs/precision.md),
//! the findings in test trees (`test/`, `testdata/`, …) were true but written on purpose
//! (argo-rollouts' `test/e2e/expectedfailures`, lint fixtures named `invalid-*.yml`, chainsaw
//! assertion files holding partial objects): none worth a maintainer's minute, and they were
//! most of the warnings. Excluded files stay in the context: the rules still see their objects.

use std::path::{Path, PathBuf};

/// Globs excluded by default, matched against a file's path relative to its project folder
/// (the nearest folder holding `.git` or a `.rollgate.yaml`; else the folder named on the
/// command line). `test/`, `tests/` and `e2e/` only at the top of the project, where code
/// projects keep their test trees (an environment named `test` lives deeper:
/// `clusters/test/`, `overlays/test/`); fixture folders anywhere (Go's tools skip every
/// `testdata` folder).
pub const DEFAULT_EXCLUDE: &[&str] = &[
    "test/**",
    "tests/**",
    "e2e/**",
    "**/testdata/**",
    "**/fixtures/**",
    "**/__fixtures__/**",
];

/// Why a file found in a folder is not reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Excluded {
    /// A default exclude (a test tree or fixture folder).
    Fixture,
    /// `exclude` / `extend-exclude` in the configuration.
    Configured,
}

/// The compiled excludes of a run.
#[derive(Debug, Default)]
pub struct Excludes {
    defaults: Option<globset::GlobSet>,
    /// The configured globs and the folder they are relative to (the config file's).
    configured: Option<(globset::GlobSet, PathBuf)>,
    /// `force-exclude`: the excludes apply to named files too.
    pub force: bool,
}

fn build(globs: &[impl AsRef<str>]) -> Option<globset::GlobSet> {
    if globs.is_empty() {
        return None;
    }
    let mut b = globset::GlobSetBuilder::new();
    for g in globs {
        // The configuration parser rejected invalid globs with their position already.
        if let Ok(glob) = globset::Glob::new(g.as_ref()) {
            b.add(glob);
        }
    }
    b.build().ok()
}

impl Excludes {
    /// `exclude`: `None` keeps the defaults, a list replaces them (ruff's `exclude`);
    /// `extend`: added to either (ruff's `extend-exclude`); `base`: the config file's folder.
    pub fn new(exclude: Option<&[String]>, extend: &[String], base: PathBuf, force: bool) -> Self {
        let defaults = match exclude {
            None => build(DEFAULT_EXCLUDE),
            Some(_) => None,
        };
        let configured: Vec<&str> = exclude
            .unwrap_or_default()
            .iter()
            .chain(extend)
            .map(String::as_str)
            .collect();
        Excludes {
            defaults,
            configured: build(&configured).map(|s| (s, base)),
            force,
        }
    }

    /// Why `file` is not reported, if it is not: `given` is the path as found (under a named
    /// folder), `project` the folder the defaults are relative to.
    pub fn check(
        &self,
        given: &Path,
        canonical: Option<&Path>,
        project: &Path,
    ) -> Option<Excluded> {
        if self.configured(given, canonical) {
            return Some(Excluded::Configured);
        }
        self.default(canonical, project)
            .then_some(Excluded::Fixture)
    }

    /// Whether a configured glob matches `given` (relative to the config's folder, or as
    /// given) or its canonical path relative to the config's folder.
    pub fn configured(&self, given: &Path, canonical: Option<&Path>) -> bool {
        let Some((set, base)) = &self.configured else {
            return false;
        };
        let rel = given.strip_prefix(base).unwrap_or(given);
        let rel = rel.strip_prefix("./").unwrap_or(rel);
        if set.is_match(rel) || set.is_match(given) {
            return true;
        }
        canonical.is_some_and(|c| {
            std::fs::canonicalize(if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                base
            })
            .ok()
            .and_then(|b| c.strip_prefix(b).ok().map(|r| set.is_match(r)))
            .unwrap_or(false)
        })
    }

    /// Whether a default exclude matches `canonical` relative to `project`.
    pub fn default(&self, canonical: Option<&Path>, project: &Path) -> bool {
        match (&self.defaults, canonical) {
            (Some(set), Some(c)) => c.strip_prefix(project).is_ok_and(|r| set.is_match(r)),
            _ => false,
        }
    }

    /// Whether the defaults apply under `dir` (canonical), a folder named on the command line:
    /// not when `dir` is itself inside an excluded tree (`rollgate lint test/e2e` lints it, as
    /// ruff lints an excluded folder it is given).
    pub fn defaults_apply_under(&self, dir: &Path, project: &Path) -> bool {
        !self.default(Some(&dir.join("_.yaml")), project)
    }
}

/// Why a file is a template of another tool and not linted as written (a Helm chart's or an
/// Ansible role's), for its one `not-kubernetes-object` info; `None` for a manifest. The linter
/// and the language server both ask this, so a template opened in an editor gets the note the
/// linter gives, not a parse error per `{{`. `path` is canonical; `stop` is the project root.
pub fn template_reason(path: &Path, text: &str, stop: Option<&Path>) -> Option<String> {
    helm_chart_of(path, text, stop)
        .map(|chart| {
            format!(
                "Helm chart template (chart {}): Helm renders it with Go templates before it is YAML, so it is not a manifest as written; not linted (`helm template {} | rollgate lint -` checks the rendered objects)",
                chart.display(),
                chart.display()
            )
        })
        .or_else(|| {
            ansible_role_of(path, text).map(|role| {
                format!(
                    "Ansible role template (role {}): Ansible renders it with Jinja before it is YAML, so it is not a manifest as written; not linted",
                    role.display()
                )
            })
        })
}

/// The Helm chart a file belongs to, when it is a chart template: a file in a folder holding
/// `Chart.yaml` (or below it, not above `stop`) whose text holds a template action (`{{`).
/// Helm renders such files with Go's text/template before any YAML parser sees them, so
/// as written they are not manifests (`{{ .Values.x }}` is a YAML flow mapping); a chart file
/// without a template action renders to itself and is linted as is (a CRD in `crds/`, a
/// static template). `path` is canonical.
pub fn helm_chart_of(path: &Path, text: &str, stop: Option<&Path>) -> Option<PathBuf> {
    if !text.contains("{{") {
        return None;
    }
    let mut d = path.parent();
    while let Some(cur) = d {
        if cur.join("Chart.yaml").is_file() {
            return Some(cur.to_path_buf());
        }
        if stop.is_some_and(|s| s == cur) {
            break;
        }
        d = cur.parent();
    }
    None
}

/// The Ansible role a file belongs to, when it is a role template: a file under
/// `roles/<role>/templates/` whose text holds a Jinja action (`{{`); Ansible's `template`
/// module renders it before anything reads it as YAML. `path` is canonical.
pub fn ansible_role_of(path: &Path, text: &str) -> Option<PathBuf> {
    if !text.contains("{{") {
        return None;
    }
    let parts: Vec<_> = path.components().collect();
    let n = parts.len();
    (0..n.saturating_sub(3)).rev().find_map(|i| {
        (parts[i].as_os_str() == "roles" && parts[i + 2].as_os_str() == "templates")
            .then(|| parts[..i + 2].iter().collect())
    })
}

/// Whether a `.json` file found in a folder walk can be a manifest: Kubernetes objects in
/// JSON name their `kind`; other JSON (package.json, dashboards, CNI configs, data files,
/// JSON lines) is not read as YAML.
pub fn json_may_be_manifest(text: &str) -> bool {
    text.contains("\"kind\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_test_trees_at_the_top_and_fixture_folders_anywhere() {
        let e = Excludes::new(None, &[], PathBuf::new(), false);
        let p = Path::new("/p");
        let check = |rel: &str| e.check(Path::new(rel), Some(&p.join(rel)), p);
        assert_eq!(check("test/e2e/a.yaml"), Some(Excluded::Fixture));
        assert_eq!(check("tests/a.yaml"), Some(Excluded::Fixture));
        assert_eq!(check("e2e/testdata/a.yaml"), Some(Excluded::Fixture));
        assert_eq!(check("pkg/lint/testdata/a.yml"), Some(Excluded::Fixture));
        assert_eq!(check("a/fixtures/b/c.yaml"), Some(Excluded::Fixture));
        // An environment named test, deeper in the project, is linted.
        assert_eq!(check("clusters/test/a.yaml"), None);
        assert_eq!(check("overlays/tests/a.yaml"), None);
        assert_eq!(check("testing/a.yaml"), None);
        assert_eq!(check("deploy/canary.yaml"), None);
        // A folder named inside a test tree is linted.
        assert!(!e.defaults_apply_under(&p.join("test/e2e"), p));
        assert!(e.defaults_apply_under(p, p));
        // Outside the project folder: no default applies.
        assert_eq!(
            e.check(Path::new("x"), Some(Path::new("/q/test/a.yaml")), p),
            None
        );
    }

    #[test]
    fn exclude_replaces_the_defaults_and_extend_exclude_adds_to_them() {
        let p = Path::new("/p");
        let replaced = Excludes::new(Some(&["gen/**".to_owned()]), &[], PathBuf::new(), false);
        let check = |e: &Excludes, rel: &str| e.check(Path::new(rel), Some(&p.join(rel)), p);
        assert_eq!(check(&replaced, "test/a.yaml"), None);
        assert_eq!(check(&replaced, "gen/a.yaml"), Some(Excluded::Configured));
        let none = Excludes::new(Some(&[]), &[], PathBuf::new(), false);
        assert_eq!(check(&none, "testdata/a.yaml"), None);
        let extended = Excludes::new(None, &["gen/**".to_owned()], PathBuf::new(), false);
        assert_eq!(check(&extended, "gen/a.yaml"), Some(Excluded::Configured));
        assert_eq!(check(&extended, "test/a.yaml"), Some(Excluded::Fixture));
    }

    #[test]
    fn ansible_role_templates_and_json_data() {
        let p = Path::new("/r/playbooks/roles/mesh/templates/deployment.yml");
        assert_eq!(
            ansible_role_of(p, "name: {{ name }}\n"),
            Some(PathBuf::from("/r/playbooks/roles/mesh"))
        );
        assert_eq!(ansible_role_of(p, "name: plain\n"), None);
        assert_eq!(
            ansible_role_of(Path::new("/r/templates/x.yml"), "a: {{ b }}"),
            None
        );
        assert!(json_may_be_manifest(
            "{\"apiVersion\": \"v1\", \"kind\": \"List\"}"
        ));
        assert!(!json_may_be_manifest(
            "{\"cniVersion\": \"0.3.0\"}\n{\"a\": 1}\n"
        ));
    }

    #[test]
    fn chart_templates_need_a_chart_and_a_template_action() {
        let dir = std::env::temp_dir().join(format!("rollgate-chart-{}", std::process::id()));
        let t = dir.join("chart/templates");
        std::fs::create_dir_all(&t).unwrap();
        std::fs::write(dir.join("chart/Chart.yaml"), "name: c\n").unwrap();
        let f = t.join("d.yaml");
        assert_eq!(
            helm_chart_of(&f, "name: {{ .Values.n }}\n", Some(&dir)),
            Some(dir.join("chart"))
        );
        assert_eq!(helm_chart_of(&f, "name: plain\n", Some(&dir)), None);
        let outside = dir.join("other/x.yaml");
        assert_eq!(helm_chart_of(&outside, "a: {{ b }}\n", Some(&dir)), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
