//! Drift detection end to end: the default branch's projects applied with the real Terraform
//! (state outside the checkout), the state changed out of band, and drift runs asked for
//! through bosun's API: the drift issue, the check runs, the metrics, the notification and the
//! history.

use bosun::ids::PrNumber;
use bosun::ids::RepoKey;
use std::sync::Arc;

use bytes::Bytes;
use http::Method;

use crate::support::notify_sink::Sink;
use crate::support::prs::module;
use crate::support::{REPO, TestContext};

const TOKEN: &str = "drift-api-token-0123456789";

const CONFIG: &str = "version: 3\nprojects:\n  - name: prod\n    dir: envs/prod\n  - name: staging\n    dir: envs/staging\n";

/// A root module with one `terraform_data.app` whose input is `input`, its state in `state`.
fn app_module(state: &std::path::Path, input: &str) -> String {
    module(state, &[])
        + &format!("\nresource \"terraform_data\" \"app\" {{\n  input = \"{input}\"\n}}\n")
}

async fn api(
    ctx: &TestContext,
    method: Method,
    path: &str,
    token: Option<&str>,
) -> crate::support::client::Reply {
    let headers: Vec<(&str, String)> = token
        .map(|t| vec![("authorization", format!("Bearer {t}"))])
        .unwrap_or_default();
    ctx.http
        .send(method, &ctx.url(path), &headers, Bytes::new())
        .await
        .unwrap()
}

/// Asks for a drift run of `acme/infra` and waits for it.
async fn drift_now(ctx: &TestContext) {
    let reply = api(ctx, Method::POST, "/api/drift/acme/infra", Some(TOKEN)).await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    ctx.settle().await;
}

/// The value of a metric line starting with `series` (e.g. `bosun_drift_status{…}`).
async fn metric(ctx: &TestContext, series: &str) -> Option<f64> {
    let text = ctx.http.get(&ctx.url("/metrics")).await.text();
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|rest| rest.trim().parse().ok())
}

fn drift_check(
    ctx: &TestContext,
    sha: &str,
    project: &str,
) -> crate::support::fake::model::CheckRun {
    let m = ctx.fake.model();
    let name = format!("bosun/drift: {project}");
    m.repo(REPO)
        .unwrap()
        .check_runs
        .iter()
        .rev()
        .find(|c| c.head_sha == sha && c.name == name)
        .cloned()
        .unwrap_or_else(|| panic!("no check run {name} on {sha}"))
}

/// Starts bosun with the API token and a notification sink; pushes two projects to the
/// default branch and applies them by hand, as a merge would have. Returns the sink, the
/// default branch's head and the prod project's module text.
async fn set_up() -> (TestContext, Sink, String, String) {
    // Capture the logs from before bosun starts.
    crate::support::logs::captured();
    let mut ctx = TestContext::without_bosun().await;
    let sink = Sink::start().await;
    ctx.set("api_token", TOKEN);
    ctx.set("drift_notify_url", &sink.url);
    ctx.set("public_url", "https://bosun.example.com");
    ctx.start_bosun().await;
    let prod = app_module(&ctx.state_file("prod"), "declared");
    let staging = app_module(&ctx.state_file("staging"), "declared");
    let head = ctx.push_base(&[
        ("bosun.yaml", Some(CONFIG)),
        ("envs/prod/main.tf", Some(&prod)),
        ("envs/staging/main.tf", Some(&staging)),
    ]);
    ctx.apply_by_hand("prod", &prod);
    ctx.apply_by_hand("staging", &staging);
    (ctx, sink, head, prod)
}

