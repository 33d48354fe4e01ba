//! A drift check's plan: `terraform plan -detailed-exitcode` with no planfile, its verdict
//! Terraform's exit code: 0 no changes, 2 changes, anything else a failure. Nothing is kept to
//! apply, so neither `-out` nor `show -json` is run: a third of a plan's time.

use std::path::Path;

use super::{At, Exit, Terraform, cut_off, failure, plan_line, plan_text};
use crate::plan::Step;

/// What a `-detailed-exitcode` plan said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetailedPlan {
    /// Exit code 2: the plan has changes.
    pub changes: bool,
    /// Terraform's `Plan: …` line, or its "No changes" line.
    pub line: String,
    /// The plan's text, from the proposed changes through the `Plan:` line.
    pub text: String,
}

impl Terraform {
    /// Plans the project in `dir` of the checkout `root` with `-detailed-exitcode`, in a fresh
    /// run directory: init, workspace (unless `default`), plan. `Err`: the step that failed
    /// and its output.
    pub async fn plan_detailed(
        &self,
        root: &Path,
        dir: &Path,
        workspace: &crate::ids::Workspace,
    ) -> Result<DetailedPlan, (Step, String)> {
        let mut log = String::new();
        let run = self.run_dir().map_err(|e| (Step::Init, format!("{e:#}")))?;
        let at = At::new(root, dir, &run, workspace);
        self.prepare(at, &mut log).await?;
        let args = ["plan", "-detailed-exitcode", "-input=false", "-no-color"]
            .map(String::from)
            .to_vec();
        let done = self
            .run(at, args, self.timeouts.plan)
            .await
            .map_err(|e| (Step::Plan, format!("{e:#}")))?;
        if done.truncated {
            return Err(cut_off(&done, self.output_cap, &mut log));
        }
        let changes = match done.exit {
            Exit::Code(0) => false,
            Exit::Code(2) => true,
            _ => {
                let info = (Step::Plan, "plan", self.timeouts.plan);
                return Err(failure(info, &done, &mut log));
            }
        };
        let line = plan_line(&done.output).unwrap_or_else(|| {
            if changes {
                "Terraform found changes (exit code 2).".into()
            } else {
                "No changes.".into()
            }
        });
        Ok(DetailedPlan {
            changes,
            line,
            text: plan_text(&done.output),
        })
    }
}
