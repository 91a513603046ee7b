//! The languages of names Flagger and Argo Rollouts create, as RE2 regexes.
//!
//! Facts (see also `shared/spec/rules.md` section D):
//! - Flagger keeps the target `T` as the canary and creates `T-primary`
//!   (`pkg/canary/deployment_controller.go`); Services are `S`, `S-canary`, `S-primary` where
//!   `S` is `spec.service.name` or `T` (`Canary.GetServiceNames`); the apex `S` and `S-primary`
//!   select the primary pods, `S-canary` the canary pods (`pkg/router/kubernetes_default.go`).
//!   Primary pods carry the selector label value `<v>-primary`.
//! - A Deployment's ReplicaSet is `<deployment>-<pod-template-hash>`; the hash is
//!   `rand.SafeEncodeString(fmt.Sprint(fnv32a))` (`pkg/controller/controller_utils.go`
//!   `ComputeHash`): the 1–10 decimal digits of a `uint32`, each mapped through
//!   `alphanums[int(c) % 27]` with `alphanums = "bcdfghjklmnpqrstvwxz2456789"`
//!   (`k8s.io/apimachinery/pkg/util/rand`). Digits `0`…`9` are runes 48…57, so the hash uses
//!   only the ten characters `4 5 6 7 8 9 b c d f` — a strict subset of the 27-character
//!   alphabet — and reads as a decimal number without a leading zero, at most 4294967295.
//!   Argo Rollouts computes `rollouts-pod-template-hash` the same way.
//! - Pods get `generateName: <owner>-` (`getPodsPrefix`), and the API server truncates a
//!   generateName longer than 58 bytes to 58 before appending 5 characters of
//!   `rand.String(5)` from the 27-character alphabet (`apiserver/pkg/storage/names/generate.go`:
//!   `maxNameLength 63 - randomLength 5`). So for a long `T`, part or all of the hash — and even
//!   the `-primary` — is cut off, and no regex can tell canary from primary pods by name.
//! - DaemonSet pods are `<daemonset>-<5 chars>` (no hash), truncated the same way.

use super::Language;

/// `SafeEncodeString` image of the decimal digits `0`…`9`.
pub const HASH_DIGITS: [char; 10] = ['4', '5', '6', '7', '8', '9', 'b', 'c', 'd', 'f'];
/// Kubernetes `rand.String` alphabet (pod name suffixes).
pub const SUFFIX_ALPHABET: &str = "bcdfghjklmnpqrstvwxz2456789";
/// Length of the random pod name suffix.
pub const SUFFIX_LEN: usize = 5;
/// A generateName longer than this is truncated to it (63 − 5).
pub const MAX_GENERATED_BASE: usize = 58;
/// `u32::MAX` in decimal: the largest pod-template-hash value.
const HASH_MAX: &[u8] = b"4294967295";

/// What kind of workload the Canary targets (`spec.targetRef.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetKind {
    Deployment,
    DaemonSet,
}

/// What a label's values name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NameKind {
    /// Pod names (`pod`, `pod_name`, `kubernetes_pod_name`, …).
    Pod,
    /// Workload names (`deployment`, Istio `destination_workload`, `workload`, …).
    Workload,
    /// Service names (`service`, `destination_service_name`, …).
    Service,
    /// Values of the pods' selector label (`app`, Istio `destination_app`, …).
    SelectorLabel,
}

/// Labels whose values name pods.
pub const POD_LABELS: &[&str] = &["pod", "pod_name", "kubernetes_pod_name", "exported_pod"];
/// Labels whose values name workloads (Istio `destination_workload`, Linkerd `deployment`).
pub const WORKLOAD_LABELS: &[&str] = &[
    "deployment",
    "destination_workload",
    "workload",
    "workload_name",
    "kubernetes_deployment",
];
/// Labels whose values are the pods' selector label value (Istio `destination_app`).
pub const SELECTOR_LABELS: &[&str] = &["app", "destination_app", "app_kubernetes_io_name"];

/// What the values of the Prometheus label `label` name, for the labels this module knows.
pub fn label_kind(label: &str) -> Option<NameKind> {
    if POD_LABELS.contains(&label) {
        Some(NameKind::Pod)
    } else if WORKLOAD_LABELS.contains(&label) {
        Some(NameKind::Workload)
    } else if SELECTOR_LABELS.contains(&label) {
        Some(NameKind::SelectorLabel)
    } else {
        None
    }
}

