//! Atlantis's 25 end-to-end workflows (`../shared/atlantis-compat/e2e/`, from Atlantis's
//! `events_controller_e2e_test.go`; read when it is there, never copied) run through the real
//! bosun: each case's repository, its pull request, its comments in order, then the close.
//! At each step bosun must do what Atlantis does: the same projects planned or applied (dir,
//! workspace, name; applies in Atlantis's order unless they run in parallel), the same
//! successes and refusals, one reply per command and none where Atlantis is silent, the
//! merge API called exactly when Atlantis automerges, and every lock released at close.
//!
//! bosun runs as an Atlantis user would set it up: `BOSUN_COMMAND_NAMES=atlantis`,
//! `BOSUN_COMMENT_MODE=new` (a new comment per command, as Atlantis posts), custom workflows
//! and the `workflow` key allowed (the harness's `allow_all_repo_settings`), and the case's
//! own settings. The base branch holds every file of the case's repository, so the repo config
//! and the policy read from the base are the case's; the pull request changes exactly the
//! case's `modified_files` (a comment line appended to each).
//!
//! A step that does not match is a failure unless [`DEVIATIONS`] lists it with its reason;
//! a listed step that now matches is a failure too (drop its row).

use bosun::ids::PrNumber;
use bosun::ids::RepoKey;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;

use crate::support::{REPO, TestContext};

/// Where the data is: beside the project, as `../shared/atlantis-compat`.
fn compat_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/atlantis-compat/e2e")
}

const API_TOKEN: &str = "atlantis-workflows-api-token-0123";

/// Steps where bosun differs from Atlantis on purpose or for now: (case name, step index in
/// the run — the implicit steps included, see [`steps`] — and why).
const DEVIATIONS: &[(&str, usize, &str)] = &[];

/// A project as the data names it: dir, workspace, name.
type Project = (String, String, Option<String>);

/// What Atlantis does at one step.
#[derive(Debug, Clone)]
struct Expected {
    /// `pull_request_opened`, `comment`, `automerge`, `pull_request_closed`.
    trigger: String,
    comment: Option<String>,
    /// `plan`, `apply`, `error`, `other`.
    kind: String,
    projects: Vec<Project>,
    succeeded: bool,
}

fn projects_of(v: &Value) -> Vec<Project> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["dir"].as_str().unwrap_or(".").to_owned(),
                p["workspace"].as_str().unwrap_or("default").to_owned(),
                p["project"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// The steps of a case as bosun runs them: the data's, plus the events Atlantis answers with
/// silence that the data leaves out — opening the pull request when there is no autoplan
/// step, and closing it when there is no close step though the case sends it.
fn steps(case: &Value) -> Vec<Expected> {
    let mut out: Vec<Expected> = case["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| Expected {
            trigger: s["trigger"].as_str().unwrap_or("").to_owned(),
            comment: s["comment"].as_str().map(str::to_owned),
            kind: s["kind"].as_str().unwrap_or("").to_owned(),
            projects: projects_of(&s["projects"]),
            succeeded: s["succeeded"].as_bool().unwrap_or(false),
        })
        .collect();
    let silent = |trigger: &str| Expected {
        trigger: trigger.to_owned(),
        comment: None,
        kind: "silent".to_owned(),
        projects: Vec::new(),
        succeeded: true,
    };
    if out
        .first()
        .is_none_or(|s| s.trigger != "pull_request_opened")
    {
        out.insert(0, silent("pull_request_opened"));
    }
    let closes = case["other"]["sends_pull_request_closed"]
        .as_bool()
        .unwrap_or(false);
    if closes && !out.iter().any(|s| s.trigger == "pull_request_closed") {
        out.push(silent("pull_request_closed"));
    }
    out
}

/// How many comments Atlantis posts at `step`: one per command, one when it automerges, one
/// at close when it deletes locks, none otherwise.
fn expected_replies(step: &Expected) -> usize {
    match (step.kind.as_str(), step.trigger.as_str()) {
        ("plan" | "apply" | "error", _) | (_, "automerge") => 1,
        (_, "pull_request_closed") => usize::from(!step.projects.is_empty()),
        _ => 0,
    }
}

