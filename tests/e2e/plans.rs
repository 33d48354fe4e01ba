//! Plans on pull requests, end to end: the real bosun, the fake GitHub serving git over HTTP,
//! and the real Terraform, with state kept outside the checkout.

use bosun::ids::PrNumber;
use bosun::ids::RepoKey;
use bosun::plan::Outcome;

use crate::support::prs::module;
use crate::support::{REPO, TestContext};

fn state(ctx: &TestContext, name: &str) -> std::path::PathBuf {
    ctx.state_file(name)
}

#[tokio::test]
async fn an_opened_pr_gets_a_plan_comment_a_check_run_and_a_stored_plan() {
    let ctx = TestContext::start().await;
    let state = state(&ctx, "dev");
    let tf = module(&state, &["app", "db"]);
    let (pr, _) = ctx.open_pr("add dev", &[("envs/dev/main.tf", &tf)]).await;
    ctx.settle().await;

    let check = ctx.check(pr, "bosun/plan: envs/dev");
    // States are written in order; one a newer state overtook before it was written is
    // coalesced away (a project that starts at once is created "in progress").
    let order = ["queued", "in_progress", "completed:success"];
    assert_eq!(
        check.history.last().map(String::as_str),
        Some("completed:success")
    );
    assert!(
        check
            .history
            .windows(2)
            .all(|w| order.iter().position(|s| *s == w[0]) < order.iter().position(|s| *s == w[1])),
        "{check:#?}"
    );
    assert_eq!(
        check.title.as_deref(),
        Some("2 to add, 0 to change, 0 to destroy")
    );
    let body = ctx.bot_comment(pr).body;
    assert!(
        body.contains("Plan: 2 to add, 0 to change, 0 to destroy."),
        "{body}"
    );
    assert!(
        body.lines()
            .any(|l| l.starts_with('+') && l.contains("resource \"terraform_data\" \"app\"")),
        "markers at the line start: {body}"
    );
    assert!(body.contains("bosun apply -d envs/dev"), "{body}");
    assert!(!state.exists(), "a plan writes no state");

    let plans = ctx
        .store()
        .plans_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    assert_eq!(plans.len(), 1);
    let head = ctx.fake.model().repo(REPO).unwrap().prs[&pr]
        .head_sha
        .clone();
    assert_eq!(plans[0].head_sha, head);
    assert!(plans[0].planfile.as_ref().is_some_and(|p| p.len() > 100));
    assert!(matches!(&plans[0].outcome, Outcome::Planned { summary, .. } if summary.add == 2));
    ctx.finish().await;
}

#[tokio::test]
async fn a_pr_touching_two_configured_projects_plans_both_with_a_summary_table() {
    let ctx = TestContext::start().await;
    let config = "version: 3\nprojects:\n  - name: staging\n    dir: envs/staging\n  - name: prod\n    dir: envs/prod\n    workspace: blue\n";
    let (staging, prod) = (
        module(&state(&ctx, "staging"), &["web"]),
        module(&state(&ctx, "prod"), &["web", "worker"]),
    );
    let (pr, _) = ctx
        .open_pr(
            "two envs",
            &[
                ("bosun.yaml", config),
                ("envs/staging/main.tf", &staging),
                ("envs/prod/main.tf", &prod),
            ],
        )
        .await;
    ctx.settle().await;

    assert_eq!(
        ctx.check_names(pr),
        ["bosun/plan", "bosun/plan: prod:blue", "bosun/plan: staging"]
    );
    for name in ["bosun/plan: prod:blue", "bosun/plan: staging"] {
        assert_eq!(ctx.check(pr, name).conclusion.as_deref(), Some("success"));
    }
    let body = ctx.bot_comment(pr).body;
    assert!(body.contains("| `staging`"), "a summary table: {body}");
    assert!(body.contains("Plan: 2 to add"), "{body}");
    assert!(body.contains("Plan: 1 to add"), "{body}");
    assert!(body.contains("bosun apply -p prod"), "{body}");
    ctx.finish().await;
}

#[tokio::test]
async fn invalid_hcl_fails_the_check_with_terraforms_error_in_the_comment() {
    let ctx = TestContext::start().await;
    let (pr, _) = ctx
        .open_pr(
            "broken",
            &[(
                "envs/bad/main.tf",
                "resource \"terraform_data\" \"x\" {\n  input = \n}\n",
            )],
        )
        .await;
    ctx.settle().await;

    let check = ctx.check(pr, "bosun/plan: envs/bad");
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    let body = ctx.bot_comment(pr).body;
    assert!(body.contains("on main.tf line 2"), "{body}");
    assert!(
        body.contains("bosun plan -d envs/bad"),
        "how to re-plan: {body}"
    );
    ctx.finish().await;
}

