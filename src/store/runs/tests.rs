//! Runs and their logs on both backends.

use super::super::test_db::store_test;
use super::*;
use crate::ids::{PrNumber, Sha};

fn new_run(job_id: i64, kind: RunKind) -> NewRun {
    NewRun {
        job_id,
        repository: "acme/infra".into(),
        pr: PrNumber(3),
        target: Target {
            dir: "envs/prod".into(),
            workspace: "default".into(),
            name: Some("prod".into()),
        },
        kind,
        commit_sha: Sha::new("a".repeat(40)),
        requested_by: "alice".into(),
    }
}

store_test! { async fn a_run_is_recorded_and_its_log_read_back_in_order(db) {
    let s = db.open().await;
    let id = s.start_run(&new_run(7, RunKind::Plan), 1_000).await.unwrap();
    let Started::New(id) = id else { panic!("a new run: {id:?}") };
    let run = s.run(id).await.unwrap().expect("the run");
    assert_eq!(
        (run.status, run.kind, run.project.as_deref(), run.started_at, run.finished_at),
        (RunStatus::Running, RunKind::Plan, Some("prod"), Some(1_000), None)
    );
    assert_eq!((run.repository.as_str(), run.pr, run.requested_by.as_str()), ("acme/infra", PrNumber(3), "alice"));
    assert_eq!(s.append_run_log(id, "one\n", 1_001).await.unwrap(), 1);
    assert_eq!(s.append_run_log(id, "two\nthree\n", 1_002).await.unwrap(), 2);
    let other = s.start_run(&new_run(8, RunKind::Plan), 1_003).await.unwrap().id();
    assert_eq!(s.append_run_log(other, "elsewhere\n", 1_003).await.unwrap(), 1);

    let log = s.run_log(id, 0, 100).await.unwrap();
    let texts: Vec<_> = log.iter().map(|c| (c.seq, c.text.as_str(), c.at)).collect();
    assert_eq!(texts, vec![(1, "one\n", 1_001), (2, "two\nthree\n", 1_002)]);
    assert_eq!(s.run_log(id, 1, 100).await.unwrap().len(), 1, "resumes after a seq");
    assert_eq!(s.run_log(id, 0, 1).await.unwrap().len(), 1, "a limit");

    let target = new_run(7, RunKind::Plan).target;
    assert_eq!(s.run_of_job(7, &target, RunKind::Plan).await.unwrap(), Some(id));
    assert_eq!(s.run_of_job(7, &target, RunKind::Apply).await.unwrap(), None);
    assert_eq!(s.run_of_job(9, &target, RunKind::Plan).await.unwrap(), None);
    s.finish_run(id, RunStatus::Succeeded, 2_000).await.unwrap();
    let run = s.run(id).await.unwrap().unwrap();
    assert_eq!((run.status, run.finished_at), (RunStatus::Succeeded, Some(2_000)));
    assert!(s.run(id + 1000).await.unwrap().is_none());
    assert!(s.run_log(id + 1000, 0, 10).await.unwrap().is_empty());
}}

store_test! { async fn a_job_run_again_takes_up_its_unfinished_run_and_log(db) {
    let s = db.open().await;
    let first = s.start_run(&new_run(7, RunKind::Apply), 1).await.unwrap().id();
    s.append_run_log(first, "before the crash\n", 2).await.unwrap();
    // The process dies; the job runs again: the same run, its log going on.
    let again = s.start_run(&new_run(7, RunKind::Apply), 3).await.unwrap();
    assert_eq!(again, Started::Resumed(first));
    assert_eq!(s.append_run_log(first, "after\n", 4).await.unwrap(), 2);
    // Another kind, or a finished run, is a new run.
    let plan = s.start_run(&new_run(7, RunKind::Plan), 5).await.unwrap();
    assert!(matches!(plan, Started::New(id) if id != first));
    s.finish_run(first, RunStatus::Failed, 6).await.unwrap();
    assert!(matches!(s.start_run(&new_run(7, RunKind::Apply), 7).await.unwrap(), Started::New(_)));
}}

store_test! { async fn a_jobs_unfinished_runs_are_interrupted(db) {
    let s = db.open().await;
    let open = s.start_run(&new_run(7, RunKind::Plan), 1).await.unwrap().id();
    let done = s.start_run(&new_run(7, RunKind::Apply), 1).await.unwrap().id();
    let other = s.start_run(&new_run(8, RunKind::Plan), 1).await.unwrap().id();
    s.finish_run(done, RunStatus::Succeeded, 2).await.unwrap();
    assert_eq!(s.interrupt_runs_of_job(7, 3).await.unwrap(), 1);
    let status = |id| { let s = &s; async move { s.run(id).await.unwrap().unwrap().status } };
    assert_eq!(status(open).await, RunStatus::Interrupted);
    assert_eq!(status(done).await, RunStatus::Succeeded);
    assert_eq!(status(other).await, RunStatus::Running);
}}
