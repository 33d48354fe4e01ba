use super::*;
use crate::config::pass_env::Stage;

const KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keys/app.pem");

fn base() -> Sources {
    let mut s = Sources::default();
    s.env.set("github_app_id", "42");
    s.env.set("github_app_key_file", KEY);
    s.env.set("github_webhook_secret", "s3cret");
    s
}

fn err(sources: &Sources) -> String {
    Settings::resolve(sources).unwrap_err().to_string()
}

#[test]
fn defaults_apply() {
    let s = Settings::resolve(&base()).unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:4141");
    assert_eq!(s.data_dir, PathBuf::from("./bosun-data"));
    assert_eq!(s.database_url.expose(), "sqlite://./bosun-data/bosun.db");
    assert_eq!(s.github.api_url, "https://api.github.com");
    assert_eq!(s.terraform_bin, "terraform");
    assert_eq!(s.command_names, vec!["bosun"]);
    assert_eq!(s.status_name, "bosun");
    assert!(s.parallelism >= 1);
    assert!(!s.repo_allowlist.allows("acme/infra"));
    assert_eq!(s.github.webhook_secrets.len(), 1);
}

#[test]
fn flag_beats_env_beats_file() {
    let mut s = base();
    s.file = Layer::from_toml(
        Path::new("b.toml"),
        "listen = \"127.0.0.1:1\"\nterraform_bin = \"tofu\"\nparallelism = 3\n",
    )
    .unwrap();
    s.env.set("listen", "127.0.0.1:2");
    s.env.set("parallelism", "5");
    s.flags.set("listen", "127.0.0.1:3");
    let r = Settings::resolve(&s).unwrap();
    assert_eq!(r.listen.port(), 3, "flag wins");
    assert_eq!(r.parallelism, 5, "env beats file");
    assert_eq!(r.terraform_bin, "tofu", "file beats default");
}

#[test]
fn missing_required_settings_are_named() {
    let mut s = base();
    s.env = Layer::default();
    assert_eq!(
        err(&s),
        "BOSUN_GITHUB_APP_ID (--github-app-id): required setting is missing"
    );
    s.env.set("github_app_id", "42");
    assert_eq!(
        err(&s),
        "BOSUN_GITHUB_APP_KEY_FILE (--github-app-key-file): required setting is missing"
    );
    s.env.set("github_app_key_file", KEY);
    assert!(err(&s).starts_with("BOSUN_GITHUB_WEBHOOK_SECRET (--github-webhook-secret): required"));
}

#[test]
fn unreadable_or_bad_files_are_named() {
    let mut s = base();
    s.env.set("github_app_key_file", "/nonexistent/key.pem");
    let e = err(&s);
    assert!(
        e.starts_with(
            "BOSUN_GITHUB_APP_KEY_FILE (--github-app-key-file): cannot read /nonexistent/key.pem"
        ),
        "{e}"
    );
    assert!(!e.contains('\n'));

    let not_a_key = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(not_a_key.path(), "hello").unwrap();
    s.env
        .set("github_app_key_file", not_a_key.path().to_str().unwrap());
    assert!(err(&s).contains("is not an RSA private key in PEM form"));

    let mut s = base();
    s.env = Layer::default();
    s.env.set("github_app_id", "42");
    s.env.set("github_app_key_file", KEY);
    s.env
        .set("github_webhook_secret_file", "/nonexistent/secret");
    assert!(err(&s).starts_with(
        "BOSUN_GITHUB_WEBHOOK_SECRET_FILE (--github-webhook-secret-file): cannot read"
    ));
}

