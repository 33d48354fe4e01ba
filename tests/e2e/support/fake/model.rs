//! The fake GitHub's model: installations, repositories (real git repositories on disk), pull
//! requests, issues, comments, permissions, teams, branch protection, issued tokens (with their scope)
//! and webhook delivery attempts. Requests change it the way they change GitHub.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone)]
pub struct Installation {
    pub id: u64,
    pub account: String,
    pub repos: BTreeSet<String>,
}

#[derive(Debug, Clone)]
pub struct Pr {
    pub number: u64,
    pub title: String,
    pub author: String,
    pub head_ref: String,
    pub head_sha: String,
    pub base_ref: String,
    pub base_sha: String,
    pub draft: bool,
    pub open: bool,
    pub merged: bool,
    pub merge_commit_sha: Option<String>,
    /// `None` while "GitHub" is still computing it.
    pub mergeable: Option<bool>,
    /// A `mergeable_state` a test forces (clean | unstable | has_hooks | behind | blocked |
    /// dirty | draft | unknown); `None` computes it as GitHub does (see `Repo::mergeable_state`).
    pub mergeable_state: Option<String>,
    /// Where the head branch lives.
    pub head_repo: HeadRepo,
}

/// The repository of a pull request's head branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadRepo {
    /// The base repository itself.
    Base,
    /// A fork, `owner/name`.
    Fork(String),
    /// A fork that was deleted: GitHub answers `head.repo: null`.
    Deleted,
}

/// Branch protection of a repository (modelled for every branch alike).
#[derive(Debug, Clone, Default)]
pub struct Protection {
    /// Check-run names that must pass (success, neutral or skipped) on the head.
    pub required_checks: Vec<String>,
    /// Approving reviews required; 0 does not require reviews.
    pub required_approvals: u32,
}

#[derive(Debug, Clone)]
pub struct Comment {
    pub id: u64,
    /// The GraphQL global id.
    pub node_id: String,
    pub issue: u64,
    pub body: String,
    pub author: String,
    pub author_is_bot: bool,
    /// The classifier it was minimized with (`OUTDATED`, …); `None` while shown.
    pub minimized: Option<String>,
    pub reactions: Vec<Reaction>,
    /// Every body it had before the current one, oldest first.
    pub edits: Vec<String>,
}

impl Comment {
    /// A new, unminimized comment without reactions.
    pub fn new(id: u64, issue: u64, author: &str, body: &str) -> Self {
        Self {
            id,
            node_id: format!("IC_kwDOfake{id}"),
            issue,
            body: body.into(),
            author: author.into(),
            author_is_bot: author.ends_with("[bot]"),
            minimized: None,
            reactions: Vec::new(),
            edits: Vec::new(),
        }
    }
}

/// A reaction on a comment; GitHub keeps one per user and content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    pub id: u64,
    pub user: String,
    /// +1 | -1 | laugh | confused | heart | hooray | rocket | eyes
    pub content: String,
}

#[derive(Debug, Clone)]
pub struct CheckRun {
    pub id: u64,
    pub name: String,
    pub head_sha: String,
    /// queued | in_progress | completed
    pub status: String,
    pub conclusion: Option<String>,
    pub external_id: Option<String>,
    /// Where the check's "Details" link leads.
    pub details_url: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
    /// Every state it went through, in order.
    pub history: Vec<String>,
}

/// An issue (not a pull request; both share one number sequence per repository).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    pub body: String,
    /// The login of who opened it (`<slug>[bot]` for the App).
    pub author: String,
    pub labels: Vec<String>,
    pub open: bool,
    /// completed | not_planned | reopened; `None` for an issue never closed.
    pub state_reason: Option<String>,
    /// Every body it had before the current one, oldest first.
    pub edits: Vec<String>,
    /// When it last changed, as a counter: a higher one changed later.
    pub updated: u64,
}

#[derive(Debug, Clone)]
pub struct Review {
    pub id: u64,
    pub pr: u64,
    pub user: String,
    /// APPROVED | CHANGES_REQUESTED | COMMENTED | DISMISSED
    pub state: String,
    pub commit_id: String,
}

#[derive(Debug, Clone)]
pub struct Repo {
    pub id: u64,
    pub owner: String,
    pub name: String,
    pub default_branch: String,
    pub private: bool,
    /// A bare git repository on disk.
    pub git_dir: PathBuf,
    pub prs: BTreeMap<u64, Pr>,
    pub issues: BTreeMap<u64, Issue>,
    /// The repository's labels (created when an issue first uses one).
    pub labels: BTreeSet<String>,
    pub comments: Vec<Comment>,
    pub check_runs: Vec<CheckRun>,
    pub reviews: Vec<Review>,
    /// login → admin | maintain | write | triage | read
    pub permissions: HashMap<String, String>,
    pub protection: Option<Protection>,
    /// The last issue or pull-request number given.
    last_number: u64,
}

