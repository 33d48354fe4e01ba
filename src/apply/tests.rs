use super::*;
use crate::config::repo;
use crate::github::{PrState, RequiredCheck};
use crate::ids::PrNumber;
use crate::plan::{Action, ResourceChange};

fn review(user: &str, state: ReviewState) -> ReviewInfo {
    ReviewInfo {
        id: 0,
        user: user.into(),
        state,
        commit_id: None,
    }
}

#[test]
fn approvers_are_each_reviewers_latest_verdict() {
    use ReviewState::*;
    assert!(approvers(&[]).is_empty());
    assert_eq!(approvers(&[review("ann", Approved)]), ["ann"]);
    assert_eq!(
        approvers(&[review("ann", Approved), review("ann", Commented)]),
        ["ann"]
    );
    assert!(approvers(&[review("ann", Approved), review("ann", ChangesRequested)]).is_empty());
    assert!(approvers(&[review("ann", Approved), review("ann", Dismissed)]).is_empty());
    assert_eq!(
        approvers(&[review("ann", ChangesRequested), review("Ann", Approved)]),
        ["ann"]
    );
    // Another reviewer's request for changes is theirs; ann's approval stands.
    assert_eq!(
        approvers(&[review("ann", Approved), review("bob", ChangesRequested)]),
        ["ann"]
    );
    assert!(approvers(&[review("bob", Commented)]).is_empty());
}

#[test]
fn only_writers_approvals_count_and_a_required_review_decision_must_be_approved() {
    use Permission::{Admin, Maintain, Read, Triage, Write};
    assert!(!approved(&[], None));
    assert!(!approved(&[("rita", Read)], None), "a reader's approval");
    assert!(!approved(&[("tom", Triage)], None));
    assert!(!approved(&[("gone", Permission::None)], None));
    assert!(approved(&[("rita", Read), ("wes", Write)], None));
    assert!(approved(&[("max", Maintain)], None));
    assert!(approved(&[("ada", Admin)], None));
    // Branch protection requires reviews: its decision rules.
    assert!(approved(&[("wes", Write)], Some(ReviewDecision::Approved)));
    assert!(!approved(
        &[("wes", Write)],
        Some(ReviewDecision::ReviewRequired)
    ));
    assert!(!approved(
        &[("wes", Write)],
        Some(ReviewDecision::ChangesRequested)
    ));
    assert!(
        !approved(&[], Some(ReviewDecision::Approved)),
        "no approver of bosun's own"
    );
}

fn pr(state: MergeableState, mergeable: Option<bool>) -> PullRequestInfo {
    PullRequestInfo {
        number: PrNumber(1),
        from_fork: false,
        head_sha: "h".into(),
        head_ref: "f".into(),
        base_sha: "b".into(),
        base_ref: "main".into(),
        state: PrState::Open,
        draft: false,
        mergeable,
        mergeable_state: state,
        author: "alice".into(),
        merge_commit_sha: None,
    }
}

fn check(name: &str, passed: bool) -> RequiredCheck {
    RequiredCheck {
        name: name.into(),
        passed,
    }
}

#[test]
fn mergeable_looks_past_bosuns_own_apply_checks_only() {
    use MergeableState::*;
    assert!(mergeable(&pr(Clean, Some(true)), None, "bosun/apply").is_ok());
    assert!(mergeable(&pr(Unstable, Some(true)), None, "bosun/apply").is_ok());
    assert!(
        mergeable(&pr(Dirty, Some(false)), None, "bosun/apply")
            .unwrap_err()
            .contains("conflicts")
    );
    assert!(mergeable(&pr(Unknown, None), None, "bosun/apply").is_err());
    assert!(mergeable(&pr(Blocked, Some(true)), None, "bosun/apply").is_err());
    let only_apply = MergeRequirements {
        review_decision: Some(ReviewDecision::Approved),
        required_checks: vec![check("ci", true), check("bosun/apply: envs/prod", false)],
    };
    assert!(mergeable(&pr(Blocked, Some(true)), Some(&only_apply), "bosun/apply").is_ok());
    let ci_failing = MergeRequirements {
        review_decision: None,
        required_checks: vec![check("ci", false), check("bosun/apply: envs/prod", false)],
    };
    let why = mergeable(&pr(Blocked, Some(true)), Some(&ci_failing), "bosun/apply").unwrap_err();
    assert!(
        why.contains("`ci`") && !why.contains("bosun/apply"),
        "{why}"
    );
    let review_missing = MergeRequirements {
        review_decision: Some(ReviewDecision::ReviewRequired),
        required_checks: vec![],
    };
    assert!(
        mergeable(
            &pr(Blocked, Some(true)),
            Some(&review_missing),
            "bosun/apply"
        )
        .is_err()
    );
}

