//! The version a plan ran is the version its apply runs; downloads can be turned off; the
//! cache of downloaded versions is bounded.

use crate::support::mirror::Mirror;
use crate::support::prs::module;
use crate::support::{REPO, TestContext};
use crate::versions::{config, with_mirror};

#[tokio::test]
async fn an_apply_runs_the_version_its_plan_ran_though_a_newer_one_meets_the_constraint_since() {
    let (mut ctx, mirror) = with_mirror().await;
    mirror.add_terraform("1.5.0");
    mirror.add_terraform("1.6.0");
    // The server's own Terraform (1.15.5) meets neither constraint.
    let yaml = config(&[
        ("kept", "  terraform_version: \">= 1.6, < 1.8\"\n"),
        ("gone", "  terraform_version: \"~> 1.5.0\"\n"),
    ]);
    let (pr, _) = ctx
        .open_pr(
            "pinned",
            &[
                ("bosun.yaml", yaml.as_str()),
                ("kept/main.tf", &module(&ctx.state_file("kept"), &["a"])),
                ("gone/main.tf", &module(&ctx.state_file("gone"), &["b"])),
            ],
        )
        .await;
    ctx.settle().await;
    for dir in ["kept", "gone"] {
        let check = ctx.check(pr, &format!("bosun/plan: {dir}"));
        assert_eq!(check.conclusion.as_deref(), Some("success"), "{dir}");
    }
    assert!(
        mirror
            .ran_by("terraform", "1.6.0")
            .contains(&"kept plan".into())
    );
    assert!(
        mirror
            .ran_by("terraform", "1.5.0")
            .contains(&"gone plan".into())
    );
    // Newer versions meeting both constraints are published; 1.5.0 is withdrawn and no longer
    // cached. bosun restarts, so nothing it read of the index before is kept.
    mirror.add_terraform("1.7.0");
    mirror.add_terraform("1.5.9");
    mirror.withdraw_terraform("1.5.0");
    ctx.stop_bosun().await;
    std::fs::remove_dir_all(ctx.data_path().join("tools/terraform/1.5.0")).unwrap();
    ctx.start_bosun().await;

    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    let body = ctx.bot_comments(pr).last().unwrap().body.clone();
    assert!(body.contains("Apply complete!"), "{body}");
    assert!(
        body.contains(
            "The plan ran Terraform 1.5.0, and its apply runs no other: Terraform 1.5.0 cannot be \
             had: terraform_1.5.0_SHA256SUMS was not found at the download source"
        ),
        "{body}"
    );
    assert!(
        mirror
            .ran_by("terraform", "1.6.0")
            .contains(&"kept apply".into()),
        "{:?}",
        mirror.ran_by("terraform", "1.6.0")
    );
    assert!(mirror.ran_by("terraform", "1.7.0").is_empty());
    assert!(mirror.ran_by("terraform", "1.5.9").is_empty());
    // The applies' run logs say which version runs, and which cannot be had.
    let logs = apply_logs(&ctx).await;
    assert!(
        logs.contains(
            "bosun runs Terraform 1.6.0 (the version its plan ran), downloaded and checked against its signed SHA256SUMS"
        ),
        "{logs}"
    );
    assert!(
        logs.contains("The plan ran Terraform 1.5.0, and its apply runs no other"),
        "{logs}"
    );

    // Planned again, the constraints pick the newer versions.
    ctx.comment(pr, "alice", "bosun plan").await;
    ctx.settle().await;
    assert!(
        mirror
            .ran_by("terraform", "1.7.0")
            .contains(&"kept plan".into())
    );
    assert!(
        mirror
            .ran_by("terraform", "1.5.9")
            .contains(&"gone plan".into())
    );
    ctx.finish().await;
}