#[tokio::test]
async fn a_plan_comment_passes_extra_args_to_terraform_and_edits_the_summary_in_place() {
    let ctx = TestContext::start().await;
    let tf = format!(
        "{}\nvariable \"size\" {{\n  default = \"small\"\n}}\n\nresource \"terraform_data\" \"sized\" {{\n  input = var.size\n}}\n",
        module(&state(&ctx, "vars"), &[])
    );
    let (pr, _) = ctx.open_pr("vars", &[("app/main.tf", &tf)]).await;
    ctx.settle().await;
    let first = ctx.bot_comment(pr);
    assert!(first.body.contains("\"small\""), "{}", first.body);

    let asked = ctx
        .comment(pr, "bob", "bosun plan -d app -- -var 'size=extra large'")
        .await;
    ctx.settle().await;

    let comment = ctx.bot_comment(pr);
    assert_eq!(comment.id, first.id, "edited in place");
    assert!(comment.body.contains("\"extra large\""), "{}", comment.body);
    assert!(comment.body.contains("@bob"), "{}", comment.body);
    let reacted = ctx.fake.model().comment(asked).unwrap().1.clone();
    assert!(
        reacted.reactions.iter().any(|r| r.content == "eyes"),
        "{reacted:#?}"
    );
    ctx.finish().await;
}

#[tokio::test]
async fn comment_mode_new_posts_a_new_comment_and_minimises_the_old_one() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("comment_mode", "new");
    ctx.start_bosun().await;
    let (pr, _) = ctx
        .open_pr("x", &[("a/main.tf", &module(&state(&ctx, "a"), &["one"]))])
        .await;
    ctx.settle().await;
    ctx.push_to_pr(
        pr,
        &[(
            "a/main.tf",
            Some(&module(&state(&ctx, "a"), &["one", "two"])),
        )],
    );
    ctx.pr_event(pr, "synchronize").await;
    ctx.settle().await;

    let comments = ctx.bot_comments(pr);
    assert_eq!(comments.len(), 2, "{comments:#?}");
    assert_eq!(comments[0].minimized.as_deref(), Some("OUTDATED"));
    assert_eq!(comments[1].minimized, None);
    assert!(
        comments[1].body.contains("Plan: 2 to add"),
        "{}",
        comments[1].body
    );
    ctx.finish().await;
}

/// The state a replica leaves when it dies between posting the summary comment and recording
/// its id: the comment is on GitHub, the store has only the mark that a post began.
async fn lose_the_summary_comments_id(ctx: &TestContext, pr: u64) {
    let store = ctx.store();
    store
        .set_pr_comments(&RepoKey::new(REPO), PrNumber(pr), &[])
        .await
        .unwrap();
    store
        .begin_pr_comment(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_summary_comment_whose_id_was_lost_is_edited_not_posted_again() {
    let ctx = TestContext::start().await;
    let (pr, _) = ctx
        .open_pr("x", &[("a/main.tf", &module(&state(&ctx, "a"), &["one"]))])
        .await;
    ctx.settle().await;
    let first = ctx.bot_comment(pr);
    lose_the_summary_comments_id(&ctx, pr).await;

    ctx.comment(pr, "bob", "bosun plan").await;
    ctx.settle().await;

    let plans: Vec<_> = ctx
        .bot_comments(pr)
        .into_iter()
        .filter(|c| c.body.starts_with("<!-- bosun:plan "))
        .collect();
    assert_eq!(plans.len(), 1, "{plans:#?}");
    assert_eq!(plans[0].id, first.id, "edited in place");
    assert!(plans[0].body.contains("@bob"), "{}", plans[0].body);
    // Found once, recorded again: the next plan reads it from the store.
    let stored = ctx
        .store()
        .pr_comments(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    assert!(!stored.interrupted, "{stored:?}");
    assert_eq!(stored.comments.len(), 1);
    assert_eq!(stored.comments[0].comment_id, first.id);
    ctx.finish().await;
}

#[tokio::test]
async fn with_comment_mode_new_a_summary_comment_whose_id_was_lost_is_hidden_as_outdated() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("comment_mode", "new");
    ctx.start_bosun().await;
    let (pr, _) = ctx
        .open_pr("x", &[("a/main.tf", &module(&state(&ctx, "a"), &["one"]))])
        .await;
    ctx.settle().await;
    lose_the_summary_comments_id(&ctx, pr).await;
    // A person's comment that copies bosun's marker is not bosun's, and stays as it is.
    let copied = ctx.bot_comment(pr).body;
    let copy = ctx.fake.add_comment(REPO, pr, "mallory", &copied);

    ctx.comment(pr, "bob", "bosun plan").await;
    ctx.settle().await;

    let comments = ctx.bot_comments(pr);
    assert_eq!(comments.len(), 2, "{comments:#?}");
    assert_eq!(comments[0].minimized.as_deref(), Some("OUTDATED"));
    assert_eq!(comments[1].minimized, None);
    assert!(comments[1].body.contains("@bob"), "{}", comments[1].body);
    let copy_minimized = ctx.fake.model().comment(copy).unwrap().1.minimized.clone();
    assert_eq!(copy_minimized, None);
    ctx.finish().await;
}

#[tokio::test]
async fn the_merge_strategy_plans_the_head_merged_into_the_base() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("checkout_strategy", "merge");
    ctx.start_bosun().await;
    let st = state(&ctx, "merge");
    let (pr, _) = ctx
        .open_pr("head", &[("net/main.tf", &module(&st, &["from_head"]))])
        .await;
    ctx.settle().await;
    assert!(ctx.bot_comment(pr).body.contains("Plan: 1 to add"));

    // The base moves on: a new file in the same project.
    ctx.move_base(
        pr,
        &[(
            "net/base.tf",
            Some("resource \"terraform_data\" \"from_base\" {\n  input = \"b\"\n}\n"),
        )],
    );
    ctx.comment(pr, "bob", "bosun plan").await;
    ctx.settle().await;
    let body = ctx.bot_comment(pr).body;
    assert!(
        body.contains("Plan: 2 to add"),
        "the base's resource too: {body}"
    );
    assert!(body.contains("from_base"), "{body}");
    ctx.finish().await;
}

#[tokio::test]
async fn a_merge_conflict_is_reported_clearly() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("checkout_strategy", "merge");
    ctx.start_bosun().await;
    let (pr, _) = ctx
        .open_pr(
            "head",
            &[("net/main.tf", "resource \"terraform_data\" \"a\" {}\n")],
        )
        .await;
    ctx.settle().await;
    ctx.move_base(
        pr,
        &[(
            "net/main.tf",
            Some("resource \"terraform_data\" \"b\" {}\n"),
        )],
    );
    ctx.comment(pr, "bob", "bosun plan -d net").await;
    ctx.settle().await;
    let body = ctx.bot_comment(pr).body;
    assert!(body.contains("net/main.tf"), "{body}");
    assert!(body.to_lowercase().contains("conflict"), "{body}");
    assert_eq!(
        ctx.check(pr, "bosun/plan: net").conclusion.as_deref(),
        Some("failure")
    );
    ctx.finish().await;
}