#[test]
fn mergeable_looks_past_the_apply_summary_check_under_its_configured_name() {
    use MergeableState::Blocked;
    let summary_pending = |name: &str| MergeRequirements {
        review_decision: Some(ReviewDecision::Approved),
        required_checks: vec![check("ci", true), check(name, false)],
    };
    let bosun = summary_pending("bosun/apply");
    assert!(mergeable(&pr(Blocked, Some(true)), Some(&bosun), "bosun/apply").is_ok());
    let atlantis = summary_pending("atlantis/apply");
    assert!(mergeable(&pr(Blocked, Some(true)), Some(&atlantis), "atlantis/apply").is_ok());
    // Another tool's `atlantis/apply` is not bosun's when bosun's summary is `bosun/apply`.
    let why = mergeable(&pr(Blocked, Some(true)), Some(&atlantis), "bosun/apply").unwrap_err();
    assert!(why.contains("`atlantis/apply`"), "{why}");
    // Nor is `atlantis/plan`.
    let plan = summary_pending("atlantis/plan");
    assert!(mergeable(&pr(Blocked, Some(true)), Some(&plan), "atlantis/apply").is_err());
}

#[test]
fn blocked_passes_only_when_bosuns_own_checks_are_what_block_it() {
    use MergeableState::Blocked;
    // Nothing bosun can see blocks it: GitHub's word stands.
    let nothing_visible = MergeRequirements {
        review_decision: Some(ReviewDecision::Approved),
        required_checks: vec![check("ci", true)],
    };
    let why = mergeable(
        &pr(Blocked, Some(true)),
        Some(&nothing_visible),
        "bosun/apply",
    )
    .unwrap_err();
    assert!(why.contains("cannot see"), "{why}");
    assert!(
        mergeable(
            &pr(Blocked, Some(true)),
            Some(&MergeRequirements::default()),
            "bosun/apply"
        )
        .is_err()
    );
    // A required check that never reported is not passing (the client lists it so).
    let unreported = MergeRequirements {
        review_decision: None,
        required_checks: vec![
            check("bosun/apply: a", false),
            check("security-scan", false),
        ],
    };
    let why = mergeable(&pr(Blocked, Some(true)), Some(&unreported), "bosun/apply").unwrap_err();
    assert!(why.contains("`security-scan`"), "{why}");
}

#[test]
fn unmet_lists_each_missing_requirement_once_in_order() {
    use repo::ApplyRequirement::*;
    let facts = PrFacts {
        approved: false,
        mergeable: Err("it is a draft".into()),
        undiverged: true,
    };
    assert_eq!(
        unmet(&[Mergeable, Approved, Undiverged, Approved], &facts),
        vec![
            Unmet::NotMergeable("it is a draft".into()),
            Unmet::NotApproved
        ]
    );
    assert!(unmet(&[], &facts).is_empty());
    let fine = PrFacts {
        approved: true,
        mergeable: Ok(()),
        undiverged: false,
    };
    assert_eq!(
        unmet(&[Approved, Mergeable, Undiverged], &fine),
        vec![Unmet::Diverged]
    );
}

fn summary(changes: &[(&str, Action)]) -> PlanSummary {
    PlanSummary {
        changes: changes
            .iter()
            .map(|(a, action)| ResourceChange {
                address: (*a).into(),
                action: *action,
            })
            .collect(),
        ..PlanSummary::default()
    }
}