#[tokio::test]
async fn a_plan_stored_before_versions_were_recorded_is_applied_with_the_version_chosen_again() {
    let (mut ctx, mirror) = with_mirror().await;
    mirror.add_terraform("1.6.0");
    let yaml = config(&[("old", "  terraform_version: \">= 1.6, < 1.8\"\n")]);
    let (pr, _) = ctx
        .open_pr(
            "old-plan",
            &[
                ("bosun.yaml", yaml.as_str()),
                ("old/main.tf", &module(&ctx.state_file("old"), &["a"])),
            ],
        )
        .await;
    ctx.settle().await;
    assert!(
        mirror
            .ran_by("terraform", "1.6.0")
            .contains(&"old plan".into())
    );
    mirror.add_terraform("1.7.0");
    ctx.stop_bosun().await;
    // As a plan stored by a bosun that did not record versions.
    let db = format!("sqlite://{}", ctx.data_path().join("bosun.db").display());
    let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
    let forgotten = sqlx::query("UPDATE plans SET tool_distribution = NULL, tool_version = NULL")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(forgotten.rows_affected(), 1);
    pool.close().await;
    ctx.start_bosun().await;
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    let body = ctx.bot_comments(pr).last().unwrap().body.clone();
    assert!(body.contains("Apply complete!"), "{body}");
    assert!(
        mirror
            .ran_by("terraform", "1.7.0")
            .contains(&"old apply".into())
    );
    assert!(
        !mirror
            .ran_by("terraform", "1.6.0")
            .contains(&"old apply".into())
    );
    ctx.finish().await;
}

#[tokio::test]
async fn an_apply_refuses_a_binary_of_the_planned_version_that_is_not_the_one_the_plan_ran() {
    let (mut ctx, mirror) = with_mirror().await;
    mirror.add_terraform("1.6.0");
    let yaml = config(&[("dev", "  terraform_version: 1.6.0\n")]);
    let (pr, _) = ctx
        .open_pr(
            "digest",
            &[
                ("bosun.yaml", yaml.as_str()),
                ("dev/main.tf", &module(&ctx.state_file("dev"), &["a"])),
            ],
        )
        .await;
    ctx.settle().await;
    let check = ctx.check(pr, "bosun/plan: dev");
    assert_eq!(check.conclusion.as_deref(), Some("success"));
    // The cached 1.6.0 is another binary by the time of the apply.
    ctx.stop_bosun().await;
    let cached = ctx.data_path().join("tools/terraform/1.6.0/terraform");
    let mut script = std::fs::read(&cached).unwrap();
    script.extend_from_slice(b"# another build\n");
    std::fs::write(&cached, script).unwrap();
    ctx.start_bosun().await;
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    let body = ctx.bot_comments(pr).last().unwrap().body.clone();
    assert!(
        body.contains(
            "The plan ran Terraform 1.6.0, and its apply runs no other: Terraform 1.6.0 cannot be \
             had: the binary bosun has of it (SHA-256 "
        ) && body.contains("is not the one the plan ran (SHA-256 "),
        "{body}"
    );
    assert!(
        !mirror
            .ran_by("terraform", "1.6.0")
            .contains(&"dev apply".into())
    );
    ctx.finish().await;
}

#[tokio::test]
async fn an_apply_on_merge_runs_the_version_the_merge_commits_plan_ran() {
    let (mut ctx, mirror) = with_mirror().await;
    mirror.add_terraform("1.6.0");
    let yaml = format!(
        "version: 3\napply_on_merge: true\nprojects:\n{}",
        config(&[("dev", "  terraform_version: \">= 1.6, < 1.8\"\n")])
            .trim_start_matches("version: 3\nprojects:\n")
    );
    ctx.push_base(&[("bosun.yaml", Some(yaml.as_str()))]);
    let (pr, _) = ctx
        .open_pr(
            "merge",
            &[("dev/main.tf", &module(&ctx.state_file("dev"), &["a"]))],
        )
        .await;
    ctx.settle().await;
    assert_eq!(
        mirror.ran_by("terraform", "1.6.0"),
        ["dev init", "dev plan", "dev show"]
    );
    // A newer version meeting the constraint is published before the merge.
    mirror.add_terraform("1.7.0");
    ctx.stop_bosun().await;
    ctx.start_bosun().await;
    ctx.merge_pr(pr).await;
    ctx.settle().await;
    let body = ctx.reply(pr, "apply");
    assert!(body.contains("Applied on merge"), "{body}");
    // The merge commit's plan chose anew, and its apply ran what that plan ran.
    let ran = mirror.ran_by("terraform", "1.7.0");
    assert!(
        ran.contains(&"dev plan".into()) && ran.contains(&"dev apply".into()),
        "{ran:?}"
    );
    assert_eq!(
        mirror.ran_by("terraform", "1.6.0"),
        ["dev init", "dev plan", "dev show"]
    );
    ctx.finish().await;
}