#[tokio::test]
async fn a_change_in_a_local_module_plans_the_projects_using_it() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("autoplan_modules", "true");
    ctx.start_bosun().await;
    let user = |name: &str| {
        format!(
            "{}\nmodule \"svc\" {{\n  source = \"../../modules/svc\"\n}}\n",
            module(&state(&ctx, name), &[])
        )
    };
    let (pr, _) = ctx
        .open_pr(
            "module",
            &[
                (
                    "modules/svc/main.tf",
                    "resource \"terraform_data\" \"svc\" {\n  input = \"v2\"\n}\n",
                ),
                ("envs/a/main.tf", &user("a")),
                ("envs/b/main.tf", &user("b")),
            ],
        )
        .await;
    ctx.settle().await;
    assert_eq!(
        ctx.check_names(pr),
        ["bosun/plan", "bosun/plan: envs/a", "bosun/plan: envs/b"],
        "the module itself is not a project"
    );
    // A later change to the module only.
    ctx.push_to_pr(
        pr,
        &[(
            "modules/svc/main.tf",
            Some("resource \"terraform_data\" \"svc\" {\n  input = \"v3\"\n}\n"),
        )],
    );
    ctx.pr_event(pr, "synchronize").await;
    ctx.settle().await;
    assert_eq!(
        ctx.check_names(pr),
        ["bosun/plan", "bosun/plan: envs/a", "bosun/plan: envs/b"]
    );
    ctx.finish().await;
}

#[tokio::test]
async fn without_autoplan_modules_a_shared_module_change_plans_nothing_as_in_atlantis() {
    let ctx = TestContext::start().await;
    let user = format!(
        "{}\nmodule \"svc\" {{\n  source = \"../modules/svc\"\n}}\n",
        module(&state(&ctx, "staging"), &[])
    );
    let svc = |v: &str| format!("resource \"terraform_data\" \"svc\" {{\n  input = \"{v}\"\n}}\n");
    ctx.push_base(&[
        ("staging/main.tf", Some(user.as_str())),
        ("modules/svc/main.tf", Some(svc("v1").as_str())),
    ]);
    let (pr, _) = ctx
        .open_pr("module", &[("modules/svc/main.tf", &svc("v2"))])
        .await;
    ctx.settle().await;
    assert!(
        ctx.plans_of_pr(pr).await.is_empty(),
        "modules/ under a directory that is no project: nothing to plan"
    );
    // A file in an env/ folder plans the project above it.
    ctx.push_to_pr(pr, &[("staging/env/dev.tfvars", Some("x = 1\n"))]);
    ctx.pr_event(pr, "synchronize").await;
    ctx.settle().await;
    let planned: Vec<String> = ctx
        .store()
        .plans_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.target.dir.into_string())
        .collect();
    assert_eq!(planned, ["staging"]);
    ctx.finish().await;
}