impl Repo {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// The number of a new issue or pull request: one sequence for both, from 1, as on GitHub.
    pub fn next_number(&mut self) -> u64 {
        self.last_number += 1;
        self.last_number
    }
}

/// One attempt to deliver a webhook, as `GET /app/hook/deliveries` lists it.
#[derive(Debug, Clone)]
pub struct HookAttempt {
    pub id: i64,
    pub guid: String,
    pub event: String,
    pub action: Option<String>,
    pub delivered_at: SystemTime,
    pub redelivery: bool,
    /// 0 when bosun gave no answer.
    pub status_code: u16,
    pub installation_id: Option<u64>,
    pub repository_id: Option<u64>,
    pub payload: Vec<u8>,
    pub response: String,
}

#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub installation: u64,
    pub expires_at: SystemTime,
    pub scope: TokenScope,
}

/// What an installation token may reach: `None` is everything the installation has;
/// `Some` narrows it, as `POST /app/installations/{id}/access_tokens` with `repositories`
/// and `permissions` does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenScope {
    /// Lower-cased `owner/name`s.
    pub repositories: Option<BTreeSet<String>>,
    /// permission → read | write
    pub permissions: Option<BTreeMap<String, String>>,
}

impl TokenScope {
    /// Whether the token reaches repository `full_name`.
    pub fn covers(&self, full_name: &str) -> bool {
        self.repositories
            .as_ref()
            .is_none_or(|r| r.contains(&full_name.to_ascii_lowercase()))
    }

    /// Whether the token holds `permission` at `level` (read | write) or more. Every token
    /// reads metadata.
    pub fn grants(&self, permission: &str, level: &str) -> bool {
        let Some(granted) = &self.permissions else {
            return true;
        };
        if permission == "metadata" && level == "read" {
            return true;
        }
        match granted.get(permission).map(String::as_str) {
            Some("write") => true,
            Some("read") => level == "read",
            _ => false,
        }
    }
}

/// A failure the next matching requests get instead of their answer.
#[derive(Debug, Clone)]
pub struct Failure {
    pub path_contains: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub times: u32,
    /// Only requests of this method (any when `None`).
    pub method: Option<String>,
    /// The request is carried out first, then answered with the failure (a proxy that lost
    /// GitHub's answer): the model changed, the client cannot know it.
    pub after_acting: bool,
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub status: u16,
    /// The request's body, as text (lossy).
    pub body: String,
}

/// One request to the git HTTP endpoint that reached `git http-backend`.
#[derive(Debug, Clone)]
pub struct GitRequest {
    /// `git-upload-pack` or `git-receive-pack`.
    pub service: String,
    /// `info/refs` (the advertisement) or the service itself (the pack exchange).
    pub path: String,
    /// `owner/name`
    pub repo: String,
    /// The token git sent, and what it may reach.
    pub token: String,
    pub scope: TokenScope,
    sent: Arc<AtomicU64>,
}

impl GitRequest {
    pub fn new(
        service: &str,
        path: &str,
        repo: &str,
        token: &str,
        scope: &TokenScope,
    ) -> (Self, Arc<AtomicU64>) {
        let sent = Arc::new(AtomicU64::new(0));
        let r = Self {
            service: service.into(),
            path: path.into(),
            repo: repo.into(),
            token: token.into(),
            scope: scope.clone(),
            sent: sent.clone(),
        };
        (r, sent)
    }