/// Flagger's default `-selector-labels`, in the order it tries them
/// (`cmd/flagger/main.go` flag `-selector-labels`, default `app,name,app.kubernetes.io/name`).
pub const FLAGGER_SELECTOR_LABELS: &[&str] = &["app", "name", "app.kubernetes.io/name"];

/// The names Flagger creates for one Canary.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FlaggerNames {
    target: String,
    kind: TargetKind,
    service: String,
    label_value: String,
}

impl FlaggerNames {
    /// A Canary whose `targetRef` is the Deployment `target`; the Service name and the selector
    /// label value default to `target` (override with [`with_service`](Self::with_service) and
    /// [`with_label_value`](Self::with_label_value) when they are known).
    pub fn new(target: &str) -> Self {
        FlaggerNames {
            target: target.to_string(),
            kind: TargetKind::Deployment,
            service: target.to_string(),
            label_value: target.to_string(),
        }
    }

    pub fn with_kind(mut self, kind: TargetKind) -> Self {
        self.kind = kind;
        self
    }

    /// `spec.service.name`, when set.
    pub fn with_service(mut self, service: &str) -> Self {
        self.service = service.to_string();
        self
    }

    /// The canary's selector label value (Flagger's `-selector-labels`: `app`, `name`,
    /// `app.kubernetes.io/name`).
    pub fn with_label_value(mut self, value: &str) -> Self {
        self.label_value = value.to_string();
        self
    }

    pub fn target(&self) -> &str {
        &self.target
    }

    pub fn kind(&self) -> TargetKind {
        self.kind
    }

    /// The apex Service name (`spec.service.name`, else the target).
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The canary's selector label value (the target's name unless known otherwise).
    pub fn label_value(&self) -> &str {
        &self.label_value
    }

    /// Names of the canary side.
    pub fn canary(&self, what: NameKind) -> Language {
        match what {
            NameKind::Pod => self.pods(&self.target, "canary pod"),
            NameKind::Workload => Language::literal(&self.target, "canary workload"),
            NameKind::Service => {
                Language::literal(&format!("{}-canary", self.service), "canary service")
            }
            NameKind::SelectorLabel => {
                Language::literal(&self.label_value, "canary selector label value")
            }
        }
    }

    /// Names of the primary side.
    pub fn primary(&self, what: NameKind) -> Language {
        match what {
            NameKind::Pod => self.pods(&format!("{}-primary", self.target), "primary pod"),
            NameKind::Workload => {
                Language::literal(&format!("{}-primary", self.target), "primary workload")
            }
            NameKind::Service => {
                let s = regex_syntax::escape(&self.service);
                Language::new(format!("{s}|{s}-primary"), None, "primary service")
            }
            NameKind::SelectorLabel => Language::literal(
                &format!("{}-primary", self.label_value),
                "primary selector label value",
            ),
        }
    }

    fn pods(&self, owner: &str, noun: &'static str) -> Language {
        match self.kind {
            TargetKind::Deployment => deployment_pods(owner, noun),
            TargetKind::DaemonSet => {
                Language::new(generated(&[Seg::Lit(format!("{owner}-"))]), None, noun)
            }
        }
    }
}

/// Pods of an Argo Rollout: canary and stable both are `<rollout>-<hash>-<suffix>`, so this is
/// one language for both sides.
pub fn argo_rollout_pods(rollout: &str) -> Language {
    deployment_pods(rollout, "rollout pod")
}

/// Pods of the ReplicaSets of Deployment `owner`. Typical names (used for witnesses) have a 9–10
/// character hash: 99.8% of `uint32` values have 9 or 10 digits.
fn deployment_pods(owner: &str, noun: &'static str) -> Language {
    let all = pods_with_hash_lengths(owner, 1..=10, true);
    let typical = pods_with_hash_lengths(owner, 9..=10, true);
    let lang = Language::new(all, Some(typical), noun);
    if owner.len() + 1 + HASH_MAX.len() < MAX_GENERATED_BASE {
        // Untruncated names: the same languages without the `uint32` bound on 10-character
        // hashes decide most questions with a far smaller automaton (see `Quick`).
        lang.with_quick(Quick {
            pattern: pods_with_hash_lengths(owner, 1..=10, false),
            typical: Some(pods_with_hash_lengths(owner, 9..=10, false)),
            hash: HashSlot {
                start: owner.len() + 1,
                tail: 1 + SUFFIX_LEN,
            },
        })
    } else {
        lang
    }
}

