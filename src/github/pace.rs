//! Pacing of bosun's writes to GitHub. GitHub's secondary rate limits allow no more than 80
//! content-creating requests a minute; a [`Pacer`] is a sliding window that writes wait on (at
//! most that many writes in any minute), and the pacing layer (`layer::pace`) puts every write
//! request behind one.
//!
//! A window, not a token bucket: a bucket that lets a burst go at once and then earns 80 a
//! minute lets the burst plus 80 go within one minute, over the limit; one that never does
//! would have to hold every burst back. The window lets as many writes go at once as the
//! limit allows, and never more in any minute: a plan of forty projects writes its 43 check
//! runs and comment as its plans end, not at 80 a minute after a burst of 20.
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

/// A sliding window for writes to GitHub, with per-key coalescing (see the module docs).
pub struct Pacer {
    state: Mutex<State>,
    /// Signalled whenever the queue, the running keys or the window change.
    changed: Notify,
    /// At most this many writes get their turn in any `period`.
    limit: usize,
    period: Duration,
    max_wait: Duration,
}

struct State {
    /// When each write of the last `period` got its turn, oldest first.
    sent: VecDeque<Instant>,
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
    /// GitHub's documented budget: 80 writes a minute.
    fn default() -> Self {
        Self::new(80)
    }
}

impl Pacer {
    /// At most `per_minute` (at least 1) writes in any minute.
    pub fn new(per_minute: u32) -> Self {
        Self::window(per_minute, Duration::from_secs(60))
    }

    /// At most `limit` (at least 1) writes in any `period`.
    pub fn window(limit: u32, period: Duration) -> Self {
        Self {
            state: Mutex::new(State {
                sent: VecDeque::new(),
                queue: VecDeque::new(),
                superseded: HashSet::new(),
                running: HashMap::new(),
                next_ticket: 0,
            }),
            changed: Notify::new(),
            limit: usize::try_from(limit.max(1)).unwrap_or(usize::MAX),
            period,
            max_wait: Duration::from_secs(600),
        }
    }

    /// How long a write waits at most (default 10 minutes); past it, it runs anyway, even
    /// with the window full or while an earlier write of its key still runs, so nothing waits
    /// forever behind a stuck write.
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// Writes waiting for their turn now.
    pub fn waiting(&self) -> usize {
        self.lock().queue.len()
    }

    /// Runs `f` when the window has room and no earlier write of `key` runs, unless a newer
    /// write with the same `key` replaces this one first.
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

    /// Runs `f` when the window has room; writes without a key are never superseded.
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
                st.expire(now, self.period);
                let first = st.first_ready() == Some(turn.ticket);
                if now >= deadline || (first && st.sent.len() < self.limit) {
                    // Past the deadline this may fill the window over its limit: later
                    // writes wait until it is under the limit again.
                    st.sent.push_back(now);
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
                    // The window has room again once enough of its writes are a period old.
                    let freeing = st.sent.len().saturating_sub(self.limit);
                    match st.sent.get(freeing) {
                        Some(&at) => deadline.min(at + self.period),
                        None => deadline,
                    }
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
    /// Forgets the writes a `period` old or older.
    fn expire(&mut self, now: Instant, period: Duration) {
        while self
            .sent
            .front()
            .is_some_and(|&at| now.saturating_duration_since(at) >= period)
        {
            self.sent.pop_front();
        }
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
