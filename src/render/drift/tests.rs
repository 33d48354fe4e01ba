use super::*;
use crate::ids::{PrNumber, Sha};

fn target(dir: &str, workspace: &str, name: Option<&str>) -> Target {
    Target {
        dir: dir.into(),
        workspace: workspace.into(),
        name: name.map(str::to_owned),
    }
}

fn drifted(t: Target) -> ProjectDrift {
    ProjectDrift {
        target: t,
        status: DriftStatus::Drifted,
        locked_by: None,
        summary: "Plan: 0 to add, 1 to change, 0 to destroy.".into(),
        detail: "  # terraform_data.x will be updated in-place\n  ~ resource \"terraform_data\" \"x\" {\n      ~ input = \"by-hand\" -> \"declared\"\n    }\n\nPlan: 0 to add, 1 to change, 0 to destroy.".into(),
    }
}

fn results() -> Vec<ProjectDrift> {
    vec![
        drifted(target("envs/prod", "default", Some("prod"))),
        drifted(target("app", "staging", None)),
        ProjectDrift {
            target: target("app", "prod", None),
            status: DriftStatus::InSync,
            locked_by: None,
            summary: "No changes. Your infrastructure matches the configuration.".into(),
            detail: String::new(),
        },
        ProjectDrift::skipped(target("envs/dev", "default", None), PrNumber(12)),
    ]
}

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn run<'a>(results: &'a [ProjectDrift], sha: &'a Sha) -> RunInfo<'a> {
    RunInfo {
        repo: "acme/infra",
        branch: "main",
        sha,
        at: "2026-11-22 04:30 UTC",
        run_id: 12,
        command_name: "bosun",
        results,
    }
}

#[test]
fn issue_lists_drifted_projects_by_environment() {
    let results = results();
    let body = issue_body(&run(&results, &Sha::new(SHA)));
    insta::assert_snapshot!(body);
    let staging = body.find("## Environment `staging`").unwrap();
    let prod = body.find("## Environment `envs/prod`").unwrap();
    assert!(prod < staging, "environments are sorted");
    assert!(body.contains("!        input = \"by-hand\" -> \"declared\""));
    assert!(body.contains("`bosun apply -p prod`"));
    assert!(body.contains("`bosun apply -d app -w staging`"));
    assert!(body.contains("skipped: locked by #12"));
    assert!(
        !body.contains("app:prod"),
        "in-sync projects are not listed"
    );
}

#[test]
fn a_huge_plan_is_cut_to_fit_one_issue() {
    let mut p = drifted(target("big", "default", None));
    p.detail = (0..20_000)
        .map(|i| format!("  + resource_{i} = \"{}\"", "x".repeat(20)))
        .collect::<Vec<_>>()
        .join("\n");
    let results = vec![p, drifted(target("small", "default", None))];
    let body = issue_body(&run(&results, &Sha::new(SHA)));
    assert!(len(&body) <= COMMENT_LIMIT, "{}", len(&body));
    assert!(body.contains("more lines; run the plan to see all of it"));
    assert!(
        body.contains("## Environment `small`"),
        "the other project is kept"
    );
}

#[test]
fn closing_and_check_and_notification() {
    let results = results();
    insta::assert_snapshot!(closing_comment(&run(&results, &Sha::new(SHA))));
    let c = check(&results[0]);
    assert_eq!(
        c.title,
        "Drifted: Plan: 0 to add, 1 to change, 0 to destroy."
    );
    assert!(c.text.unwrap().starts_with("```diff\n"));
    let skipped = check(&results[3]);
    assert_eq!(skipped.title, "skipped: locked by #12");
    assert!(skipped.text.is_none());
    let changes = vec![
        Change {
            target: results[0].target.clone(),
            before: Some(DriftStatus::InSync),
            after: DriftStatus::Drifted,
        },
        Change {
            target: results[1].target.clone(),
            before: None,
            after: DriftStatus::Error,
        },
    ];
    insta::assert_snapshot!(notification(
        "acme/infra",
        "main",
        &Sha::new("0123456789"),
        &changes
    ));
}
