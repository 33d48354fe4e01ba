//! Rows of `jobs`, `pr_comments`, `plans` and `reviewed_plans`, as both backends read them.

use crate::ids::RepoKey;
use crate::ids::{InstallationId, PrNumber, Sha};
use anyhow::Context as _;

use crate::ids::{Dir, Workspace};
use crate::plan::{Outcome, Target};
use crate::store::jobs::{Job, JobStatus, StoredPlan};
use crate::store::seal::{Binding, Sealer};

/// A row of `jobs`.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct JobRow {
    pub(in crate::store) id: i64,
    pub(in crate::store) kind: String,
    pub(in crate::store) repository: String,
    pub(in crate::store) installation_id: i64,
    pub(in crate::store) pr: i64,
    pub(in crate::store) spec: String,
    pub(in crate::store) status: String,
    pub(in crate::store) attempts: i64,
    pub(in crate::store) summary: Option<String>,
    pub(in crate::store) claim: i64,
}

impl JobRow {
    pub(in crate::store) fn into_job(self) -> Job {
        Job {
            id: self.id,
            kind: self.kind,
            repository: crate::ids::RepoKey::new(self.repository),
            installation_id: InstallationId(self.installation_id as u64),
            pr: PrNumber(self.pr as u64),
            spec: self.spec,
            status: JobStatus::parse(&self.status),
            attempts: self.attempts as u32,
            summary: self.summary,
            claim: self.claim,
        }
    }
}

/// A row of `pr_comments` (of one pull request).
#[derive(sqlx::FromRow)]
pub(in crate::store) struct CommentRow {
    pub(in crate::store) part: i64,
    pub(in crate::store) comment_id: i64,
    pub(in crate::store) node_id: String,
}

/// A stored plan from its row, its planfile opened. A planfile that does not open (another
/// key, a row copied from elsewhere, damage) is logged and read as none: the plan then cannot
/// be applied and must be made again.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct SealedPlanRow {
    pub(in crate::store) repository: String,
    pub(in crate::store) pr: i64,
    pub(in crate::store) dir: String,
    pub(in crate::store) workspace: String,
    pub(in crate::store) project: String,
    pub(in crate::store) head_sha: String,
    pub(in crate::store) outcome: String,
    pub(in crate::store) planfile: Option<Vec<u8>>,
    pub(in crate::store) job_id: i64,
    pub(in crate::store) created_at: i64,
    pub(in crate::store) tool_distribution: Option<String>,
    pub(in crate::store) tool_version: Option<String>,
    pub(in crate::store) tool_sha256: Option<String>,
}

impl SealedPlanRow {
    pub(in crate::store) fn into_plan(self, sealer: &Sealer) -> anyhow::Result<StoredPlan> {
        let sealed = self.planfile;
        let mut plan = PlanRow {
            repository: self.repository,
            pr: self.pr,
            dir: self.dir,
            workspace: self.workspace,
            project: self.project,
            head_sha: self.head_sha,
            outcome: self.outcome,
            job_id: self.job_id,
            created_at: self.created_at,
            tool_distribution: self.tool_distribution,
            tool_version: self.tool_version,
            tool_sha256: self.tool_sha256,
        }
        .into_plan()?;
        if let Some(sealed) = sealed {
            match sealer.open(&sealed, &binding(&plan)) {
                Ok(planfile) => plan.planfile = Some(planfile),
                Err(e) => tracing::warn!(
                    repo = %plan.repository,
                    pr = plan.pr.0,
                    dir = %plan.target.dir,
                    workspace = %plan.target.workspace,
                    project = plan.target.name.as_deref().unwrap_or(""),
                    error = format!("{e:#}"),
                    "a stored planfile does not open: the plan must be made again to apply it"
                ),
            }
        }
        Ok(plan)
    }
}

/// A row of `reviewed_plans`, or of `plans` but its planfile (the same columns).
#[derive(sqlx::FromRow)]
pub(in crate::store) struct PlanRow {
    pub(in crate::store) repository: String,
    pub(in crate::store) pr: i64,
    pub(in crate::store) dir: String,
    pub(in crate::store) workspace: String,
    pub(in crate::store) project: String,
    pub(in crate::store) head_sha: String,
    pub(in crate::store) outcome: String,
    pub(in crate::store) job_id: i64,
    pub(in crate::store) created_at: i64,
    pub(in crate::store) tool_distribution: Option<String>,
    pub(in crate::store) tool_version: Option<String>,
    pub(in crate::store) tool_sha256: Option<String>,
}

impl PlanRow {
    /// The plan, without its planfile.
    pub(in crate::store) fn into_plan(self) -> anyhow::Result<StoredPlan> {
        let outcome: Outcome =
            serde_json::from_str(&self.outcome).context("reading a stored plan's outcome")?;
        Ok(StoredPlan {
            repository: RepoKey::new(self.repository),
            pr: PrNumber(self.pr as u64),
            target: Target {
                dir: Dir::new(self.dir),
                workspace: Workspace::new(self.workspace),
                name: name_of(Some(self.project)),
            },
            head_sha: Sha::new(self.head_sha),
            outcome,
            planfile: None,
            job_id: self.job_id,
            created_at: self.created_at,
            tool: crate::store::jobs::tool_of(
                self.tool_distribution,
                self.tool_version,
                self.tool_sha256,
            )?,
        })
    }
}

/// A project's name from a `project` column: '' (or NULL, in tables that allow it) is none.
pub(in crate::store) fn name_of(column: Option<String>) -> Option<String> {
    column.filter(|n| !n.is_empty())
}

/// What a plan's planfile is sealed to.
pub(in crate::store) fn binding(plan: &StoredPlan) -> Binding<'_> {
    Binding {
        repository: plan.repository.as_str(),
        pr: plan.pr,
        dir: &plan.target.dir,
        workspace: &plan.target.workspace,
        project: plan.target.name.as_deref(),
        head_sha: plan.head_sha.as_str(),
    }
}