/// The stored logs of every apply run so far, one after another.
async fn apply_logs(ctx: &TestContext) -> String {
    ctx.run_of_kind("apply").await;
    let db = format!("sqlite://{}", ctx.data_path().join("bosun.db").display());
    let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM runs WHERE kind = 'apply' ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    let mut text = String::new();
    for id in ids {
        for chunk in ctx.store().run_log(id, 0, 10_000).await.unwrap() {
            text.push_str(&chunk.text);
        }
    }
    text
}

/// bosun downloading from `mirror` with `settings` set too.
async fn started(ctx: &mut TestContext, mirror: &Mirror, settings: &[(&str, &str)]) {
    ctx.set("terraform_download_url", &mirror.url);
    ctx.set(
        "terraform_signing_key_file",
        &mirror.key_file.display().to_string(),
    );
    for (key, value) in settings {
        ctx.set(key, value);
    }
    ctx.start_bosun().await;
    ctx.fake.set_permission(REPO, "alice", "write");
}

#[tokio::test]
async fn with_downloads_off_only_the_servers_binary_and_cached_versions_run() {
    let mut ctx = TestContext::without_bosun().await;
    let mirror = Mirror::start(ctx.state_dir.path()).await;
    mirror.add_terraform("1.5.7");
    mirror.add_terraform("1.6.2");
    // 1.6.2 is cached while downloads are on.
    started(&mut ctx, &mirror, &[]).await;
    let yaml = config(&[("first", "  terraform_version: 1.6.2\n")]);
    let (first, _) = ctx
        .open_pr(
            "first",
            &[
                ("bosun.yaml", yaml.as_str()),
                ("first/main.tf", &module(&ctx.state_file("first"), &["a"])),
            ],
        )
        .await;
    ctx.settle().await;
    let check = ctx.check(first, "bosun/plan: first");
    assert_eq!(check.conclusion.as_deref(), Some("success"));
    ctx.stop_bosun().await;
    started(&mut ctx, &mirror, &[("tool_downloads", "false")]).await;
    let asked = mirror.requests().len();

    let yaml = config(&[
        ("cached", "  terraform_version: \"~> 1.6.0\"\n"),
        ("missing", "  terraform_version: 1.5.7\n"),
        ("own", ""),
    ]);
    let (pr, _) = ctx
        .open_pr(
            "off",
            &[
                ("bosun.yaml", yaml.as_str()),
                ("cached/main.tf", &module(&ctx.state_file("cached"), &["a"])),
                (
                    "missing/main.tf",
                    &module(&ctx.state_file("missing"), &["b"]),
                ),
                ("own/main.tf", &module(&ctx.state_file("own"), &["c"])),
            ],
        )
        .await;
    ctx.settle().await;
    for (dir, conclusion) in [
        ("cached", "success"),
        ("missing", "failure"),
        ("own", "success"),
    ] {
        let check = ctx.check(pr, &format!("bosun/plan: {dir}"));
        assert_eq!(check.conclusion.as_deref(), Some(conclusion), "{dir}");
    }
    let body = ctx.bot_comment(pr).body;
    assert!(
        body.contains(
            "Terraform 1.5.7 cannot be had: it is not cached and downloads are turned off \
             (BOSUN_TOOL_DOWNLOADS)"
        ),
        "{body}"
    );
    assert!(
        mirror
            .ran_by("terraform", "1.6.2")
            .contains(&"cached plan".into())
    );
    assert!(mirror.ran_by("terraform", "1.5.7").is_empty());
    assert_eq!(mirror.requests().len(), asked, "{:?}", mirror.requests());
    assert!(!ctx.data_path().join("tools/terraform/1.5.7").exists());
    ctx.finish().await;
}

