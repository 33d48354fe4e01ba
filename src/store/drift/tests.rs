use crate::ids::RepoKey;
use crate::ids::{PrNumber, Sha};
use std::sync::Arc;

use crate::drift::{DriftStatus, ProjectDrift, Trigger};
use crate::plan::Target;
use crate::store::Store;
use crate::store::drift::{MAX_DETAIL_BYTES, stored_detail};
use crate::store::test_db::store_test;

const REPO: &str = "acme/infra";

fn t(dir: &str) -> Target {
    Target {
        dir: dir.into(),
        workspace: "default".into(),
        name: None,
    }
}

fn result(dir: &str, status: DriftStatus) -> ProjectDrift {
    match status {
        DriftStatus::Skipped => ProjectDrift::skipped(t(dir), PrNumber(7)),
        _ => ProjectDrift {
            target: t(dir),
            status,
            locked_by: None,
            summary: format!("{dir}: {}", status.as_str()),
            detail: if status == DriftStatus::InSync {
                String::new()
            } else {
                format!("plan of {dir}")
            },
        },
    }
}

/// A finished run of `repo` with these results; returns its id.
async fn run(s: &Arc<dyn Store>, repo: &str, at: i64, results: &[ProjectDrift]) -> i64 {
    let id = s
        .start_drift_run(
            &RepoKey::new(repo),
            &Sha::new("abc123"),
            Trigger::Schedule,
            at,
        )
        .await
        .unwrap();
    s.finish_drift_run(id, results, "summary", at + 1)
        .await
        .unwrap();
    id
}

store_test! { async fn a_run_round_trips_with_its_projects_in_order(db) {
    let s = db.open().await;
    let id = s
        .start_drift_run(&RepoKey::new(REPO), &Sha::new("abc123"), Trigger::Api, 10)
        .await
        .unwrap();
    let running = s.drift_runs(&RepoKey::new(REPO), 5).await.unwrap();
    assert_eq!(running.len(), 1);
    assert_eq!(running[0].finished_at, None);
    assert_eq!(running[0].summary, "");
    assert!(running[0].projects.is_empty());

    let named = ProjectDrift {
        target: Target {
            dir: "envs/prod".into(),
            workspace: "blue".into(),
            name: Some("prod-blue".into()),
        },
        ..result("envs/prod", DriftStatus::Error)
    };
    let projects = vec![
        named.clone(),
        result("envs/prod", DriftStatus::Drifted),
        result("envs/dev", DriftStatus::InSync),
        ProjectDrift::skipped(t("envs/stage"), PrNumber(12)),
    ];
    s.finish_drift_run(
        id,
        &projects,
        "1 drifted, 1 in sync, 1 error, 1 skipped",
        20,
    )
    .await
    .unwrap();
    let runs = s.drift_runs(&RepoKey::new(REPO), 5).await.unwrap();
    let mut sorted = projects.clone();
    sorted.sort_by(|a, b| a.target.cmp(&b.target));
    assert_eq!(
        runs,
        vec![crate::store::DriftRun {
            id,
            repository: REPO.into(),
            sha: "abc123".into(),
            trigger: Trigger::Api,
            started_at: 10,
            finished_at: Some(20),
            summary: "1 drifted, 1 in sync, 1 error, 1 skipped".into(),
            projects: sorted,
        }]
    );
    assert_eq!(runs[0].projects[0].target.dir, "envs/dev");
    assert_eq!(runs[0].projects[1].target.workspace, "blue");
    assert_eq!(runs[0].projects[3].locked_by, Some(PrNumber(12)));
}}

store_test! { async fn finishing_an_unknown_run_fails_and_finishing_again_replaces(db) {
    let s = db.open().await;
    let err = s.finish_drift_run(42, &[], "x", 1).await.unwrap_err();
    assert!(format!("{err:#}").contains("no drift run 42"), "{err:#}");
    let id = run(&s, REPO, 1, &[result("a", DriftStatus::Drifted)]).await;
    s.finish_drift_run(id, &[result("b", DriftStatus::InSync)], "again", 5)
        .await
        .unwrap();
    let runs = s.drift_runs(&RepoKey::new(REPO), 1).await.unwrap();
    assert_eq!(runs[0].projects, vec![result("b", DriftStatus::InSync)]);
    assert_eq!(runs[0].summary, "again");
}}

store_test! { async fn runs_come_newest_first_up_to_the_limit_per_repository(db) {
    let s = db.open().await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(
            run(
                &s,
                REPO,
                i * 10,
                &[result(&format!("d{i}"), DriftStatus::InSync)],
            )
            .await,
        );
        run(
            &s,
            "acme/other",
            i * 10,
            &[result("x", DriftStatus::Drifted)],
        )
        .await;
    }
    let runs = s.drift_runs(&RepoKey::new(REPO), 3).await.unwrap();
    let got: Vec<i64> = runs.iter().map(|r| r.id).collect();
    assert_eq!(got, vec![ids[3], ids[2], ids[1]]);
    for (r, i) in runs.iter().zip([3, 2, 1]) {
        assert_eq!(r.repository.as_str(), REPO);
        assert_eq!(
            r.projects,
            vec![result(&format!("d{i}"), DriftStatus::InSync)]
        );
    }
    assert!(s.drift_runs(&RepoKey::new("acme/none"), 3).await.unwrap().is_empty());
    assert!(s.drift_runs(&RepoKey::new(REPO), 0).await.unwrap().is_empty());
}}

