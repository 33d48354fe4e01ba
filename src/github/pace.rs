//! Pacing of bosun's writes to GitHub. GitHub's secondary rate limits allow about 80
//! content-creating requests a minute; a [`Pacer`] is a token bucket that writes wait on, and
//! the pacing layer (`layer::pace`) puts every write request behind one.
//!
//! Writes are coalesced, never dropped: a write with a key (`check:<id>`, `comment:<id>`) that
//! is still waiting for a token is replaced by a newer write with the same key, which takes its
//! place in the queue; the replaced caller gets [`Paced::Superseded`]. Writes of one key run one
//! at a time, in order; everything else runs first come, first served.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::Instrument as _;

pub use stored::StoredBudget;

/// What became of a paced write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paced<T> {
    /// It ran and returned this.
    Ran(T),
    /// A newer write with the same key replaced it while it waited; it never ran.
    Superseded,
}

/// Tokens a little under one count as one: float sums drift.
const EPSILON: f64 = 1e-6;

/// A token bucket for writes to GitHub, with per-key coalescing (see the module docs).
pub struct Pacer {
    state: Mutex<State>,
    /// Signalled whenever the queue, the running keys or the tokens change.
    changed: Notify,
    /// Time to earn one token.
    per_token: Duration,
    burst: f64,
    max_wait: Duration,
}

struct State {
    tokens: f64,
    refilled: Instant,
    /// Writes waiting for their turn, oldest first (a replacement keeps its place).
    queue: VecDeque<Waiting>,
    /// Tickets replaced by a newer write of their key, until their caller notices.
    superseded: HashSet<u64>,
    /// Keys with writes running, and how many (more than one only after `max_wait`).
    running: HashMap<String, usize>,
    next_ticket: u64,
}

struct Waiting {
    ticket: u64,
    key: Option<String>,
}

impl Default for Pacer {
    /// GitHub's documented budget: 80 writes a minute, up to 20 at once.
    fn default() -> Self {
        Self::new(80, 20)
    }
}

impl Pacer {
    /// A bucket that earns `per_minute` tokens a minute and holds at most `burst` (both at
    /// least 1); it starts full.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            state: Mutex::new(State {
                tokens: burst,
                refilled: Instant::now(),
                queue: VecDeque::new(),
                superseded: HashSet::new(),
                running: HashMap::new(),
                next_ticket: 0,
            }),
            changed: Notify::new(),
            per_token: Duration::from_secs(60) / per_minute.max(1),
            burst,
            max_wait: Duration::from_secs(600),
        }
    }

    /// How long a write waits at most (default 10 minutes); past it, it runs anyway, even
    /// without a token or while an earlier write of its key still runs, so nothing waits
    /// forever behind a stuck write.
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// Writes waiting for their turn now.
    pub fn waiting(&self) -> usize {
        self.lock().queue.len()
    }

    /// Runs `f` when a token is free and no earlier write of `key` runs, unless a newer write
    /// with the same `key` replaces this one first.
    pub async fn write<T, Fut>(&self, key: Option<&str>, f: impl FnOnce() -> Fut) -> Paced<T>
    where
        Fut: Future<Output = T>,
    {
        let waited = self.turn(key).instrument(tracing::debug_span!("pace"));
        let Some(turn) = waited.await else {
            return Paced::Superseded;
        };
        let out = f().await;
        drop(turn);
        Paced::Ran(out)
    }

    /// Runs `f` when a token is free; writes without a key are never superseded.
    pub async fn write_unkeyed<T, Fut>(&self, f: impl FnOnce() -> Fut) -> T
    where
        Fut: Future<Output = T>,
    {
        // Only keyed writes can be superseded, so this is always `Some`.
        let turn = self
            .turn(None)
            .instrument(tracing::debug_span!("pace"))
            .await;
        let out = f().await;
        drop(turn);
        out
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; if something did, the state is still whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a write and waits for its turn; `None` when it was superseded. While the
    /// returned [`Turn`] lives, the key counts as running.
    async fn turn(&self, key: Option<&str>) -> Option<Turn<'_>> {
        let mut turn = Turn {
            pacer: self,
            ticket: self.enqueue(key),
            key: key.map(str::to_owned),
            running: false,
        };
        let deadline = Instant::now() + self.max_wait;
        // Each round ends on a change or a timer; the deadline bounds them all.
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let wake_at = {
                let mut st = self.lock();
                if st.superseded.remove(&turn.ticket) {
                    return None;
                }
                let now = Instant::now();
                st.refill(now, self.per_token, self.burst);
                let first = st.first_ready() == Some(turn.ticket);
                if now >= deadline || (first && st.tokens >= 1.0 - EPSILON) {
                    // Past the deadline this may go below zero: the debt slows later writes.
                    st.tokens -= 1.0;
                    st.queue.retain(|w| w.ticket != turn.ticket);
                    if let Some(k) = &turn.key {
                        *st.running.entry(k.clone()).or_default() += 1;
                    }
                    turn.running = true;
                    drop(st);
                    self.changed.notify_waiters();
                    return Some(turn);
                }
                if first {
                    let missing = (1.0 - st.tokens).max(0.0) * self.per_token.as_secs_f64();
                    let until_token = Duration::try_from_secs_f64(missing).unwrap_or(self.max_wait);
                    deadline.min(now + until_token)
                } else {
                    deadline
                }
            };
            tokio::select! {
                _ = &mut changed => {}
                _ = tokio::time::sleep_until(wake_at) => {}
            }
        }
    }

    /// Puts a write in the queue, in the place of a waiting write of the same key if any.
    fn enqueue(&self, key: Option<&str>) -> u64 {
        let mut st = self.lock();
        let ticket = st.next_ticket;
        st.next_ticket += 1;
        let waiting = Waiting {
            ticket,
            key: key.map(str::to_owned),
        };
        let same_key = key.and_then(|k| st.queue.iter().position(|w| w.key.as_deref() == Some(k)));
        match same_key.and_then(|i| st.queue.get_mut(i)) {
            Some(slot) => {
                let replaced = std::mem::replace(slot, waiting);
                st.superseded.insert(replaced.ticket);
            }
            None => st.queue.push_back(waiting),
        }
        drop(st);
        self.changed.notify_waiters();
        ticket
    }
}

impl State {
    fn refill(&mut self, now: Instant, per_token: Duration, burst: f64) {
        let earned = now.saturating_duration_since(self.refilled).as_secs_f64()
            / per_token.as_secs_f64().max(f64::MIN_POSITIVE);
        self.tokens = (self.tokens + earned).min(burst);
        self.refilled = now;
    }

    /// The oldest waiting write whose key has no write running.
    fn first_ready(&self) -> Option<u64> {
        self.queue
            .iter()
            .find(|w| w.key.as_ref().is_none_or(|k| !self.running.contains_key(k)))
            .map(|w| w.ticket)
    }
}

/// A write's place: in the queue until its turn, then running. Dropping it (when the write
/// ends, or its caller gives up) frees the place and wakes the others.
struct Turn<'p> {
    pacer: &'p Pacer,
    ticket: u64,
    key: Option<String>,
    running: bool,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut st = self.pacer.lock();
        st.queue.retain(|w| w.ticket != self.ticket);
        st.superseded.remove(&self.ticket);
        if let (true, Some(key)) = (self.running, &self.key)
            && let Some(n) = st.running.get_mut(key)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                st.running.remove(key);
            }
        }
        drop(st);
        self.pacer.changed.notify_waiters();
    }
}

mod stored;

#[cfg(test)]
mod tests;