#[tokio::test]
async fn drift_opens_one_issue_updates_it_and_closes_it_when_back_in_sync() {
    let (ctx, sink, head, prod) = set_up().await;
    let prod_status = "bosun_drift_status{repo=\"acme/infra\",project=\"prod\"}";
    let staging_status = "bosun_drift_status{repo=\"acme/infra\",project=\"staging\"}";

    // Someone changes prod by hand.
    let by_hand = app_module(&ctx.state_file("prod"), "by-hand");
    ctx.apply_by_hand("prod-drift", &by_hand);
    drift_now(&ctx).await;

    // Each project's drift check links the page of its run, whose log is the drift plan's.
    for project in ["prod", "staging"] {
        let check = drift_check(&ctx, &head, project);
        let url = check.details_url.expect("a drift check links its run");
        let id = url
            .strip_prefix("https://bosun.example.com/runs/")
            .unwrap_or_else(|| panic!("{url}"));
        let run = api(&ctx, Method::GET, &format!("/api/runs/{id}"), Some(TOKEN)).await;
        assert_eq!(run.status, 200, "{}", run.text());
        let run = run.json();
        assert_eq!(run["kind"], "drift", "{run}");
        assert_eq!(run["dir"], format!("envs/{project}"), "{run}");
    }

    let issues = ctx.fake.issues(REPO);
    assert_eq!(issues.len(), 1, "{issues:#?}");
    let issue = &issues[0];
    assert!(issue.open);
    assert_eq!(issue.title, "bosun: drift detected");
    assert_eq!(issue.labels, ["drift"]);
    assert!(
        issue.body.contains("## Environment `envs/prod`"),
        "{}",
        issue.body
    );
    assert!(issue.body.contains("### `prod`"), "{}", issue.body);
    assert!(issue.body.contains("```diff"), "{}", issue.body);
    assert!(
        issue.body.contains("\"by-hand\" -> \"declared\""),
        "{}",
        issue.body
    );
    assert!(
        issue
            .body
            .contains("Plan: 0 to add, 1 to change, 0 to destroy."),
        "{}",
        issue.body
    );
    assert!(
        issue.body.contains("`bosun apply -p prod`"),
        "{}",
        issue.body
    );
    assert!(
        !issue.body.contains("### `staging`"),
        "staging is in sync: {}",
        issue.body
    );
    assert_eq!(
        drift_check(&ctx, &head, "prod").conclusion.as_deref(),
        Some("failure")
    );
    assert_eq!(
        drift_check(&ctx, &head, "staging").conclusion.as_deref(),
        Some("success")
    );
    assert_eq!(metric(&ctx, prod_status).await, Some(1.0));
    assert_eq!(metric(&ctx, staging_status).await, Some(0.0));
    assert!(
        metric(
            &ctx,
            "bosun_drift_last_run_timestamp_seconds{repo=\"acme/infra\"}"
        )
        .await
        .is_some_and(|t| t > 1.7e9)
    );
    let texts = sink.wait_for(1).await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].contains("prod (envs/prod, workspace default): unchecked → drifted"),
        "{}",
        texts[0]
    );
    assert!(!texts[0].contains("staging"), "{}", texts[0]);

    // Still drifted: the same issue, updated in place; nothing new to announce.
    drift_now(&ctx).await;
    let issues = ctx.fake.issues(REPO);
    assert_eq!(issues.len(), 1, "never a second issue: {issues:#?}");
    assert!(issues[0].open);
    assert_eq!(issues[0].number, issue.number);
    assert_eq!(issues[0].edits.len(), 1, "updated once, in place");
    assert!(
        issues[0].body.contains("(drift run 2)"),
        "{}",
        issues[0].body
    );
    assert_eq!(sink.texts().len(), 1, "no second notification");
    assert_eq!(metric(&ctx, prod_status).await, Some(1.0));

    // Put back as Git declares it: the issue closes with a comment, the metric is back to 0.
    ctx.apply_by_hand("prod-restore", &prod);
    drift_now(&ctx).await;
    let issues = ctx.fake.issues(REPO);
    assert_eq!(issues.len(), 1);
    assert!(!issues[0].open, "closed once every project is in sync");
    let comments = ctx.fake.issue_comments(REPO, issue.number);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(comments[0].contains("back in sync"), "{}", comments[0]);
    assert_eq!(metric(&ctx, prod_status).await, Some(0.0));
    let texts = sink.wait_for(2).await;
    assert_eq!(texts.len(), 2, "the recovery is announced: {texts:?}");
    assert!(
        texts[1].contains("prod (envs/prod, workspace default): drifted → in sync"),
        "{}",
        texts[1]
    );

    // The history, newest first.
    let reply = api(&ctx, Method::GET, "/api/drift/acme/infra", Some(TOKEN)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let history = reply.json();
    let runs = history["runs"].as_array().unwrap();
    let statuses: Vec<&str> = runs.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["in_sync", "drifted", "drifted"]);
    for run in runs {
        assert_eq!(run["sha"], head);
        assert_eq!(run["trigger"], "api");
        assert!(run["finished_at"].is_string());
    }
    let first = &runs[2]["projects"];
    assert_eq!(first[0]["project"], "prod");
    assert_eq!(first[0]["dir"], "envs/prod");
    assert_eq!(first[0]["workspace"], "default");
    assert_eq!(first[0]["status"], "drifted");
    assert_eq!(
        first[0]["summary"],
        "Plan: 0 to add, 1 to change, 0 to destroy."
    );
    assert_eq!(first[1]["status"], "in_sync");
    let one = api(
        &ctx,
        Method::GET,
        "/api/drift/acme/infra?limit=1",
        Some(TOKEN),
    )
    .await;
    assert_eq!(one.json()["runs"].as_array().unwrap().len(), 1);

    // The notification URL holds a secret: it is in no comment, issue or log line.
    let everything = format!("{:?}", ctx.fake.issues(REPO));
    assert!(!everything.contains("secretpart"));
    let logs = crate::support::logs::captured();
    assert!(!String::from_utf8_lossy(&logs.lock().unwrap()).contains("secretpart"));
    ctx.finish().await;
}