store_test! { async fn known_drift_is_the_latest_finished_status_other_than_skipped(db) {
    let s = db.open().await;
    assert!(s.known_drift(&RepoKey::new(REPO)).await.unwrap().is_empty());
    run(
        &s,
        REPO,
        1,
        &[
            result("a", DriftStatus::Drifted),
            result("b", DriftStatus::InSync),
            result("c", DriftStatus::Skipped),
        ],
    )
    .await;
    run(
        &s,
        REPO,
        2,
        &[
            result("a", DriftStatus::Skipped),
            result("b", DriftStatus::Error),
        ],
    )
    .await;
    // A run still going (or cut short) counts for nothing.
    s.start_drift_run(&RepoKey::new(REPO), &Sha::new("def"), Trigger::Api, 3)
        .await
        .unwrap();
    // Another repository's projects stay its own.
    run(&s, "acme/other", 4, &[result("a", DriftStatus::InSync)]).await;

    assert_eq!(
        s.known_drift(&RepoKey::new(REPO)).await.unwrap(),
        vec![(t("a"), DriftStatus::Drifted), (t("b"), DriftStatus::Error)]
    );
    assert_eq!(
        s.known_drift_all().await.unwrap(),
        vec![
            ("acme/infra".into(), t("a"), DriftStatus::Drifted),
            ("acme/infra".into(), t("b"), DriftStatus::Error),
            ("acme/other".into(), t("a"), DriftStatus::InSync),
        ]
    );
}}

store_test! { async fn the_drift_issue_number_is_upserted_per_repository(db) {
    let s = db.open().await;
    assert_eq!(s.drift_issue(&RepoKey::new(REPO)).await.unwrap(), None);
    s.set_drift_issue(&RepoKey::new(REPO), 3).await.unwrap();
    s.set_drift_issue(&RepoKey::new("acme/other"), 9).await.unwrap();
    assert_eq!(s.drift_issue(&RepoKey::new(REPO)).await.unwrap(), Some(3));
    s.set_drift_issue(&RepoKey::new(REPO), 11).await.unwrap();
    assert_eq!(s.drift_issue(&RepoKey::new(REPO)).await.unwrap(), Some(11));
    assert_eq!(s.drift_issue(&RepoKey::new("acme/other")).await.unwrap(), Some(9));
}}

store_test! { async fn a_large_detail_keeps_its_end_within_the_cap(db) {
    let s = db.open().await;
    // Multi-byte chars so the cut must find a boundary.
    let detail = format!("{}Plan: 1 to add.", "é".repeat(MAX_DETAIL_BYTES));
    let big = ProjectDrift {
        detail: detail.clone(),
        ..result("a", DriftStatus::Drifted)
    };
    run(&s, REPO, 1, &[big]).await;
    let kept = &s.drift_runs(&RepoKey::new(REPO), 1).await.unwrap()[0].projects[0].detail;
    assert!(kept.len() <= MAX_DETAIL_BYTES, "{}", kept.len());
    assert!(kept.starts_with("[bosun: the first "), "{}", &kept[..60]);
    assert!(kept.ends_with("é\u{e9}Plan: 1 to add."));
    assert_eq!(kept, stored_detail(&detail).as_ref());
}}

#[test]
fn a_small_detail_is_kept_whole() {
    assert_eq!(stored_detail("plan"), "plan");
    let exact = "x".repeat(MAX_DETAIL_BYTES);
    assert_eq!(stored_detail(&exact), exact.as_str());
    let over = "x".repeat(MAX_DETAIL_BYTES + 1);
    let kept = stored_detail(&over);
    assert!(kept.len() <= MAX_DETAIL_BYTES);
    assert!(kept.ends_with("xxxx"));
}

store_test! { async fn a_run_left_open_by_a_stop_is_closed_as_interrupted_by_the_next(db) {
    let s = db.open().await;
    let cut = s
        .start_drift_run(&RepoKey::new(REPO), &Sha::new("abc123"), Trigger::Schedule, 10)
        .await
        .unwrap();
    let other = s
        .start_drift_run(&RepoKey::new("acme/other"), &Sha::new("abc123"), Trigger::Schedule, 11)
        .await
        .unwrap();
    let next = run(&s, REPO, 20, &[result("a", DriftStatus::InSync)]).await;
    let runs = s.drift_runs(&RepoKey::new(REPO), 5).await.unwrap();
    assert_eq!(runs[0].id, next);
    assert_eq!(runs[1].id, cut);
    assert_eq!(runs[1].finished_at, Some(20));
    assert_eq!(runs[1].summary, crate::store::drift::INTERRUPTED);
    let others = s.drift_runs(&RepoKey::new("acme/other"), 5).await.unwrap();
    assert_eq!(others[0].id, other);
    assert_eq!(
        others[0].finished_at, None,
        "another repo's run is left alone"
    );
}}

store_test! { async fn runs_of_one_repo_started_at_once_over_two_replicas_leave_one_open(db) {
    let replicas = [db.open().await, db.open().await];
    let mut starting = tokio::task::JoinSet::new();
    for i in 0..12 {
        let s = replicas[i % 2].clone();
        starting.spawn(async move {
            s.start_drift_run(&RepoKey::new(REPO), &Sha::new("abc123"), Trigger::Schedule, 10 + i as i64)
                .await
                .unwrap()
        });
    }
    while let Some(started) = starting.join_next().await {
        started.unwrap();
    }
    let runs = replicas[0].drift_runs(&RepoKey::new(REPO), 20).await.unwrap();
    assert_eq!(runs.len(), 12);
    let open: Vec<i64> = runs
        .iter()
        .filter(|r| r.finished_at.is_none())
        .map(|r| r.id)
        .collect();
    assert_eq!(open, [runs[0].id], "only the newest is still open");
}}
