//! A job of a pull request that failed for good says so on the pull request: a reply with the
//! reason, and for a plan a failed `bosun/plan` check on the head it was to plan, so a pull
//! request never waits on a plan that will not come.

use super::Context;
use super::job::JobSpec;
use crate::github::{CheckRunSpec, CheckStatus, Conclusion};
use crate::render;
use crate::store::Job;

/// Reports a failed job on its pull request; `reason` is already redacted. Failures to write
/// are logged: the job has failed either way.
pub async fn report(ctx: &Context, job: &Job, reason: &str) {
    let Ok(spec) = serde_json::from_str::<JobSpec>(&job.spec) else {
        return;
    };
    let (what, head) = match &spec {
        JobSpec::Autoplan { pr, .. } => ("plan this pull request", Some(pr.head_sha.clone())),
        JobSpec::Replan { .. } => ("plan this pull request", None),
        JobSpec::Closed { .. } => ("finish with this closed pull request", None),
        // A failed command already replied (see `command::run`), unless it never ran.
        JobSpec::Comment { .. } => ("run the command", None),
        JobSpec::Unlock { .. } => ("release the locks asked for through the API", None),
        JobSpec::Drift { .. } | JobSpec::Reconcile { .. } => return,
    };
    // Its name when the job was made (the job's `repository` is the store's key).
    let repo = spec.repo().full_name.as_str();
    if let Some(head_sha) = head {
        let check = CheckRunSpec {
            name: ctx.settings.summary_check_name("plan"),
            head_sha,
            status: CheckStatus::Completed(Conclusion::Failure),
            title: "bosun could not plan".into(),
            summary: format!(
                "Job {} failed on bosun's side:\n\n{}",
                job.id,
                render::fenced("text", &render::reply::shorten(reason, 1000))
            ),
            text: None,
            external_id: Some(format!("job-{}", job.id)),
            details_url: None,
        };
        if let Err(e) = ctx
            .github
            .create_check_run(job.installation_id, repo, &check)
            .await
        {
            tracing::warn!(error = %e, "writing the failed plan's check run failed");
        }
    }
    let body = render::reply::job_failed(what, job.id, reason);
    if let Err(e) = ctx
        .github
        .create_comment(job.installation_id, repo, job.pr.0, &body)
        .await
    {
        tracing::warn!(error = %e, "replying with the job's failure failed");
    }
}