#[test]
fn webhook_secret_from_file_one_per_line() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "new-secret\n\nold-secret\n").unwrap();
    let mut s = base();
    s.env = Layer::default();
    s.env.set("github_app_id", "42");
    s.env.set("github_app_key_file", KEY);
    s.flags
        .set("github_webhook_secret_file", file.path().to_str().unwrap());
    let r = Settings::resolve(&s).unwrap();
    let got: Vec<_> = r
        .github
        .webhook_secrets
        .iter()
        .map(|s| s.expose().to_owned())
        .collect();
    assert_eq!(got, vec!["new-secret", "old-secret"]);

    // The flag's file beats the environment's value.
    s.env.set("github_webhook_secret", "env-secret");
    let r = Settings::resolve(&s).unwrap();
    assert_eq!(r.github.webhook_secrets[0].expose(), "new-secret");

    // Both in one layer is ambiguous.
    s.flags.set("github_webhook_secret", "x");
    assert!(err(&s).contains("not both"));
}

#[test]
fn bad_values_are_named() {
    let cases = [
        (
            "listen",
            "nope",
            "BOSUN_LISTEN (--listen): `nope` is not an address",
        ),
        (
            "github_app_id",
            "abc",
            "BOSUN_GITHUB_APP_ID (--github-app-id): `abc` is not a GitHub App id",
        ),
        (
            "parallelism",
            "0",
            "BOSUN_PARALLELISM (--parallelism): must be at least 1",
        ),
        (
            "log_format",
            "xml",
            "BOSUN_LOG_FORMAT (--log-format): `xml` is not text or json",
        ),
        (
            "redelivery_interval",
            "soon",
            "BOSUN_REDELIVERY_INTERVAL (--redelivery-interval): `soon` is not a duration",
        ),
        (
            "repo_allowlist",
            "acme",
            "BOSUN_REPO_ALLOWLIST (--repo-allowlist): `acme` is not of the form owner/name",
        ),
        (
            "database_url",
            "mysql://x",
            "BOSUN_DATABASE_URL (--database-url): expected a sqlite:, postgres:// or postgresql:// URL",
        ),
        (
            "command_names",
            "bo sun",
            "BOSUN_COMMAND_NAMES (--command-names): `bo sun` may hold only",
        ),
        (
            "status_name",
            "atlantis/plan",
            "BOSUN_STATUS_NAME (--status-name): `atlantis/plan` must be a non-empty name",
        ),
        (
            "github_api_url",
            "ftp://x",
            "BOSUN_GITHUB_API_URL (--github-api-url): `ftp://x` is not an http(s) URL",
        ),
        (
            "allow_custom_workflows",
            "acme",
            "BOSUN_ALLOW_CUSTOM_WORKFLOWS (--allow-custom-workflows): `acme` is not of the form",
        ),
        (
            "allowed_overrides",
            "acme/*:repo_locking",
            "BOSUN_ALLOWED_OVERRIDES (--allowed-overrides): `repo_locking` is not a key",
        ),
        (
            "apply_requirements",
            "approved,reviewed",
            "BOSUN_APPLY_REQUIREMENTS (--apply-requirements): `reviewed` is not one of",
        ),
    ];
    for (key, value, want) in cases {
        let mut s = base();
        s.flags.set(key, value);
        let got = err(&s);
        assert!(got.starts_with(want), "{key}={value}: got {got}");
    }
}

#[test]
fn toml_file_rejects_unknown_keys_and_bad_shapes() {
    let p = Path::new("bosun.toml");
    let e = Layer::from_toml(p, "lisen = \"x\"")
        .unwrap_err()
        .to_string();
    assert_eq!(e, "--config bosun.toml: unknown key `lisen`");
    let e = Layer::from_toml(p, "listen = [1]").unwrap_err().to_string();
    assert!(e.contains("list items must be strings"), "{e}");
    let e = Layer::from_toml(p, "listen = ").unwrap_err().to_string();
    assert!(e.starts_with("--config bosun.toml: not valid TOML"), "{e}");
    let l = Layer::from_toml(p, "command_names = [\"bosun\", \"atlantis\"]").unwrap();
    let mut s = base();
    s.file = l;
    assert_eq!(
        Settings::resolve(&s).unwrap().command_names,
        vec!["bosun", "atlantis"]
    );
}

