//! Atlantis's repo config keys that change what runs: `autodiscover`, `plan_requirements`,
//! `parallel_plan`, `terraform_distribution` and `abort_on_execution_order_fail`.

use crate::support::prs::module;
use crate::support::{REPO, TestContext};
use bosun::ids::PrNumber;
use bosun::ids::RepoKey;

#[tokio::test]
async fn a_config_listing_no_project_discovers_them_as_atlantis_auto_does() {
    let ctx = TestContext::start().await;
    let config = "version: 3\nautodiscover:\n  ignore_paths: [\"ignored/*\"]\n";
    let (pr, _) = ctx
        .open_pr(
            "auto",
            &[
                ("atlantis.yaml", config),
                ("envs/a/main.tf", &module(&ctx.state_file("a"), &["a"])),
                ("ignored/x/main.tf", &module(&ctx.state_file("x"), &["x"])),
            ],
        )
        .await;
    ctx.settle().await;
    assert_eq!(
        ctx.check_names(pr),
        ["bosun/plan", "bosun/plan: envs/a"],
        "the discovered dir, not the ignored one"
    );
    ctx.finish().await;
}

#[tokio::test]
async fn autodiscover_enabled_plans_discovered_dirs_beside_the_listed_projects() {
    let ctx = TestContext::start().await;
    let config = "version: 3\nautodiscover:\n  mode: enabled\n  ignore_paths: [\"legacy/**\"]\n\
                  projects:\n- name: core\n  dir: core\n";
    let (pr, _) = ctx
        .open_pr(
            "enabled",
            &[
                ("atlantis.yaml", config),
                ("core/main.tf", &module(&ctx.state_file("core"), &["c"])),
                ("extra/main.tf", &module(&ctx.state_file("extra"), &["e"])),
                (
                    "legacy/old/main.tf",
                    &module(&ctx.state_file("old"), &["o"]),
                ),
            ],
        )
        .await;
    ctx.settle().await;
    assert_eq!(
        ctx.check_names(pr),
        ["bosun/plan", "bosun/plan: core", "bosun/plan: extra"],
        "the listed project by its name (not also discovered), the discovered dir, not the \
         ignored one"
    );
    // Named with `-d`, an ignored dir is still not a project (as in Atlantis).
    ctx.fake.set_permission(REPO, "alice", "write");
    ctx.comment(pr, "alice", "bosun plan -d legacy/old").await;
    ctx.settle().await;
    assert!(
        !ctx.check_names(pr)
            .iter()
            .any(|n| n == "bosun/plan: legacy/old"),
        "{:?}",
        ctx.check_names(pr)
    );
    ctx.finish().await;
}

#[tokio::test]
async fn plan_requirements_approved_refuses_the_plan_of_an_unapproved_pull_request() {
    let ctx = TestContext::start().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    let config = "version: 3\nprojects:\n- dir: envs/dev\n  plan_requirements: [approved]\n";
    // Policy: the base branch's config.
    ctx.push_base(&[("bosun.yaml", Some(config))]);
    let tf = module(&ctx.state_file("dev"), &["app"]);
    let (pr, _) = ctx
        .open_pr("dev", &[("envs/dev/main.tf", tf.as_str())])
        .await;
    ctx.settle().await;
    let check = ctx.check(pr, "bosun/plan: envs/dev");
    assert_eq!(check.conclusion.as_deref(), Some("failure"), "autoplan");
    assert!(
        ctx.locks_of_pr(pr).await.is_empty(),
        "a refused project is not locked"
    );

    ctx.comment(pr, "alice", "bosun plan").await;
    ctx.settle().await;
    let body = ctx.bot_comments(pr).last().unwrap().body.clone();
    assert!(body.contains("plan requirements"), "{body}");
    assert!(body.contains("approving review (`approved`)"), "{body}");
    assert_eq!(
        ctx.check(pr, "bosun/plan: envs/dev").conclusion.as_deref(),
        Some("failure")
    );
    assert_eq!(
        ctx.check(pr, "bosun/plan").conclusion.as_deref(),
        Some("failure")
    );

    ctx.fake.add_review(REPO, pr, "bob", "APPROVED");
    ctx.comment(pr, "alice", "bosun plan").await;
    ctx.settle().await;
    assert_eq!(
        ctx.check(pr, "bosun/plan: envs/dev").conclusion.as_deref(),
        Some("success"),
        "approved, it plans"
    );
    ctx.finish().await;
}

#[tokio::test]
async fn parallel_plan_false_plans_the_projects_one_at_a_time_in_config_order() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("allow_custom_workflows", "acme/*");
    ctx.start_bosun().await;
    let log = ctx.state_file("order.log");
    let log = log.display();
    let config = format!(
        "version: 3\nparallel_plan: false\nprojects:\n- dir: z\n- dir: a\nworkflows:\n  \
         default:\n    plan:\n      steps:\n      - run: echo start $REPO_REL_DIR >> {log}; \
         sleep 1; echo end $REPO_REL_DIR >> {log}\n      - init\n      - plan\n"
    );
    ctx.push_base(&[("bosun.yaml", Some(config.as_str()))]);
    let (pr, _) = ctx
        .open_pr(
            "serial",
            &[
                ("z/main.tf", &module(&ctx.state_file("z"), &["z"])),
                ("a/main.tf", &module(&ctx.state_file("a"), &["a"])),
            ],
        )
        .await;
    ctx.settle().await;
    for dir in ["a", "z"] {
        let check = ctx.check(pr, &format!("bosun/plan: {dir}"));
        assert_eq!(check.conclusion.as_deref(), Some("success"), "{dir}");
    }
    let order = std::fs::read_to_string(ctx.state_file("order.log")).unwrap();
    assert_eq!(
        order.lines().collect::<Vec<_>>(),
        ["start z", "end z", "start a", "end a"],
        "one at a time, z first as the config lists it"
    );
    ctx.finish().await;
}

