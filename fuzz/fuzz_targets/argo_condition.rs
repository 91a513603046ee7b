//! The Argo Rollouts condition parser and evaluator (expr-lang subset): never a panic, spans on
//! character boundaries inside the text, evaluation total on every kind of `result`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rollgate::promql::condition::{
    Input, eval, first_all, first_index, guards_len, mentions_nan, parse,
};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let ok_range = |r: &std::ops::Range<usize>| {
        r.start <= r.end
            && r.end <= src.len()
            && src.is_char_boundary(r.start)
            && src.is_char_boundary(r.end)
    };
    match parse(src) {
        Err(e) => assert!(ok_range(&e.span), "error span {:?} in {src:?}", e.span),
        Ok(c) => {
            assert!(ok_range(&c.span), "span {:?} in {src:?}", c.span);
            for r in [first_index(&c), first_all(&c)].into_iter().flatten() {
                assert!(ok_range(&r), "range {r:?} in {src:?}");
            }
            let _ = (guards_len(&c), mentions_nan(&c));
            for input in [
                Input::Scalar(0.0),
                Input::Scalar(f64::NAN),
                Input::Scalar(-1e308),
                Input::Vector(vec![]),
                Input::Vector(vec![1.0, f64::INFINITY]),
            ] {
                let _ = eval(&c, &input);
            }
        }
    }
});