#[test]
fn secrets_do_not_print() {
    let s = Settings::resolve(&base()).unwrap();
    let debug = format!("{s:?}");
    assert!(!debug.contains("s3cret"));
    assert!(!debug.contains("PRIVATE KEY"));
}

#[test]
fn env_layer_reads_every_variable() {
    let layer = Layer::from_env(|name| (name == "BOSUN_TERRAFORM_BIN").then(|| "tofu".to_owned()));
    let mut s = base();
    s.env.0.extend(layer.0);
    assert_eq!(Settings::resolve(&s).unwrap().terraform_bin, "tofu");
}

#[test]
fn example_file_and_readme_document_every_setting() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(root.join("config/bosun.example.toml")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for d in SETTINGS {
        assert!(
            example.contains(&format!("# {} =", d.key))
                || example.contains(&format!("{} =", d.key)),
            "example lacks {}",
            d.key
        );
        assert!(readme.contains(d.env), "README lacks {}", d.env);
    }
    // The example, uncommented, is a valid settings file.
    let uncommented: String = example
        .lines()
        .filter_map(|l| {
            l.strip_prefix("# ").filter(|l| {
                SETTINGS
                    .iter()
                    .any(|d| l.starts_with(&format!("{} =", d.key)))
            })
        })
        .collect::<Vec<_>>()
        .join("\n");
    Layer::from_toml(Path::new("example"), &uncommented).unwrap();
}

#[test]
fn a_postgres_url_selects_postgres_only_with_a_planfile_key_and_never_prints() {
    let url = "postgres://bosun:pg-pass-4f9d2c@db.internal:5432/bosun";
    let mut src = base();
    src.env.set("database_url", url);
    let e = err(&src);
    assert!(
        e.starts_with(
            "BOSUN_PLANFILE_KEY (--planfile-key): a PostgreSQL store needs the planfile key"
        ),
        "{e}"
    );
    assert!(e.contains("every replica must open the planfiles"), "{e}");
    assert!(!e.contains("pg-pass"), "{e}");
    src.env.set("planfile_key", "ab".repeat(32).as_str());
    let s = Settings::resolve(&src).unwrap();
    assert_eq!(s.database_url.expose(), url);
    assert!(!format!("{s:?}").contains("pg-pass"), "Debug hides the URL");
    assert!(
        s.secrets()
            .iter()
            .any(|(_, v)| v.expose() == "pg-pass-4f9d2c"),
        "the password is redacted from what bosun writes"
    );
    let mut src = base();
    src.env.set("database_url", "postgresql://h/db");
    src.env.set("planfile_key", "ab".repeat(32).as_str());
    assert!(Settings::resolve(&src).is_ok(), "postgresql:// too");
    let mut src = base();
    src.env.set("database_url", "mysql://u:pg-pass-4f9d2c@h/db");
    assert!(!err(&src).contains("pg-pass"));
}

