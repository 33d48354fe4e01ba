//! Recording the audit trail from workflows: every entry's detail is redacted and bounded, and
//! a store that fails to keep one never fails the work it records (the failure is logged).

use crate::ids::{PrNumber, Sha};
use anyhow::Context as _;

use super::Context;
use crate::apply::{ApplyOutcome, ProjectApply};
use crate::audit::{Actor, Kind, NewEntry};
use crate::plan::{Outcome, ProjectPlan, Target};
use crate::store::{LockAttempt, RunKind, now_millis};

impl Context {
    /// Appends `entry` to the audit trail, its detail redacted; a failure is only logged.
    pub async fn audit(&self, mut entry: NewEntry) {
        entry.detail = crate::audit::bounded(&self.redactor.redact(&entry.detail));
        if let Err(e) = self.store.append_audit(&entry).await {
            tracing::error!(
                error = format!("{e:#}"),
                kind = entry.kind.as_str(),
                "recording an audit entry failed"
            );
        }
    }

    /// The run of `job_id` that ran `kind` for `target`, when there is one (a plan refused
    /// before Terraform ran has none); a failed lookup is logged and reads as none.
    pub async fn run_of(&self, job_id: i64, target: &Target, kind: RunKind) -> Option<i64> {
        match self.store.run_of_job(job_id, target, kind).await {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "finding a project's run failed");
                None
            }
        }
    }

    /// The page of run `id` (`{BOSUN_PUBLIC_URL}/runs/{id}`); none without a public URL.
    pub fn run_page(&self, id: i64) -> Option<String> {
        let base = self.settings.public_url.as_ref()?;
        Some(format!("{base}/runs/{id}"))
    }

    /// Appends every entry, in order.
    #[tracing::instrument(level = "debug", name = "audit", skip_all, fields(entries = entries.len()))]
    pub async fn audit_all(&self, entries: Vec<NewEntry>) {
        for e in entries {
            self.audit(e).await;
        }
    }
}

/// The end of a text, where Terraform says what went wrong, within the entry's bound.
fn tail(text: &str) -> &str {
    let keep = crate::audit::MAX_DETAIL_BYTES / 2;
    if text.len() <= keep {
        return text;
    }
    let mut start = text.len() - keep;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// One plan's entry.
pub fn plan(actor: &Actor, repo: &str, pr: PrNumber, sha: &Sha, p: &ProjectPlan) -> NewEntry {
    let (outcome, detail) = match &p.outcome {
        Outcome::Planned { summary, .. } => ("planned", summary.line.clone()),
        Outcome::Failed { step, output } => (
            "failed",
            format!("{step:?} failed: {}", tail(output.trim())),
        ),
    };
    NewEntry::new(Kind::Plan, actor.clone(), repo, outcome)
        .pr(pr)
        .project(&p.target)
        .sha(sha)
        .detail(detail)
}

/// One apply's entry.
pub fn apply(actor: &Actor, repo: &str, pr: PrNumber, sha: &Sha, a: &ProjectApply) -> NewEntry {
    let (outcome, detail) = match &a.outcome {
        ApplyOutcome::Applied { output } => ("applied", last_line_with(output, "Apply complete")),
        ApplyOutcome::Failed { output, stale } => (
            "failed",
            format!(
                "{}{}",
                if *stale { "the plan was stale: " } else { "" },
                tail(output.trim())
            ),
        ),
        ApplyOutcome::Skipped { why } => ("skipped", why.clone()),
    };
    NewEntry::new(Kind::Apply, actor.clone(), repo, outcome)
        .pr(pr)
        .project(&a.target)
        .sha(sha)
        .detail(detail)
}

fn last_line_with(output: &str, what: &str) -> String {
    output
        .lines()
        .rev()
        .find(|l| l.contains(what))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// An entry per project of a lock change (`lock_taken`, `lock_released`).
pub fn locks(
    kind: Kind,
    actor: &Actor,
    repo: &str,
    pr: PrNumber,
    targets: &[Target],
    outcome: &str,
) -> Vec<NewEntry> {
    targets
        .iter()
        .map(|t| {
            NewEntry::new(kind, actor.clone(), repo, outcome)
                .pr(pr)
                .project(t)
        })
        .collect()
}

/// Takes `pr`'s locks of `targets` (see `LockStore::lock_projects`); each lock it did not hold
/// before is a `lock_taken` entry by `actor`.
#[tracing::instrument(level = "debug", name = "lock projects", skip_all)]
pub async fn lock_projects(
    ctx: &Context,
    repo: &super::job::RepoRef,
    pr: PrNumber,
    targets: &[Target],
    wait: bool,
    actor: &Actor,
) -> anyhow::Result<LockAttempt> {
    let key = repo.key();
    let had = ctx.store.locks_of_pr(&key, pr).await?;
    let attempt = ctx
        .store
        .lock_projects(&key, pr, targets, wait, now_millis())
        .await
        .context("taking the projects' locks")?;
    if attempt == LockAttempt::Locked {
        let mut taken: Vec<Target> = Vec::new();
        for t in targets {
            let held = had.iter().any(|l| super::locks::same_lock(&l.target, t));
            if !held && !taken.iter().any(|k| super::locks::same_lock(k, t)) {
                taken.push(t.clone());
            }
        }
        ctx.audit_all(locks(
            Kind::LockTaken,
            actor,
            &repo.full_name,
            pr,
            &taken,
            "taken",
        ))
        .await;
    }
    Ok(attempt)
}