/// Where the pod-template-hash sits in a name of a [`Quick`] superset: after `start` bytes and
/// before the last `tail` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct HashSlot {
    start: usize,
    tail: usize,
}

impl HashSlot {
    /// Is the hash in `name` (a string of the superset) a real one, i.e. at most 4294967295
    /// when it has 10 characters? Then `name` is in the exact language too.
    pub(crate) fn holds(&self, name: &str) -> bool {
        let end = name.len().saturating_sub(self.tail);
        let Some(hash) = name.get(self.start..end) else {
            return false;
        };
        if hash.is_empty() || hash.len() > HASH_MAX.len() {
            return false;
        }
        if hash.len() < HASH_MAX.len() {
            return true;
        }
        let decimal: Option<Vec<u8>> = hash
            .chars()
            .map(|c| {
                HASH_DIGITS
                    .iter()
                    .position(|&d| d == c)
                    .and_then(|d| u8::try_from(d).ok())
                    .map(|d| b'0' + d)
            })
            .collect();
        decimal.is_some_and(|d| d.as_slice() <= HASH_MAX)
    }
}

/// A superset of a [`Language`] that is cheaper to search, and the test that tells whether one
/// of its strings is in the exact language. Exactness is kept by the caller: an empty
/// intersection with the superset is empty; a witness that passes the test is a witness (and
/// shortest, the exact language being a subset); otherwise the exact language is searched.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Quick {
    pub(crate) pattern: String,
    pub(crate) typical: Option<String>,
    pub(crate) hash: HashSlot,
}

fn pods_with_hash_lengths(
    owner: &str,
    lens: std::ops::RangeInclusive<usize>,
    bounded: bool,
) -> String {
    if owner.len() + 1 + lens.end() < MAX_GENERATED_BASE {
        // No truncation for any hash length: one prefix, one suffix, the hash lengths in the
        // middle (a much smaller automaton than one alternative per length).
        return format!(
            "{}-(?:{})-[{SUFFIX_ALPHABET}]{{{SUFFIX_LEN}}}",
            regex_syntax::escape(owner),
            hash_any(lens, bounded)
        );
    }
    let mut alts: Vec<String> = Vec::new();
    for len in lens {
        let alt = generated(&[
            Seg::Lit(format!("{owner}-")),
            Seg::Hash(len),
            Seg::Lit("-".into()),
        ]);
        if !alts.contains(&alt) {
            alts.push(alt);
        }
    }
    if alts.len() == 1 {
        alts.pop().unwrap_or_default()
    } else {
        alts.iter()
            .map(|a| format!("(?:{a})"))
            .collect::<Vec<_>>()
            .join("|")
    }
}

/// A piece of a generateName base.
enum Seg {
    Lit(String),
    /// A pod-template-hash of exactly this many characters.
    Hash(usize),
}

/// Regex for `names.SimpleNameGenerator.GenerateName(base)`: the base truncated to 58 bytes,
/// then 5 random characters.
fn generated(base: &[Seg]) -> String {
    let mut out = String::new();
    let mut room = MAX_GENERATED_BASE;
    for seg in base {
        if room == 0 {
            break;
        }
        match seg {
            Seg::Lit(s) => {
                let mut take = s.len().min(room);
                // Kubernetes names are ASCII; for anything else cut at a character boundary.
                while !s.is_char_boundary(take) {
                    take -= 1;
                }
                out.push_str(&regex_syntax::escape(s.get(..take).unwrap_or("")));
                room -= s.len().min(room);
            }
            Seg::Hash(len) => {
                let take = (*len).min(room);
                out.push_str(&hash_prefix(*len, take));
                room -= take;
            }
        }
    }
    out.push_str(&format!("[{SUFFIX_ALPHABET}]{{{SUFFIX_LEN}}}"));
    out
}

