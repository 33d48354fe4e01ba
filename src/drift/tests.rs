use super::*;
use crate::ids::PrNumber;
use crate::plan::{PlanSummary, Step};

fn t(dir: &str) -> Target {
    Target {
        dir: dir.into(),
        workspace: "default".into(),
        name: None,
    }
}

fn result(dir: &str, status: DriftStatus) -> ProjectDrift {
    ProjectDrift {
        target: t(dir),
        status,
        locked_by: None,
        summary: String::new(),
        detail: String::new(),
    }
}

#[test]
fn names_round_trip_and_metric_values() {
    for s in [
        DriftStatus::InSync,
        DriftStatus::Drifted,
        DriftStatus::Error,
        DriftStatus::Skipped,
    ] {
        assert_eq!(DriftStatus::parse(s.as_str()), Some(s));
    }
    assert_eq!(DriftStatus::parse("nope"), None);
    assert_eq!(DriftStatus::InSync.metric(), Some(0));
    assert_eq!(DriftStatus::Drifted.metric(), Some(1));
    assert_eq!(DriftStatus::Error.metric(), Some(2));
    assert_eq!(DriftStatus::Skipped.metric(), None);
}

#[test]
fn a_plan_with_changes_is_drift_and_an_empty_one_is_not() {
    let changed = PlanSummary {
        change: 1,
        changes: vec![crate::plan::ResourceChange {
            address: "terraform_data.x".into(),
            action: crate::plan::Action::Update,
        }],
        line: "Plan: 0 to add, 1 to change, 0 to destroy.".into(),
        ..Default::default()
    };
    let drifted = ProjectDrift::of_plan(
        t("a"),
        &Outcome::Planned {
            summary: changed,
            text: "~ update".into(),
        },
    );
    assert_eq!(drifted.status, DriftStatus::Drifted);
    assert_eq!(
        drifted.summary,
        "Plan: 0 to add, 1 to change, 0 to destroy."
    );
    assert_eq!(drifted.detail, "~ update");

    let outputs_only = PlanSummary {
        output_changes: true,
        ..Default::default()
    };
    let p = ProjectDrift::of_plan(
        t("a"),
        &Outcome::Planned {
            summary: outputs_only,
            text: String::new(),
        },
    );
    assert_eq!(p.status, DriftStatus::Drifted, "outputs drift too (exit 2)");

    let none = PlanSummary {
        line: "No changes. Your infrastructure matches the configuration.".into(),
        ..Default::default()
    };
    let p = ProjectDrift::of_plan(
        t("a"),
        &Outcome::Planned {
            summary: none,
            text: String::new(),
        },
    );
    assert_eq!(p.status, DriftStatus::InSync);
    assert!(p.detail.is_empty());

    let failed = ProjectDrift::of_plan(
        t("a"),
        &Outcome::Failed {
            step: Step::Init,
            output: "\n\u{2577}\n│ Error: Backend configuration changed\n".into(),
        },
    );
    assert_eq!(failed.status, DriftStatus::Error);
    assert_eq!(
        failed.summary,
        "init failed: │ Error: Backend configuration changed"
    );
}

#[test]
fn skipped_names_the_pull_request() {
    let s = ProjectDrift::skipped(t("a"), PrNumber(7));
    assert_eq!(s.summary, "skipped: locked by #7");
    assert_eq!(s.locked_by, Some(PrNumber(7)));
}

#[test]
fn only_changed_statuses_are_news() {
    use DriftStatus::*;
    let known = vec![(t("a"), InSync), (t("b"), Drifted), (t("c"), Drifted)];
    let now = vec![
        result("a", Drifted), // in sync → drifted
        result("b", Drifted), // unchanged
        result("c", Skipped), // skipped says nothing
        result("d", InSync),  // new and in sync: nothing to say
        result("e", Error),   // new and failing
    ];
    let got: Vec<(String, Option<DriftStatus>, DriftStatus)> = changes(&known, &now)
        .into_iter()
        .map(|c| (c.target.dir.into_string(), c.before, c.after))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a".into(), Some(InSync), Drifted),
            ("e".into(), None, Error),
        ]
    );
    let back = vec![result("b", InSync)];
    assert_eq!(changes(&known, &back).len(), 1, "recovery is news");
}

#[test]
fn a_run_in_one_word() {
    use DriftStatus::*;
    assert_eq!(overall(&[]), "not_checked");
    assert_eq!(overall(&[result("a", InSync)]), "in_sync");
    assert_eq!(
        overall(&[result("a", InSync), result("b", Skipped)]),
        "incomplete"
    );
    assert_eq!(
        overall(&[result("a", Error), result("b", Skipped)]),
        "error"
    );
    assert_eq!(
        overall(&[result("a", Error), result("b", Drifted)]),
        "drifted"
    );
}

#[test]
fn the_exit_code_decides_and_a_failure_names_its_step() {
    let drifted = ProjectDrift::of_exit(t("a"), true, "Plan: 1 to add".into(), "+ x".into());
    assert_eq!(drifted.status, DriftStatus::Drifted);
    assert_eq!(drifted.detail, "+ x");
    let in_sync = ProjectDrift::of_exit(t("a"), false, "No changes.".into(), "No changes.".into());
    assert_eq!(in_sync.status, DriftStatus::InSync);
    assert!(in_sync.detail.is_empty());
    let failed = ProjectDrift::failed(t("a"), Step::Checkout, "".into());
    assert_eq!(failed.summary, "checkout failed: no output");
}
