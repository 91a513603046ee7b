//! Emptiness of an intersection of regular languages and their complements, by breadth-first
//! search over the product of lazy DFAs.
//!
//! Why lazy (`regex_automata::hybrid`) rather than dense DFAs: the product search only needs the
//! states that are reachable *jointly*, and a dense DFA determinizes each automaton on its own
//! first — `(a|b)*a(a|b){20}` has 2^21 states whatever it is intersected with. A lazy DFA builds
//! a state the first time the search steps into it, inside a fixed cache; the cache is
//! configured never to be cleared (`minimum_cache_clear_count(Some(0))`), so state ids held by
//! the search stay valid and a full cache is an error ("undecided"), not a silent restart.
//!
//! Semantics: every automaton is built from `\A(?s:re)\z` and started anchored, so it accepts
//! exactly the strings the Prometheus matcher accepts in full; a string is accepted when the
//! state after the end-of-input transition is a match state (matches are delayed by one byte in
//! `regex-automata`). A negated automaton accepts when that state is *not* a match state: lazy
//! DFAs are complete (a missing transition is the dead state), so swapping acceptance is the
//! complement.
//!
//! Alphabet: bytes are grouped into classes that every automaton treats alike (the common
//! refinement of their byte classes), so each product state has at most one successor per
//! joint class. Bytes that never occur in UTF-8 are skipped.
//!
//! UTF-8: every positive automaton is compiled from a Unicode-mode HIR, whose automaton only
//! accepts valid UTF-8; the search always includes at least one positive automaton (the caller
//! adds `(?s:.*)` when there is none), so every accepted byte string is valid UTF-8.
//!
//! Shortest: BFS visits product states in order of depth, so the first accepting state found is
//! at minimum byte length. Within a joint class every byte leads to the same product state, so
//! the witness may use any member; we prefer readable ones.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, Mutex};

use regex_automata::hybrid::LazyStateID;
use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};
use regex_syntax::hir::Hir;

use super::Limits;

/// One automaton of the product, with a spare lazy-DFA cache so that a cached automaton
/// reuses the states it has already determinized.
pub(crate) struct Automaton {
    dfa: DFA,
    negated: bool,
    spare: Mutex<Option<Cache>>,
}

/// A used cache is kept for the next search only while it is this small.
const SPARE_CACHE_BYTES: usize = 256 * 1024;

impl Automaton {
    pub(crate) fn negated(&self) -> bool {
        self.negated
    }

    /// Heap bytes, counting a full spare cache.
    pub(crate) fn memory_usage(&self) -> usize {
        self.dfa.memory_usage() + SPARE_CACHE_BYTES
    }

    /// The spare cache (warm: `true`) or a new one.
    fn take_cache(&self) -> (Cache, bool) {
        let spare = self.spare.lock().unwrap_or_else(|e| e.into_inner()).take();
        match spare {
            Some(c) => (c, true),
            None => (self.dfa.create_cache(), false),
        }
    }

    fn give_back(&self, cache: Cache) {
        if cache.memory_usage() <= SPARE_CACHE_BYTES {
            *self.spare.lock().unwrap_or_else(|e| e.into_inner()) = Some(cache);
        }
    }
}

/// Build the lazy DFA for `hir` (already wrapped as `\A(?s:…)\z`). `Err` carries the reason.
pub(crate) fn build(hir: &Hir, negated: bool, limits: &Limits) -> Result<Automaton, String> {
    let nfa = thompson::Compiler::new()
        .configure(
            thompson::Config::new()
                .nfa_size_limit(Some(limits.nfa_size_limit))
                .which_captures(WhichCaptures::None),
        )
        .build_from_hir(hir)
        .map_err(|e| format!("automaton too large ({e})"))?;
    let dfa = DFA::builder()
        .configure(
            DFA::config()
                .match_kind(MatchKind::All)
                .starts_for_each_pattern(false)
                .byte_classes(true)
                .unicode_word_boundary(false)
                .specialize_start_states(false)
                .cache_capacity(limits.dfa_cache_bytes)
                .skip_cache_capacity_check(false)
                .minimum_cache_clear_count(Some(0)),
        )
        .build_from_nfa(nfa)
        .map_err(|e| {
            format!(
                "automaton too large for the {}-byte cache ({e})",
                limits.dfa_cache_bytes
            )
        })?;
    Ok(Automaton {
        dfa,
        negated,
        spare: Mutex::new(None),
    })
}

/// The search ran past a bound; the message says which.
#[derive(Debug)]
pub(crate) struct Exhausted(pub String);

/// Bytes that never occur in well-formed UTF-8.
fn never_utf8(b: u8) -> bool {
    matches!(b, 0xC0 | 0xC1 | 0xF5..=0xFF)
}

