//! The work budget of a review (issue 26): how big an AdmissionReview may be before it is
//! decoded, where large ones are checked (off the async workers, one at a time), and the
//! deadline after which the configured outcome is answered instead of a late one.
//!
//! Decoding is where the memory goes: a JSON value is a tree of maps, ~40x the bytes of a body
//! made of small objects (a 2.9 MB VirtualService with 100,000 destinations took ~126 MB). So
//! the values of a body are counted on its bytes first, as the YAML loader counts nodes
//! (`src/manifest/yaml.rs` `max_nodes`), and a body over the budget is never decoded.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bodies up to this size are checked on the async worker that received them: they are
/// decided in well under a millisecond, and a thread hand-off each would cost latency
/// (tests/webhook_faults.rs). Larger ones go to the [`ReviewPool`].
pub const INLINE_MAX_BYTES: usize = 64 * 1024;
/// Default `--max-review-nodes`: JSON values (objects, arrays, scalars) in one AdmissionReview.
/// The largest object in the upstream corpus has ~4,000; an AdmissionReview of an UPDATE holds
/// two copies and the apiserver's `managedFields`.
pub const DEFAULT_MAX_NODES: usize = 100_000;
/// Default `--review-deadline`: well under the webhook's `timeoutSeconds: 5` (deploy/), so the
/// answer is never late even when the request took long to arrive.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(2);

/// What to answer for a review that is over budget (too many values, not checked in time, the
/// pool busy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OverBudget {
    /// Admit, with a warning that the object was not checked (as `failurePolicy: Ignore` does
    /// when the webhook is down).
    Allow,
    /// Deny: "too large to check".
    Deny,
}

/// The number of JSON values in `body` (objects, arrays and scalars; keys are not values),
/// counted on the bytes without decoding; stops counting past `limit`. A body that is not
/// JSON gets some count: the decoder reports it.
pub fn count_values(body: &[u8], limit: usize) -> usize {
    // The document itself, then one per element of an array or member of an object: the first
    // one after a `{` or `[` that is not closed at once, and one after each `,`.
    let mut n = 1usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut opened = false;
    for &b in body {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        if opened && !b.is_ascii_whitespace() {
            opened = false;
            if b != b'}' && b != b']' {
                n += 1;
            }
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => opened = true,
            b',' => n += 1,
            _ => {}
        }
        if n > limit {
            return n;
        }
    }
    n
}

type Job = Box<dyn FnOnce() + Send>;

/// One thread that checks large reviews in turn, with a short queue. At most one large review
/// is being decoded and checked at any time, so their memory does not add up; the queue is
/// bounded so a burst of them is answered (over budget: busy) instead of piling up.
pub struct ReviewPool {
    tx: Mutex<mpsc::SyncSender<Job>>,
}

impl ReviewPool {
    pub fn new(queue: usize) -> Arc<ReviewPool> {
        let (tx, rx) = mpsc::sync_channel::<Job>(queue);
        let spawned = std::thread::Builder::new()
            .name("rollgate-review".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job();
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the review thread; large reviews are over budget");
        }
        Arc::new(ReviewPool { tx: Mutex::new(tx) })
    }

    /// Run `f` on the review thread; `None` when the queue is full (or the thread is gone).
    /// `f` is skipped when the caller stopped waiting before its turn came.
    pub fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<tokio::sync::oneshot::Receiver<T>> {
        let (done, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            if done.is_closed() {
                return;
            }
            let _ = done.send(f());
        });
        let tx = self.tx.lock().ok()?;
        tx.try_send(job).ok()?;
        Some(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_counted_on_the_bytes() {
        let cases: [(&str, usize); 9] = [
            ("1", 1),
            ("{}", 1),
            ("[]", 1),
            ("[ ]", 1),
            (r#"{"a":1,"b":2}"#, 3),
            (r#"{"a":[1,2,{"c":"x,{["}],"b":{ }}"#, 7),
            (r#"["\"", "\\", "]"]"#, 4),
            ("[[],[[]]]", 4),
            (" { \"a\" : [ 1 , 2 ] } ", 4),
        ];
        for (json, want) in cases {
            let v: serde_json::Value = serde_json::from_str(json).expect(json);
            assert_eq!(
                count_values(json.as_bytes(), usize::MAX),
                want,
                "{json}: {v}"
            );
        }
        assert_eq!(count_values(b"[1,2,3,4,5,6]", 3), 4);
    }
}
