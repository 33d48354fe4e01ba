//! Workflow hooks (the server config's `pre_workflow_hooks` and `post_workflow_hooks`): the
//! operator's commands, run at the root of a fresh checkout of the whole pull request before
//! a command finds its projects and after it is done. They run through the same runner as
//! Terraform, so the sandbox confines them as it confines a plan: the checkout and a run
//! directory writable, the plan stage's variables and nothing else of bosun's.
//!
//! A pre hook may write the repo config (terragrunt-atlantis-config does): after the pre
//! hooks, the candidate repo config files of the tree are read (beneath the checkout, no
//! symlink followed) and kept in the store for the commit, where every later reader of that
//! commit's config finds them (`plan::read_config`), on any replica. Only the config is
//! taken from the hooks' tree: projects are still checked out from the commit.

use std::path::Path;

use tracing::Instrument as _;

use super::Context;
use super::plan::Request;
use crate::config::pass_env::Stage;
use crate::config::powers::RepoRules;
use crate::config::repo::server::Hook;
use crate::store::{ConfigFile, now_millis};
use crate::workspace::{CheckoutError, Strategy};

/// Before or after the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Pre,
    Post,
}

impl Phase {
    pub fn key(self) -> &'static str {
        match self {
            Self::Pre => "pre_workflow_hook",
            Self::Post => "post_workflow_hook",
        }
    }
}

/// One hook's run, as comments show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRun {
    pub phase: Phase,
    /// Its description, else its command.
    pub name: String,
    pub ok: bool,
    /// What it printed (redacted), or why it could not run.
    pub output: String,
}

impl HookRun {
    pub fn shown(&self) -> crate::render::hooks::HookShown<'_> {
        crate::render::hooks::HookShown {
            key: self.phase.key(),
            name: &self.name,
            ok: self.ok,
            output: &self.output,
        }
    }
}

/// What the pre hooks did: their runs, and the one whose failure stops the command.
#[derive(Debug, Default)]
pub struct Pre {
    pub runs: Vec<HookRun>,
    /// A blocking hook failed (or the tree they left cannot be read): the command stops.
    pub failed: Option<HookRun>,
}

/// The largest repo config the hooks may leave.
const CONFIG_CAP: u64 = 1 << 20;

/// The hooks of `phase` the server config gives the request's repository for `command`.
fn hooks_for(ctx: &Context, req: &Request, phase: Phase, command: &str) -> (RepoRules, Vec<Hook>) {
    let rules = ctx
        .settings
        .repo_powers
        .current()
        .for_repo(&req.repo.full_name, &req.pr.base_ref);
    let all = match phase {
        Phase::Pre => &rules.pre_workflow_hooks,
        Phase::Post => &rules.post_workflow_hooks,
    };
    let hooks = all
        .iter()
        .filter(|h| h.runs_for(command))
        .cloned()
        .collect();
    (rules, hooks)
}

/// Whether any hook of `phase` runs for `command` on the request's repository.
pub fn any(ctx: &Context, req: &Request, phase: Phase, command: &str) -> bool {
    !hooks_for(ctx, req, phase, command).1.is_empty()
}

/// Runs the pre hooks of the repository for `command` on the request's head, then keeps the
/// repo config files the tree holds for the head commit. Nothing runs (and nothing is kept)
/// when the server config gives the repository no pre hook for `command`.
pub async fn pre(ctx: &Context, req: &Request, command: &str, job_id: i64) -> Pre {
    let (rules, hooks) = hooks_for(ctx, req, Phase::Pre, command);
    if hooks.is_empty() {
        return Pre::default();
    }
    let name = format!("{job_id}-pre");
    let mut pre = Pre::default();
    let root = match checkout(ctx, req, &name).await {
        Ok(root) => root,
        Err(why) => {
            pre.failed = Some(HookRun {
                phase: Phase::Pre,
                name: hooks[0].name().to_owned(),
                ok: false,
                output: why,
            });
            return pre;
        }
    };
    for hook in &hooks {
        let run = run_hook(ctx, req, (command, Phase::Pre), hook, &root).await;
        let stop = !run.ok && hook.blocking;
        pre.runs.push(run.clone());
        if stop {
            pre.failed = Some(run);
            break;
        }
    }
    if pre.failed.is_none()
        && let Err(why) = keep_config(ctx, req, &rules, &root).await
    {
        pre.failed = Some(HookRun {
            phase: Phase::Pre,
            name: "the repo config the hooks left".into(),
            ok: false,
            output: why,
        });
    }
    forget_checkout(ctx, req, &name).await;
    pre
}

/// Runs the post hooks of the repository for `command` on the request's head; their runs.
/// A failure stops nothing: the command is done.
pub async fn post(ctx: &Context, req: &Request, command: &str, job_id: i64) -> Vec<HookRun> {
    let (_, hooks) = hooks_for(ctx, req, Phase::Post, command);
    if hooks.is_empty() {
        return Vec::new();
    }
    let name = format!("{job_id}-post");
    let root = match checkout(ctx, req, &name).await {
        Ok(root) => root,
        Err(why) => {
            return vec![HookRun {
                phase: Phase::Post,
                name: hooks[0].name().to_owned(),
                ok: false,
                output: why,
            }];
        }
    };
    let mut runs = Vec::new();
    for hook in &hooks {
        runs.push(run_hook(ctx, req, (command, Phase::Post), hook, &root).await);
    }
    forget_checkout(ctx, req, &name).await;
    runs
}

