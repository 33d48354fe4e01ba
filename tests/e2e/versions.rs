//! Terraform and OpenTofu versions per project: downloaded from a release mirror on loopback
//! (the release servers' layouts, signed with a test key configured in place of the pinned
//! one), checked, cached, and run side by side; what cannot be had fails its project naming
//! the version and why.

use crate::support::mirror::{Mirror, test_key};
use crate::support::prs::module;
use crate::support::{REPO, TestContext};
use pgp::composed::{ArmorOptions, SignedPublicKey};

/// bosun downloading from `mirror` (Terraform and OpenTofu), its key trusted.
pub(crate) async fn with_mirror() -> (TestContext, Mirror) {
    let mut ctx = TestContext::without_bosun().await;
    let mirror = Mirror::start(ctx.state_dir.path()).await;
    let key = mirror.key_file.display().to_string();
    ctx.set("terraform_download_url", &mirror.url);
    ctx.set("terraform_signing_key_file", &key);
    ctx.set("opentofu_download_url", &mirror.tofu_url());
    ctx.set("opentofu_index_url", &mirror.tofu_index_url());
    ctx.set("opentofu_signing_key_file", &key);
    ctx.start_bosun().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    (ctx, mirror)
}

/// A config with one project per `(dir, extra keys)`.
pub(crate) fn config(projects: &[(&str, &str)]) -> String {
    let mut text = "version: 3\nprojects:\n".to_owned();
    for (dir, keys) in projects {
        text.push_str(&format!("- dir: {dir}\n{keys}"));
    }
    text
}

#[tokio::test]
async fn projects_pinned_to_two_versions_each_plan_and_apply_with_their_own() {
    let (ctx, mirror) = with_mirror().await;
    mirror.add_terraform("1.5.7");
    mirror.add_terraform("1.6.2");
    let yaml = config(&[
        ("old", "  terraform_version: 1.5.7\n"),
        ("new", "  terraform_version: v1.6.2\n"),
        ("also-old", "  terraform_version: \"= 1.5.7\"\n"),
    ]);
    let (pr, _) = ctx
        .open_pr(
            "versions",
            &[
                ("bosun.yaml", yaml.as_str()),
                ("old/main.tf", &module(&ctx.state_file("old"), &["a"])),
                ("new/main.tf", &module(&ctx.state_file("new"), &["b"])),
                (
                    "also-old/main.tf",
                    &module(&ctx.state_file("also-old"), &["c"]),
                ),
            ],
        )
        .await;
    ctx.settle().await;
    for dir in ["old", "new", "also-old"] {
        let check = ctx.check(pr, &format!("bosun/plan: {dir}"));
        assert_eq!(
            check.conclusion.as_deref(),
            Some("success"),
            "{dir}: {check:?}"
        );
    }
    let old = mirror.ran_by("terraform", "1.5.7");
    let new = mirror.ran_by("terraform", "1.6.2");
    assert!(old.contains(&"old plan".to_owned()), "{old:?}");
    assert!(new.contains(&"new plan".to_owned()), "{new:?}");
    assert!(old.contains(&"also-old plan".to_owned()), "{old:?}");
    assert!(
        old.iter()
            .all(|l| l.starts_with("old ") || l.starts_with("also-old ")),
        "{old:?}"
    );
    assert!(new.iter().all(|l| l.starts_with("new ")), "{new:?}");
    // Cached in bosun's data directory, outside every checkout.
    let cached = ctx.data_path().join("tools/terraform/1.5.7/terraform");
    assert!(cached.is_file(), "{}", cached.display());

    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    let applied = ctx.bot_comments(pr).last().unwrap().body.clone();
    assert!(applied.contains("Apply complete!"), "{applied}");
    assert!(
        mirror
            .ran_by("terraform", "1.5.7")
            .contains(&"old apply".to_owned())
    );
    assert!(
        mirror
            .ran_by("terraform", "1.6.2")
            .contains(&"new apply".to_owned())
    );
    // Each version was downloaded once (two projects planned side by side on 1.5.7 shared
    // one download): the apply used the cached copies.
    let zips = mirror
        .requests()
        .iter()
        .filter(|p| p.ends_with(".zip"))
        .count();
    assert_eq!(zips, 2, "{:?}", mirror.requests());
    ctx.finish().await;
}