#[test]
fn same_changes_compares_digests_only() {
    let mut a = summary(&[("x.a", Action::Create)]);
    a.digest = "d1".into();
    let mut b = summary(&[("x.a", Action::Create)]);
    b.digest = "d2".into();
    assert!(
        !same_changes(&a, &b),
        "same addresses and actions, other values"
    );
    b.digest = "d1".into();
    b.line = "Plan: different words".into();
    assert!(same_changes(&a, &b));
    // Plans stored before digests were kept match nothing, not even each other.
    let (x, y) = (summary(&[]), summary(&[]));
    assert!(!same_changes(&x, &y));
}

fn t(dir: &str) -> Target {
    Target {
        dir: dir.into(),
        workspace: "default".into(),
        name: None,
    }
}

#[test]
fn groups_run_in_ascending_order() {
    let g = groups(vec![(t("c"), 2), (t("b"), 0), (t("a"), 2), (t("d"), -1)]);
    assert_eq!(g, vec![vec![t("d")], vec![t("b")], vec![t("a"), t("c")]]);
    assert!(groups(vec![]).is_empty());
}

#[test]
fn policy_reads_the_project_then_the_top_level() {
    let text = "version: 3\napply_on_merge: true\nprojects:\n  - dir: a\n    apply_requirements: [approved]\n    execution_order_group: 3\n    apply_on_merge: false\n  - dir: b\n";
    let config = repo::parse("bosun.yaml", text).unwrap();
    let a = policy(Some(&config), &t("a"), &[]);
    assert_eq!(a.requirements, vec![repo::ApplyRequirement::Approved]);
    assert_eq!(order_group(Some(&config), &t("a")), 3);
    assert_eq!(order_group(Some(&config), &t("b")), 0);
    assert_eq!(order_group(None, &t("a")), 0);
    assert!(!a.apply_on_merge);
    assert!(policy(Some(&config), &t("b"), &[]).apply_on_merge);
    assert!(policy(Some(&config), &t("elsewhere"), &[]).apply_on_merge);
    assert_eq!(policy(None, &t("a"), &[]), ApplyPolicy::default());
}

#[test]
fn policy_requires_the_servers_minimum_and_the_projects_own() {
    use repo::ApplyRequirement::{Approved, Mergeable, Undiverged};
    let text = "version: 3
projects:
  - dir: a
    apply_requirements: [undiverged, approved]
  - dir: b
";
    let config = repo::parse("bosun.yaml", text).unwrap();
    let minimum = [Mergeable, Approved];
    let a = policy(Some(&config), &t("a"), &minimum);
    assert_eq!(a.requirements, vec![Mergeable, Approved, Undiverged]);
    let b = policy(Some(&config), &t("b"), &minimum);
    assert_eq!(b.requirements, minimum);
    assert_eq!(policy(None, &t("x"), &minimum).requirements, minimum);
}

#[test]
fn a_project_the_base_does_not_have_gets_every_requirement_of_the_base() {
    use repo::ApplyRequirement::{Approved, Mergeable, Undiverged};
    let base = "version: 3
apply_on_merge: true
projects:
  - name: prod
    dir: envs/prod
    apply_requirements: [approved]
  - dir: envs/dev
    apply_requirements: [undiverged]
    apply_on_merge: false
";
    let base = repo::parse("bosun.yaml", base).unwrap();
    // Moved or renamed by the pull request: not weaker than any project of the base.
    let moved = policy(Some(&base), &t("envs/prod2"), &[Mergeable]);
    assert_eq!(moved.requirements, vec![Mergeable, Approved, Undiverged]);
    assert!(moved.apply_on_merge, "the base's top level");
    // Matched by name, wherever the pull request puts it.
    let named = Target {
        dir: "elsewhere".into(),
        workspace: "default".into(),
        name: Some("prod".into()),
    };
    assert_eq!(
        policy(Some(&base), &named, &[]).requirements,
        vec![Approved]
    );
    // Else by dir and workspace.
    let dev = policy(Some(&base), &t("envs/dev"), &[]);
    assert_eq!(dev.requirements, vec![Undiverged]);
    assert!(!dev.apply_on_merge);
}