/// Encoded hashes of any length in `lens` (within 1..=10).
/// Without `bounded`, 10-character hashes are not limited to `uint32` values.
fn hash_any(lens: std::ops::RangeInclusive<usize>, bounded: bool) -> String {
    let (lo, hi) = (*lens.start(), (*lens.end()).min(HASH_MAX.len()));
    let mut alts = Vec::new();
    if lo <= 1 && hi >= 1 {
        alts.push(digits(0, 9));
    }
    let (mid_lo, mid_hi) = (lo.max(2), hi.min(HASH_MAX.len() - 1));
    if mid_lo <= mid_hi {
        let rest = if mid_lo == mid_hi {
            repeat(digits(0, 9), mid_lo - 1)
        } else {
            format!("{}{{{},{}}}", digits(0, 9), mid_lo - 1, mid_hi - 1)
        };
        alts.push(format!("{}{rest}", digits(1, 9)));
    }
    if lo <= HASH_MAX.len() && hi >= HASH_MAX.len() {
        alts.push(if bounded {
            at_most(HASH_MAX)
        } else {
            format!(
                "{}{}",
                digits(1, 9),
                repeat(digits(0, 9), HASH_MAX.len() - 1)
            )
        });
    }
    alts.join("|")
}

/// Class of the encoded digits `lo..=hi`.
fn digits(lo: u8, hi: u8) -> String {
    let chars: String = (lo..=hi)
        .filter_map(|d| HASH_DIGITS.get(usize::from(d)))
        .collect();
    if chars.chars().count() == 1 {
        chars
    } else {
        format!("[{chars}]")
    }
}

fn repeat(class: String, n: usize) -> String {
    match n {
        0 => String::new(),
        1 => class,
        n => format!("{class}{{{n}}}"),
    }
}

/// The first `k` characters of an encoded hash of exactly `len` characters.
fn hash_prefix(len: usize, k: usize) -> String {
    if k == 0 {
        return String::new();
    }
    if len == 1 {
        // The value 0..=9 itself: the only length where a leading "zero" (`4`) occurs.
        return digits(0, 9);
    }
    if len < HASH_MAX.len() {
        return format!("{}{}", digits(1, 9), repeat(digits(0, 9), k - 1));
    }
    // Ten digits: the prefixes of numbers ≤ 4294967295 are the k-digit numbers ≤ its first k.
    at_most(HASH_MAX.get(..k).unwrap_or(HASH_MAX))
}