/// The files of `repos/<dir>` (Atlantis's expected outputs left out), relative paths sorted.
fn repo_files(dir: &Path) -> Vec<(String, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("exp-output-") && name.ends_with(".txt") {
                continue;
            }
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push((rel, std::fs::read_to_string(&path).unwrap()));
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A `.terraform.lock.hcl` as `terraform init` writes its header (the cases' own pins an old
/// `hashicorp/null`, which `terraform_data` does not use).
const LOCK_FILE: &str = "# This file is maintained automatically by \"terraform init\".\n\
                         # Manual edits may be lost in future updates.\n";

/// What bosun did during one step.
#[derive(Debug, Default)]
struct Seen {
    /// Plans made in the step (replacing a plan counts), in the order they were recorded.
    planned: Vec<(Project, bool)>,
    /// Applies started in the step, in order.
    applied: Vec<(Project, bool)>,
    /// bosun's new comments: (marker kind, body).
    replies: Vec<(String, String)>,
    /// Locks the pull request held before the step, by dir and workspace.
    locks_before: BTreeSet<(String, String)>,
    locks_after: BTreeSet<(String, String)>,
    /// Merge API calls so far.
    merges: usize,
}

fn project(t: &bosun::plan::Target) -> Project {
    (t.dir.to_string(), t.workspace.to_string(), t.name.clone())
}

/// The state of the pull request in bosun's store and on GitHub, to diff across a step.
struct Snapshot {
    plans: Vec<(Project, i64, i64)>,
    applies: BTreeSet<i64>,
    comments: usize,
    locks: BTreeSet<(String, String)>,
}

async fn snapshot(ctx: &TestContext, pr: u64) -> Snapshot {
    let store = ctx.store();
    let plans = store
        .plans_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap()
        .iter()
        .map(|p| (project(&p.target), p.job_id, p.created_at))
        .collect();
    let applies = store
        .applies_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect();
    Snapshot {
        plans,
        applies,
        comments: ctx.bot_comments(pr).len(),
        locks: locks(ctx, pr).await,
    }
}

async fn locks(ctx: &TestContext, pr: u64) -> BTreeSet<(String, String)> {
    ctx.locks_of_pr(pr)
        .await
        .into_iter()
        .map(|l| (l.target.dir.into_string(), l.target.workspace.into_string()))
        .collect()
}

fn merge_calls(ctx: &TestContext, pr: u64) -> usize {
    let path = format!("/repos/{REPO}/pulls/{pr}/merge");
    ctx.fake
        .model()
        .requests
        .iter()
        .filter(|r| r.method == "PUT" && r.path == path)
        .count()
}

/// What changed between `before` and now.
async fn seen_since(ctx: &TestContext, pr: u64, before: &Snapshot) -> Seen {
    let store = ctx.store();
    let mut plans = store
        .plans_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    plans.sort_by_key(|p| p.created_at);
    let planned = plans
        .iter()
        .filter(|p| {
            !before
                .plans
                .contains(&(project(&p.target), p.job_id, p.created_at))
        })
        .map(|p| {
            let ok = matches!(p.outcome, bosun::plan::Outcome::Planned { .. });
            (project(&p.target), ok)
        })
        .collect();
    let mut applies = store
        .applies_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    applies.sort_by_key(|a| a.id);
    let applied = applies
        .iter()
        .filter(|a| !before.applies.contains(&a.id))
        .map(|a| {
            let ok = a.status == bosun::store::ApplyStatus::Succeeded;
            (project(&a.target), ok)
        })
        .collect();
    let replies = ctx.bot_comments(pr)[before.comments..]
        .iter()
        .map(|c| {
            let kind = bosun::render::marker_kind(&c.body).unwrap_or("").to_owned();
            (kind, c.body.clone())
        })
        .collect();
    Seen {
        planned,
        applied,
        replies,
        locks_before: before.locks.clone(),
        locks_after: locks(ctx, pr).await,
        merges: merge_calls(ctx, pr),
    }
}

/// Waits (bounded) until pull request `pr` is closed in the model and bosun has dealt with
/// the `pull_request.closed` GitHub delivered by itself (after an automerge).
async fn settle_after_merge(ctx: &TestContext, pr: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let merged = ctx.fake.model().repo(REPO).unwrap().prs[&pr].merged;
        if !merged {
            return;
        }
        ctx.settle().await;
        if locks(ctx, pr).await.is_empty() {
            ctx.settle().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The projects of `among` in the order bosun's plan comment lists them: its table rows
/// (`| name or — | dir | workspace | result |`) when it has one, else its `#### ` headings.
fn comment_order(body: &str, among: &[Project]) -> Vec<Project> {
    let cell = |c: &str| c.trim().trim_matches('`').to_owned();
    let mut rows: Vec<Project> = body
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.strip_prefix('|')?.split('|').collect();
            if cells.len() < 4 {
                return None;
            }
            let name = cell(cells[0]);
            let name = (name != "—").then_some(name);
            Some((cell(cells[1]), cell(cells[2]), name))
        })
        .filter(|p| among.contains(p))
        .collect();
    if rows.is_empty() {
        // One project: its heading is its display name.
        rows = among.to_vec();
    }
    rows
}

/// Why `seen` is not what Atlantis does at `step`; empty when it matches.
fn compare(case: &Value, step: &Expected, seen: &Seen, merges_expected: usize) -> Vec<String> {
    let mut why = Vec::new();
    let parallel = case["other"]["exp_parallel"].as_bool().unwrap_or(false);
    let expected: Vec<Project> = step.projects.clone();
    let sorted = |v: &[(Project, bool)]| {
        let mut p: Vec<Project> = v.iter().map(|(p, _)| p.clone()).collect();
        p.sort();
        p
    };
    let replies = seen.replies.len();
    match step.kind.as_str() {
        "plan" => {
            let mut want = expected.clone();
            want.sort();
            if sorted(&seen.planned) != want {
                why.push(format!(
                    "planned {:?}, Atlantis {want:?}",
                    sorted(&seen.planned)
                ));
            } else if !parallel {
                // Planned in parallel; the order users read is the plan comment's.
                let body = seen.replies.iter().find(|(k, _)| k == "plan");
                let order = body.map(|(_, b)| comment_order(b, &want));
                if order.as_ref().is_some_and(|o| *o != expected) {
                    why.push(format!("listed {order:?}, Atlantis {expected:?}"));
                }
            }
            if seen.planned.iter().any(|(_, ok)| *ok != step.succeeded) {
                why.push(format!("plan outcomes {:?}", seen.planned));
            }
            if !seen.applied.is_empty() {
                why.push(format!("applied {:?} on a plan", seen.applied));
            }
        }
        "apply" => {
            let got: Vec<Project> = if parallel {
                sorted(&seen.applied)
            } else {
                seen.applied.iter().map(|(p, _)| p.clone()).collect()
            };
            let mut want = expected.clone();
            if parallel {
                want.sort();
            }
            if got != want {
                why.push(format!("applied {got:?}, Atlantis {want:?}"));
            }
            if seen.applied.iter().any(|(_, ok)| *ok != step.succeeded) {
                why.push(format!("apply outcomes {:?}", seen.applied));
            }
            if !seen.planned.is_empty() {
                why.push(format!("planned {:?} on an apply", seen.planned));
            }
        }
        "error" => {
            if !seen.planned.is_empty() || !seen.applied.is_empty() {
                why.push(format!(
                    "ran planned {:?} applied {:?}, Atlantis refuses",
                    seen.planned, seen.applied
                ));
            }
            // Atlantis's two refusals here: a command outside `--allow-commands`, and an
            // apply while applies are disabled.
            let (marker, says) = if case["other"]["apply_lock"].as_bool() == Some(true) {
                ("apply-refused", "Applies are disabled")
            } else {
                ("command-error", "unknown command")
            };
            let refused = seen
                .replies
                .iter()
                .any(|(kind, body)| kind == marker && body.contains(says));
            if !refused {
                why.push(format!("replies {:?}, Atlantis a refusal", seen.replies));
            }
        }
        // What counts is its one reply and the merge call, checked below.
        "other" if step.trigger == "automerge" => {}
        "other" | "silent" if step.trigger == "pull_request_closed" => {
            let want: BTreeSet<(String, String)> = expected
                .iter()
                .map(|(d, w, _)| (d.clone(), w.clone()))
                .collect();
            if seen.locks_before != want {
                why.push(format!(
                    "held locks {:?} at close, Atlantis {want:?}",
                    seen.locks_before
                ));
            }
            if !seen.locks_after.is_empty() {
                why.push(format!("locks {:?} kept after close", seen.locks_after));
            }
        }
        "silent" => {
            if !seen.planned.is_empty() || !seen.applied.is_empty() {
                why.push(format!("planned {:?}, Atlantis nothing", seen.planned));
            }
        }
        other => why.push(format!("unknown step kind {other}")),
    }
    let want_replies = expected_replies(step);
    if replies != want_replies {
        let kinds: Vec<&str> = seen.replies.iter().map(|(k, _)| k.as_str()).collect();
        why.push(format!(
            "{replies} replies {kinds:?}, Atlantis {want_replies}"
        ));
    }
    if seen.merges != merges_expected {
        why.push(format!(
            "{} merge call(s) so far, Atlantis {merges_expected}",
            seen.merges
        ));
    }
    why
}

/// A case's outcome: per step, why it differs (empty: matched).
struct CaseRun {
    name: String,
    steps: Vec<(String, Vec<String>)>,
}

async fn run_case(case: &Value, repos: &Path) -> CaseRun {
    let name = case["name"].as_str().unwrap_or("").to_owned();
    let other = &case["other"];
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("command_names", "atlantis");
    ctx.set("comment_mode", "new");
    ctx.set("allow_custom_workflows", "acme/*");
    ctx.set("allowed_overrides", "workflow");
    ctx.set("api_token", API_TOKEN);
    if other["disable_autoplan"].as_bool() == Some(true) {
        ctx.set("disable_autoplan", "true");
    }
    if let Some(allowed) = other["allow_commands"].as_array() {
        let list: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
        ctx.set("allow_commands", &list.join(","));
    }
    if let Some(file) = other["repo_config_file"].as_str() {
        ctx.set("repo_config_file", file);
    }
    ctx.start_bosun().await;
    if other["apply_lock"].as_bool() == Some(true) {
        let reply = ctx
            .http
            .send(
                http::Method::POST,
                &ctx.url("/api/apply-lock"),
                &[("authorization", format!("Bearer {API_TOKEN}"))],
                Bytes::new(),
            )
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "{}", reply.text());
    }

    // The base holds the whole repository (a tracked lock file where the case has one);
    // the pull request changes exactly the modified files.
    let mut files = repo_files(&repos.join(case["repo_dir"].as_str().unwrap_or("")));
    let setup = other["lockfile_setup"].as_str().unwrap_or("");
    if setup.contains("commit it on the PR branch") {
        files.push((".terraform.lock.hcl".into(), LOCK_FILE.into()));
    }
    let base: Vec<(&str, Option<&str>)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), Some(c.as_str())))
        .collect();
    ctx.push_base(&base);
    let changed: Vec<(String, String)> = case["modified_files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|path| {
            let old = files
                .iter()
                .find(|(p, _)| p == path)
                .map_or(String::new(), |(_, c)| c.clone());
            (
                path.to_owned(),
                format!("{old}\n# changed by the pull request\n"),
            )
        })
        .collect();
    let head: Vec<(&str, &str)> = changed
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();

    let steps = steps(case);
    let mut results = Vec::new();
    let mut pr = 0;
    let mut merges_expected = 0;
    let mut carried: Vec<(String, String)> = Vec::new();
    let mut carried_locks = None;
    let mut was_open = true;
    for (i, step) in steps.iter().enumerate() {
        let before = if pr == 0 {
            Snapshot {
                plans: Vec::new(),
                applies: BTreeSet::new(),
                comments: 0,
                locks: BTreeSet::new(),
            }
        } else {
            snapshot(&ctx, pr).await
        };
        match step.trigger.as_str() {
            "pull_request_opened" => {
                pr = ctx.open_pr(&name, &head).await.0;
                ctx.settle().await;
            }
            "comment" => {
                let body = step.comment.as_deref().unwrap_or("");
                ctx.comment(pr, "alice", body).await;
                ctx.settle().await;
                if steps.get(i + 1).is_some_and(|s| s.trigger == "automerge") {
                    settle_after_merge(&ctx, pr).await;
                }
            }
            "automerge" => {}
            "pull_request_closed" => {
                // After an automerge GitHub has already sent the (merged) close.
                was_open = ctx.fake.model().repo(REPO).unwrap().prs[&pr].open;
                if was_open {
                    ctx.close_pr(pr, false).await;
                }
                ctx.settle().await;
            }
            other => panic!("{name}: unknown trigger {other}"),
        }
        let mut seen = seen_since(&ctx, pr, &before).await;
        // An automerge, and the close GitHub sends after it, happen within the apply's step:
        // their replies, and the locks held before them, belong to the steps after it.
        let next_merges = steps.get(i + 1).is_some_and(|s| s.trigger == "automerge");
        if next_merges {
            merges_expected = 1;
            let (later, own): (Vec<_>, Vec<_>) = seen
                .replies
                .into_iter()
                .partition(|(kind, _)| kind == "automerge" || kind == "closed");
            seen.replies = own;
            carried = later;
            carried_locks = Some(before.locks.clone());
        }
        if step.trigger == "automerge" || (step.trigger == "pull_request_closed" && !was_open) {
            let kind = if step.trigger == "automerge" {
                "automerge"
            } else {
                "closed"
            };
            let mut mine: Vec<(String, String)> =
                carried.iter().filter(|(k, _)| k == kind).cloned().collect();
            mine.append(&mut seen.replies);
            seen.replies = mine;
            seen.locks_before = carried_locks.clone().unwrap_or_default();
        }
        let label = match &step.comment {
            Some(c) => format!("#{i} {c}"),
            None => format!("#{i} {}", step.trigger),
        };
        results.push((label, compare(case, step, &seen, merges_expected)));
    }
    ctx.finish().await;
    CaseRun {
        name,
        steps: results,
    }
}

