use super::*;
use crate::apply::Unmet;
use crate::github::Permission;
use crate::ids::{PrNumber, Sha};
use crate::render::{CHECK_LIMIT, COMMENT_LIMIT, len, marker_kind, reply};

fn t(name: Option<&str>, dir: &str) -> Target {
    Target {
        dir: dir.into(),
        workspace: "default".into(),
        name: name.map(str::to_owned),
    }
}

const APPLIED: &str = "terraform_data.app: Creating...\nterraform_data.app: Creation complete after 0s [id=1]\n\nApply complete! Resources: 1 added, 0 changed, 0 destroyed.\n";

fn results() -> Vec<ProjectApply> {
    vec![
        ProjectApply {
            target: t(Some("network"), "network"),
            outcome: ApplyOutcome::Applied {
                output: APPLIED.into(),
            },
        },
        ProjectApply {
            target: t(None, "envs/staging"),
            outcome: ApplyOutcome::Failed {
                output: "Error: Saved plan is stale\n\nThe given plan file can no longer be applied because the state was changed by another operation after the plan was created.\n".into(),
                stale: true,
            },
        },
        ProjectApply {
            target: t(None, "envs/prod"),
            outcome: ApplyOutcome::Skipped {
                why: "a project of an earlier execution order group failed".into(),
            },
        },
    ]
}

#[test]
fn the_apply_comment_shows_every_outcome() {
    let results = results();
    let body = apply_comment(&ApplyComment {
        command_name: "bosun",
        sha: &Sha::new("0123456789abcdef"),
        results: &results,
        note: Some("Applied by @alice with `bosun apply`."),
        logs: &[],
    });
    assert_eq!(marker_kind(&body), Some("apply"));
    assert!(body.contains("Apply complete! Resources: 1 added, 0 changed, 0 destroyed."));
    insta::assert_snapshot!(body);
}

#[test]
fn check_output_per_outcome() {
    let outputs: Vec<CheckOutput> = results().iter().map(apply_check).collect();
    insta::assert_debug_snapshot!(outputs);
}

#[test]
fn huge_outputs_fit_one_comment_and_one_check_run() {
    let line = "terraform_data.x: Creation complete after 0s [id=0123456789]\n";
    let huge = format!(
        "{}{}",
        line.repeat(20_000),
        "Apply complete! Resources: 20000 added, 0 changed, 0 destroyed.\n"
    );
    let results: Vec<ProjectApply> = (0..3)
        .map(|i| ProjectApply {
            target: t(None, &format!("p{i}")),
            outcome: ApplyOutcome::Applied {
                output: huge.clone(),
            },
        })
        .collect();
    let body = apply_comment(&ApplyComment {
        command_name: "bosun",
        sha: &Sha::new("abc"),
        results: &results,
        note: None,
        logs: &[],
    });
    assert!(len(&body) < COMMENT_LIMIT, "{}", len(&body));
    assert!(
        body.contains("Apply complete! Resources: 20000 added"),
        "the line is kept"
    );
    let check = apply_check(&results[0]);
    assert!(check.text.as_deref().is_some_and(|t| len(t) < CHECK_LIMIT));
}

#[test]
fn refusals_say_why_and_what_to_do() {
    let every = [
        Refusal::Permission {
            user: "rita".into(),
            has: Permission::Read,
            needs: Permission::Write,
        },
        Refusal::NotListed {
            user: "walt".into(),
            users: vec!["alice".into(), "@bob".into()],
            teams: vec!["acme/infra-admins".into()],
        },
        Refusal::Closed,
        Refusal::NoPlan,
        Refusal::Stale {
            target: t(None, "envs/dev"),
            planned: "1111111aaaa".into(),
            head: "2222222bbbb".into(),
        },
        Refusal::PlanFailed {
            target: t(Some("web"), "envs/web"),
        },
        Refusal::Applied {
            target: t(None, "envs/dev"),
        },
        Refusal::Locked {
            target: t(None, "envs/dev"),
            by: PrNumber(12),
        },
        Refusal::Requirements {
            target: t(Some("prod"), "envs/prod"),
            unmet: vec![
                Unmet::NotApproved,
                Unmet::NotMergeable("required checks have not passed: `ci`".into()),
                Unmet::Diverged,
            ],
        },
    ];
    let one = refused("bosun", &every[..1]);
    assert!(one.contains("Here is why"), "{one}");
    let body = refused("bosun", &every);
    assert_eq!(marker_kind(&body), Some("apply-refused"));
    insta::assert_snapshot!(body);
}

#[test]
fn lock_and_apply_replies() {
    let dev = t(None, "envs/dev");
    let web = t(Some("web"), "envs/web");
    let all = [
        reply::locked(
            "bosun",
            &[dev.clone(), web.clone()],
            &[(dev.clone(), PrNumber(7))],
        ),
        reply::unlocked("bosun", &[dev.clone(), web.clone()]),
        reply::unlocked("bosun", &[]),
        reply::not_allowed(
            "unlock",
            "rita",
            "read",
            "write access (or authorship of the pull request)",
        ),
        reply::apply_interrupted("bosun", &[dev]),
        reply::automerge_failed("GitHub answered 405 to merging: Pull Request is not mergeable"),
    ];
    for body in &all {
        assert!(marker_kind(body).is_some(), "{body}");
    }
    insta::assert_snapshot!(all.join("\n=====\n"));
}