#[tokio::test]
async fn a_constraint_picks_the_highest_version_the_index_lists_that_meets_it() {
    let (ctx, mirror) = with_mirror().await;
    for v in ["1.5.7", "1.6.2", "1.6.3", "1.7.0-rc1", "1.7.0"] {
        mirror.add_terraform(v);
    }
    let yaml = config(&[
        ("pinned", "  terraform_version: \">= 1.6, < 1.7\"\n"),
        ("pessimistic", "  terraform_version: \"~> 1.5.0\"\n"),
    ]);
    // The server's own Terraform meets `required_version = ">= 1.0"`: nothing is downloaded.
    let own = format!(
        "terraform {{\n  required_version = \">= 1.0\"\n}}\n{}",
        module(&ctx.state_file("own"), &["c"])
    );
    let (pr, _) = ctx
        .open_pr(
            "constraint",
            &[
                ("bosun.yaml", yaml.as_str()),
                ("pinned/main.tf", &module(&ctx.state_file("pinned"), &["a"])),
                (
                    "pessimistic/main.tf",
                    &module(&ctx.state_file("pessimistic"), &["b"]),
                ),
            ],
        )
        .await;
    ctx.settle().await;
    for dir in ["pinned", "pessimistic"] {
        let check = ctx.check(pr, &format!("bosun/plan: {dir}"));
        assert_eq!(
            check.conclusion.as_deref(),
            Some("success"),
            "{dir}: {check:?}"
        );
    }
    assert_eq!(
        mirror.ran_by("terraform", "1.6.3"),
        ["pinned init", "pinned plan", "pinned show"]
    );
    assert_eq!(
        mirror.ran_by("terraform", "1.5.7"),
        ["pessimistic init", "pessimistic plan", "pessimistic show"]
    );
    for unpicked in ["1.6.2", "1.7.0-rc1", "1.7.0"] {
        assert!(
            mirror.ran_by("terraform", unpicked).is_empty(),
            "{unpicked}"
        );
    }
    // Both projects' constraints were met from one read of the index.
    let reads = mirror
        .requests()
        .iter()
        .filter(|p| p.ends_with("index.json"))
        .count();
    assert_eq!(reads, 1, "{:?}", mirror.requests());
    let before = mirror.requests().len();
    let (pr2, _) = ctx.open_pr("own", &[("own/main.tf", own.as_str())]).await;
    ctx.settle().await;
    let check = ctx.check(pr2, "bosun/plan: own");
    assert_eq!(check.conclusion.as_deref(), Some("success"), "{check:?}");
    assert_eq!(mirror.requests().len(), before, "{:?}", mirror.requests());
    ctx.finish().await;
}

#[tokio::test]
async fn a_checksum_mismatch_is_refused_naming_the_version() {
    let (ctx, mirror) = with_mirror().await;
    mirror.add_terraform("1.5.7");
    let (path, mut zip) = mirror.terraform_zip("1.5.7");
    zip.extend_from_slice(b"tampered");
    mirror.put(&path, zip);
    let yaml = config(&[("a", "  terraform_version: 1.5.7\n")]);
    let (pr, _) = ctx
        .open_pr(
            "tampered",
            &[
                ("bosun.yaml", yaml.as_str()),
                ("a/main.tf", &module(&ctx.state_file("a"), &["a"])),
            ],
        )
        .await;
    ctx.settle().await;
    let check = ctx.check(pr, "bosun/plan: a");
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    let body = ctx.bot_comment(pr).body;
    assert!(
        body.contains("Terraform 1.5.7 cannot be had: checksum mismatch: terraform_1.5.7_linux_"),
        "{body}"
    );
    assert!(mirror.ran_by("terraform", "1.5.7").is_empty());
    assert!(!ctx.data_path().join("tools/terraform/1.5.7").exists());
    ctx.finish().await;
}