    /// The response body bytes sent so far (all of them once the client has finished).
    pub fn bytes(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

pub struct Model {
    pub app_id: u64,
    pub app_slug: String,
    pub webhook_secret: String,
    /// Where webhooks go; `None` until bosun runs.
    pub hook_url: Option<String>,
    /// A fleet of bosun replicas behind a load balancer: when not empty, webhooks go to
    /// these in turn instead of `hook_url`, and a delivery a replica does not take (no
    /// connection, no answer, not 2xx) is tried on the next one, as the load balancer and
    /// GitHub's redelivery would; every try is an attempt of the same GUID.
    pub fleet_hooks: Vec<String>,
    /// The index in `fleet_hooks` the next delivery goes to first.
    pub fleet_next: usize,
    pub installations: BTreeMap<u64, Installation>,
    /// By lower-cased `owner/name`.
    pub repos: BTreeMap<String, Repo>,
    pub tokens: HashMap<String, IssuedToken>,
    pub token_lifetime: Duration,
    pub tokens_issued: u32,
    pub attempts: Vec<HookAttempt>,
    pub requests: Vec<Recorded>,
    /// Requests to the git HTTP endpoint (`/git/<owner>/<name>.git/...`) that were served.
    pub git_requests: Vec<GitRequest>,
    /// Requests GitHub would have refused (OpenAPI), or the fake does not model.
    pub violations: Vec<String>,
    pub failures: VecDeque<Failure>,
    /// Requests (method, path part, times left) the fake holds unanswered for two minutes,
    /// as a GitHub that hangs; `stalled` counts those held so far.
    pub stalls: Vec<(String, String, u32)>,
    pub stalled: u32,
    /// Organisation teams by lower-cased `org/slug`: lower-cased login → membership state
    /// (active | pending).
    pub teams: BTreeMap<String, BTreeMap<String, String>>,
    /// The OAuth web flow: the user signed in next, codes, user tokens.
    pub oauth: super::oauth::OAuthModel,
    /// Manifests confirmed on GitHub's new-App page, by their one-time code.
    pub pending_manifests: HashMap<String, super::apps::PendingManifest>,
    /// Apps made from a manifest; their JWTs are accepted.
    pub created_apps: Vec<super::apps::CreatedApp>,
    next_id: u64,
}

impl Model {
    pub fn new(app_id: u64, webhook_secret: &str) -> Self {
        Self {
            app_id,
            app_slug: "bosun-test".into(),
            webhook_secret: webhook_secret.into(),
            hook_url: None,
            fleet_hooks: Vec::new(),
            fleet_next: 0,
            installations: BTreeMap::new(),
            repos: BTreeMap::new(),
            tokens: HashMap::new(),
            token_lifetime: Duration::from_secs(3600),
            tokens_issued: 0,
            attempts: Vec::new(),
            requests: Vec::new(),
            git_requests: Vec::new(),
            violations: Vec::new(),
            failures: VecDeque::new(),
            stalls: Vec::new(),
            stalled: 0,
            teams: BTreeMap::new(),
            oauth: Default::default(),
            pending_manifests: HashMap::new(),
            created_apps: Vec::new(),
            next_id: 1000,
        }
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn repo(&self, full_name: &str) -> Option<&Repo> {
        self.repos.get(&full_name.to_ascii_lowercase())
    }

    pub fn repo_mut(&mut self, full_name: &str) -> Option<&mut Repo> {
        self.repos.get_mut(&full_name.to_ascii_lowercase())
    }

    /// A comment (by REST id) in any repository, with the repository's name.
    pub fn comment(&self, id: u64) -> Option<(String, &Comment)> {
        self.repos.values().find_map(|r| {
            r.comments
                .iter()
                .find(|c| c.id == id)
                .map(|c| (r.full_name(), c))
        })
    }

    /// The installation a repository belongs to.
    pub fn installation_of(&self, full_name: &str) -> Option<u64> {
        let key = full_name.to_ascii_lowercase();
        self.installations
            .values()
            .find(|i| i.repos.contains(&key))
            .map(|i| i.id)
    }

    /// Adds a repository (creating its git repository with one commit on the default branch)
    /// to an installation, creating the installation if needed.
    pub fn add_repo(&mut self, root: &Path, installation: u64, full_name: &str) -> &mut Repo {
        let (owner, name) = full_name.split_once('/').expect("owner/name");
        let id = self.next_id();
        let git_dir = root.join(format!("{owner}+{name}.git"));
        let default_branch = "main".to_string();
        init_git(&git_dir, &default_branch);
        let key = full_name.to_ascii_lowercase();
        self.installations
            .entry(installation)
            .or_insert_with(|| Installation {
                id: installation,
                account: owner.into(),
                repos: BTreeSet::new(),
            })
            .repos
            .insert(key.clone());
        self.repos.insert(
            key.clone(),
            Repo {
                id,
                owner: owner.into(),
                name: name.into(),
                default_branch,
                private: true,
                git_dir,
                prs: BTreeMap::new(),
                issues: BTreeMap::new(),
                labels: BTreeSet::new(),
                comments: Vec::new(),
                check_runs: Vec::new(),
                reviews: Vec::new(),
                permissions: HashMap::new(),
                protection: None,
                last_number: 0,
            },
        );
        self.repos.get_mut(&key).unwrap()
    }

    /// The answer a request gets instead of its own, if a failure was planted for it:
    /// before it acts (`after_acting` false) or after.
    pub fn take_failure(
        &mut self,
        method: &str,
        path: &str,
        after_acting: bool,
    ) -> Option<Failure> {
        let i = self.failures.iter().position(|f| {
            path.contains(&f.path_contains)
                && f.after_acting == after_acting
                && f.method.as_deref().is_none_or(|m| m == method)
        })?;
        let f = self.failures[i].clone();
        if f.times <= 1 {
            self.failures.remove(i);
        } else {
            self.failures[i].times -= 1;
        }
        Some(f)
    }
}

/// A bare repository whose default branch holds one commit.
fn init_git(dir: &Path, branch: &str) {
    let repo = git2::Repository::init_bare(dir).expect("git init");
    let sig = git2::Signature::now("Test", "test@example.com").unwrap();
    let blob = repo.blob(b"# infra\n").unwrap();
    let mut tb = repo.treebuilder(None).unwrap();
    tb.insert("README.md", blob, 0o100644).unwrap();
    let tree = repo.find_tree(tb.write().unwrap()).unwrap();
    let refname = format!("refs/heads/{branch}");
    repo.commit(Some(&refname), &sig, &sig, "initial", &tree, &[])
        .unwrap();
    repo.set_head(&refname).unwrap();
}

/// Commits `files` on top of `branch` (created from the default branch if missing); returns
/// the new commit's sha.
/// File content that commits a symbolic link instead (see [`symlink`]).
pub const SYMLINK_PREFIX: &str = "\0symlink\0";

/// Content for `commit`/`commit_changes` that makes the path a symbolic link to `target`.
pub fn symlink(target: &str) -> String {
    format!("{SYMLINK_PREFIX}{target}")
}

pub fn commit(git_dir: &Path, base: &str, branch: &str, files: &[(&str, &str)]) -> String {
    let changes: Vec<(&str, Option<&str>)> = files.iter().map(|(p, c)| (*p, Some(*c))).collect();
    commit_changes(git_dir, base, branch, &changes)
}

/// Commits `changes` on top of `branch` (created from `base` if missing): a path (nested
/// paths like `envs/prod/main.tf` create their directories) with `Some(content)` is written,
/// with `None` deleted. Returns the new commit's sha.
pub fn commit_changes(
    git_dir: &Path,
    base: &str,
    branch: &str,
    changes: &[(&str, Option<&str>)],
) -> String {
    let repo = git2::Repository::open_bare(git_dir).unwrap();
    let sig = git2::Signature::now("Test", "test@example.com").unwrap();
    let parent_ref = repo
        .find_reference(&format!("refs/heads/{branch}"))
        .or_else(|_| repo.find_reference(&format!("refs/heads/{base}")))
        .unwrap();
    let parent = parent_ref.peel_to_commit().unwrap();
    let mut index = git2::Index::new().unwrap();
    index.read_tree(&parent.tree().unwrap()).unwrap();
    for (path, content) in changes {
        match content {
            Some(content) => {
                let (content, mode) = match content.strip_prefix(SYMLINK_PREFIX) {
                    Some(target) => (target, 0o120000),
                    None => (*content, 0o100644),
                };
                let blob = repo.blob(content.as_bytes()).unwrap();
                index
                    .add(&git2::IndexEntry {
                        ctime: git2::IndexTime::new(0, 0),
                        mtime: git2::IndexTime::new(0, 0),
                        dev: 0,
                        ino: 0,
                        mode,
                        uid: 0,
                        gid: 0,
                        file_size: content.len() as u32,
                        id: blob,
                        flags: path.len().min(0xfff) as u16,
                        flags_extended: 0,
                        path: path.as_bytes().to_vec(),
                    })
                    .unwrap();
            }
            None => index.remove_path(Path::new(path)).unwrap(),
        }
    }
    let tree = repo.find_tree(index.write_tree_to(&repo).unwrap()).unwrap();
    let oid = repo
        .commit(
            Some(&format!("refs/heads/{branch}")),
            &sig,
            &sig,
            "change",
            &tree,
            &[&parent],
        )
        .unwrap();
    oid.to_string()
}

/// Points `refs/pull/<number>/head` at `sha`, as GitHub does when a PR is opened or updated.
pub fn publish_pr_head(git_dir: &Path, number: u64, sha: &str) {
    let repo = git2::Repository::open_bare(git_dir).unwrap();
    let oid = git2::Oid::from_str(sha).unwrap();
    repo.reference(
        &format!("refs/pull/{number}/head"),
        oid,
        true,
        "pull request",
    )
    .unwrap();
}

pub fn branch_sha(git_dir: &Path, branch: &str) -> String {
    let repo = git2::Repository::open_bare(git_dir).unwrap();
    repo.find_reference(&format!("refs/heads/{branch}"))
        .unwrap()
        .peel_to_commit()
        .unwrap()
        .id()
        .to_string()
}
