//! Pacing of bosun's writes to GitHub. GitHub's secondary rate limits allow about 80
//! content-creating requests a minute; a [`Pacer`] is a token bucket that writes wait on, and
//! [`PacedGitHub`] puts every write of a [`GitHub`] behind one.
//!
//! Writes are coalesced, never dropped: a write with a key (`check:<id>`, `comment:<id>`) that
//! is still waiting for a token is replaced by a newer write with the same key, which takes its
//! place in the queue; the replaced caller gets [`Paced::Superseded`]. Writes of one key run one
//! at a time, in order; everything else runs first come, first served.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::Instrument as _;

pub use stored::StoredBudget;

use super::{
    CheckRunSpec, CommentRef, GitHub, GitHubError, HookDeliveryPage, InstallationToken, IssueInfo,
    IssueUpdate, MergeMethod, MergeRequirements, Permission, PullRequestInfo, Reaction, RepoInfo,
    ReviewInfo,
};

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

/// A [`GitHub`] whose writes (comments, check runs, reactions, minimizing, merges, issues) wait on a
/// [`Pacer`]; reads pass straight through. Updates of one check run or one comment are
/// coalesced: a superseded update returns `Ok(())`, as the newer one carries its content.
pub struct PacedGitHub<G: ?Sized> {
    inner: Arc<G>,
    pacer: Pacer,
    /// The fleet's budget, spent by each write once the pacer gives it its turn.
    stored: Option<StoredBudget>,
}

impl<G: GitHub + ?Sized> PacedGitHub<G> {
    /// Paces `inner`'s writes with `pacer`.
    pub fn new(inner: Arc<G>, pacer: Pacer) -> Self {
        Self {
            inner,
            pacer,
            stored: None,
        }
    }

    /// Makes every write also spend a token of its installation's budget in the store (see
    /// [`StoredBudget`]).
    pub fn with_stored_budget(mut self, stored: StoredBudget) -> Self {
        self.stored = Some(stored);
        self
    }

    /// Runs `write` once the installation's stored budget grants it a token.
    async fn budgeted<T>(&self, installation_id: u64, write: impl Future<Output = T>) -> T {
        if let Some(stored) = &self.stored {
            stored.spend(installation_id).await;
        }
        write.await
    }

    /// The pacer, e.g. to see how many writes wait.
    pub fn pacer(&self) -> &Pacer {
        &self.pacer
    }

    async fn keyed(
        &self,
        installation_id: u64,
        key: &str,
        f: impl Future<Output = Result<(), GitHubError>>,
    ) -> Result<(), GitHubError> {
        match self
            .pacer
            .write(Some(key), || self.budgeted(installation_id, f))
            .await
        {
            Paced::Ran(result) => result,
            Paced::Superseded => Ok(()),
        }
    }
}

#[async_trait]
impl<G: GitHub + ?Sized> GitHub for PacedGitHub<G> {
    async fn installation_token(
        &self,
        installation_id: u64,
    ) -> Result<InstallationToken, GitHubError> {
        self.inner.installation_token(installation_id).await
    }

    async fn repo_read_token(
        &self,
        installation_id: u64,
        repo: &str,
    ) -> Result<InstallationToken, GitHubError> {
        self.inner.repo_read_token(installation_id, repo).await
    }

    async fn hook_deliveries(&self, cursor: Option<&str>) -> Result<HookDeliveryPage, GitHubError> {
        self.inner.hook_deliveries(cursor).await
    }

    async fn app_slug(&self) -> Result<String, GitHubError> {
        self.inner.app_slug().await
    }

    async fn redeliver(&self, delivery_id: i64) -> Result<(), GitHubError> {
        // Not content: GitHub's App endpoints are outside the content-creation limit.
        self.inner.redeliver(delivery_id).await
    }

    async fn create_comment(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
        body: &str,
    ) -> Result<CommentRef, GitHubError> {
        self.pacer
            .write_unkeyed(|| {
                self.budgeted(
                    installation_id,
                    self.inner
                        .create_comment(installation_id, repo, number, body),
                )
            })
            .await
    }

    async fn comments_by(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
        author: &str,
        prefix: &str,
    ) -> Result<Vec<CommentRef>, GitHubError> {
        self.inner
            .comments_by(installation_id, repo, number, author, prefix)
            .await
    }

    async fn update_comment(
        &self,
        installation_id: u64,
        repo: &str,
        comment_id: u64,
        body: &str,
    ) -> Result<(), GitHubError> {
        let key = format!("comment:{comment_id}");
        let update = self
            .inner
            .update_comment(installation_id, repo, comment_id, body);
        self.keyed(installation_id, &key, update).await
    }