#[test]
fn planfile_key_comes_from_the_value_the_file_or_the_data_dir() {
    let s = Settings::resolve(&base()).unwrap();
    assert_eq!(
        s.planfile_key,
        PlanfileKey::File(PathBuf::from("./bosun-data/planfile.key"))
    );
    let key = "ab".repeat(32);
    let mut src = base();
    src.env.set("planfile_key", key.as_str());
    assert_eq!(
        Settings::resolve(&src).unwrap().planfile_key,
        PlanfileKey::Given(Secret::new(key.clone()))
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("k");
    std::fs::write(&file, format!("{key}\n")).unwrap();
    src.env.set("planfile_key_file", file.display().to_string());
    assert_eq!(
        err(&src),
        "BOSUN_PLANFILE_KEY (--planfile-key): set either the key or its _FILE form, not both"
    );
    src.flags
        .set("planfile_key_file", file.display().to_string());
    assert_eq!(
        Settings::resolve(&src).unwrap().planfile_key,
        PlanfileKey::Given(Secret::new(key)),
        "the flag's file beats the environment's value"
    );
    let mut src = base();
    src.env.set("planfile_key", "too short");
    let e = err(&src);
    assert!(
        e.starts_with("BOSUN_PLANFILE_KEY (--planfile-key): expected 32 bytes"),
        "{e}"
    );
    assert!(!e.contains("too short"), "the key is not echoed: {e}");
}

#[test]
fn pass_env_takes_named_variables_as_secrets() {
    let mut src = base();
    src.env
        .set("terraform_pass_env", "AWS_SECRET_ACCESS_KEY, TF_VAR_token");
    assert_eq!(
        err(&src),
        "BOSUN_TERRAFORM_PASS_ENV (--terraform-pass-env): `AWS_SECRET_ACCESS_KEY` is not set in bosun's environment"
    );
    src.pass_env
        .insert("AWS_SECRET_ACCESS_KEY".into(), "aws-secret-value".into());
    src.pass_env
        .insert("TF_VAR_token".into(), "tf-token-value".into());
    let s = Settings::resolve(&src).unwrap();
    let both = vec![
        ("AWS_SECRET_ACCESS_KEY".into(), "aws-secret-value".into()),
        ("TF_VAR_token".into(), "tf-token-value".into()),
    ];
    assert_eq!(s.terraform_env.of("acme/infra", Stage::Plan), both);
    assert_eq!(s.terraform_env.of("acme/infra", Stage::Apply), both);
    let secrets: Vec<String> = s
        .secrets()
        .iter()
        .map(|(_, v)| v.expose().to_owned())
        .collect();
    assert!(secrets.contains(&"aws-secret-value".to_owned()));
    assert!(secrets.contains(&"tf-token-value".to_owned()));
    assert!(secrets.contains(&"s3cret".to_owned()));
    assert!(secrets.iter().any(|s| s.contains("PRIVATE KEY")));
    for bad in ["BOSUN_GITHUB_WEBHOOK_SECRET", "1X", "A-B"] {
        src.env.set("terraform_pass_env", bad);
        assert!(err(&src).contains(&format!("`{bad}`")), "{bad}");
    }
}

#[test]
fn plans_and_applies_get_their_own_variables_when_set() {
    let mut src = base();
    for (name, value) in [
        ("SHARED", "shared-value-1"),
        ("RO_KEY", "read-only-key-1"),
        ("RW_KEY", "read-write-key-1"),
    ] {
        src.pass_env.insert(name.into(), value.into());
    }
    src.env.set("terraform_pass_env", "SHARED");
    src.env
        .set("terraform_plan_pass_env", "acme/*:AWS_ACCESS_KEY_ID=RO_KEY");
    let s = Settings::resolve(&src).unwrap();
    let plan = s.terraform_env.of("acme/infra", Stage::Plan);
    assert_eq!(
        plan,
        [("AWS_ACCESS_KEY_ID".into(), "read-only-key-1".into())]
    );
    assert!(s.terraform_env.of("other/infra", Stage::Plan).is_empty());
    let apply = s.terraform_env.of("acme/infra", Stage::Apply);
    assert_eq!(apply, [("SHARED".into(), "shared-value-1".into())]);

    src.env
        .set("terraform_apply_pass_env", "AWS_ACCESS_KEY_ID=RW_KEY");
    let s = Settings::resolve(&src).unwrap();
    let apply = s.terraform_env.of("acme/infra", Stage::Apply);
    assert_eq!(
        apply,
        [("AWS_ACCESS_KEY_ID".into(), "read-write-key-1".into())]
    );
    let secrets: Vec<String> = s
        .secrets()
        .iter()
        .map(|(_, v)| v.expose().to_owned())
        .collect();
    assert!(secrets.contains(&"read-only-key-1".to_owned()));
    assert!(secrets.contains(&"read-write-key-1".to_owned()));
    let mut names = src.pass_env_names();
    names.sort();
    assert_eq!(names, ["RO_KEY", "RW_KEY", "SHARED"]);

    src.env
        .set("terraform_apply_pass_env", "AWS_ACCESS_KEY_ID=MISSING");
    assert_eq!(
        err(&src),
        "BOSUN_TERRAFORM_APPLY_PASS_ENV (--terraform-apply-pass-env): `MISSING` is not set in bosun's environment"
    );
    src.env.set("terraform_apply_pass_env", "acme:X");
    assert!(err(&src).contains("owner/name"), "{}", err(&src));
}

#[test]
fn the_database_password_is_a_secret() {
    assert_eq!(
        secrets::url_password("postgres://bosun:pa%40ss@db:5432/bosun"),
        Some("pa%40ss")
    );
    assert_eq!(secrets::url_password("postgres://bosun@db/bosun"), None);
    assert_eq!(secrets::url_password("sqlite:///var/lib/bosun.db"), None);
    assert_eq!(secrets::url_password("sqlite://./x@y:z/b.db"), None);
}

#[test]
fn drift_settings_are_unset_by_default() {
    let s = Settings::resolve(&base()).unwrap();
    assert!(s.drift_schedule.is_none());
    assert!(s.api_token.is_none());
    assert!(s.notify_url.is_none());
}

#[test]
fn drift_schedule_is_parsed_and_a_bad_one_names_the_field() {
    let mut s = base();
    s.env.set("drift_schedule", " 0 6 * * mon-fri ");
    let r = Settings::resolve(&s).unwrap();
    assert_eq!(r.drift_schedule.unwrap().to_string(), "0 6 * * mon-fri");
    s.env.set("drift_schedule", "0 25 * * *");
    assert_eq!(
        err(&s),
        "BOSUN_DRIFT_SCHEDULE (--drift-schedule): hour field: 25 is out of range 0-23"
    );
    s.env.set("drift_schedule", "   ");
    assert!(Settings::resolve(&s).unwrap().drift_schedule.is_none());
}

#[test]
fn drift_schedule_timezone_is_an_iana_name_and_a_bad_one_stops_start() {
    let mut s = base();
    s.env.set("drift_schedule", "0 9 * * mon-fri");
    s.env.set("drift_schedule_timezone", " Europe/Berlin ");
    let r = Settings::resolve(&s).unwrap();
    assert_eq!(
        r.drift_schedule.unwrap().to_string(),
        "0 9 * * mon-fri (Europe/Berlin)"
    );
    s.env.set("drift_schedule_timezone", "Europe/Atlantis");
    assert_eq!(
        err(&s),
        "BOSUN_DRIFT_SCHEDULE_TIMEZONE (--drift-schedule-timezone): \"Europe/Atlantis\" \
         is not an IANA time zone name (e.g. UTC, Europe/Berlin)"
    );
    // Checked even without a schedule.
    s.env.set("drift_schedule", "");
    assert!(err(&s).starts_with("BOSUN_DRIFT_SCHEDULE_TIMEZONE"));
    s.env.set("drift_schedule_timezone", "UTC");
    assert!(Settings::resolve(&s).unwrap().drift_schedule.is_none());
}

#[test]
fn api_token_is_a_long_enough_secret() {
    let mut s = base();
    s.env.set("api_token", "short-t0ken");
    let e = err(&s);
    assert!(
        e.starts_with("BOSUN_API_TOKEN (--api-token): must be at least 16 characters"),
        "{e}"
    );
    assert!(!e.contains("short-t0ken"), "{e}");
    s.env.set("api_token", "a-long-enough-api-t0ken");
    let r = Settings::resolve(&s).unwrap();
    assert_eq!(
        r.api_token.as_ref().unwrap().expose(),
        "a-long-enough-api-t0ken"
    );
    assert!(!format!("{r:?}").contains("api-t0ken"));
    assert!(
        r.secrets()
            .iter()
            .any(|(what, v)| what == "the API token" && v.expose() == "a-long-enough-api-t0ken")
    );
}

#[test]
fn drift_notify_url_is_a_checked_secret() {
    let mut s = base();
    s.env
        .set("drift_notify_url", "ftp://hooks.example/services/s3cr3t");
    let e = err(&s);
    assert_eq!(
        e,
        "BOSUN_DRIFT_NOTIFY_URL (--drift-notify-url): the notification URL must start with http:// or https://"
    );
    let url = "https://hooks.example/services/T0/B0/s3cr3t";
    s.env.set("drift_notify_url", url);
    let r = Settings::resolve(&s).unwrap();
    assert_eq!(r.notify_url.as_ref().unwrap().expose(), url);
    assert!(!format!("{r:?}").contains("s3cr3t"));
    assert!(
        r.secrets()
            .iter()
            .any(|(what, v)| what == "the notification URL" && v.expose() == url)
    );
}

#[test]
fn api_token_can_come_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "a-long-enough-api-t0ken-from-a-file\n").unwrap();
    let mut s = base();
    s.env.set("api_token_file", path.display().to_string());
    let r = Settings::resolve(&s).unwrap();
    assert_eq!(
        r.api_token.as_ref().unwrap().expose(),
        "a-long-enough-api-t0ken-from-a-file"
    );
    s.env.set("api_token", "a-long-enough-api-t0ken");
    let e = err(&s);
    assert!(e.contains("not both"), "{e}");
    s.env.0.remove("api_token");
    s.env.set("api_token_file", "/nonexistent/token");
    let e = err(&s);
    assert!(e.starts_with("BOSUN_API_TOKEN_FILE"), "{e}");
}

