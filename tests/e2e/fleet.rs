//! Several real `bosun serve` replicas on one PostgreSQL database (issue 14), webhooks spread
//! over them round-robin by the fake GitHub (a delivery a replica does not take is tried on the
//! next one, as the load balancer and GitHub's redelivery would): replicas killed with SIGKILL
//! under load, paused past their lease, and restarted one by one with SIGTERM. After each, what
//! users and the store see: every acknowledged delivery processed once, every open pull
//! request's head planned, no apply run twice or beside another on its project, no duplicate
//! comment or check run, one drift issue.
//!
//! Applies leave marks: each project's `terraform_data.mark` is replaced by every new revision,
//! and its provisioner appends `start <project> <tag> <ms>` and `end …` lines to a file in the
//! sandbox's writable dir.

use bosun::ids::PrNumber;
use bosun::ids::RepoKey;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bosun::store::DeliveryStatus;
use bytes::Bytes;
use http::Method;
use sqlx::postgres::PgPool;
use tokio::sync::Mutex;

use crate::support::fleet::Fleet;
use crate::support::prs::module;
use crate::support::{REPO, TestContext};

const TOKEN: &str = "fleet-api-token-0123456789";

/// A pull request of the test: the project it changes, its tag in the marks, its revision.
#[derive(Debug, Clone)]
struct TestPr {
    number: u64,
    project: usize,
    tag: usize,
    rev: u32,
    open: bool,
}

impl TestPr {
    fn path(&self) -> String {
        format!("p{}/main.tf", self.project)
    }

    fn module(&self, ctx: &TestContext, marks: &Path, pause: &str) -> String {
        project_module(ctx, self.project, self.tag, self.rev, marks, pause)
    }
}

/// Project `p<project>` as pull request `tag` has it at `rev`: applying it replaces
/// `terraform_data.mark`, whose provisioner marks its start and end around `pause`.
fn project_module(
    ctx: &TestContext,
    project: usize,
    tag: usize,
    rev: u32,
    marks: &Path,
    pause: &str,
) -> String {
    let m = marks.display();
    let mark = format!("p{project} t{tag} r{rev}");
    format!(
        "{}\nresource \"terraform_data\" \"mark\" {{\n  triggers_replace = \"t{tag}-r{rev}\"\n  provisioner \"local-exec\" {{\n    command = \"echo start {mark} $(date +%s%3N) >> {m} && sleep {pause} && echo end {mark} $(date +%s%3N) >> {m}\"\n  }}\n}}\n",
        module(&ctx.state_file(&format!("p{project}")), &[]),
    )
}

/// One apply as its marks tell: the project (`p3`), the pull request's tag and revision, when
/// it started and, unless it was cut off, ended (unix ms).
#[derive(Debug, Clone)]
struct Run {
    project: String,
    tag: usize,
    rev: String,
    start: i64,
    end: Option<i64>,
}

/// The applies in the marks file; asserts no revision was applied twice.
#[track_caller]
fn runs(marks: &Path) -> Vec<Run> {
    let text = std::fs::read_to_string(marks).unwrap_or_default();
    let mut runs: Vec<Run> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [kind, project, tag, rev, at] = f[..] else {
            panic!("a mark that is not `start|end project tag rev ms`: {line:?}");
        };
        let tag: usize = tag.trim_start_matches('t').parse().unwrap();
        let at: i64 = at.parse().unwrap();
        let same = |r: &&mut Run| r.project == project && r.tag == tag && r.rev == rev;
        match kind {
            "start" => {
                assert!(
                    !runs.iter_mut().any(|r| same(&r)),
                    "applied twice: {project} t{tag} {rev}\n{text}"
                );
                runs.push(Run {
                    project: project.to_owned(),
                    tag,
                    rev: rev.to_owned(),
                    start: at,
                    end: None,
                });
            }
            "end" => {
                let run = runs
                    .iter_mut()
                    .find(|r| same(r))
                    .unwrap_or_else(|| panic!("an end without a start: {line}"));
                assert!(run.end.is_none(), "ended twice: {line}");
                run.end = Some(at);
            }
            _ => panic!("unknown mark {line:?}"),
        }
    }
    runs
}

