//! Comments written as Atlantis users write them get Atlantis's kind of answer.

use crate::support::*;
use bosun::ids::PrNumber;
use bosun::ids::RepoKey;

#[tokio::test]
async fn atlantis_habits_get_atlantis_answers() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("command_names", "bosun,atlantis");
    ctx.set("blocked_extra_args", "-no-color");
    ctx.start_bosun().await;
    let (pr, _) = ctx.open_pr("docs", &[("README.md", "# hi\n")]).await;
    ctx.settle().await;

    ctx.comment(pr, "bob", "terraform plan").await;
    ctx.settle().await;
    let body = ctx.reply(pr, "wrong-name");
    assert!(
        body.contains("Did you mean to use `bosun` instead of `terraform`?"),
        "{body}"
    );

    ctx.comment(pr, "bob", "`atlantis plan --help`").await;
    ctx.settle().await;
    assert!(ctx.reply(pr, "help").contains("Usage:"));

    // BOSUN_BLOCKED_EXTRA_ARGS replaced the list: `-chdir` passes, `-no-color` does not.
    ctx.comment(pr, "bob", "atlantis plan -- -no-color").await;
    ctx.settle().await;
    let body = ctx.reply(pr, "command-error");
    assert!(
        body.contains("flag `-no-color` is not allowed in extra arguments"),
        "{body}"
    );

    // Only a one-line comment is a command.
    ctx.comment(pr, "bob", "atlantis plan\nonce the tests pass")
        .await;
    ctx.settle().await;
    assert_eq!(ctx.bot_comments(pr).len(), 3);
    ctx.finish().await;
}

#[tokio::test]
async fn a_dir_glob_plans_the_projects_it_matches() {
    let ctx = TestContext::start().await;
    let off = "  autoplan:\n    enabled: false\n";
    let config = format!(
        "version: 3\nprojects:\n- dir: envs/a\n{off}- dir: envs/b\n{off}- dir: modules/x\n{off}"
    );
    let tf = "resource \"terraform_data\" \"r\" {}\n";
    let (pr, _) = ctx
        .open_pr(
            "glob",
            &[
                ("bosun.yaml", &config),
                ("envs/a/main.tf", tf),
                ("envs/b/main.tf", tf),
                ("modules/x/main.tf", tf),
            ],
        )
        .await;
    ctx.settle().await;
    ctx.comment(pr, "bob", "bosun plan -d 'envs/*'").await;
    ctx.settle().await;
    assert_eq!(
        ctx.check_names(pr),
        ["bosun/plan", "bosun/plan: envs/a", "bosun/plan: envs/b"]
    );
    for dir in ["envs/a", "envs/b"] {
        let check = ctx.check(pr, &format!("bosun/plan: {dir}"));
        assert_eq!(check.conclusion.as_deref(), Some("success"), "{dir}");
    }
    ctx.comment(pr, "bob", "bosun plan -d 'nothing/*'").await;
    ctx.settle().await;
    let body = ctx.reply(pr, "no-projects");
    assert!(body.contains("nothing/*"), "{body}");
    ctx.finish().await;
}

/// A PR adding `envs/dev` (one `terraform_data`) to a base whose config automerges.
async fn open_automerged(ctx: &TestContext) -> u64 {
    let state = ctx.state_file("dev");
    let config = "version: 3\nautomerge: true\nprojects:\n  - dir: envs/dev\n";
    ctx.push_base(&[("bosun.yaml", Some(config))]);
    let tf = crate::support::prs::module(&state, &["app"]);
    let (pr, _) = ctx
        .open_pr("add dev", &[("envs/dev/main.tf", tf.as_str())])
        .await;
    ctx.settle().await;
    pr
}

#[tokio::test]
async fn apply_auto_merge_flags_act_on_the_automerge() {
    let ctx = TestContext::start().await;
    let pr = open_automerged(&ctx).await;
    ctx.comment(pr, "alice", "bosun apply --auto-merge-disabled")
        .await;
    ctx.settle().await;
    let merged = ctx.fake.model().repo(REPO).unwrap().prs[&pr].merged;
    assert!(!merged, "--auto-merge-disabled: not merged");
    assert_eq!(
        ctx.check(pr, "bosun/apply: envs/dev").conclusion.as_deref(),
        Some("success")
    );
    ctx.finish().await;

    let ctx = TestContext::start().await;
    let pr = open_automerged(&ctx).await;
    ctx.comment(pr, "alice", "bosun apply --auto-merge-method squash")
        .await;
    ctx.settle().await;
    ctx.settle().await;
    let parents = {
        let model = ctx.fake.model();
        let repo = model.repo(REPO).unwrap();
        let merged = &repo.prs[&pr];
        assert!(merged.merged, "merged after the last apply");
        let git = git2::Repository::open_bare(&repo.git_dir).unwrap();
        let sha = merged.merge_commit_sha.clone().unwrap();
        let commit = git.find_commit(git2::Oid::from_str(&sha).unwrap()).unwrap();
        commit.parent_count()
    };
    assert_eq!(parents, 1, "squashed, not a merge commit");
    ctx.finish().await;
}