#[tokio::test]
async fn atlantis_yaml_is_honoured_without_bosun_yaml() {
    let ctx = TestContext::start().await;
    let config = "version: 3\nprojects:\n- name: core\n  dir: infra/core\n  autoplan:\n    when_modified: [\"*.tf\", \"../shared/*.tf\"]\n";
    let (pr, _) = ctx
        .open_pr(
            "atlantis",
            &[
                ("atlantis.yaml", config),
                ("infra/core/main.tf", &module(&state(&ctx, "core"), &["c"])),
                (
                    "infra/other/main.tf",
                    "resource \"terraform_data\" \"o\" {}\n",
                ),
            ],
        )
        .await;
    ctx.settle().await;
    assert_eq!(
        ctx.check_names(pr),
        ["bosun/plan", "bosun/plan: core"],
        "only the configured project"
    );
    ctx.finish().await;
}

#[tokio::test]
async fn a_bad_repo_config_gets_a_comment_naming_file_line_and_key_and_a_failed_check() {
    let ctx = TestContext::start().await;
    let (pr, _) = ctx
        .open_pr(
            "typo",
            &[
                ("bosun.yaml", "version: 3\nprojects:\n  - dri: envs/x\n"),
                ("envs/x/main.tf", "resource \"terraform_data\" \"x\" {}\n"),
            ],
        )
        .await;
    ctx.settle().await;
    let body = ctx.bot_comment(pr).body;
    assert!(body.contains("bosun.yaml:3:"), "{body}");
    assert!(body.contains("dri"), "{body}");
    assert_eq!(
        ctx.check(pr, "bosun/plan").conclusion.as_deref(),
        Some("failure")
    );
    ctx.finish().await;
}

#[tokio::test]
async fn help_bad_commands_and_bots_get_what_they_deserve() {
    let ctx = TestContext::start().await;
    let (pr, _) = ctx.open_pr("docs", &[("README.md", "# hi\n")]).await;
    ctx.settle().await;
    assert!(ctx.bot_comments(pr).is_empty(), "no project, no comment");

    ctx.comment(pr, "bob", "bosun help").await;
    ctx.settle().await;
    ctx.comment(pr, "bob", "bosun plna").await;
    ctx.settle().await;
    ctx.comment(pr, "bob", "looks good to me").await;
    ctx.settle().await;
    let bodies: Vec<String> = ctx.bot_comments(pr).into_iter().map(|c| c.body).collect();
    assert_eq!(bodies.len(), 2, "{bodies:#?}");
    assert!(bodies[0].contains("Usage:"), "{}", bodies[0]);
    assert!(bodies[1].contains("Did you mean `plan`"), "{}", bodies[1]);
    ctx.finish().await;
}

#[tokio::test]
async fn plan_naming_an_unknown_project_says_so() {
    let ctx = TestContext::start().await;
    let config = "version: 3\nprojects:\n  - name: staging\n    dir: envs/staging\n";
    let (pr, _) = ctx
        .open_pr("cfg", &[("bosun.yaml", config), ("README.md", "x\n")])
        .await;
    ctx.settle().await;
    ctx.comment(pr, "bob", "bosun plan -p stagign").await;
    ctx.settle().await;
    let body = ctx.bot_comment(pr).body;
    assert!(body.contains("staging"), "did you mean: {body}");
    ctx.finish().await;
}

#[tokio::test]
async fn closing_a_pr_deletes_its_checkouts_and_plans() {
    let ctx = TestContext::start().await;
    let (pr, _) = ctx
        .open_pr(
            "x",
            &[("a/main.tf", &module(&state(&ctx, "close"), &["one"]))],
        )
        .await;
    ctx.settle().await;
    let checkouts = ctx.data_path().join("checkouts");
    let count = |dir: &std::path::Path| walk(dir);
    assert!(count(&checkouts) > 0);
    assert_eq!(ctx.plans_of_pr(pr).await.len(), 1);
    ctx.close_pr(pr, false).await;
    ctx.settle().await;
    assert_eq!(count(&checkouts), 0, "no checkout files left");
    assert!(ctx.plans_of_pr(pr).await.is_empty());
    ctx.finish().await;
}

/// Files under `dir`, recursively (0 when it does not exist).
fn walk(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&e.path())
            } else {
                1
            }
        })
        .sum()
}