/// A fresh checkout of the request's head (merged into its base under the merge strategy,
/// as the projects' are), or what to tell users.
async fn checkout(ctx: &Context, req: &Request, name: &str) -> Result<std::path::PathBuf, String> {
    let strategy = match ctx.settings.checkout_strategy {
        _ if req.merged => Strategy::Branch,
        crate::config::CheckoutStrategy::Branch => Strategy::Branch,
        crate::config::CheckoutStrategy::Merge => Strategy::Merge {
            base_sha: req.pr.base_sha.clone(),
        },
    };
    let at = (req.pr.number, name);
    match ctx
        .workspaces
        .hook_checkout(&req.repo.full_name, at, &req.pr.head_sha, &strategy)
        .await
    {
        Ok(c) => Ok(c.root),
        Err(CheckoutError::Conflict { files }) => Err(crate::render::reply::merge_conflict(&files)),
        Err(CheckoutError::Other(e)) => {
            tracing::error!(error = format!("{e:#}"), "the hooks' checkout failed");
            Err("bosun could not prepare the hooks' checkout; the operator's logs say why.".into())
        }
    }
}

async fn forget_checkout(ctx: &Context, req: &Request, name: &str) {
    let at = (req.pr.number, name);
    if let Err(e) = ctx
        .workspaces
        .remove_hook_checkout(&req.repo.full_name, at)
        .await
    {
        tracing::warn!(
            error = format!("{e:#}"),
            "deleting the hooks' checkout failed"
        );
    }
}

/// Atlantis's variables of a hook.
fn vars(ctx: &Context, req: &Request, command: &str, root: &Path) -> Vec<(String, String)> {
    let repo = &req.repo.full_name;
    let (owner, name) = repo.split_once('/').unwrap_or(("", repo));
    let comment_args = req.extra_args.join(",");
    [
        ("BASE_REPO_NAME", name.to_owned()),
        ("BASE_REPO_OWNER", owner.to_owned()),
        ("HEAD_REPO_NAME", name.to_owned()),
        ("HEAD_REPO_OWNER", owner.to_owned()),
        ("HEAD_BRANCH_NAME", req.pr.head_ref.clone()),
        ("HEAD_COMMIT", req.pr.head_sha.to_string()),
        ("BASE_BRANCH_NAME", req.pr.base_ref.clone()),
        ("PULL_NUM", req.pr.number.to_string()),
        (
            "PULL_URL",
            format!("{}/{repo}/pull/{}", ctx.settings.web_url, req.pr.number),
        ),
        ("PULL_AUTHOR", req.pr.author.clone()),
        ("DIR", root.to_string_lossy().into_owned()),
        ("USER_NAME", user(req).to_owned()),
        ("COMMENT_ARGS", comment_args),
        ("COMMAND_NAME", command.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Who asked: the commenter, else (bosun's own runs) the pull request's author.
fn user(req: &Request) -> &str {
    match &req.actor {
        crate::audit::Actor::Github(login) => login,
        _ => &req.pr.author,
    }
}

async fn run_hook(
    ctx: &Context,
    req: &Request,
    (command, phase): (&str, Phase),
    hook: &Hook,
    root: &Path,
) -> HookRun {
    let repo = &req.repo.full_name;
    let mut tf = ctx.terraform.for_scope(repo, req.pr.number);
    // The plan stage's variables: a hook runs over the pull request's files, as a plan does.
    tf.extra_env = ctx.settings.pass_env.of(repo, Stage::Plan);
    let span = tracing::info_span!("hook", phase = phase.key(), name = hook.name());
    let vars = vars(ctx, req, command, root);
    let done = async {
        let _slot = ctx.slots.acquire().await;
        tf.hook(root, &hook.run, &vars).await
    }
    .instrument(span.clone())
    .await;
    let (ok, output) = match done {
        Ok(done) if done.exit.success() => (true, done.output),
        Ok(done) => (
            false,
            format!("{}\n({})", done.output.trim_end(), done.exit),
        ),
        Err(e) => (false, format!("it could not run: {e:#}")),
    };
    if !ok {
        span.in_scope(|| tracing::warn!("a workflow hook failed"));
    }
    HookRun {
        phase,
        name: hook.name().to_owned(),
        ok,
        output,
    }
}

/// Keeps the candidate repo config files of the hooks' tree for the head commit.
async fn keep_config(
    ctx: &Context,
    req: &Request,
    rules: &RepoRules,
    root: &Path,
) -> Result<(), String> {
    let mut files = Vec::new();
    for path in super::plan::config_candidates(ctx, rules) {
        let text = match crate::terraform::beneath::read_beneath(root, Path::new(&path), CONFIG_CAP)
        {
            Ok(None) => None,
            Ok(Some(bytes)) => Some(
                String::from_utf8(bytes)
                    .map_err(|_| format!("The hooks left `{path}`, which is not UTF-8 text."))?,
            ),
            Err(e) => {
                return Err(format!(
                    "The hooks left `{path}` as something bosun does not read: {e}."
                ));
            }
        };
        files.push(ConfigFile { path, text });
    }
    let key = req.repo.key();
    let at = (&key, req.pr.number, &req.pr.head_sha);
    ctx.store
        .keep_hook_config(at, &files, now_millis())
        .await
        .map_err(|e| {
            tracing::error!(error = format!("{e:#}"), "keeping the hooks' config failed");
            "bosun could not keep the repo config the hooks left; the operator's logs say why."
                .to_owned()
        })
}