#[tokio::test]
async fn a_signature_by_another_key_is_refused_and_a_missing_version_is_named() {
    let mut ctx = TestContext::without_bosun().await;
    let mirror = Mirror::start(ctx.state_dir.path()).await;
    mirror.add_terraform("1.5.7");
    // bosun trusts another key than the one the mirror signs with.
    let other = SignedPublicKey::from(test_key(8))
        .to_armored_string(ArmorOptions::default())
        .unwrap();
    let other_file = ctx.state_dir.path().join("other-key.asc");
    std::fs::write(&other_file, other).unwrap();
    ctx.set("terraform_download_url", &mirror.url);
    ctx.set(
        "terraform_signing_key_file",
        &other_file.display().to_string(),
    );
    ctx.start_bosun().await;
    let yaml = config(&[
        ("a", "  terraform_version: 1.5.7\n"),
        ("b", "  terraform_version: 1.9.9\n"),
    ]);
    let (pr, _) = ctx
        .open_pr(
            "bad-signature",
            &[
                ("bosun.yaml", yaml.as_str()),
                ("a/main.tf", &module(&ctx.state_file("a"), &["a"])),
                ("b/main.tf", &module(&ctx.state_file("b"), &["b"])),
            ],
        )
        .await;
    ctx.settle().await;
    for dir in ["a", "b"] {
        let check = ctx.check(pr, &format!("bosun/plan: {dir}"));
        assert_eq!(check.conclusion.as_deref(), Some("failure"), "{dir}");
    }
    let body = ctx.bot_comment(pr).body;
    assert!(
        body.contains("Terraform 1.5.7 cannot be had: bad signature on terraform_1.5.7_SHA256SUMS"),
        "{body}"
    );
    assert!(
        body.contains(
            "Terraform 1.9.9 cannot be had: terraform_1.9.9_SHA256SUMS was not found at the download source"
        ),
        "{body}"
    );
    // Nothing was fetched past the refused signature.
    assert!(
        !mirror.requests().iter().any(|p| p.ends_with(".zip")),
        "{:?}",
        mirror.requests()
    );
    assert!(mirror.ran_by("terraform", "1.5.7").is_empty());
    ctx.finish().await;
}

#[tokio::test]
async fn terraform_distribution_opentofu_takes_the_opentofu_source() {
    let (ctx, mirror) = with_mirror().await;
    mirror.add_tofu("1.7.3");
    mirror.add_tofu("1.8.0");
    mirror.add_terraform("1.8.0");
    let yaml = config(&[
        (
            "pinned",
            "  terraform_distribution: opentofu\n  terraform_version: 1.7.3\n",
        ),
        ("latest", "  terraform_distribution: opentofu\n"),
    ]);
    let (pr, _) = ctx
        .open_pr(
            "tofu",
            &[
                ("bosun.yaml", yaml.as_str()),
                ("pinned/main.tf", &module(&ctx.state_file("pinned"), &["a"])),
                ("latest/main.tf", &module(&ctx.state_file("latest"), &["b"])),
            ],
        )
        .await;
    ctx.settle().await;
    for dir in ["pinned", "latest"] {
        let check = ctx.check(pr, &format!("bosun/plan: {dir}"));
        assert_eq!(
            check.conclusion.as_deref(),
            Some("success"),
            "{dir}: {check:?}"
        );
    }
    assert!(
        mirror
            .ran_by("tofu", "1.7.3")
            .contains(&"pinned plan".to_owned())
    );
    assert!(
        mirror
            .ran_by("tofu", "1.8.0")
            .contains(&"latest plan".to_owned())
    );
    assert!(mirror.ran_by("terraform", "1.8.0").is_empty());
    let requests = mirror.requests();
    assert!(
        requests.contains(&"/tofu/v1.7.3/tofu_1.7.3_SHA256SUMS.gpgsig".to_owned()),
        "{requests:?}"
    );
    assert!(
        requests.contains(&"/tofu/api.json".to_owned()),
        "{requests:?}"
    );
    assert!(
        ctx.data_path().join("tools/opentofu/1.7.3/tofu").is_file(),
        "cached by distribution and version"
    );
    ctx.finish().await;
}

#[tokio::test]
async fn a_downloaded_version_is_read_only_in_the_sandbox_and_first_on_run_steps_path() {
    let mut ctx = TestContext::without_bosun().await;
    let mirror = Mirror::start(ctx.state_dir.path()).await;
    mirror.add_terraform("1.5.7");
    mirror.add_terraform("1.6.2");
    ctx.set("terraform_download_url", &mirror.url);
    ctx.set(
        "terraform_signing_key_file",
        &mirror.key_file.display().to_string(),
    );
    ctx.set("allow_custom_workflows", "acme/*");
    ctx.set("allowed_overrides", "acme/infra:workflow");
    ctx.start_bosun().await;
    let tools = ctx.data_path().join("tools/terraform");
    let dir = tools.join("1.5.7");
    // 1.6.2 is planned (and cached) first; the peeking project then sees only its own version.
    let peek = format!(
        r#"  peek:
    plan:
      steps:
        - init
        - run: terraform version
        - run: echo LISTED-$(ls {tools} | tr '\n' '-')
        - run: echo MOUNT-$(awk '$5 == "{dir}" {{print $6}}' /proc/self/mountinfo)
        - plan
"#,
        tools = tools.display(),
        dir = dir.display(),
    );
    let yaml = format!(
        "version: 3\nparallel_plan: false\nprojects:\n- dir: other\n  terraform_version: 1.6.2\n\
         - dir: peek\n  terraform_version: 1.5.7\n  workflow: peek\nworkflows:\n{peek}"
    );
    ctx.push_base(&[("bosun.yaml", Some(yaml.as_str()))]);
    let (pr, _) = ctx
        .open_pr(
            "peek",
            &[
                ("other/main.tf", &module(&ctx.state_file("other"), &["a"])),
                ("peek/main.tf", &module(&ctx.state_file("peek"), &["b"])),
            ],
        )
        .await;
    ctx.settle().await;
    let check = ctx.check(pr, "bosun/plan: peek");
    let body = ctx.bot_comment(pr).body;
    assert_eq!(check.conclusion.as_deref(), Some("success"), "{body}");
    assert!(body.contains("Terraform v1.5.7"), "{body}");
    assert!(
        body.contains("LISTED-1.5.7-\n"),
        "only its own version is there: {body}"
    );
    assert!(body.contains("MOUNT-ro,"), "bound read-only: {body}");
    assert!(tools.join("1.6.2/terraform").is_file());
    ctx.finish().await;
}

