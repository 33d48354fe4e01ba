//! `bosun preview`: the same detection, planning and rendering as on a pull request, on a
//! local checkout, with the comment's markdown as the result — for trying bosun and a repo
//! config before installing the App. It runs the real plan workflow against an in-memory
//! GitHub, with a scratch data directory that is deleted afterwards.

use crate::ids::{InstallationId, PrNumber, Sha};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::config::{CheckoutStrategy, CommentMode, Sandbox};
use crate::github::local::LocalGitHub;
use crate::store::SqliteStore;
use crate::terraform::{Bwrap, Direct, Runner, Terraform};
use crate::workflow::job::{PrRef, RepoRef};
use crate::workflow::plan::{self, Selection};
use crate::workflow::{Context, WorkflowSettings};
use crate::workspace::Workspaces;

/// What to preview.
#[derive(Debug, Clone)]
pub struct Options {
    /// A git checkout (or, with `all`, any directory).
    pub repo: PathBuf,
    /// The branch the change would merge into; default: `origin/HEAD`, `main` or `master`.
    pub base: Option<String>,
    /// The change; default `HEAD`.
    pub head: String,
    /// Plan every project of the working tree as it is (no git history needed).
    pub all: bool,
    pub terraform_bin: String,
    pub parallelism: usize,
    /// How Terraform runs (BOSUN_SANDBOX*). Unlike `serve`, a sandbox that does not work
    /// here falls back to running Terraform directly, with a warning: a preview runs the
    /// operator's own checkout on their own machine.
    pub sandbox: Sandbox,
    /// The repo config's path in the repository (BOSUN_REPO_CONFIG_FILE); `None`: bosun.yaml,
    /// else atlantis.yaml.
    pub repo_config_file: Option<String>,
}

/// The result: the summary comment's markdown (its parts, in order) and the other replies.
pub async fn run(opts: &Options) -> anyhow::Result<String> {
    let scratch = Scratch::new()?;
    let source = scratch.0.join("source.git");
    git(&scratch.0, &["init", "--quiet", "--bare", path(&source)?]).await?;
    let (head_src, base_src, from) = if opts.all {
        let snapshot = scratch.0.join("snapshot");
        snapshot_tree(&opts.repo, &snapshot).await?;
        ("HEAD".to_owned(), "HEAD".to_owned(), snapshot)
    } else {
        let base = match &opts.base {
            Some(b) => b.clone(),
            None => default_base(&opts.repo).await?,
        };
        (opts.head.clone(), base, opts.repo.clone())
    };
    git(
        &scratch.0,
        &[
            "--git-dir",
            path(&source)?,
            "fetch",
            "--quiet",
            "--no-tags",
            path(&from)?,
            &format!("+{head_src}:refs/pull/1/head"),
            &format!("+{base_src}:refs/heads/preview-base"),
        ],
    )
    .await
    .with_context(|| {
        format!(
            "reading {head_src} and {base_src} from {}",
            opts.repo.display()
        )
    })?;
    let sha = |r: &'static str| {
        let source = source.clone();
        let scratch = scratch.0.clone();
        async move {
            let out = git(&scratch, &["--git-dir", path(&source)?, "rev-parse", r]).await?;
            Ok::<_, anyhow::Error>(out.trim().to_owned())
        }
    };
    let (head_sha, base_sha) = (
        sha("refs/pull/1/head").await?,
        sha("refs/heads/preview-base").await?,
    );

    let store = SqliteStore::open(&format!(
        "sqlite://{}",
        scratch.0.join("bosun.db").display()
    ))
    .await?;
    let (client, github) = LocalGitHub::client();
    let ctx = Context {
        store: Arc::new(store),
        github: Arc::new(client),
        workspaces: Workspaces::new(&scratch.0).with_local_remotes(),
        terraform: Terraform::new(
            &opts.terraform_bin,
            runner(&opts.sandbox, &scratch.0).await,
            scratch.0.join("plugin-cache"),
        ),
        settings: WorkflowSettings {
            command_names: vec!["bosun".into()],
            app_slug: "bosun".into(),
            blocked_extra_args: crate::command::DEFAULT_BLOCKED_EXTRA_ARGS
                .map(str::to_owned)
                .to_vec(),
            allow_commands: crate::command::allowed_kinds(&["all".into()]).unwrap_or_default(),
            checkout_strategy: CheckoutStrategy::Branch,
            repo_config_file: opts.repo_config_file.clone(),
            // What `bosun serve` plans by default (Atlantis's rules).
            autoplan_modules: false,
            comment_mode: CommentMode::Edit,
            status_name: "bosun".into(),
            access: Default::default(),
            // The repo is the user's own, and a preview applies nothing.
            repo_powers: crate::config::powers::Rules::new(
                crate::config::powers::ServerPolicy::permissive(),
            ),
            pass_env: Default::default(),
            public_url: None,
            web_url: "https://github.com".into(),
            policy_eval: Default::default(),
        },
        slots: Arc::new(tokio::sync::Semaphore::new(opts.parallelism.max(1))),
        project_locks: Default::default(),
        // A preview holds no configured secret: it prints what the user's own Terraform did.
        redactor: crate::redact::Redactor::default(),
        metrics: Default::default(),
        notifier: None,
        // A preview has no task worker: its one job plans every project.
        spread: None,
        versions: Arc::new(crate::versions::Versions::with_defaults(
            scratch.0.join("tools"),
        )?),
    };
    let request = plan::Request {
        actor: crate::audit::Actor::Bosun,
        repo: RepoRef::unlisted("local/preview", path(&source)?, "preview-base"),
        installation_id: InstallationId(0),
        pr: PrRef {
            number: PrNumber(1),
            head_sha: Sha::new(head_sha),
            head_ref: "preview".into(),
            base_sha: Sha::new(base_sha),
            base_ref: "preview-base".into(),
            author: "you".into(),
        },
        selection: if opts.all {
            Selection::All
        } else {
            Selection::Affected { autoplan: true }
        },
        extra_args: Vec::new(),
        note: Some(if opts.all {
            "Preview of every project (`bosun preview --all`).".to_owned()
        } else {
            format!("Preview of `{}` against `{base_src}`.", opts.head)
        }),
        merged: false,
    };
    let summary = plan::run(&ctx, 0, request).await?;
    let comments = github.comments();
    if comments.is_empty() {
        return Ok(format!("bosun preview: {summary}.\n"));
    }
    Ok(comments.join("\n\n"))
}