#[tokio::test]
async fn a_command_outside_allow_commands_is_an_unknown_command_and_does_nothing() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("allow_commands", "plan,version");
    ctx.set("disable_autoplan", "true");
    ctx.start_bosun().await;
    let state = ctx.state_file("dev");
    let tf = crate::support::prs::module(&state, &["app"]);
    let (pr, _) = ctx.open_pr("dev", &[("envs/dev/main.tf", &tf)]).await;
    ctx.settle().await;

    ctx.comment(pr, "bob", "bosun apply").await;
    ctx.settle().await;
    let body = ctx.reply(pr, "command-error");
    assert!(body.contains("unknown command `apply`"), "{body}");
    assert!(!state.exists(), "nothing was applied");
    assert!(
        ctx.plans_of_pr(pr).await.is_empty(),
        "nothing was planned either"
    );

    // An allowed command still runs.
    ctx.comment(pr, "bob", "bosun plan").await;
    ctx.settle().await;
    assert_eq!(ctx.plans_of_pr(pr).await.len(), 1);
    ctx.finish().await;
}

#[tokio::test]
async fn disable_autoplan_plans_nothing_on_open_or_push_but_bosun_plan_works() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("disable_autoplan", "true");
    ctx.start_bosun().await;
    let state = ctx.state_file("dev");
    let tf = crate::support::prs::module(&state, &["app"]);
    let (pr, _) = ctx.open_pr("dev", &[("envs/dev/main.tf", &tf)]).await;
    ctx.settle().await;
    let tf2 = crate::support::prs::module(&state, &["app", "db"]);
    ctx.push_to_pr(pr, &[("envs/dev/main.tf", Some(&tf2))]);
    ctx.pr_event(pr, "synchronize").await;
    ctx.settle().await;
    assert!(ctx.plans_of_pr(pr).await.is_empty());
    assert!(
        ctx.bot_comments(pr).is_empty(),
        "{:#?}",
        ctx.bot_comments(pr)
    );

    ctx.comment(pr, "bob", "bosun plan").await;
    ctx.settle().await;
    assert_eq!(ctx.plans_of_pr(pr).await.len(), 1);
    let body = ctx.bot_comment(pr).body;
    assert!(body.contains("Plan: 2 to add"), "{body}");
    ctx.finish().await;
}

#[tokio::test]
async fn p_is_a_pattern_only_under_an_allowed_regexp_prefix() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("command_names", "bosun,atlantis");
    ctx.start_bosun().await;
    let project = |name: &str, dir: &str| {
        format!("- name: {name}\n  dir: {dir}\n  autoplan:\n    enabled: false\n")
    };
    let projects = [
        project("staging-a", "envs/sa"),
        project("staging-b", "envs/sb"),
        project("prod", "envs/prod"),
    ]
    .concat();
    let config = format!("version: 3\nallowed_regexp_prefixes: [staging-]\nprojects:\n{projects}");
    let states = ["sa", "sb", "prod"].map(|d| ctx.state_file(d));
    let tf = states
        .each_ref()
        .map(|s| crate::support::prs::module(s, &["r"]));
    let (pr, _) = ctx
        .open_pr(
            "three",
            &[
                ("atlantis.yaml", config.as_str()),
                ("envs/sa/main.tf", &tf[0]),
                ("envs/sb/main.tf", &tf[1]),
                ("envs/prod/main.tf", &tf[2]),
            ],
        )
        .await;
    ctx.settle().await;
    let planned = |ctx: &TestContext| {
        let store = ctx.store();
        async move {
            let mut names: Vec<String> = store
                .plans_of_pr(&RepoKey::new(REPO), PrNumber(pr))
                .await
                .unwrap()
                .into_iter()
                .filter_map(|p| p.target.name)
                .collect();
            names.sort();
            names
        }
    };

    ctx.comment(pr, "bob", "atlantis plan -p 'staging-.*'")
        .await;
    ctx.settle().await;
    assert_eq!(planned(&ctx).await, ["staging-a", "staging-b"]);
    ctx.comment(pr, "alice", "atlantis apply -p 'staging-.*'")
        .await;
    ctx.settle().await;
    let applied = states.each_ref().map(|s| s.exists());
    assert_eq!(applied, [true, true, false], "the staging projects only");

    // Not under an allowed prefix: an exact name, which no project has.
    ctx.comment(pr, "bob", "atlantis plan -p 'prod.*'").await;
    ctx.settle().await;
    assert!(ctx.reply(pr, "no-projects").contains("prod.*"));
    // A pattern that does not compile gets a reply saying why.
    ctx.comment(pr, "bob", "atlantis plan -p 'staging-('").await;
    ctx.settle().await;
    let body = ctx.reply(pr, "bad-project-pattern");
    assert!(body.contains("unclosed group"), "{body}");
    let replies = ctx.bot_comments(pr).len();
    ctx.comment(pr, "alice", "atlantis apply -p 'staging-[b'")
        .await;
    ctx.settle().await;
    assert_eq!(ctx.bot_comments(pr).len(), replies + 1);
    let body = ctx.reply(pr, "bad-project-pattern");
    assert!(
        body.contains("staging-[b"),
        "apply reads the pattern too: {body}"
    );

    // Without allowed_regexp_prefixes, `-p` is an exact name.
    let plain = format!("version: 3\nprojects:\n{projects}");
    ctx.push_to_pr(pr, &[("atlantis.yaml", Some(plain.as_str()))]);
    ctx.pr_event(pr, "synchronize").await;
    ctx.settle().await;
    ctx.comment(pr, "bob", "atlantis plan -p 'staging-.*'")
        .await;
    ctx.settle().await;
    assert!(ctx.reply(pr, "no-projects").contains("staging-.*"));
    ctx.comment(pr, "bob", "atlantis plan -p staging-b").await;
    ctx.settle().await;
    assert_eq!(
        ctx.check(pr, "bosun/plan: staging-b").conclusion.as_deref(),
        Some("success")
    );
    ctx.finish().await;
}
