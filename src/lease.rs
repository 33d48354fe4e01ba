//! What a worker knows of its lease on a job or a plan task: until when it holds it (moved on
//! by each renewal the store accepted), and a guard that stops the leased work at its next
//! poll once that time has passed. A process woken from a stall (paused, starved) past its
//! lease takes no further step: another worker may hold the work by then and be writing to
//! GitHub, and the renewal that would learn so may not have run yet.

use std::future::Future;
use std::sync::Mutex;
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

/// Until when this process holds a lease, as far as it knows.
#[derive(Debug)]
pub struct Held {
    until: Mutex<Instant>,
}

impl Held {
    /// A lease of `lease` claimed now.
    pub fn new(lease: Duration) -> Self {
        Self {
            until: Mutex::new(Instant::now() + lease),
        }
    }

    /// The store renewed the lease for `lease` when asked at `asked`.
    pub fn renewed(&self, asked: Instant, lease: Duration) {
        let mut until = self.until.lock().unwrap_or_else(|p| p.into_inner());
        *until = (*until).max(asked + lease);
    }

    /// Whether the lease has run out unrenewed.
    pub fn ran_out(&self) -> bool {
        Instant::now() >= *self.until.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `work`'s output, or `None` once `held` has run out: looked at before every poll of `work`,
/// so work woken past its lease is not polled again.
pub async fn guarded<F: Future + Unpin>(held: &Held, mut work: F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        if held.ran_out() {
            return Poll::Ready(None);
        }
        std::pin::Pin::new(&mut work).poll(cx).map(Some)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Work that takes a step after one second and another after one more.
    fn two_steps(steps: &Arc<AtomicUsize>) -> impl Future<Output = usize> + use<> {
        let steps = steps.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            steps.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(1)).await;
            steps.fetch_add(1, Ordering::SeqCst)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn work_woken_past_its_lease_takes_no_further_step() {
        let held = Held::new(Duration::from_secs(3));
        let steps = Arc::new(AtomicUsize::new(0));
        let mut guarded = Box::pin(guarded(&held, Box::pin(two_steps(&steps))));
        assert!(futures::poll!(&mut guarded).is_pending());
        // The process stalls: nothing is polled while twice the lease goes by.
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(guarded.await, None);
        assert_eq!(
            steps.load(Ordering::SeqCst),
            0,
            "a step was taken past the lease"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn work_within_its_renewed_lease_runs_to_the_end() {
        let held = Held::new(Duration::from_millis(1500));
        let steps = Arc::new(AtomicUsize::new(0));
        let work = guarded(&held, Box::pin(two_steps(&steps)));
        let renewal = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            held.renewed(Instant::now(), Duration::from_millis(1500));
            std::future::pending::<()>().await
        };
        let done = tokio::select! {
            done = work => done,
            () = renewal => unreachable!(),
        };
        assert_eq!(done, Some(1));
        assert_eq!(steps.load(Ordering::SeqCst), 2);
    }
}
