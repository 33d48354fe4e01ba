//! A project's `terraform_version` and `terraform_distribution` against the one binary bosun
//! runs (BOSUN_TERRAFORM_BIN): bosun never switches binaries, so a project that wants another
//! version or program fails its plan naming both, rather than being planned by the wrong one.

use super::Context;
use super::plan::Request;
use crate::config::repo;
use crate::plan::{Outcome, Step, Target};

/// A failed plan when the project's `terraform_version` or `terraform_distribution` (in the
/// head's repo config) is not the one Terraform bosun runs; `None`: neither set, or they match.
pub(super) async fn mismatch(ctx: &Context, req: &Request, target: &Target) -> Option<Outcome> {
    let failed = |output: String| Outcome::Failed {
        step: Step::Config,
        output,
    };
    let (want, want_distribution) = match super::plan::read_config(
        ctx,
        (&req.repo.full_name, &req.pr.base_ref),
        &req.pr.head_sha,
    )
    .await
    {
        Ok(Some(Ok(config))) => config
            .project(&target.dir, &target.workspace, target.name.as_deref())
            .map(|p| (p.terraform_version.clone(), p.terraform_distribution))?,
        // No config, or one that does not read: the run reports that itself.
        Ok(_) => return None,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "reading the repo config failed");
            return Some(failed(
                "bosun could not read the repo config; the operator's logs say why.".into(),
            ));
        }
    };
    if let Some(want) = want_distribution {
        match ctx.terraform.distribution().await {
            Ok(have) if have == want => {}
            Ok(have) => {
                return Some(failed(format!(
                    "The project's terraform_distribution is {want}, but bosun runs one \
                     binary (BOSUN_TERRAFORM_BIN), which is {have}: this project is not \
                     planned (set terraform_distribution to {have} or remove it)."
                )));
            }
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "terraform version failed");
                return Some(failed(
                    "bosun could not learn which program its Terraform binary is to check the \
                     project's terraform_distribution; the operator's logs say why."
                        .into(),
                ));
            }
        }
    }
    let want = want?;
    match ctx.terraform.version().await {
        Ok(have) if repo::terraform_version_matches(&want, &have) => None,
        Ok(have) => Some(failed(format!(
            "The project's terraform_version is {want}, but bosun runs one Terraform \
             (BOSUN_TERRAFORM_BIN), version {have}: per-project versions are not supported \
             yet, so this project is not planned (set terraform_version to {have} or remove it)."
        ))),
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "terraform version failed");
            Some(failed(
                "bosun could not learn its Terraform's version to check the project's \
                 terraform_version; the operator's logs say why."
                    .into(),
            ))
        }
    }
}