#[test]
fn blocked_extra_args_replace_atlantis_list() {
    let s = Settings::resolve(&base()).unwrap();
    assert_eq!(
        s.blocked_extra_args,
        vec!["-chdir", "--chdir", "-plugin-dir", "--plugin-dir"]
    );
    let mut s = base();
    s.env.set("blocked_extra_args", "-no-color, --no-color");
    assert_eq!(
        Settings::resolve(&s).unwrap().blocked_extra_args,
        vec!["-no-color", "--no-color"]
    );
    let mut s = base();
    s.env.set("blocked_extra_args", "");
    assert!(Settings::resolve(&s).unwrap().blocked_extra_args.is_empty());
    let mut s = base();
    s.env.set("blocked_extra_args", "-chdir,chdir");
    assert_eq!(
        err(&s),
        "BOSUN_BLOCKED_EXTRA_ARGS (--blocked-extra-args): `chdir` is not a flag (it must start with -)"
    );
}

#[test]
fn the_repo_config_file_is_a_relative_path_inside_the_repository() {
    assert_eq!(Settings::resolve(&base()).unwrap().repo_config_file, None);
    let mut s = base();
    s.env.set("repo_config_file", "ci/atlantis.yaml");
    assert_eq!(
        Settings::resolve(&s).unwrap().repo_config_file.as_deref(),
        Some("ci/atlantis.yaml")
    );
    for bad in ["/etc/passwd", "../other/atlantis.yaml", "ci//a.yaml"] {
        let mut s = base();
        s.env.set("repo_config_file", bad);
        assert_eq!(
            err(&s),
            format!(
                "BOSUN_REPO_CONFIG_FILE (--repo-config-file): `{bad}` is not a relative path \
                 inside the repository"
            )
        );
    }
}