#[tokio::test]
async fn a_required_version_the_servers_binary_does_not_meet_is_downloaded() {
    let mut ctx = TestContext::without_bosun().await;
    let mirror = Mirror::start(ctx.state_dir.path()).await;
    // The server's binary says it is 1.4.0 (and runs the test Terraform, 1.15.5).
    let real = std::fs::canonicalize(crate::support::terraform_bin()).unwrap();
    let old = ctx.state_dir.path().join("server-bin/terraform");
    std::fs::create_dir_all(old.parent().unwrap()).unwrap();
    std::fs::write(
        &old,
        format!(
            "#!/bin/sh\nif [ \"$1\" = version ]; then\n  if [ \"$2\" = -json ]; then echo '{{\"terraform_version\":\"1.4.0\"}}'; \
             else echo 'Terraform v1.4.0'; fi\n  exit 0\nfi\nexec {} \"$@\"\n",
            real.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();
    ctx.set("terraform_bin", &old.display().to_string());
    ctx.set("terraform_download_url", &mirror.url);
    ctx.set(
        "terraform_signing_key_file",
        &mirror.key_file.display().to_string(),
    );
    ctx.start_bosun().await;
    mirror.add_terraform("1.15.5");
    mirror.add_terraform("1.14.9");
    let code = format!(
        "terraform {{\n  required_version = \">= 1.15\"\n}}\n{}",
        module(&ctx.state_file("code"), &["a"])
    );
    let (pr, _) = ctx
        .open_pr("required", &[("code/main.tf", code.as_str())])
        .await;
    ctx.settle().await;
    let check = ctx.check(pr, "bosun/plan: code");
    assert_eq!(check.conclusion.as_deref(), Some("success"), "{check:?}");
    assert!(
        mirror
            .ran_by("terraform", "1.15.5")
            .contains(&"code plan".to_owned())
    );
    assert!(mirror.ran_by("terraform", "1.14.9").is_empty());
    ctx.finish().await;
}

#[tokio::test]
async fn a_drift_check_runs_the_projects_own_version() {
    let mut ctx = TestContext::without_bosun().await;
    let mirror = Mirror::start(ctx.state_dir.path()).await;
    mirror.add_terraform("1.5.7");
    ctx.set("terraform_download_url", &mirror.url);
    ctx.set(
        "terraform_signing_key_file",
        &mirror.key_file.display().to_string(),
    );
    let token = "versions-api-token-0123456789";
    ctx.set("api_token", token);
    ctx.start_bosun().await;
    let yaml = "version: 3\nprojects:\n- dir: envs/prod\n  terraform_version: 1.5.7\n";
    let tf = module(&ctx.state_file("prod"), &["a"]);
    ctx.push_base(&[
        ("bosun.yaml", Some(yaml)),
        ("envs/prod/main.tf", Some(tf.as_str())),
    ]);
    let reply = ctx
        .http
        .send(
            http::Method::POST,
            &ctx.url("/api/drift/acme/infra"),
            &[("authorization", format!("Bearer {token}"))],
            bytes::Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 202, "{}", reply.text());
    ctx.settle().await;
    let ran = mirror.ran_by("terraform", "1.5.7");
    assert!(ran.contains(&"prod plan".to_owned()), "{ran:?}");
    ctx.finish().await;
}