#[tokio::test]
async fn a_project_locked_by_an_open_pull_request_is_skipped_and_said_so() {
    let (ctx, sink, head, _) = set_up().await;
    // A pull request changing prod takes its lock when it is planned.
    let state = ctx.state_file("prod");
    let (pr, _) = ctx
        .open_pr(
            "change prod",
            &[("envs/prod/main.tf", &app_module(&state, "next"))],
        )
        .await;
    ctx.settle().await;
    // And prod drifts meanwhile; staging too.
    ctx.apply_by_hand("prod-drift", &app_module(&state, "by-hand"));
    ctx.apply_by_hand(
        "staging-drift",
        &app_module(&ctx.state_file("staging"), "by-hand"),
    );
    drift_now(&ctx).await;

    let check = drift_check(&ctx, &head, "prod");
    assert_eq!(check.conclusion.as_deref(), Some("skipped"));
    assert_eq!(
        check.title.as_deref(),
        Some(format!("skipped: locked by #{pr}").as_str())
    );
    assert_eq!(
        drift_check(&ctx, &head, "staging").conclusion.as_deref(),
        Some("failure")
    );
    let issues = ctx.fake.issues(REPO);
    assert_eq!(issues.len(), 1);
    assert!(
        issues[0].body.contains("### `staging`"),
        "{}",
        issues[0].body
    );
    assert!(
        issues[0]
            .body
            .contains(&format!("skipped: locked by #{pr}")),
        "{}",
        issues[0].body
    );
    let history = api(&ctx, Method::GET, "/api/drift/acme/infra", Some(TOKEN))
        .await
        .json();
    let projects = &history["runs"][0]["projects"];
    assert_eq!(projects[0]["status"], "skipped");
    assert_eq!(projects[0]["locked_by"], pr);
    assert_eq!(projects[0]["summary"], format!("skipped: locked by #{pr}"));
    // Only staging is news: a skipped project announces nothing.
    let texts = sink.wait_for(1).await;
    assert_eq!(texts.len(), 1);
    assert!(
        texts[0].contains("staging") && !texts[0].contains("prod"),
        "{}",
        texts[0]
    );
    ctx.finish().await;
}

#[tokio::test]
async fn the_api_refuses_without_the_token_and_for_repos_it_does_not_serve() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("api_token", TOKEN);
    ctx.fake.add_repo(2, "other/infra");
    ctx.start_bosun().await;
    for method in [Method::POST, Method::GET] {
        let none = api(&ctx, method.clone(), "/api/drift/acme/infra", None).await;
        assert_eq!(none.status, 401, "{}", none.text());
        assert_eq!(none.headers["www-authenticate"], "Bearer");
        let wrong = api(
            &ctx,
            method.clone(),
            "/api/drift/acme/infra",
            Some("not-the-token-at-all"),
        )
        .await;
        assert_eq!(wrong.status, 401);
        assert!(wrong.text().contains("not valid"), "{}", wrong.text());
        // Installed, but not on the allowlist (acme/*).
        let other = api(&ctx, method.clone(), "/api/drift/other/infra", Some(TOKEN)).await;
        assert_eq!(other.status, 404);
        assert!(other.text().contains("allowlist"), "{}", other.text());
    }
    // On the allowlist, but the App is not installed there.
    let absent = api(&ctx, Method::POST, "/api/drift/acme/absent", Some(TOKEN)).await;
    assert_eq!(absent.status, 404);
    assert!(absent.text().contains("not installed"), "{}", absent.text());
    let bad = api(&ctx, Method::POST, "/api/drift/acme/..", Some(TOKEN)).await;
    assert!(bad.status.is_client_error(), "{}", bad.status);
    ctx.settle().await;
    assert!(ctx.fake.issues(REPO).is_empty());
    ctx.finish().await;

    // Without BOSUN_API_TOKEN the API is off.
    let ctx = TestContext::start().await;
    let off = api(&ctx, Method::POST, "/api/drift/acme/infra", Some(TOKEN)).await;
    assert_eq!(off.status, 403);
    assert!(off.text().contains("BOSUN_API_TOKEN"), "{}", off.text());
    ctx.finish().await;
}

