//! Helpers shared by the benchmarks (each bench includes this file with `#[path]`).
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// CPU time (user + system) this process has used so far: less sensitive than wall time to
/// other processes on a shared machine.
pub fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_PROCESS_CPUTIME_ID exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Wall and CPU time of `f`, on the calling thread.
pub fn measure<T>(f: impl FnOnce() -> T) -> (Duration, Duration, T) {
    let (w0, c0) = (Instant::now(), cpu_time());
    let out = f();
    let (c1, w1) = (cpu_time(), Instant::now());
    (w1 - w0, c1.saturating_sub(c0), out)
}

/// The middle sample (the upper one of an even count).
pub fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s[s.len() / 2]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A positive count from the environment, else `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}