#[test]
fn allow_commands_and_disable_autoplan_read_as_atlantis_flags() {
    use crate::command::CommandKind;
    let s = Settings::resolve(&base()).unwrap();
    assert_eq!(
        s.allow_commands,
        vec![
            CommandKind::Version,
            CommandKind::Plan,
            CommandKind::Apply,
            CommandKind::Unlock,
            CommandKind::ApprovePolicies
        ]
    );
    assert!(!s.disable_autoplan);
    assert!(!s.autoplan_modules);
    let mut src = base();
    src.env.set("allow_commands", "plan, Import");
    src.env.set("disable_autoplan", "true");
    src.env.set("autoplan_modules", "true");
    let s = Settings::resolve(&src).unwrap();
    assert_eq!(
        s.allow_commands,
        vec![CommandKind::Plan, CommandKind::Import]
    );
    assert!(s.disable_autoplan);
    assert!(s.autoplan_modules);
    src.env.set("allow_commands", "plan,destroy");
    let e = err(&src);
    assert!(e.starts_with("BOSUN_ALLOW_COMMANDS"), "{e}");
    assert!(
        e.contains("`destroy` is not all or one of plan, apply"),
        "{e}"
    );
}

#[test]
fn public_url_is_an_http_url_kept_without_its_trailing_slash() {
    let mut s = base();
    assert!(Settings::resolve(&s).unwrap().public_url.is_none());
    s.env.set("public_url", "https://bosun.example.com/ci/");
    assert_eq!(
        Settings::resolve(&s).unwrap().public_url.as_deref(),
        Some("https://bosun.example.com/ci")
    );
    for (bad, why) in [
        (
            "ftp://bosun.example.com",
            "must start with http:// or https://",
        ),
        (
            "https://bosun.example.com/?a=b",
            "may not have a query or a fragment",
        ),
        (
            "https://user:pw@bosun.example.com",
            "may not carry a user name or password",
        ),
        ("bosun.example.com", "not a URL"),
    ] {
        s.env.set("public_url", bad);
        let e = err(&s);
        assert!(
            e.starts_with("BOSUN_PUBLIC_URL (--public-url): ") && e.contains(why),
            "{bad}: {e}"
        );
        assert!(!e.contains("pw@"), "{e}");
    }
}