#[tokio::test]
async fn a_scheduled_sweep_queues_every_allowlisted_repo_of_every_installation_once() {
    let ctx = TestContext::start().await;
    ctx.fake.add_repo(1, "acme/second");
    ctx.fake.add_repo(2, "acme/third");
    ctx.fake.add_repo(2, "other/infra");
    let settings = ctx.settings();
    let github = Arc::new(
        bosun::github::GitHub::new(
            &settings.github,
            crate::support::fast_retry(),
            Arc::new(bosun::metrics::Metrics::default()),
        )
        .unwrap(),
    );
    let sweep = bosun::drift_sweep::DriftSweep {
        github,
        store: ctx.store(),
        allowlist: settings.repo_allowlist.clone(),
        enqueued: Arc::new(tokio::sync::Notify::new()),
    };
    let tick = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
    assert_eq!(sweep.sweep(tick).await.unwrap(), 3);
    assert_eq!(
        sweep.sweep(tick).await.unwrap(),
        0,
        "a tick queues each repo once"
    );
    ctx.settle().await;
    let mut repos = Vec::new();
    for repo in ["acme/infra", "acme/second", "acme/third", "other/infra"] {
        let jobs = ctx
            .store()
            .jobs_of_pr(&RepoKey::new(repo), PrNumber(0))
            .await
            .unwrap();
        if !jobs.is_empty() {
            assert!(jobs.iter().all(|j| j.kind == "drift"));
            repos.push(repo);
        }
    }
    assert_eq!(repos, ["acme/infra", "acme/second", "acme/third"]);
    ctx.finish().await;
}

