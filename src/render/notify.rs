//! The one-line messages of the notification URL beyond drift (see `drift::notification`):
//! apply outcomes, applies held back on merge and locks held too long, each with the link to
//! the pull request, and an apply's with the link to its run's page when there is one.

use crate::ids::{PrNumber, Sha};
use std::time::Duration;

use crate::projects::Target;

/// How an apply ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyEnd {
    Applied,
    Failed,
    Interrupted,
}

fn project(t: &Target) -> String {
    format!(
        "{} ({}, workspace {})",
        t.display_name(),
        t.dir,
        t.workspace
    )
}

/// `bosun: applied …`, `bosun: apply failed …`, `bosun: apply interrupted …`, with the pull
/// request's `link` and, when the apply's run is known, its page's (`run`).
pub fn apply_outcome(
    end: ApplyEnd,
    repo: &str,
    pr: PrNumber,
    target: &Target,
    sha: &Sha,
    link: &str,
    run: Option<&str>,
) -> String {
    let what = match end {
        ApplyEnd::Applied => "applied",
        ApplyEnd::Failed => "apply failed:",
        ApplyEnd::Interrupted => "apply interrupted by a restart:",
    };
    let log = run.map(|r| format!(" (log: {r})")).unwrap_or_default();
    format!(
        "bosun: {what} {} in {repo}#{pr} at {}: {link}{log}",
        project(target),
        sha.short()
    )
}

/// `bosun: not applied on merge …`, with why.
pub fn apply_held(repo: &str, pr: PrNumber, targets: &[Target], why: &str, link: &str) -> String {
    let names: Vec<String> = targets.iter().map(project).collect();
    format!(
        "bosun: not applied on merge ({why}): {} in {repo}#{pr}: {link}",
        names.join(", ")
    )
}

/// `bosun: lock held for …`.
pub fn lock_held(repo: &str, pr: PrNumber, target: &Target, age: Duration, link: &str) -> String {
    let age = humantime::format_duration(Duration::from_secs(age.as_secs() / 60 * 60));
    format!(
        "bosun: {} in {repo} has been locked by #{pr} for {age}: {link}",
        project(target)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_each_with_the_link() {
        let t = Target {
            dir: "envs/prod".into(),
            workspace: "default".into(),
            name: None,
        };
        let link = "https://github.com/acme/infra/pull/7";
        insta::assert_snapshot!(
            apply_outcome(ApplyEnd::Applied, "acme/infra", PrNumber(7), &t, &Sha::new("0123456789"), link, None),
            @"bosun: applied envs/prod (envs/prod, workspace default) in acme/infra#7 at 0123456: https://github.com/acme/infra/pull/7"
        );
        insta::assert_snapshot!(
            apply_outcome(
                ApplyEnd::Interrupted,
                "acme/infra",
                PrNumber(7),
                &t,
                &Sha::new("0123456789"),
                link,
                Some("https://bosun.example.com/runs/12")
            ),
            @"bosun: apply interrupted by a restart: envs/prod (envs/prod, workspace default) in acme/infra#7 at 0123456: https://github.com/acme/infra/pull/7 (log: https://bosun.example.com/runs/12)"
        );
        insta::assert_snapshot!(
            apply_outcome(ApplyEnd::Failed, "acme/infra", PrNumber(7), &t, &Sha::new("0123456789"), link, None),
            @"bosun: apply failed: envs/prod (envs/prod, workspace default) in acme/infra#7 at 0123456: https://github.com/acme/infra/pull/7"
        );
        insta::assert_snapshot!(
            apply_held("acme/infra", PrNumber(7), std::slice::from_ref(&t), "applies are locked", link),
            @"bosun: not applied on merge (applies are locked): envs/prod (envs/prod, workspace default) in acme/infra#7: https://github.com/acme/infra/pull/7"
        );
        insta::assert_snapshot!(
            lock_held("acme/infra", PrNumber(7), &t, Duration::from_secs(90_061), link),
            @"bosun: envs/prod (envs/prod, workspace default) in acme/infra has been locked by #7 for 1day 1h 1m: https://github.com/acme/infra/pull/7"
        );
    }
}