#[tokio::test]
async fn atlantis_end_to_end_workflows_run_through_bosun() {
    let dir = compat_dir();
    let Ok(text) = std::fs::read_to_string(dir.join("cases.json")) else {
        eprintln!(
            "skipped: {} is not there (Atlantis's e2e workflows are read from it, never copied)",
            dir.display()
        );
        return;
    };
    let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
    // The steps read from the data account for every comment Atlantis's test counts.
    for case in &cases {
        let replies: usize = steps(case).iter().map(expected_replies).sum();
        assert_eq!(
            Some(replies as u64),
            case["other"]["exp_num_replies"].as_u64(),
            "{}",
            case["name"]
        );
    }
    let only = std::env::var("BOSUN_ATLANTIS_CASE").ok();
    let repos = dir.join("repos");
    let mut unexplained = Vec::new();
    let (mut matched, mut deviations) = (0, 0);
    for case in &cases {
        let name = case["name"].as_str().unwrap_or("");
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let started = Instant::now();
        let run = run_case(case, &repos).await;
        let (mut ok, mut dev) = (0, 0);
        for (i, (label, why)) in run.steps.iter().enumerate() {
            let listed = DEVIATIONS
                .iter()
                .find(|(c, s, _)| *c == run.name && *s == i);
            match (why.is_empty(), listed) {
                (true, None) => ok += 1,
                (false, Some(_)) => dev += 1,
                (true, Some((_, _, reason))) => unexplained.push(format!(
                    "{}: step {label} is listed as a deviation ({reason}) but now matches",
                    run.name
                )),
                (false, None) => unexplained.push(format!("{}: step {label}: {why:?}", run.name)),
            }
        }
        eprintln!(
            "{}: {ok} steps matched, {dev} deviations ({:.1} s)",
            run.name,
            started.elapsed().as_secs_f64()
        );
        matched += ok;
        deviations += dev;
    }
    eprintln!(
        "e2e/cases.json: {matched} steps matched, {deviations} deviations ({} unexplained)",
        unexplained.len()
    );
    assert!(unexplained.is_empty(), "{unexplained:#?}");
}