#[tokio::test]
async fn the_schedule_runs_drift_by_itself() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("api_token", TOKEN);
    // Every minute: the first tick comes within 60 s.
    ctx.set("drift_schedule", "* * * * *");
    ctx.start_bosun().await;
    let head = ctx.push_base(&[
        ("bosun.yaml", Some(CONFIG)),
        (
            "envs/prod/main.tf",
            Some(&app_module(&ctx.state_file("prod"), "declared")),
        ),
        (
            "envs/staging/main.tf",
            Some(&app_module(&ctx.state_file("staging"), "declared")),
        ),
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let run = loop {
        let history = api(&ctx, Method::GET, "/api/drift/acme/infra", Some(TOKEN))
            .await
            .json();
        let done = history["runs"]
            .as_array()
            .and_then(|runs| runs.iter().find(|r| r["finished_at"].is_string()).cloned());
        if let Some(run) = done {
            break run;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no scheduled drift run within 90 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    assert_eq!(run["trigger"], "schedule");
    assert_eq!(run["sha"], head);
    // Nothing was applied: both projects would create their resource.
    assert_eq!(run["status"], "drifted");
    assert_eq!(
        drift_check(&ctx, &head, "prod").conclusion.as_deref(),
        Some("failure")
    );
    ctx.settle().await;
    ctx.finish().await;
}

#[tokio::test]
async fn a_broken_repo_config_on_the_default_branch_is_said_where_the_checks_would_be() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("api_token", TOKEN);
    ctx.start_bosun().await;
    let head = ctx.push_base(&[
        (
            "bosun.yaml",
            Some("version: 3\nprojects:\n  - dir: envs/prod\n    workspcae: x\n"),
        ),
        (
            "envs/prod/main.tf",
            Some(&app_module(&ctx.state_file("prod"), "declared")),
        ),
    ]);
    drift_now(&ctx).await;
    let check = ctx
        .fake
        .model()
        .repo(REPO)
        .unwrap()
        .check_runs
        .iter()
        .find(|c| c.head_sha == head && c.name == "bosun/drift")
        .cloned()
        .expect("a bosun/drift check run");
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    assert_eq!(check.title.as_deref(), Some("Drift not checked"));
    let summary = check.summary.unwrap_or_default();
    assert!(summary.contains("bosun.yaml:4"), "{summary}");
    assert!(summary.contains("workspcae"), "{summary}");
    let history = api(&ctx, Method::GET, "/api/drift/acme/infra", Some(TOKEN))
        .await
        .json();
    let run = &history["runs"][0];
    assert_eq!(run["status"], "not_checked");
    assert!(
        run["summary"]
            .as_str()
            .unwrap()
            .starts_with("not checked: repo config error"),
        "{run}"
    );
    assert!(
        ctx.fake.issues(REPO).is_empty(),
        "an error alone opens no issue"
    );
    ctx.finish().await;
}

#[tokio::test]
async fn a_project_with_a_custom_workflow_is_checked_with_its_own_plan_steps() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("api_token", TOKEN);
    ctx.set("allow_custom_workflows", "acme/*");
    ctx.set("allowed_overrides", "workflow");
    ctx.start_bosun().await;
    let marker = ctx.state_file("custom-step-ran");
    let config = format!(
        "version: 3\nprojects:\n  - name: prod\n    dir: envs/prod\n    workflow: custom\n  \
         - name: staging\n    dir: envs/staging\nworkflows:\n  custom:\n    plan:\n      steps:\n        \
         - init\n        - run: echo $PULL_NUM > {}\n        - plan\n",
        marker.display()
    );
    let prod = app_module(&ctx.state_file("prod"), "declared");
    let staging = app_module(&ctx.state_file("staging"), "declared");
    let head = ctx.push_base(&[
        ("bosun.yaml", Some(&config)),
        ("envs/prod/main.tf", Some(&prod)),
        ("envs/staging/main.tf", Some(&staging)),
    ]);
    ctx.apply_by_hand("prod", &prod);
    ctx.apply_by_hand("staging", &staging);
    ctx.apply_by_hand(
        "prod-drift",
        &app_module(&ctx.state_file("prod"), "by-hand"),
    );
    drift_now(&ctx).await;
    // The workflow's own steps ran (the drift check is pull request 0) and found the drift.
    let history = api(&ctx, Method::GET, "/api/drift/acme/infra", Some(TOKEN))
        .await
        .json();
    assert_eq!(
        history["runs"][0]["projects"][0]["status"], "drifted",
        "{history}"
    );
    assert_eq!(std::fs::read_to_string(&marker).unwrap().trim(), "0");
    let check = drift_check(&ctx, &head, "prod");
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    assert_eq!(
        check.title.as_deref(),
        Some("Drifted: Plan: 0 to add, 1 to change, 0 to destroy.")
    );
    assert_eq!(
        drift_check(&ctx, &head, "staging").conclusion.as_deref(),
        Some("success")
    );
    ctx.finish().await;
}

#[tokio::test]
async fn a_config_that_discovers_projects_has_its_discovered_projects_checked_too() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("api_token", TOKEN);
    ctx.start_bosun().await;
    let config = "version: 3\nautodiscover: {mode: enabled, ignore_paths: [\"old/*\"]}\n\
                  projects:\n  - name: prod\n    dir: envs/prod\n";
    let prod = app_module(&ctx.state_file("prod"), "declared");
    let extra = app_module(&ctx.state_file("extra"), "declared");
    let head = ctx.push_base(&[
        ("bosun.yaml", Some(config)),
        ("envs/prod/main.tf", Some(&prod)),
        ("envs/extra/main.tf", Some(&extra)),
        ("old/x/main.tf", Some(&extra)),
    ]);
    ctx.apply_by_hand("prod", &prod);
    ctx.apply_by_hand("extra", &extra);
    drift_now(&ctx).await;
    let names: Vec<String> = {
        let m = ctx.fake.model();
        let mut names: Vec<String> = m
            .repo(REPO)
            .unwrap()
            .check_runs
            .iter()
            .filter(|c| c.head_sha == head && c.name.starts_with("bosun/drift: "))
            .map(|c| c.name.clone())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names, ["bosun/drift: envs/extra", "bosun/drift: prod"]);
    ctx.finish().await;
}
