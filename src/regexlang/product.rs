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

use regex_automata::hybrid::LazyStateID;
use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};
use regex_syntax::hir::Hir;

use super::Limits;

/// One automaton of the product.
pub(crate) struct Automaton {
    dfa: DFA,
    negated: bool,
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
    Ok(Automaton { dfa, negated })
}

/// The search ran past a bound; the message says which.
#[derive(Debug)]
pub(crate) struct Exhausted(pub String);

/// Bytes that never occur in well-formed UTF-8.
fn never_utf8(b: u8) -> bool {
    matches!(b, 0xC0 | 0xC1 | 0xF5..=0xFF)
}

/// `Ok(Some(bytes))`: a shortest string accepted by every automaton; `Ok(None)`: none exists.
pub(crate) fn search(autos: &[Automaton], limits: &Limits) -> Result<Option<Vec<u8>>, Exhausted> {
    let n = autos.len();
    if n == 0 {
        return Ok(Some(Vec::new()));
    }
    let mut caches: Vec<Cache> = autos.iter().map(|a| a.dfa.create_cache()).collect();
    let cache_full = |i: usize| {
        Exhausted(format!(
            "automaton {} needs more than its {}-byte state cache",
            i + 1,
            limits.dfa_cache_bytes
        ))
    };

    // Joint byte classes: bytes with the same class in every automaton.
    let mut joint: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut members: Vec<Vec<u8>> = Vec::new();
    for b in 0..=255u8 {
        if never_utf8(b) {
            continue;
        }
        let key: Vec<u8> = autos.iter().map(|a| a.dfa.byte_classes().get(b)).collect();
        let next = members.len();
        let idx = *joint.entry(key).or_insert(next);
        if idx == next {
            members.push(Vec::new());
        }
        if let Some(m) = members.get_mut(idx) {
            m.push(b);
        }
    }
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
    let mut seen: HashSet<Box<[LazyStateID]>> = HashSet::new();

    if accepts(autos, &mut caches, &first).map_err(|i| cache_full(i))? {
        return Ok(Some(Vec::new()));
    }
    seen.insert(first.clone().into_boxed_slice());
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
            if seen.contains(&next[..]) {
                continue;
            }
            if parent.len() >= limits.max_product_states {
                return Err(Exhausted(format!(
                    "more than {} product states",
                    limits.max_product_states
                )));
            }
            seen.insert(next.clone().into_boxed_slice());
            states.extend_from_slice(&next);
            parent.push((head as u32, ci as u16));
            if accepts(autos, &mut caches, &next).map_err(|i| cache_full(i))? {
                return Ok(Some(witness(&parent, &members, parent.len() - 1)));
            }
        }
        head += 1;
    }
    Ok(None)
}

/// Does the tuple accept at end of input? `Err(i)`: automaton `i` ran out of cache.
fn accepts(
    autos: &[Automaton],
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

/// Walk the parent links back from `node`, choosing a readable byte from each joint class.
fn witness(parent: &[(u32, u16)], members: &[Vec<u8>], mut node: usize) -> Vec<u8> {
    let mut classes = Vec::new();
    while let Some(&(p, c)) = parent.get(node) {
        if p == u32::MAX {
            break;
        }
        classes.push(c);
        node = p as usize;
    }
    classes.reverse();
    classes
        .iter()
        .enumerate()
        .map(|(pos, &c)| {
            members
                .get(usize::from(c))
                .map(|m| readable(m, pos))
                .unwrap_or(b'?')
        })
        .collect()
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