#[test]
fn the_lock_mode_is_the_projects_else_the_top_levels_and_a_moved_project_gets_the_strictest() {
    use repo::LockMode::{Disabled, OnApply, OnPlan};
    let base = "version: 3
repo_locks: {mode: disabled}
projects:
  - dir: a
    repo_locks: {mode: on_apply}
  - dir: b
";
    let base = repo::parse("bosun.yaml", base).unwrap();
    assert_eq!(policy(Some(&base), &t("a"), &[]).locks, OnApply);
    assert_eq!(policy(Some(&base), &t("b"), &[]).locks, Disabled);
    assert_eq!(policy(Some(&base), &t("moved"), &[]).locks, OnApply);
    assert_eq!(policy(None, &t("a"), &[]).locks, OnPlan);
    let plain = repo::parse("bosun.yaml", "version: 3\nprojects:\n  - dir: a\n").unwrap();
    assert_eq!(policy(Some(&plain), &t("moved"), &[]).locks, OnPlan);
    // A project the base lacks, with the top level's on_apply and apply_on_merge: never
    // applied on merge, as it holds no lock then.
    let base = "version: 3
apply_on_merge: true
repo_locks: {mode: on_apply}
projects:
  - dir: a
    apply_on_merge: false
";
    let base = repo::parse("bosun.yaml", base).unwrap();
    let moved = policy(Some(&base), &t("moved"), &[]);
    assert_eq!(moved.locks, OnApply);
    assert!(!moved.apply_on_merge);
}

#[test]
fn policy_changes_are_the_policy_keys_the_head_sets_otherwise() {
    let parse = |text: &str| repo::parse("bosun.yaml", text).unwrap();
    let base = parse(
        "version: 3
projects:
  - dir: a
    apply_requirements: [approved]
",
    );
    assert!(!policy_changed(Some(&base), Some(&base)));
    assert!(!policy_changed(None, None));
    // Layout is not policy.
    let layout = parse(
        "version: 3
parallel_plan: true
projects:
  - dir: a
    apply_requirements: [approved]
    execution_order_group: 2
  - dir: b
",
    );
    assert!(!policy_changed(Some(&base), Some(&layout)));
    let dropped = parse(
        "version: 3
projects:
  - dir: a
",
    );
    assert!(policy_changed(Some(&base), Some(&dropped)));
    let on_merge = parse(
        "version: 3
apply_on_merge: true
projects:
  - dir: a
    apply_requirements: [approved]
",
    );
    assert!(policy_changed(Some(&base), Some(&on_merge)));
    let automerge = parse(
        "version: 3
automerge: true
projects:
  - dir: a
    apply_requirements: [approved]
",
    );
    assert!(policy_changed(Some(&base), Some(&automerge)));
    assert!(
        policy_changed(None, Some(&base)),
        "a config added with requirements"
    );
}

#[test]
fn terraform_output_is_read_for_staleness_and_the_apply_line() {
    assert!(is_stale_refusal(
        "Error: Saved plan is stale\n\nThe given plan file can no longer be applied"
    ));
    assert!(!is_stale_refusal("Error: something else"));
    let out = "terraform_data.a: Creating...\n\nApply complete! Resources: 1 added, 0 changed, 0 destroyed.\n";
    assert_eq!(
        apply_line(out),
        Some("Apply complete! Resources: 1 added, 0 changed, 0 destroyed.")
    );
    assert_eq!(apply_line("nothing"), None);
}

#[test]
fn import_requirements_are_the_base_projects_own() {
    let base = repo::parse(
        "bosun.yaml",
        "version: 3\nprojects:\n- dir: a\n  import_requirements: [approved, approved]\n\
         - dir: b\n  import_requirements: [undiverged]\n  apply_requirements: [mergeable]\n",
    )
    .unwrap();
    let target = |dir: &str| Target {
        dir: dir.into(),
        workspace: "default".into(),
        name: None,
    };
    assert_eq!(
        import_requirements(Some(&base), &target("a")),
        [ApplyRequirement::Approved]
    );
    assert_eq!(
        import_requirements(Some(&base), &target("b")),
        [ApplyRequirement::Undiverged],
        "apply_requirements are not import's"
    );
    assert_eq!(
        import_requirements(Some(&base), &target("new")),
        [ApplyRequirement::Approved, ApplyRequirement::Undiverged],
        "a project the base lacks gets every one"
    );
    assert!(import_requirements(None, &target("a")).is_empty());
}
