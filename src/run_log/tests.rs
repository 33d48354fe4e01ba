use super::*;
use crate::ids::{PrNumber, Sha};
use crate::plan::Target;
use crate::store::test_db::{Backend, TestDb};
use crate::store::{NewRun, RunKind};

async fn started(db: &TestDb) -> (Arc<dyn Store>, i64) {
    let store = db.open().await;
    let run = NewRun {
        job_id: 1,
        repository: "acme/infra".into(),
        pr: PrNumber(2),
        target: Target {
            dir: ".".into(),
            workspace: "default".into(),
            name: None,
        },
        kind: RunKind::Plan,
        commit_sha: Sha::new("b".repeat(40)),
        requested_by: "alice".into(),
    };
    let id = store.start_run(&run, now_millis()).await.unwrap().id();
    (store, id)
}

#[tokio::test]
async fn lines_are_stored_in_batches_while_the_run_goes_on() {
    let db = TestDb::new(Backend::Sqlite).await;
    let (store, id) = started(&db).await;
    let log = RunLog::start(store.clone(), id, Redactor::default());
    for i in 0..10 {
        log.write(format!("line {i}\n").as_bytes());
    }
    tokio::time::sleep(FLUSH_EVERY * 3).await;
    let chunks = store.run_log(id, 0, 100).await.unwrap();
    assert_eq!(chunks.len(), 1, "ten quick lines are one write: {chunks:?}");
    assert!(chunks[0].text.starts_with("line 0\n") && chunks[0].text.ends_with("line 9\n"));
    assert_eq!(
        store.run(id).await.unwrap().unwrap().status,
        RunStatus::Running
    );

    log.write(b"the last line\n");
    log.finish(RunStatus::Succeeded).await;
    let chunks = store.run_log(id, 0, 100).await.unwrap();
    assert_eq!(chunks.last().unwrap().text, "the last line\n");
    assert_eq!(
        store.run(id).await.unwrap().unwrap().status,
        RunStatus::Succeeded
    );
}

#[tokio::test]
async fn many_lines_are_written_without_waiting_for_the_interval() {
    let db = TestDb::new(Backend::Sqlite).await;
    let (store, id) = started(&db).await;
    let log = RunLog::start(store.clone(), id, Redactor::default());
    log.write("x\n".repeat(FLUSH_LINES).as_bytes());
    tokio::time::sleep(FLUSH_EVERY / 2).await;
    assert_eq!(store.run_log(id, 0, 100).await.unwrap().len(), 1);
    log.finish(RunStatus::Failed).await;
}

#[tokio::test]
async fn a_logged_runner_writes_the_command_and_its_redacted_output() {
    let db = TestDb::new(Backend::Sqlite).await;
    let (store, id) = started(&db).await;
    let redactor = Redactor::default();
    redactor.add("hunter2hunter2");
    let log = Arc::new(RunLog::start(store.clone(), id, redactor.clone()));
    let runner =
        crate::terraform::Redacting::new(Arc::new(crate::terraform::Direct::default()), redactor);
    let logged = Logged::new(Arc::new(runner), log.clone());
    let dir = tempfile::tempdir().unwrap();
    let inv = Invocation {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), "echo token $SECRET; exit 3".into()],
        cwd: dir.path().to_owned(),
        env: vec![("SECRET".into(), "hunter2hunter2".into())],
        timeout: Duration::from_secs(10),
        output_cap: 1 << 20,
        writable: Vec::new(),
        readable: Vec::new(),
        network: true,
    };
    logged.run(inv).await.unwrap();
    drop(logged);
    Arc::into_inner(log)
        .unwrap()
        .finish(RunStatus::Failed)
        .await;
    let text: String = store
        .run_log(id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.text)
        .collect();
    assert_eq!(
        text,
        "$ sh -c 'echo token $SECRET; exit 3'\ntoken [redacted]\n(exit code 3)\n"
    );
}