#[test]
fn sign_in_settings_resolve_and_the_client_secret_is_redacted() {
    let mut s = base();
    s.env.set("github_oauth_client_id", "Iv1.abc");
    s.env.set(
        "github_oauth_client_secret",
        "oauth-client-s3cret-0123456789",
    );
    let e = err(&s);
    assert!(e.starts_with("BOSUN_PUBLIC_URL"), "{e}");
    s.env.set("public_url", "https://bosun.example.com");
    let r = Settings::resolve(&s).unwrap();
    let oauth = r.oauth.as_ref().unwrap();
    assert_eq!(oauth.web_url, "https://github.com");
    assert!(!format!("{r:?}").contains("oauth-client-s3cret"));
    assert!(
        r.secrets()
            .iter()
            .any(|(what, v)| what == "the OAuth client secret"
                && v.expose() == "oauth-client-s3cret-0123456789")
    );
}

#[test]
fn apply_lock_admins_are_logins_and_need_sign_in() {
    let mut s = base();
    s.env.set("apply_lock_admins", "Alice, bob-2,alice");
    let e = err(&s);
    assert!(
        e.starts_with("BOSUN_APPLY_LOCK_ADMINS (--apply-lock-admins): ")
            && e.contains("sign-in with GitHub is off"),
        "{e}"
    );
    s.env.set("github_oauth_client_id", "Iv1.abc");
    s.env.set(
        "github_oauth_client_secret",
        "oauth-client-s3cret-0123456789",
    );
    s.env.set("public_url", "https://bosun.example.com");
    let r = Settings::resolve(&s).unwrap();
    let oauth = r.oauth.as_ref().unwrap();
    assert_eq!(oauth.apply_lock_admins, vec!["alice", "bob-2"]);
    for bad in ["al ice", "-alice", "alice[bot]", &"a".repeat(40)] {
        s.env.set("apply_lock_admins", bad);
        let e = err(&s);
        assert!(
            e.starts_with("BOSUN_APPLY_LOCK_ADMINS") && e.contains("is not a GitHub login"),
            "{bad}: {e}"
        );
    }
    // Without it, nobody who signs in may.
    s.env.set("apply_lock_admins", "");
    let r = Settings::resolve(&s).unwrap();
    assert!(r.oauth.unwrap().apply_lock_admins.is_empty());
}