#[tokio::test]
async fn past_the_bound_the_least_recently_used_version_leaves_the_cache() {
    let mut ctx = TestContext::without_bosun().await;
    let mirror = Mirror::start(ctx.state_dir.path()).await;
    for v in ["1.5.7", "1.6.2", "1.7.0"] {
        mirror.add_terraform(v);
    }
    started(&mut ctx, &mirror, &[("tool_cache_versions", "2")]).await;
    // Planned one after another, in this order.
    let yaml = format!(
        "version: 3\nparallel_plan: false\nprojects:\n{}",
        config(&[
            ("a", "  terraform_version: 1.5.7\n"),
            ("b", "  terraform_version: 1.6.2\n"),
            ("c", "  terraform_version: 1.7.0\n"),
        ])
        .trim_start_matches("version: 3\nprojects:\n")
    );
    let (pr, _) = ctx
        .open_pr(
            "bound",
            &[
                ("bosun.yaml", yaml.as_str()),
                ("a/main.tf", &module(&ctx.state_file("a"), &["a"])),
                ("b/main.tf", &module(&ctx.state_file("b"), &["b"])),
                ("c/main.tf", &module(&ctx.state_file("c"), &["c"])),
            ],
        )
        .await;
    ctx.settle().await;
    for dir in ["a", "b", "c"] {
        let check = ctx.check(pr, &format!("bosun/plan: {dir}"));
        assert_eq!(check.conclusion.as_deref(), Some("success"), "{dir}");
    }
    let tools = ctx.data_path().join("tools/terraform");
    let mut cached: Vec<String> = std::fs::read_dir(&tools)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    cached.sort();
    assert_eq!(cached, ["1.6.2", "1.7.0"]);
    // Each use is noted under bosun's data directory.
    let used = ctx.data_path().join("tools/.used/terraform");
    assert!(used.join("1.6.2").is_file() && used.join("1.7.0").is_file());
    assert!(!used.join("1.5.7").exists());
    ctx.finish().await;
}

#[tokio::test]
async fn only_the_versions_the_operator_allows_are_downloaded() {
    let mut ctx = TestContext::without_bosun().await;
    let mirror = Mirror::start(ctx.state_dir.path()).await;
    for v in ["1.5.7", "1.6.2", "1.7.0"] {
        mirror.add_terraform(v);
    }
    started(
        &mut ctx,
        &mirror,
        &[("terraform_versions", ">= 1.6, < 1.7")],
    )
    .await;
    let yaml = config(&[
        (
            "refused",
            "  terraform_version: 1.5.7
",
        ),
        ("narrowed", "  terraform_version: \">= 1.5, < 1.9\"\n"),
    ]);
    let (pr, _) = ctx
        .open_pr(
            "allowed",
            &[
                ("bosun.yaml", yaml.as_str()),
                (
                    "refused/main.tf",
                    &module(&ctx.state_file("refused"), &["a"]),
                ),
                (
                    "narrowed/main.tf",
                    &module(&ctx.state_file("narrowed"), &["b"]),
                ),
            ],
        )
        .await;
    ctx.settle().await;
    for (dir, conclusion) in [("refused", "failure"), ("narrowed", "success")] {
        let check = ctx.check(pr, &format!("bosun/plan: {dir}"));
        assert_eq!(check.conclusion.as_deref(), Some(conclusion), "{dir}");
    }
    let body = ctx.bot_comment(pr).body;
    assert!(
        body.contains(
            "Terraform 1.5.7 cannot be had: the operator allows only `>= 1.6, < 1.7` \
             (BOSUN_TERRAFORM_VERSIONS)"
        ),
        "{body}"
    );
    assert!(
        mirror
            .ran_by("terraform", "1.6.2")
            .contains(&"narrowed plan".into())
    );
    assert!(mirror.ran_by("terraform", "1.7.0").is_empty());
    let requests = mirror.requests();
    assert!(
        !requests
            .iter()
            .any(|p| p.starts_with("/terraform/1.5.7/") || p.starts_with("/terraform/1.7.0/")),
        "{requests:?}"
    );
    ctx.finish().await;
}
