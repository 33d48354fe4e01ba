//! A job that takes bosun down with it, again and again: after BOSUN_JOB_MAX_ATTEMPTS starts
//! it is failed and said so on the pull request, instead of crashing every start.

use bosun::ids::PrNumber;
use bosun::ids::RepoKey;
use std::time::{Duration, Instant};

use bosun::store::{JobStatus, JobStore, SqliteStore};

use crate::binary::Binary;
use crate::durability::{free_port, spawn_with, wait_healthy};
use crate::support::prs::module;
use crate::support::{REPO, TestContext};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_stops_bosun_at_every_attempt_is_failed_after_the_cap_with_a_reply() {
    let ctx = TestContext::without_bosun().await;
    let data = ctx.data_path();
    let port = free_port();
    let http = crate::support::client::Http::default();
    let terraform = crate::support::terraform_bin();
    let flags = [
        ("--terraform-bin", terraform.as_str()),
        ("--delivery-retry-base", "10ms"),
        ("--job-max-attempts", "2"),
    ];
    let store = SqliteStore::open(&format!("sqlite://{}", data.join("bosun.db").display()))
        .await
        .unwrap();
    // Each time the plan reads the pull request, GitHub hangs and bosun is killed meanwhile.
    ctx.fake.stall_next("GET", "/pulls/1", 2);
    let tf = module(&ctx.state_file("dev"), &["app"]);
    let mut pr = None;
    for attempt in 1..=2 {
        let mut bosun = spawn_with(port, &data, &ctx.fake.url, &flags);
        wait_healthy(&http, port).await;
        ctx.fake.model().hook_url = Some(format!("http://127.0.0.1:{port}/events"));
        if pr.is_none() {
            pr = Some(ctx.open_pr("dev", &[("envs/dev/main.tf", &tf)]).await.0);
        }
        let t = Instant::now();
        while ctx.fake.model().stalled < attempt {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "attempt {attempt} did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bosun.kill().unwrap(); // SIGKILL, mid-job
        bosun.wait().unwrap();
    }
    let pr = pr.unwrap();

    let mut bosun = spawn_with(port, &data, &ctx.fake.url, &flags);
    wait_healthy(&http, port).await;
    let t = Instant::now();
    while !ctx
        .bot_comments(pr)
        .iter()
        .any(|c| c.body.starts_with("<!-- bosun:job-failed -->"))
    {
        assert!(t.elapsed() < Duration::from_secs(60), "no reply");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The check is written beside the reply; give it a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    bosun.kill().unwrap();
    bosun.wait().unwrap();

    let jobs = store
        .jobs_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!((jobs[0].status, jobs[0].attempts), (JobStatus::Failed, 2));
    assert_eq!(ctx.fake.model().stalled, 2, "not run a third time");
    let body = ctx.reply(pr, "job-failed");
    assert!(
        body.contains("bosun stopped during its attempt 2, the last allowed"),
        "{body}"
    );
    let check = ctx.check(pr, "bosun/plan");
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_whose_lease_was_stolen_records_exactly_one_outcome_through_kill_9() {
    use bosun::store::{ApplyStatus, LockStore, now_millis};

    let ctx = TestContext::without_bosun().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    let states = ctx.state_dir.path().to_owned();
    let (runs, started, done) = (
        states.join("runs.log"),
        states.join("started"),
        states.join("done"),
    );
    let tf = format!(
        "{}\nresource \"terraform_data\" \"slow\" {{\n  provisioner \"local-exec\" {{\n    command = \"echo run >> {} && touch {} && sleep 2 && touch {}\"\n  }}\n}}\n",
        module(&ctx.state_file("dev"), &[]),
        runs.display(),
        started.display(),
        done.display()
    );
    let mut bosun = Binary::start(&ctx, &states, &[]).await;
    let store = bosun.store().await;
    let (pr, _) = ctx.open_pr("slow", &[("envs/dev/main.tf", &tf)]).await;
    bosun.apply_until_started(&ctx, &store, pr, &started).await;
    // bosun stalls past its lease (as seen from the store): another worker takes the job over
    // and, finding its apply running, reports it interrupted.
    let thief = store
        .claim_job(now_millis() + 10 * 60_000, Duration::from_secs(3600))
        .await
        .unwrap()
        .expect("the apply job, its lease run out");
    let running = store
        .applies_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    assert_eq!(running.len(), 1);
    let stolen_at = now_millis();
    store
        .finish_apply(
            running[0].id,
            thief.claim(),
            ApplyStatus::Interrupted,
            stolen_at,
        )
        .await
        .unwrap();
    // The first holder's Terraform finishes and it tries to record success; then it dies.
    let t = Instant::now();
    while !done.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the apply did not end"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    bosun.kill(); // SIGKILL

    // Restarted, bosun takes the job again and never runs the apply a second time.
    bosun.restart().await;
    let t = Instant::now();
    while store.open_jobs().await.unwrap() > 0 {
        assert!(t.elapsed() < Duration::from_secs(60), "the job did not end");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bosun.kill();

    let applies = store
        .applies_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    assert_eq!(
        applies
            .iter()
            .map(|a| (a.status, a.finished_at))
            .collect::<Vec<_>>(),
        [(ApplyStatus::Interrupted, Some(stolen_at))],
        "one outcome: the first one recorded"
    );
    let lines = std::fs::read_to_string(&runs).unwrap();
    assert_eq!(lines.lines().count(), 1, "applied once: {lines}");
    let job = store.job(thief.id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Done);
    assert!(
        job.summary
            .as_deref()
            .is_some_and(|s| s.contains("not run again")),
        "{job:?}"
    );
}