/// Encoded decimal numbers of exactly `bound.len()` digits, no leading zero, value ≤ `bound`.
fn at_most(bound: &[u8]) -> String {
    let k = bound.len();
    let digit = |i: usize| bound.get(i).map(|c| c.saturating_sub(b'0')).unwrap_or(0);
    let mut alts = Vec::new();
    for i in 0..k {
        let lo = if i == 0 { 1 } else { 0 };
        let d = digit(i);
        if d > lo {
            let prefix: String = (0..i).map(|j| digits(digit(j), digit(j))).collect();
            alts.push(format!(
                "{prefix}{}{}",
                digits(lo, d - 1),
                repeat(digits(0, 9), k - i - 1)
            ));
        }
    }
    alts.push((0..k).map(|j| digits(digit(j), digit(j))).collect());
    if alts.len() == 1 {
        alts.pop().unwrap_or_default()
    } else {
        format!("(?:{})", alts.join("|"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `rand.SafeEncodeString(fmt.Sprint(v))`, as Kubernetes computes it.
    fn encode(v: u64) -> String {
        const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        v.to_string()
            .bytes()
            .map(|c| char::from(ALPHANUMS[usize::from(c) % ALPHANUMS.len()]))
            .collect()
    }

    fn full(re: &str) -> regex::Regex {
        regex::Regex::new(&format!("^(?:{re})$")).expect("generated regex compiles")
    }

    #[test]
    fn hash_language_is_exactly_the_encoded_u32s() {
        assert_eq!(encode(0), "4");
        assert_eq!(encode(1234567890), "56789bcdf4");
        let any: String = (1..=10)
            .map(|l| format!("(?:{})", hash_prefix(l, l)))
            .collect::<Vec<_>>()
            .join("|");
        let re = full(&any);
        for v in [
            0,
            1,
            9,
            10,
            99,
            100,
            65535,
            999_999_999,
            1_000_000_000,
            4_294_967_295,
        ] {
            assert!(re.is_match(&encode(v)), "{v}");
        }
        // 4294967296 and 9999999999 are not uint32 values; "45" would be a leading zero.
        for s in [
            encode(4_294_967_296),
            encode(9_999_999_999),
            "45".into(),
            String::new(),
        ] {
            assert!(!re.is_match(&s), "{s}");
        }
    }

    #[test]
    fn compact_hash_form_matches_per_length_form() {
        for (lo, hi) in [(1, 10), (9, 10), (2, 9), (1, 1), (10, 10), (3, 3)] {
            let compact = full(&hash_any(lo..=hi, true));
            let per_length = full(
                &(lo..=hi)
                    .map(|l| format!("(?:{})", hash_prefix(l, l)))
                    .collect::<Vec<_>>()
                    .join("|"),
            );
            for v in [
                0u64,
                7,
                10,
                99,
                12345,
                99_999_999,
                100_000_000,
                999_999_999,
                1 << 31,
            ]
            .into_iter()
            .chain([4_294_967_295, 4_294_967_296, 10_000_000_000])
            {
                let s = encode(v);
                assert_eq!(
                    compact.is_match(&s),
                    per_length.is_match(&s),
                    "{lo}..={hi} {v}"
                );
            }
        }
    }

    #[test]
    fn quick_superset_and_its_test() {
        let lang = FlaggerNames::new("checkout").primary(NameKind::Pod);
        let quick = lang.quick.clone().expect("short name has a quick form");
        let (exact, sup) = (full(lang.pattern()), full(&quick.pattern));
        for v in [
            0u64,
            5,
            123_456_789,
            4_294_967_295,
            4_294_967_296,
            9_999_999_999,
        ] {
            let name = format!("checkout-primary-{}-x2kqz", encode(v));
            assert!(sup.is_match(&name), "{name}");
            assert_eq!(exact.is_match(&name), quick.hash.holds(&name), "{name}");
        }
        assert!(
            FlaggerNames::new(&"x".repeat(50))
                .primary(NameKind::Pod)
                .quick
                .is_none()
        );
    }

    #[test]
    fn short_target_pods() {
        let names = FlaggerNames::new("checkout");
        let primary = full(names.primary(NameKind::Pod).pattern());
        let canary = full(names.canary(NameKind::Pod).pattern());
        assert!(primary.is_match("checkout-primary-6b9f7c8d5-x2kqz"));
        assert!(!primary.is_match("checkout-6b9f7c8d5-x2kqz"));
        assert!(canary.is_match("checkout-6b9f7c8d5-x2kqz"));
        assert!(canary.is_match("checkout-4-bbbbb"));
        assert!(!canary.is_match("checkout-primary-6b9f7c8d5-x2kqz"));
        assert!(!canary.is_match("checkout-6b9f7c8d5-x2kq"));
        assert!(
            !canary.is_match("checkout-6b9a7c8d5-x2kqz"),
            "a is not a hash character"
        );
    }

    #[test]
    fn long_target_is_truncated_to_58() {
        let t = "a".repeat(50);
        let names = FlaggerNames::new(&t);
        let primary = full(names.primary(NameKind::Pod).pattern());
        // `T-primary-` is 59 bytes: truncated to `T-primary` (58) + suffix.
        assert!(primary.is_match(&format!("{t}-primaryx2kqz")));
        let canary = full(names.canary(NameKind::Pod).pattern());
        // `T-` + 7 hash characters = 58 bytes, then the suffix with no dash.
        assert!(canary.is_match(&format!("{t}-56789bcx2kqz")));
        assert!(canary.is_match(&format!("{t}-5-x2kqz")));
    }

    #[test]
    fn daemonset_pods() {
        let names = FlaggerNames::new("agent").with_kind(TargetKind::DaemonSet);
        assert!(full(names.primary(NameKind::Pod).pattern()).is_match("agent-primary-x2kqz"));
        assert!(full(names.canary(NameKind::Pod).pattern()).is_match("agent-x2kqz"));
    }
}