    async fn minimize_comment(
        &self,
        installation_id: u64,
        node_id: &str,
    ) -> Result<(), GitHubError> {
        let key = format!("minimize:{node_id}");
        let minimize = self.inner.minimize_comment(installation_id, node_id);
        self.keyed(installation_id, &key, minimize).await
    }

    async fn add_reaction(
        &self,
        installation_id: u64,
        repo: &str,
        comment_id: u64,
        content: Reaction,
    ) -> Result<(), GitHubError> {
        self.pacer
            .write_unkeyed(|| {
                self.budgeted(
                    installation_id,
                    self.inner
                        .add_reaction(installation_id, repo, comment_id, content),
                )
            })
            .await
    }

    async fn pull_request(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
    ) -> Result<PullRequestInfo, GitHubError> {
        self.inner.pull_request(installation_id, repo, number).await
    }

    async fn create_check_run(
        &self,
        installation_id: u64,
        repo: &str,
        check: &CheckRunSpec,
    ) -> Result<u64, GitHubError> {
        self.pacer
            .write_unkeyed(|| {
                self.budgeted(
                    installation_id,
                    self.inner.create_check_run(installation_id, repo, check),
                )
            })
            .await
    }

    async fn update_check_run(
        &self,
        installation_id: u64,
        repo: &str,
        id: u64,
        check: &CheckRunSpec,
    ) -> Result<(), GitHubError> {
        let key = format!("check:{id}");
        let update = self
            .inner
            .update_check_run(installation_id, repo, id, check);
        self.keyed(installation_id, &key, update).await
    }

    async fn reviews(
        &self,
        installation_id: u64,
        repo: &str,
        pr: u64,
    ) -> Result<Vec<ReviewInfo>, GitHubError> {
        self.inner.reviews(installation_id, repo, pr).await
    }

    async fn permission(
        &self,
        installation_id: u64,
        repo: &str,
        user: &str,
    ) -> Result<Permission, GitHubError> {
        self.inner.permission(installation_id, repo, user).await
    }

    async fn team_member(
        &self,
        installation_id: u64,
        org: &str,
        team_slug: &str,
        user: &str,
    ) -> Result<bool, GitHubError> {
        // A read: not paced.
        self.inner
            .team_member(installation_id, org, team_slug, user)
            .await
    }

    async fn merge_pull_request(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
        sha: &str,
        method: MergeMethod,
    ) -> Result<String, GitHubError> {
        // A write, never coalesced: every merge asked for is tried.
        self.pacer
            .write_unkeyed(|| {
                self.budgeted(
                    installation_id,
                    self.inner
                        .merge_pull_request(installation_id, repo, number, sha, method),
                )
            })
            .await
    }

    async fn delete_branch(
        &self,
        installation_id: u64,
        repo: &str,
        branch: &str,
    ) -> Result<(), GitHubError> {
        self.pacer
            .write_unkeyed(|| {
                self.budgeted(
                    installation_id,
                    self.inner.delete_branch(installation_id, repo, branch),
                )
            })
            .await
    }

    async fn merge_requirements(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
    ) -> Result<MergeRequirements, GitHubError> {
        self.inner
            .merge_requirements(installation_id, repo, number)
            .await
    }

    async fn installations(&self) -> Result<Vec<u64>, GitHubError> {
        self.inner.installations().await
    }

    async fn installation_repos(&self, installation_id: u64) -> Result<Vec<RepoInfo>, GitHubError> {
        self.inner.installation_repos(installation_id).await
    }

    async fn repo_installation(&self, repo: &str) -> Result<Option<u64>, GitHubError> {
        self.inner.repo_installation(repo).await
    }

    async fn repository(&self, installation_id: u64, repo: &str) -> Result<RepoInfo, GitHubError> {
        self.inner.repository(installation_id, repo).await
    }

    async fn find_issue(
        &self,
        installation_id: u64,
        repo: &str,
        label: &str,
        title: &str,
    ) -> Result<Option<IssueInfo>, GitHubError> {
        self.inner
            .find_issue(installation_id, repo, label, title)
            .await
    }

    async fn create_issue(
        &self,
        installation_id: u64,
        repo: &str,
        title: &str,
        body: &str,
        labels: &[String],
    ) -> Result<u64, GitHubError> {
        self.pacer
            .write_unkeyed(|| {
                self.budgeted(
                    installation_id,
                    self.inner
                        .create_issue(installation_id, repo, title, body, labels),
                )
            })
            .await
    }

    async fn update_issue(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
        update: &IssueUpdate,
    ) -> Result<(), GitHubError> {
        // Never coalesced: an update carries only some fields, so a newer one may not hold an
        // older one's change.
        self.pacer
            .write_unkeyed(|| {
                self.budgeted(
                    installation_id,
                    self.inner
                        .update_issue(installation_id, repo, number, update),
                )
            })
            .await
    }
}

mod stored;

#[cfg(test)]
mod tests;
