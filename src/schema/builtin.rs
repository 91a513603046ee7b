//! The schemas rollgate ships (`src/schema/builtin/*.json`, provenance in its README.md and in
//! each file's `source`). Each file is parsed on first use only, so a run that sees no Rollout
//! never pays for the Rollout schema.

use std::sync::OnceLock;

use super::node::Arena;

struct Data {
    text: &'static str,
    cell: OnceLock<Option<Arena>>,
}

impl Data {
    const fn new(text: &'static str) -> Data {
        Data {
            text,
            cell: OnceLock::new(),
        }
    }

    fn get(&'static self) -> Option<&'static Arena> {
        self.cell
            .get_or_init(|| serde_json::from_str(self.text).ok())
            .as_ref()
    }
}

macro_rules! data {
    ($($file:literal),* $(,)?) => {
        [$(Data::new(include_str!(concat!("builtin/", $file)))),*]
    };
}

/// The files, in the order `FILES` names them.
static DATA: [Data; 15] = data![
    "meta_ObjectMeta.json",
    "flagger.app_Canary.json",
    "flagger.app_MetricTemplate.json",
    "flagger.app_AlertProvider.json",
    "argoproj.io_Rollout.json",
    "argoproj.io_AnalysisTemplate.json",
    "argoproj.io_AnalysisRun.json",
    "argoproj.io_Experiment.json",
    "networking.istio.io_VirtualService.json",
    "networking.istio.io_DestinationRule.json",
    "monitoring.coreos.com_ServiceMonitor.json",
    "monitoring.coreos.com_PodMonitor.json",
    "monitoring.coreos.com_Prometheus.json",
    "apps_Deployment.json",
    "core_Service.json",
];

/// File names of `DATA`, for the generator's up-to-date check.
pub const FILES: [&str; 15] = [
    "meta_ObjectMeta.json",
    "flagger.app_Canary.json",
    "flagger.app_MetricTemplate.json",
    "flagger.app_AlertProvider.json",
    "argoproj.io_Rollout.json",
    "argoproj.io_AnalysisTemplate.json",
    "argoproj.io_AnalysisRun.json",
    "argoproj.io_Experiment.json",
    "networking.istio.io_VirtualService.json",
    "networking.istio.io_DestinationRule.json",
    "monitoring.coreos.com_ServiceMonitor.json",
    "monitoring.coreos.com_PodMonitor.json",
    "monitoring.coreos.com_Prometheus.json",
    "apps_Deployment.json",
    "core_Service.json",
];

/// (API group, kind) → index in `DATA`. ClusterAnalysisTemplate shares AnalysisTemplate's
/// schema: upstream generates both CRDs from the same Go type (`AnalysisTemplateSpec`), and the
/// two `openAPIV3Schema`s are identical at the pinned commit.
const KINDS: &[(&str, &str, usize)] = &[
    ("flagger.app", "Canary", 1),
    ("flagger.app", "MetricTemplate", 2),
    ("flagger.app", "AlertProvider", 3),
    ("argoproj.io", "Rollout", 4),
    ("argoproj.io", "AnalysisTemplate", 5),
    ("argoproj.io", "ClusterAnalysisTemplate", 5),
    ("argoproj.io", "AnalysisRun", 6),
    ("argoproj.io", "Experiment", 7),
    ("networking.istio.io", "VirtualService", 8),
    ("networking.istio.io", "DestinationRule", 9),
    ("monitoring.coreos.com", "ServiceMonitor", 10),
    ("monitoring.coreos.com", "PodMonitor", 11),
    ("monitoring.coreos.com", "Prometheus", 12),
    ("apps", "Deployment", 13),
    ("", "Service", 14),
];

/// The built-in schemas of a kind (every version rollgate knows), parsed on first use.
pub fn lookup(group: &str, kind: &str) -> Option<&'static Arena> {
    let &(_, _, i) = KINDS.iter().find(|(g, k, _)| *g == group && *k == kind)?;
    DATA.get(i)?.get()
}

/// Whether rollgate ships a schema for this kind (without parsing it).
pub fn knows(group: &str, kind: &str) -> bool {
    KINDS.iter().any(|(g, k, _)| *g == group && *k == kind)
}

/// Kubernetes ObjectMeta, for every object's `metadata`.
pub fn object_meta() -> Option<&'static Arena> {
    DATA[0].get()
}

/// Every (group, kind) with a built-in schema.
pub fn kinds() -> impl Iterator<Item = (&'static str, &'static str)> {
    KINDS.iter().map(|(g, k, _)| (*g, *k))
}

/// The text of a built-in file by name (the generator's up-to-date check).
pub fn file_text(name: &str) -> Option<&'static str> {
    let i = FILES.iter().position(|f| *f == name)?;
    Some(DATA[i].text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_and_has_versions() {
        assert!(object_meta().is_some());
        for (g, k) in kinds() {
            let a = lookup(g, k).unwrap_or_else(|| panic!("{g}/{k} does not parse"));
            assert!(!a.versions.is_empty(), "{g}/{k}");
            assert!(!a.source.label.is_empty(), "{g}/{k}");
        }
    }
}