/// `Ok(Some(bytes))`: a shortest string accepted by every automaton; `Ok(None)`: none exists.
pub(crate) fn search(
    autos: &[Arc<Automaton>],
    limits: &Limits,
) -> Result<Option<Vec<u8>>, Exhausted> {
    let (mut caches, warm): (Vec<Cache>, Vec<bool>) = autos.iter().map(|a| a.take_cache()).unzip();
    let mut result = search_with(autos, &mut caches, limits);
    if result.is_err() && warm.contains(&true) {
        // A warm cache may have been too full for this search: retry from scratch.
        caches = autos.iter().map(|a| a.dfa.create_cache()).collect();
        result = search_with(autos, &mut caches, limits);
    }
    for (a, c) in autos.iter().zip(caches) {
        a.give_back(c);
    }
    result
}

fn search_with(
    autos: &[Arc<Automaton>],
    caches: &mut [Cache],
    limits: &Limits,
) -> Result<Option<Vec<u8>>, Exhausted> {
    let n = autos.len();
    if n == 0 {
        return Ok(Some(Vec::new()));
    }
    let cache_full = |i: usize| {
        Exhausted(format!(
            "automaton {} needs more than its {}-byte state cache",
            i + 1,
            limits.dfa_cache_bytes
        ))
    };

    // Joint byte classes: bytes with the same class in every automaton, by refining the
    // partition one automaton at a time.
    let mut joint_of = [0u16; 256];
    let mut count: u16 = 1;
    for a in autos {
        let classes = a.dfa.byte_classes();
        let mut ids: HashMap<(u16, u8), u16, BuildFx> = HashMap::default();
        let mut next_count: u16 = 0;
        for b in 0..=255u8 {
            let slot = &mut joint_of[usize::from(b)];
            let id = *ids.entry((*slot, classes.get(b))).or_insert_with(|| {
                next_count += 1;
                next_count - 1
            });
            *slot = id;
        }
        count = next_count;
    }
    let mut members: Vec<Vec<u8>> = vec![Vec::new(); usize::from(count)];
    for b in 0..=255u8 {
        if never_utf8(b) {
            continue;
        }
        if let Some(m) = members.get_mut(usize::from(joint_of[usize::from(b)])) {
            m.push(b);
        }
    }
    members.retain(|m| !m.is_empty());
    let reps: Vec<u8> = members.iter().filter_map(|m| m.first().copied()).collect();

    let anchored = start::Config::new().anchored(Anchored::Yes);
    let mut first = Vec::with_capacity(n);
    for (i, (a, c)) in autos.iter().zip(caches.iter_mut()).enumerate() {
        let s = a.dfa.start_state(c, &anchored).map_err(|_| cache_full(i))?;
        if !a.negated && s.is_dead() {
            return Ok(None);
        }
        first.push(s);
    }

    // Nodes in BFS order: the vector is also the queue.
    let mut states: Vec<LazyStateID> = Vec::with_capacity(n * 64);
    let mut parent: Vec<(u32, u16)> = Vec::with_capacity(64);
    let mut seen = Seen::default();

    if accepts(autos, caches, &first).map_err(cache_full)? {
        return Ok(Some(Vec::new()));
    }
    seen.insert(&first);
    states.extend_from_slice(&first);
    parent.push((u32::MAX, 0));

    let mut steps: usize = 0;
    let mut cur = vec![LazyStateID::default(); n];
    let mut next = vec![LazyStateID::default(); n];
    let mut head = 0usize;
    while head < parent.len() {
        cur.copy_from_slice(states.get(head * n..(head + 1) * n).unwrap_or(&first));
        'classes: for (ci, &byte) in reps.iter().enumerate() {
            steps += 1;
            if steps > limits.max_steps {
                return Err(Exhausted(format!(
                    "search took more than {} steps",
                    limits.max_steps
                )));
            }
            for i in 0..n {
                let (Some(a), Some(c), Some(&s)) = (autos.get(i), caches.get_mut(i), cur.get(i))
                else {
                    continue 'classes;
                };
                let t = a.dfa.next_state(c, s, byte).map_err(|_| cache_full(i))?;
                if t.is_quit() {
                    return Err(Exhausted("automaton gave up on a byte".into()));
                }
                if t.is_dead() && !a.negated {
                    continue 'classes;
                }
                if let Some(slot) = next.get_mut(i) {
                    *slot = t;
                }
            }
            if !seen.insert(&next) {
                continue;
            }
            if parent.len() >= limits.max_product_states {
                return Err(Exhausted(format!(
                    "more than {} product states",
                    limits.max_product_states
                )));
            }
            states.extend_from_slice(&next);
            parent.push((head as u32, ci as u16));
            if accepts(autos, caches, &next).map_err(cache_full)? {
                let path = Path {
                    n,
                    states: &states,
                    parent: &parent,
                    reps: &reps,
                    members: &members,
                };
                return Ok(Some(path.witness(autos, caches, parent.len() - 1)));
            }
        }
        head += 1;
    }
    Ok(None)
}