/// The sandbox, hiding the scratch directory, or (with a warning) the host itself.
async fn runner(sandbox: &Sandbox, scratch: &Path) -> Arc<dyn Runner> {
    let Sandbox::Bwrap(config) = sandbox else {
        return Arc::new(Direct::default());
    };
    let mut config = config.clone();
    config.hidden = vec![scratch.to_owned()];
    match Bwrap::ready(config).await {
        Ok(bwrap) => Arc::new(bwrap),
        Err(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "Terraform runs unsandboxed in this preview"
            );
            Arc::new(Direct::default())
        }
    }
}

/// A scratch directory, deleted when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "bosun-preview-{}-{:x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating the scratch directory {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn path(p: &Path) -> anyhow::Result<&str> {
    p.to_str()
        .with_context(|| format!("{} is not UTF-8", p.display()))
}

/// Runs git with a cleared environment and a bounded time; returns its stdout.
async fn git(cwd: &Path, args: &[&str]) -> anyhow::Result<String> {
    let mut cmd = tokio::process::Command::new("git");
    cmd.args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", crate::terraform::PATH)
        .env("HOME", cwd)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(300), cmd.output())
        .await
        .context("git timed out")?
        .context("running git (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "git {} failed: {}",
            args.first().copied().unwrap_or(""),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The first of `origin/HEAD`, `main`, `master` that the repository has.
async fn default_base(repo: &Path) -> anyhow::Result<String> {
    for candidate in ["origin/HEAD", "main", "master"] {
        let r = git(
            repo,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{candidate}^{{commit}}"),
            ],
        )
        .await;
        if r.is_ok() {
            return Ok(candidate.to_owned());
        }
    }
    bail!(
        "{} has no origin/HEAD, main or master: say which branch the change goes into with --base, or use --all",
        repo.display()
    )
}

/// Copies the working tree of `from` (without `.git`, `.terraform` and state files) into a new
/// git repository at `to`, committed.
async fn snapshot_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    let (src, dst) = (from.to_owned(), to.to_owned());
    tokio::task::spawn_blocking(move || copy_tree(&src, &dst, 0))
        .await
        .context("copying the working tree")??;
    git(to, &["init", "--quiet"]).await?;
    git(to, &["add", "--all"]).await?;
    git(
        to,
        &[
            "-c",
            "user.name=bosun preview",
            "-c",
            "user.email=preview@bosun.invalid",
            "commit",
            "--quiet",
            "--allow-empty",
            "--no-verify",
            "-m",
            "working tree",
        ],
    )
    .await?;
    Ok(())
}

fn copy_tree(from: &Path, to: &Path, depth: usize) -> anyhow::Result<()> {
    if depth > 64 {
        bail!("{} is nested too deep", from.display());
    }
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if name_str == ".git" || name_str == ".terraform" || name_str.contains(".tfstate") {
            continue;
        }
        let kind = entry.file_type()?;
        let target = to.join(&name);
        if kind.is_dir() {
            copy_tree(&entry.path(), &target, depth + 1)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}