#[test]
fn notify_url_has_its_older_name_as_an_alias() {
    let old = "https://hooks.example/services/T0/B0/0ld-s3cr3t";
    let new = "https://hooks.example/services/T0/B0/n3w-s3cr3t";
    let mut s = base();
    s.env.set("drift_notify_url", old);
    assert_eq!(
        Settings::resolve(&s).unwrap().notify_url.unwrap().expose(),
        old
    );
    // Both, the same: fine.
    s.env.set("notify_url", old);
    assert_eq!(
        Settings::resolve(&s).unwrap().notify_url.unwrap().expose(),
        old
    );
    // Both, different: an error naming both, quoting neither.
    s.env.set("notify_url", new);
    let e = err(&s);
    assert!(
        e.starts_with(
            "BOSUN_NOTIFY_URL (--notify-url): BOSUN_DRIFT_NOTIFY_URL (--drift-notify-url)"
        ),
        "{e}"
    );
    assert!(!e.contains("s3cr3t"), "{e}");
    // The new name alone, and its check names it.
    let mut s = base();
    s.env.set("notify_url", new);
    assert_eq!(
        Settings::resolve(&s).unwrap().notify_url.unwrap().expose(),
        new
    );
    s.env.set("notify_url", "hooks.example/n3w-s3cr3t");
    let e = err(&s);
    assert!(e.starts_with("BOSUN_NOTIFY_URL (--notify-url): "), "{e}");
    assert!(!e.contains("s3cr3t"), "{e}");
}

#[test]
fn notify_kinds_and_lock_age_are_checked() {
    use crate::notify::Kind;
    let mut s = base();
    let r = Settings::resolve(&s).unwrap();
    assert!(Kind::ALL.iter().all(|k| r.notify_kinds.contains(*k)));
    assert_eq!(r.notify_lock_age, std::time::Duration::from_secs(24 * 3600));
    s.env.set("notify_kinds", "applied,lock_held");
    s.env.set("notify_lock_age", "90m");
    let r = Settings::resolve(&s).unwrap();
    assert!(r.notify_kinds.contains(Kind::LockHeld) && !r.notify_kinds.contains(Kind::Drift));
    assert_eq!(r.notify_lock_age, std::time::Duration::from_secs(90 * 60));
    s.env.set("notify_kinds", "applied,drfit");
    assert!(
        err(&s).starts_with("BOSUN_NOTIFY_KINDS (--notify-kinds): unknown kind `drfit`"),
        "{}",
        err(&s)
    );
    s.env.set("notify_kinds", "");
    s.env.set("notify_lock_age", "0s");
    assert_eq!(
        err(&s),
        "BOSUN_NOTIFY_LOCK_AGE (--notify-lock-age): must be more than 0"
    );
}

#[test]
fn audit_retention_is_unset_or_a_duration_above_zero() {
    let mut s = base();
    assert_eq!(Settings::resolve(&s).unwrap().audit_retention, None);
    s.env.set("audit_retention", "400d");
    assert_eq!(
        Settings::resolve(&s).unwrap().audit_retention,
        Some(Duration::from_secs(400 * 24 * 3600))
    );
    for (bad, why) in [("0s", "above zero"), ("soon", "not a duration")] {
        s.env.set("audit_retention", bad);
        let e = err(&s);
        assert!(
            e.starts_with("BOSUN_AUDIT_RETENTION (--audit-retention): ") && e.contains(why),
            "{bad}: {e}"
        );
    }
}