#[tokio::test]
async fn a_terraform_distribution_that_cannot_be_had_fails_that_projects_plan() {
    let ctx = TestContext::start().await;
    let config = "version: 3\nprojects:\n- dir: a\n  terraform_distribution: terraform\n\
                  - dir: b\n  terraform_distribution: opentofu\n";
    let (pr, _) = ctx
        .open_pr(
            "distribution",
            &[
                ("atlantis.yaml", config),
                ("a/main.tf", &module(&ctx.state_file("a"), &["a"])),
                ("b/main.tf", &module(&ctx.state_file("b"), &["b"])),
            ],
        )
        .await;
    ctx.settle().await;
    assert_eq!(
        ctx.check(pr, "bosun/plan: a").conclusion.as_deref(),
        Some("success"),
        "the test binary is Terraform"
    );
    assert_eq!(
        ctx.check(pr, "bosun/plan: b").conclusion.as_deref(),
        Some("failure")
    );
    let body = ctx.bot_comment(pr).body;
    assert!(
        body.contains(
            "OpenTofu (the latest version) cannot be had: its version index cannot be read: \
             the download source could not be reached (cannot connect)"
        ),
        "{body}"
    );
    ctx.finish().await;
}

#[tokio::test]
async fn abort_on_execution_order_fail_false_applies_the_later_groups_after_a_failure() {
    let ctx = TestContext::start().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    let config = "version: 3\nabort_on_execution_order_fail: false\nprojects:\n\
                  - dir: first\n  execution_order_group: 1\n\
                  - dir: second\n  execution_order_group: 2\n";
    let failing = format!(
        "{}resource \"terraform_data\" \"boom\" {{\n  provisioner \"local-exec\" {{\n    \
         command = \"exit 1\"\n  }}\n}}\n",
        module(&ctx.state_file("first"), &[])
    );
    let (pr, _) = ctx
        .open_pr(
            "groups",
            &[
                ("atlantis.yaml", config),
                ("first/main.tf", &failing),
                ("second/main.tf", &module(&ctx.state_file("second"), &["s"])),
            ],
        )
        .await;
    ctx.settle().await;
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    assert_eq!(
        ctx.check(pr, "bosun/apply: first").conclusion.as_deref(),
        Some("failure")
    );
    assert_eq!(
        ctx.check(pr, "bosun/apply: second").conclusion.as_deref(),
        Some("success"),
        "the later group applies anyway"
    );
    ctx.finish().await;
}

#[tokio::test]
async fn repo_locks_on_apply_locks_at_apply_and_disabled_never_locks() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("allowed_overrides", "repo_locks");
    ctx.start_bosun().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    let config = "version: 3\nprojects:\n- dir: a\n  repo_locks: {mode: on_apply}\n\
                  - dir: b\n  repo_locks: {mode: disabled}\n";
    ctx.push_base(&[("bosun.yaml", Some(config))]);
    let (a, b) = (ctx.state_file("a"), ctx.state_file("b"));
    let (first, _) = ctx
        .open_pr(
            "first",
            &[
                ("a/main.tf", &module(&a, &["one"])),
                ("b/main.tf", &module(&b, &["one"])),
            ],
        )
        .await;
    ctx.settle().await;
    let (second, _) = ctx
        .open_pr(
            "second",
            &[
                ("a/main.tf", &module(&a, &["two"])),
                ("b/main.tf", &module(&b, &["two"])),
            ],
        )
        .await;
    ctx.settle().await;
    for pr in [first, second] {
        for dir in ["a", "b"] {
            let check = ctx.check(pr, &format!("bosun/plan: {dir}"));
            assert_eq!(check.conclusion.as_deref(), Some("success"), "#{pr} {dir}");
        }
        assert!(
            ctx.locks_of_pr(pr).await.is_empty(),
            "planning took no lock"
        );
    }

    ctx.comment(first, "alice", "bosun apply -d a").await;
    ctx.settle().await;
    assert_eq!(
        ctx.check(first, "bosun/apply: a").conclusion.as_deref(),
        Some("success")
    );
    let held: Vec<String> = ctx
        .store()
        .locks_of_pr(&RepoKey::new(REPO), PrNumber(first))
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.target.dir.into_string())
        .collect();
    assert_eq!(held, ["a"], "the apply took the lock");

    ctx.comment(second, "alice", "bosun apply -d b").await;
    ctx.settle().await;
    assert_eq!(
        ctx.check(second, "bosun/apply: b").conclusion.as_deref(),
        Some("success")
    );
    assert!(
        ctx.locks_of_pr(second).await.is_empty(),
        "disabled: no lock"
    );
    ctx.comment(second, "alice", "bosun apply -d a").await;
    ctx.settle().await;
    let body = ctx.reply(second, "apply-refused");
    assert!(body.contains(&format!("locked` by #{first}")), "{body}");
    ctx.finish().await;
}