/// No two applies of one project ran at the same time: each one that ended did so before
/// the next one of its project started (one cut off by a kill has no end and holds nothing).
#[track_caller]
fn assert_no_overlap(runs: &[Run]) {
    let mut by_project: BTreeMap<&str, Vec<&Run>> = BTreeMap::new();
    for r in runs {
        by_project.entry(&r.project).or_default().push(r);
    }
    for (project, mut rs) in by_project {
        rs.sort_by_key(|r| r.start);
        for pair in rs.windows(2) {
            if let Some(end) = pair[0].end {
                assert!(
                    end <= pair[1].start,
                    "two applies of {project} at once: {:?} and {:?}",
                    pair[0],
                    pair[1]
                );
            }
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The locks table, sampled every 50 ms: (when, [(dir, pr)]).
type LockSamples = Arc<std::sync::Mutex<Vec<(i64, Vec<(String, i64)>)>>>;

/// Samples the locks table until `stop` (at most ten minutes).
fn sample_locks(pool: PgPool, stop: Arc<AtomicBool>) -> (LockSamples, tokio::task::JoinHandle<()>) {
    let samples: LockSamples = Arc::default();
    let kept = samples.clone();
    let task = tokio::spawn(async move {
        let started = Instant::now();
        while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(600) {
            let at = now_ms();
            let rows: Vec<(String, i64)> =
                sqlx::query_as("SELECT dir, pr FROM locks WHERE repository = 'acme/infra'")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            kept.lock().unwrap().push((at, rows));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    (samples, task)
}

/// While each apply that ended ran, its project's lock was its pull request's in every sample
/// (100 ms kept off both ends for the clock of a sample), and never two holders at once.
#[track_caller]
fn assert_applies_held_their_locks(
    runs: &[Run],
    samples: &LockSamples,
    pr_of_tag: &HashMap<usize, u64>,
) {
    let samples = samples.lock().unwrap();
    for (_, rows) in samples.iter() {
        let dirs: BTreeSet<&str> = rows.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(dirs.len(), rows.len(), "a lock held twice: {rows:?}");
    }
    for run in runs {
        let Some(end) = run.end else { continue };
        let pr = pr_of_tag[&run.tag] as i64;
        for (at, rows) in samples
            .iter()
            .filter(|(at, _)| *at > run.start + 100 && *at < end - 100)
        {
            let holder = rows
                .iter()
                .find(|(d, _)| *d == run.project)
                .map(|(_, p)| *p);
            assert_eq!(
                holder,
                Some(pr),
                "#{pr} applied {} while its lock was {holder:?} (sample at {at}): {run:?}",
                run.project
            );
        }
    }
}

/// Every delivery the fake sent was acknowledged by some replica, and each was processed
/// exactly once (its record done, one processed event: the table's key is the delivery id).
async fn assert_every_delivery_processed_once(ctx: &TestContext, fleet: &Fleet) -> usize {
    let (sent, acked) = {
        let m = ctx.fake.model();
        let sent: BTreeSet<String> = m.attempts.iter().map(|a| a.guid.clone()).collect();
        let acked: BTreeSet<String> = m
            .attempts
            .iter()
            .filter(|a| (200..300).contains(&a.status_code))
            .map(|a| a.guid.clone())
            .collect();
        (sent, acked)
    };
    let refused: Vec<&String> = sent.difference(&acked).collect();
    assert!(
        refused.is_empty(),
        "deliveries no replica took: {refused:?}"
    );
    for guid in &acked {
        let d = fleet
            .store
            .delivery(guid)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged delivery {guid} lost"));
        assert_eq!(d.status, DeliveryStatus::Done, "{guid}: {d:?}");
        assert!(
            fleet.store.processed_event(guid).await.unwrap().is_some(),
            "{guid} has no processed record"
        );
    }
    let mut db = fleet.db().await;
    let processed: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_events")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(
        processed as usize,
        acked.len(),
        "one processed event per delivery"
    );
    acked.len()
}

/// No job failed (a failure would also be a reply saying bosun went wrong).
async fn assert_no_job_failed(fleet: &Fleet) {
    let mut db = fleet.db().await;
    let failed: Vec<(i64, String, i64, Option<String>)> =
        sqlx::query_as("SELECT id, kind, pr, summary FROM jobs WHERE status = 'failed'")
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert!(
        failed.is_empty(),
        "failed jobs: {failed:#?}\n{}",
        fleet.logs()
    );
}

/// What users see on GitHub: per pull request at most one shown plan comment, no more apply
/// replies than `bosun apply` comments, one close reply at most; per head, check run name and
/// job, at most one completed check run. Returns the open pull requests whose head has no
/// completed plan check run, saying what is there.
#[track_caller]
fn assert_no_duplicates_and_heads_planned(
    ctx: &TestContext,
    prs: &[TestPr],
    apply_asks: &HashMap<u64, usize>,
    job_starts: &HashMap<i64, i64>,
    locks: &Locks,
) -> Vec<String> {
    let m = ctx.fake.model();
    let repo = m.repo(REPO).unwrap();
    let mut unplanned = Vec::new();
    for pr in prs {
        let bot: Vec<_> = repo
            .comments
            .iter()
            .filter(|c| c.issue == pr.number && c.author_is_bot)
            .collect();
        let shown_plans: Vec<&String> = bot
            .iter()
            .filter(|c| {
                c.minimized.is_none()
                    && c.body.starts_with("<!-- bosun:plan ")
                    && c.body.contains(" part=1/")
            })
            .map(|c| &c.body)
            .collect();
        assert!(
            shown_plans.len() <= 1,
            "#{}: {} plan comments shown: {shown_plans:#?}",
            pr.number,
            shown_plans.len()
        );
        let apply_replies = bot
            .iter()
            .filter(|c| c.body.starts_with("<!-- bosun:apply"))
            .count();
        let asked = apply_asks.get(&pr.number).copied().unwrap_or(0);
        assert!(
            apply_replies <= asked,
            "#{}: {apply_replies} apply replies to {asked} asks",
            pr.number
        );
        let closed = bot
            .iter()
            .filter(|c| c.body.starts_with("<!-- bosun:closed"))
            .count();
        assert!(closed <= 1, "#{}: {closed} close replies", pr.number);
        if pr.open {
            let head = &repo.prs[&pr.number].head_sha;
            // Waiting for a lock another open pull request holds counts: it is planned when
            // that one is closed.
            let waits = locks
                .waiting
                .contains(&(format!("p{}", pr.project), pr.number))
                && locks
                    .held
                    .get(&format!("p{}", pr.project))
                    .is_some_and(|holder| {
                        *holder != pr.number && prs.iter().any(|p| p.number == *holder && p.open)
                    });
            if !waits
                && !repo.check_runs.iter().any(|c| {
                    &c.head_sha == head
                        && c.name.starts_with("bosun/plan")
                        && c.status == "completed"
                })
            {
                let checks: Vec<_> = repo
                    .check_runs
                    .iter()
                    .filter(|c| &c.head_sha == head)
                    .map(|c| (&c.name, &c.status, &c.conclusion, &c.external_id))
                    .collect();
                unplanned.push(format!(
                    "#{} (open): no completed plan check on its head {head}; checks there: \
                     {checks:?}",
                    pr.number
                ));
            }
        }
    }
    // A job bosun started again after a kill plans again and completes its check once more
    // (GitHub shows the newest of a name); a job started once completes its checks once.
    let mut completed: HashMap<(&str, &str, &str), usize> = HashMap::new();
    for c in &repo.check_runs {
        if let Some(job) = &c.external_id
            && c.status == "completed"
        {
            *completed.entry((&c.head_sha, &c.name, job)).or_default() += 1;
        }
    }
    let twice: Vec<_> = completed
        .iter()
        .filter(|((_, _, job), n)| {
            let starts = job
                .strip_prefix("job-")
                .and_then(|id| id.parse::<i64>().ok())
                .and_then(|id| job_starts.get(&id))
                .copied()
                .unwrap_or(1);
            **n > starts as usize
        })
        .collect();
    assert!(
        twice.is_empty(),
        "check runs completed more often than their job was started: {twice:?} (starts: \
         {job_starts:?})"
    );
    // The newest check run of each name on an open pull request's head is not left queued or
    // in progress by a replica that died.
    let mut newest: HashMap<(&str, &str), &crate::support::fake::model::CheckRun> = HashMap::new();
    for c in &repo.check_runs {
        // A pull request waiting for a lock keeps its plan checks queued until it is woken.
        let open_head = prs.iter().any(|p| {
            p.open
                && repo.prs[&p.number].head_sha == c.head_sha
                && !locks.waiting.iter().any(|(_, w)| *w == p.number)
        });
        if open_head {
            newest.insert((&c.head_sha, &c.name), c);
        }
    }
    let stuck: Vec<_> = newest
        .values()
        .filter(|c| c.status != "completed")
        .map(|c| (&c.head_sha, &c.name, &c.status, &c.external_id))
        .collect();
    assert!(stuck.is_empty(), "check runs left unfinished: {stuck:?}");
    unplanned
}

/// Fails, showing their jobs, when some open pull request's head was not planned.
async fn assert_heads_planned(fleet: &Fleet, unplanned: Vec<String>, prs: &[TestPr]) {
    if unplanned.is_empty() {
        return;
    }
    let mut jobs = String::new();
    for pr in prs {
        if unplanned
            .iter()
            .any(|u| u.starts_with(&format!("#{} ", pr.number)))
        {
            let of_pr = fleet
                .store
                .jobs_of_pr(&RepoKey::new(REPO), PrNumber(pr.number))
                .await
                .unwrap();
            jobs += &format!("jobs of #{}: {of_pr:#?}\n", pr.number);
        }
    }
    panic!("{}\n{jobs}{}", unplanned.join("\n"), fleet.logs());
}

/// Asks replica `first` (or, refused, the next ones) for a drift run of the repository.
async fn ask_drift(ctx: &TestContext, ports: &[u16], first: usize) {
    for k in 0..ports.len() * 20 {
        let port = ports[(first + k) % ports.len()];
        let reply = ctx
            .http
            .send(
                Method::POST,
                &format!("http://127.0.0.1:{port}/api/drift/acme/infra"),
                &[("authorization", format!("Bearer {TOKEN}"))],
                Bytes::new(),
            )
            .await;
        match reply {
            Ok(r) if r.status == 202 => return,
            Ok(r) if r.status.as_u16() < 500 => panic!("drift refused: {} {}", r.status, r.text()),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    panic!("no replica took the drift run");
}

/// The pull requests holding a lock now.
async fn lock_holders(pool: &PgPool) -> Vec<u64> {
    let prs: Vec<i64> = sqlx::query_scalar("SELECT pr FROM locks ORDER BY dir")
        .fetch_all(pool)
        .await
        .unwrap();
    prs.into_iter().map(|p| p as u64).collect()
}

/// The locks held (dir → pull request) and the pull requests waiting for one (dir, pr).
struct Locks {
    held: HashMap<String, u64>,
    waiting: BTreeSet<(String, u64)>,
}

impl Locks {
    async fn now(fleet: &Fleet) -> Self {
        let mut db = fleet.db().await;
        let held: Vec<(String, i64)> = sqlx::query_as("SELECT dir, pr FROM locks")
            .fetch_all(&mut db)
            .await
            .unwrap();
        let waiting: Vec<(String, i64)> = sqlx::query_as("SELECT dir, pr FROM lock_waits")
            .fetch_all(&mut db)
            .await
            .unwrap();
        Self {
            held: held.into_iter().map(|(d, p)| (d, p as u64)).collect(),
            waiting: waiting.into_iter().map(|(d, p)| (d, p as u64)).collect(),
        }
    }
}

/// A module of one `terraform_data.app` with `input`, its state in `state` (drift checks).
fn drift_module(state: &Path, input: &str) -> String {
    module(state, &[])
        + &format!("\nresource \"terraform_data\" \"app\" {{\n  input = \"{input}\"\n}}\n")
}

fn seed() -> u64 {
    std::env::var("BOSUN_FLEET_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..))
}

/// Kills a random replica every 2 to 4 s and starts it again after up to a second, until
/// `stop`; the number of kills.
async fn kill_now_and_then(fleet: Arc<Mutex<Fleet>>, seed: u64, stop: Arc<AtomicBool>) -> usize {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut kills = 0;
    let size = fleet.lock().await.replicas.len();
    while !stop.load(Ordering::SeqCst) {
        let wait = Instant::now() + Duration::from_millis(rng.u64(2000..4000));
        while Instant::now() < wait && !stop.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let i = rng.usize(0..size);
        fleet.lock().await.kill(i);
        kills += 1;
        tokio::time::sleep(Duration::from_millis(rng.u64(100..1000))).await;
        fleet.lock().await.restart(i).await;
    }
    kills
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_killed_under_load_lose_nothing_and_repeat_nothing() {
    let seed = seed();
    eprintln!("replicas_killed_under_load seed {seed} (BOSUN_FLEET_SEED={seed} repeats it)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();
    let ctx = TestContext::without_bosun().await;
    let states = ctx.state_dir.path().to_owned();
    let marks = states.join("marks");
    // The default branch's one project, changed by hand since it was applied: drifted.
    let declared = drift_module(&ctx.state_file("drifty"), "declared");
    ctx.push_base(&[("drifty/main.tf", Some(&declared))]);
    ctx.apply_by_hand("drifty", &declared);
    ctx.apply_by_hand(
        "drifty-by-hand",
        &drift_module(&ctx.state_file("drifty"), "by-hand"),
    );

    let fleet = Fleet::start(&ctx, 3, &states, &[("--api-token", TOKEN)]).await;
    let ports: Vec<u16> = fleet.replicas.iter().map(|r| r.port).collect();
    let pool = PgPool::connect(&fleet.database_url).await.unwrap();
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let (samples, sampler) = sample_locks(pool.clone(), stop_sampling.clone());
    let fleet = Arc::new(Mutex::new(fleet));
    let stop_killing = Arc::new(AtomicBool::new(false));
    let killer = tokio::spawn(kill_now_and_then(
        fleet.clone(),
        rng.u64(..),
        stop_killing.clone(),
    ));

    // 30 pull requests over 10 projects, then pushes, plans, applies and closes.
    let mut prs: Vec<TestPr> = Vec::new();
    let mut apply_asks: HashMap<u64, usize> = HashMap::new();
    for tag in 0..30 {
        let mut pr = TestPr {
            number: 0,
            project: tag % 10,
            tag,
            rev: 0,
            open: true,
        };
        let tf = pr.module(&ctx, &marks, "0.5");
        pr.number = ctx
            .open_pr(&format!("change {tag}"), &[(&pr.path(), &tf)])
            .await
            .0;
        prs.push(pr);
        tokio::time::sleep(Duration::from_millis(rng.u64(20..120))).await;
    }
    let mut closes = 0;
    for step in 0..28 {
        if step == 12 {
            // Two replicas asked at once: still one drift issue.
            tokio::join!(ask_drift(&ctx, &ports, 0), ask_drift(&ctx, &ports, 1));
        }
        let open: Vec<usize> = (0..prs.len()).filter(|i| prs[*i].open).collect();
        let i = open[rng.usize(0..open.len())];
        match rng.u32(0..100) {
            0..35 => {
                let pr = &mut prs[i];
                pr.rev += 1;
                let tf = pr.module(&ctx, &marks, "0.5");
                ctx.push_to_pr(pr.number, &[(&pr.path(), Some(&tf))]);
                ctx.pr_event(pr.number, "synchronize").await;
            }
            35..55 => {
                ctx.comment(prs[i].number, "alice", "bosun plan").await;
            }
            55..88 => {
                let holders = lock_holders(&pool).await;
                let open_holders: Vec<u64> = holders
                    .into_iter()
                    .filter(|n| prs.iter().any(|p| p.number == *n && p.open))
                    .collect();
                let number = if open_holders.is_empty() {
                    prs[i].number
                } else {
                    open_holders[rng.usize(0..open_holders.len())]
                };
                *apply_asks.entry(number).or_default() += 1;
                ctx.comment(number, "alice", "bosun apply").await;
            }
            _ if closes < 4 => {
                closes += 1;
                prs[i].open = false;
                ctx.close_pr(prs[i].number, false).await;
            }
            _ => {
                ctx.comment(prs[i].number, "bob", "bosun plan").await;
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.u64(100..500))).await;
    }
    // Kill on while the work drains, then let the fleet finish it.
    tokio::time::sleep(Duration::from_secs(10)).await;
    stop_killing.store(true, Ordering::SeqCst);
    let kills = killer.await.unwrap();
    let fleet = Arc::try_unwrap(fleet)
        .ok()
        .expect("the killer is done")
        .into_inner();
    let stream_done = started.elapsed();
    fleet.settle(Duration::from_secs(300)).await;
    eprintln!(
        "stream sent by {stream_done:?}, settled by {:?}; jobs (kind, count, mean ms): {:?}",
        started.elapsed(),
        fleet.job_stats().await
    );
    stop_sampling.store(true, Ordering::SeqCst);
    sampler.await.unwrap();

    let deliveries = assert_every_delivery_processed_once(&ctx, &fleet).await;
    let runs = runs(&marks);
    assert_no_overlap(&runs);
    let pr_of_tag: HashMap<usize, u64> = prs.iter().map(|p| (p.tag, p.number)).collect();
    assert_applies_held_their_locks(&runs, &samples, &pr_of_tag);
    let job_starts = fleet.job_starts().await;
    let locks = Locks::now(&fleet).await;
    let unplanned =
        assert_no_duplicates_and_heads_planned(&ctx, &prs, &apply_asks, &job_starts, &locks);
    assert_heads_planned(&fleet, unplanned, &prs).await;
    assert_no_job_failed(&fleet).await;
    let drift_issues: Vec<_> = ctx
        .fake
        .issues(REPO)
        .into_iter()
        .filter(|i| i.title == "bosun: drift detected")
        .collect();
    assert_eq!(drift_issues.len(), 1, "{drift_issues:#?}");
    ctx.fake.assert_no_violations();
    eprintln!(
        "{kills} kills; {deliveries} deliveries; {} applies ({} cut off); {} lock samples; {:?}",
        runs.len(),
        runs.iter().filter(|r| r.end.is_none()).count(),
        samples.lock().unwrap().len(),
        started.elapsed()
    );
    assert!(kills >= 3, "only {kills} kills: the test did not test much");
    assert!(runs.len() >= 2, "only {} applies ran", runs.len());
}

/// bosun's replies to `bosun apply`, for a failure message.
fn apply_replies(ctx: &TestContext) -> Vec<String> {
    let m = ctx.fake.model();
    m.repo(REPO)
        .unwrap()
        .comments
        .iter()
        .filter(|c| c.author_is_bot && c.body.starts_with("<!-- bosun:apply"))
        .map(|c| {
            format!(
                "#{}: {}",
                c.issue,
                c.body.chars().take(400).collect::<String>()
            )
        })
        .collect()
}

/// Waits (bounded) until the job of pull request `pr` is running; its id and claim token.
async fn running_job(fleet: &Fleet, pr: u64) -> (i64, i64) {
    let t = Instant::now();
    loop {
        let jobs = fleet
            .store
            .jobs_of_pr(&RepoKey::new(REPO), PrNumber(pr))
            .await
            .unwrap();
        if let Some(j) = jobs
            .iter()
            .find(|j| j.status == bosun::store::JobStatus::Running)
        {
            return (j.id, j.claim);
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no job of #{pr} ran: {jobs:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_paused_past_its_lease_loses_the_job_and_the_plan_is_posted_once() {
    let ctx = TestContext::without_bosun().await;
    let states = ctx.state_dir.path().to_owned();
    let marks = states.join("marks");
    // Replica A alone takes the plan and is paused (SIGSTOP) as soon as it runs.
    let mut fleet = Fleet::start(&ctx, 1, &states, &[]).await;
    let pr = TestPr {
        number: 0,
        project: 0,
        tag: 0,
        rev: 0,
        open: true,
    };
    let tf = pr.module(&ctx, &marks, "0.1");
    let (number, _) = ctx.open_pr("stolen", &[(&pr.path(), &tf)]).await;
    let (job, first_claim) = running_job(&fleet, number).await;
    fleet.signal(0, libc::SIGSTOP);
    let stopped_at = Instant::now();
    // Replica B joins; once A's lease (3 s) runs out it takes the job over.
    fleet.grow(&ctx).await;
    let t = Instant::now();
    loop {
        let j = fleet.store.job(job).await.unwrap().unwrap();
        if j.claim > first_claim {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "B never took the job: {j:?}\n{}\n{}",
            fleet.open_work().await,
            fleet.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        stopped_at.elapsed() >= Duration::from_secs(2),
        "taken over before the lease ran out"
    );
    // A wakes up well past its lease, with B at work.
    tokio::time::sleep(Duration::from_secs(1)).await;
    fleet.signal(0, libc::SIGCONT);
    fleet.settle(Duration::from_secs(60)).await;
    // And a while longer: whatever A would still do, it has done.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let j = fleet.store.job(job).await.unwrap().unwrap();
    assert_eq!(
        j.status,
        bosun::store::JobStatus::Done,
        "{j:?}\n{}",
        fleet.logs()
    );
    let head = ctx.fake.model().repo(REPO).unwrap().prs[&number]
        .head_sha
        .clone();
    let plans = fleet
        .store
        .plans_of_pr(&RepoKey::new(REPO), PrNumber(number))
        .await
        .unwrap();
    assert_eq!(plans.len(), 1, "one plan recorded: {plans:#?}");
    assert_eq!(plans[0].head_sha, head);
    let m = ctx.fake.model();
    let repo = m.repo(REPO).unwrap();
    let short = &head[..7];
    // Every body a plan comment ever had (edits included) that is a plan of this head.
    let plan_bodies: Vec<&String> = repo
        .comments
        .iter()
        .filter(|c| c.issue == number && c.author_is_bot)
        .flat_map(|c| c.edits.iter().chain(std::iter::once(&c.body)))
        .filter(|b| b.starts_with("<!-- bosun:plan ") && b.contains(short))
        .collect();
    assert_eq!(
        plan_bodies.len(),
        1,
        "one plan comment for the head: {plan_bodies:#?}"
    );
    let completed: Vec<_> = repo
        .check_runs
        .iter()
        .filter(|c| c.head_sha == head && c.status == "completed" && c.external_id.is_some())
        .map(|c| (c.name.clone(), c.external_id.clone()))
        .collect();
    let distinct: BTreeSet<_> = completed.iter().collect();
    assert_eq!(
        completed.len(),
        distinct.len(),
        "a check run completed twice: {completed:?}"
    );
    assert!(!completed.is_empty(), "no plan check completed");
    drop(m);
    ctx.fake.assert_no_violations();
}

/// Pauses replica `i` (SIGSTOP) at a moment its session holds the job claims' turn (the
/// transaction-level advisory lock of `claim_job`), as a replica frozen or cut off mid-claim;
/// bounded in tries and time.
async fn pause_mid_claim(fleet: &Fleet, i: usize, db: &mut sqlx::PgConnection) {
    let held = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
                AND classid = 1651441665"; // Guarded::JobClaims (0x626f0001)
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(90) {
        let n: i64 = sqlx::query_scalar(held).fetch_one(&mut *db).await.unwrap();
        if n == 0 {
            continue;
        }
        fleet.signal(i, libc::SIGSTOP);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let n: i64 = sqlx::query_scalar(held).fetch_one(&mut *db).await.unwrap();
        if n > 0 {
            return;
        }
        fleet.signal(i, libc::SIGCONT);
    }
    panic!("never caught replica {i} in a claim");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_frozen_mid_claim_does_not_stop_the_others_claiming() {
    let ctx = TestContext::without_bosun().await;
    let states = ctx.state_dir.path().to_owned();
    let marks = states.join("marks");
    let mut fleet = Fleet::start(&ctx, 1, &states, &[]).await;
    let mut db = fleet.db().await;
    pause_mid_claim(&fleet, 0, &mut db).await;
    // B joins, alone behind the webhooks; a pull request is opened.
    let b = fleet.grow(&ctx).await;
    let b_url = fleet.replicas[b].events_url();
    ctx.fake.model().fleet_hooks = vec![b_url];
    let pr = TestPr {
        number: 0,
        project: 0,
        tag: 0,
        rev: 0,
        open: true,
    };
    let tf = pr.module(&ctx, &marks, "0.1");
    let (number, _) = ctx.open_pr("while A is frozen", &[(&pr.path(), &tf)]).await;
    // B plans it although A's session still holds the claims' turn: the server ends a session
    // idle in its transaction, and its locks with it.
    let t = Instant::now();
    loop {
        let jobs = fleet
            .store
            .jobs_of_pr(&RepoKey::new(REPO), PrNumber(number))
            .await
            .unwrap();
        if !jobs.is_empty()
            && jobs
                .iter()
                .all(|j| j.status == bosun::store::JobStatus::Done)
        {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "B claimed nothing while A was frozen mid-claim: {jobs:?}\n{}\n{}",
            fleet.open_work().await,
            fleet.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let plans = fleet
        .store
        .plans_of_pr(&RepoKey::new(REPO), PrNumber(number))
        .await
        .unwrap();
    assert_eq!(plans.len(), 1, "{plans:#?}");
    fleet.signal(0, libc::SIGCONT);
    ctx.fake.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_load_loses_no_delivery_and_cuts_off_no_apply() {
    let seed = seed();
    eprintln!("a_rolling_restart seed {seed} (BOSUN_FLEET_SEED={seed} repeats it)");
    let ctx = Arc::new(TestContext::without_bosun().await);
    let states = ctx.state_dir.path().to_owned();
    let marks = states.join("marks");
    let started = Instant::now();
    let mut fleet = Fleet::start(&ctx, 3, &states, &[]).await;
    let pool = PgPool::connect(&fleet.database_url).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(rolling_load(
        ctx.clone(),
        pool.clone(),
        marks.clone(),
        seed,
        stop.clone(),
    ));
    for i in 0..fleet.replicas.len() {
        // Each replica stopped while an apply is in flight somewhere in the fleet.
        let t = Instant::now();
        while !runs(&marks).iter().any(|r| r.end.is_none()) && t.elapsed() < Duration::from_secs(40)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let asked = Instant::now();
        fleet.signal(i, libc::SIGTERM);
        assert!(
            fleet.wait_exit(i, Duration::from_secs(120)).await,
            "replica {i} exited with an error\n{}",
            fleet.logs()
        );
        eprintln!(
            "replica {i} stopped {:?} after SIGTERM, at {:?}",
            asked.elapsed(),
            started.elapsed()
        );
        fleet.restart(i).await;
    }
    stop.store(true, Ordering::SeqCst);
    let (prs, apply_asks) = load.await.unwrap();
    let load_done = started.elapsed();
    fleet.settle(Duration::from_secs(150)).await;
    eprintln!(
        "load sent by {load_done:?}, settled by {:?}; jobs (kind, count, mean ms): {:?}",
        started.elapsed(),
        fleet.job_stats().await
    );

    let deliveries = assert_every_delivery_processed_once(&ctx, &fleet).await;
    let runs = runs(&marks);
    let cut: Vec<&Run> = runs.iter().filter(|r| r.end.is_none()).collect();
    assert!(cut.is_empty(), "applies cut off: {cut:#?}");
    assert_no_overlap(&runs);
    let job_starts = fleet.job_starts().await;
    let locks = Locks::now(&fleet).await;
    let unplanned =
        assert_no_duplicates_and_heads_planned(&ctx, &prs, &apply_asks, &job_starts, &locks);
    assert_heads_planned(&fleet, unplanned, &prs).await;
    assert_no_job_failed(&fleet).await;
    ctx.fake.assert_no_violations();
    eprintln!("{deliveries} deliveries; {} applies", runs.len());
    assert!(
        runs.len() >= 3,
        "only {} applies ran; bosun's apply replies: {:#?}",
        runs.len(),
        apply_replies(&ctx)
    );
}

/// The rolling restart's load: 8 pull requests over 4 projects, then until `stop` and four
/// applies asked for (at most 80 steps, a minute) lock holders asked to apply and pushed to,
/// and plans asked for; the pull requests and how often each was asked to apply.
async fn rolling_load(
    ctx: Arc<TestContext>,
    pool: PgPool,
    marks: PathBuf,
    seed: u64,
    stop: Arc<AtomicBool>,
) -> (Vec<TestPr>, HashMap<u64, usize>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut prs: Vec<TestPr> = Vec::new();
    let mut apply_asks: HashMap<u64, usize> = HashMap::new();
    for tag in 0..8 {
        let mut pr = TestPr {
            number: 0,
            project: tag % 4,
            tag,
            rev: 0,
            open: true,
        };
        let tf = pr.module(&ctx, &marks, "1.5");
        pr.number = ctx
            .open_pr(&format!("change {tag}"), &[(&pr.path(), &tf)])
            .await
            .0;
        prs.push(pr);
    }
    let started = Instant::now();
    let mut applied: BTreeSet<(u64, u32)> = BTreeSet::new();
    for _ in 0..80 {
        let asked: usize = apply_asks.values().sum();
        if (stop.load(Ordering::SeqCst) && asked >= 4)
            || started.elapsed() > Duration::from_secs(60)
        {
            break;
        }
        let holders = lock_holders(&pool).await;
        if holders.is_empty() || rng.u32(0..5) == 0 {
            let i = rng.usize(0..prs.len());
            ctx.comment(prs[i].number, "alice", "bosun plan").await;
        } else {
            let number = holders[rng.usize(0..holders.len())];
            let Some(pr) = prs.iter_mut().find(|p| p.number == number) else {
                continue;
            };
            // Its jobs done first: an apply asked for reads the head when it runs.
            let busy: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM jobs WHERE pr = $1 AND status IN ('queued', 'running')",
            )
            .bind(number as i64)
            .fetch_one(&pool)
            .await
            .unwrap();
            let head = ctx.fake.model().repo(REPO).unwrap().prs[&number]
                .head_sha
                .clone();
            // A plan of its head not applied yet: apply it; applied: push the next revision.
            let ready: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM plans WHERE pr = $1 AND head_sha = $2 AND planfile IS NOT NULL",
            )
            .bind(number as i64)
            .bind(&head)
            .fetch_one(&pool)
            .await
            .unwrap();
            if busy > 0 {
                // Next time.
            } else if ready > 0 && applied.insert((pr.number, pr.rev)) {
                *apply_asks.entry(number).or_default() += 1;
                ctx.comment(number, "alice", "bosun apply").await;
            } else if applied.contains(&(pr.number, pr.rev)) {
                pr.rev += 1;
                let tf = pr.module(&ctx, &marks, "1.5");
                ctx.push_to_pr(pr.number, &[(&pr.path(), Some(&tf))]);
                ctx.pr_event(pr.number, "synchronize").await;
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.u64(300..700))).await;
    }
    (prs, apply_asks)
}