/// The raw value of a lazy state id (`regex-automata` keeps it private; its derived `Hash`
/// writes it as one `u32`). Equal ids ⇔ equal values.
fn raw(id: LazyStateID) -> u32 {
    struct Raw(u32);
    impl Hasher for Raw {
        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 = (self.0 << 8) | u32::from(b);
            }
        }
        fn write_u32(&mut self, i: u32) {
            self.0 = i;
        }
        fn finish(&self) -> u64 {
            u64::from(self.0)
        }
    }
    let mut h = Raw(0);
    id.hash(&mut h);
    h.0
}

/// A multiplicative hasher (FxHash): product tuples are small integers, SipHash is overkill.
#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_u128(&mut self, i: u128) {
        self.write_u64(i as u64);
        self.write_u64((i >> 64) as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type BuildFx = BuildHasherDefault<Fx>;

/// Visited product tuples: packed into a `u128` for up to four automata (the usual case: a
/// matcher or two and a name language), boxed otherwise.
#[derive(Default)]
struct Seen {
    packed: HashSet<u128, BuildFx>,
    boxed: HashSet<Box<[u32]>, BuildFx>,
}

impl Seen {
    /// True when `tuple` was not seen before.
    fn insert(&mut self, tuple: &[LazyStateID]) -> bool {
        if tuple.len() <= 4 {
            let key = tuple
                .iter()
                .fold(0u128, |k, &id| (k << 32) | u128::from(raw(id)));
            self.packed.insert(key)
        } else {
            let key: Box<[u32]> = tuple.iter().map(|&id| raw(id)).collect();
            self.boxed.insert(key)
        }
    }
}

/// Does the tuple accept at end of input? `Err(i)`: automaton `i` ran out of cache.
fn accepts(
    autos: &[Arc<Automaton>],
    caches: &mut [Cache],
    tuple: &[LazyStateID],
) -> Result<bool, usize> {
    for (i, ((a, c), &s)) in autos.iter().zip(caches.iter_mut()).zip(tuple).enumerate() {
        let e = a.dfa.next_eoi_state(c, s).map_err(|_| i)?;
        if e.is_match() == a.negated {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The BFS tree, for reading a witness back.
struct Path<'a> {
    n: usize,
    states: &'a [LazyStateID],
    parent: &'a [(u32, u16)],
    reps: &'a [u8],
    members: &'a [Vec<u8>],
}

impl Path<'_> {
    fn tuple(&self, node: usize) -> &[LazyStateID] {
        self.states
            .get(node * self.n..(node + 1) * self.n)
            .unwrap_or(&[])
    }

    /// Walk the parent links back from `node`; at each step choose a readable byte among all
    /// classes that lead from the parent tuple to the same child tuple (so the witness is still
    /// accepted and still shortest).
    fn witness(&self, autos: &[Arc<Automaton>], caches: &mut [Cache], mut node: usize) -> Vec<u8> {
        let mut steps = Vec::new();
        while let Some(&(p, c)) = self.parent.get(node) {
            if p == u32::MAX {
                break;
            }
            steps.push((p as usize, node, c));
            node = p as usize;
        }
        steps.reverse();
        let mut out = Vec::with_capacity(steps.len());
        let mut candidates = Vec::new();
        for (pos, &(from, to, class)) in steps.iter().enumerate() {
            candidates.clear();
            let (from, to) = (self.tuple(from), self.tuple(to));
            for (ci, &byte) in self.reps.iter().enumerate() {
                let same =
                    autos
                        .iter()
                        .zip(caches.iter_mut())
                        .enumerate()
                        .all(|(i, (a, c))| match (from.get(i), to.get(i)) {
                            (Some(&f), Some(&t)) => {
                                a.dfa.next_state(c, f, byte).is_ok_and(|s| s == t)
                            }
                            _ => false,
                        });
                if same {
                    candidates.extend(self.members.get(ci).into_iter().flatten());
                }
            }
            if candidates.is_empty() {
                // Cache errors while re-reading: fall back to the class the search took.
                candidates.extend(self.members.get(usize::from(class)).into_iter().flatten());
            }
            candidates.sort_unstable();
            out.push(readable(&candidates, pos));
        }
        out
    }
}

/// Prefer lowercase letters and digits (what names are made of), then uppercase, then `-._`,
/// other printable ASCII, space, anything else; vary the pick by position so that a run of
/// free characters (a pod-template-hash) reads like one instead of `bbbbbbbbb`.
fn readable(class: &[u8], pos: usize) -> u8 {
    fn tier(b: u8) -> u8 {
        match b {
            b'a'..=b'z' | b'0'..=b'9' => 0,
            b'A'..=b'Z' => 1,
            b'-' | b'.' | b'_' => 2,
            0x21..=0x7E => 3,
            b' ' => 4,
            _ => 5,
        }
    }
    let Some(best) = class.iter().map(|&b| tier(b)).min() else {
        return b'?';
    };
    let pick: Vec<u8> = class.iter().copied().filter(|&b| tier(b) == best).collect();
    let i = pos.wrapping_mul(7).wrapping_add(3) % pick.len().max(1);
    pick.get(i).copied().unwrap_or(b'?')
}
