use super::*;
use proptest::prelude::*;

fn names() -> Vec<String> {
    vec!["bosun".into(), "atlantis".into()]
}

fn p(comment: &str) -> Parsed {
    parse(comment, &names(), "bosun-app")
}

fn cmd(comment: &str) -> Command {
    match p(comment) {
        Parsed::Command(c) => c,
        other => panic!("{comment:?}: {other:?}"),
    }
}

fn err(comment: &str) -> String {
    match p(comment) {
        Parsed::Error(e) => e.to_string(),
        other => panic!("{comment:?}: {other:?}"),
    }
}

fn plan() -> Command {
    Command::new(CommandKind::Plan)
}

#[test]
fn commands() {
    let cases: Vec<(&str, Command)> = vec![
        ("bosun plan", plan()),
        ("  bosun   plan  ", plan()),
        ("Bosun PLAN", plan()),
        ("atlantis plan", plan()),
        ("@bosun-app plan", plan()),
        ("@BOSUN-APP plan", plan()),
        ("\n\nbosun plan", plan()),
        ("bosun plan\n\n", plan()),
        ("bosun plan\r\n", plan()),
        ("`bosun plan`", plan()),
        ("  `  bosun plan  `", plan()),
        ("run plan", plan()),
        ("RUN plan", plan()),
        (
            "bosun plan -d /",
            Command {
                dirs: vec![".".into()],
                ..plan()
            },
        ),
        (
            "bosun plan -d /etc",
            Command {
                dirs: vec!["etc".into()],
                ..plan()
            },
        ),
        (
            "bosun plan -d './modules/*'",
            Command {
                dirs: vec!["modules/*".into()],
                ..plan()
            },
        ),
        (
            "bosun plan -d 'env[0-9]/**'",
            Command {
                dirs: vec!["env[0-9]/**".into()],
                ..plan()
            },
        ),
        (
            "bosun plan -w a&&b",
            Command {
                workspace: Some("a&&b".into()),
                ..plan()
            },
        ),
        (
            "bosun plan -w .hidden",
            Command {
                workspace: Some(".hidden".into()),
                ..plan()
            },
        ),
        (
            "bosun plan -- -chdir-like=1 -plugin-directory",
            Command {
                extra_args: vec!["-chdir-like=1".into(), "-plugin-directory".into()],
                ..plan()
            },
        ),
        (
            "bosun plan -d envs/prod",
            Command {
                dirs: vec!["envs/prod".into()],
                ..plan()
            },
        ),
        (
            "bosun plan -d ./envs/prod/",
            Command {
                dirs: vec!["envs/prod".into()],
                ..plan()
            },
        ),
        (
            "bosun plan -d envs/../modules",
            Command {
                dirs: vec!["modules".into()],
                ..plan()
            },
        ),
        (
            "bosun plan -d .",
            Command {
                dirs: vec![".".into()],
                ..plan()
            },
        ),
        (
            "bosun plan --dir=a -d=b",
            Command {
                dirs: vec!["a".into(), "b".into()],
                ..plan()
            },
        ),
        (
            "bosun plan -d a -d b -d a",
            Command {
                dirs: vec!["a".into(), "b".into(), "a".into()],
                ..plan()
            },
        ),
        (
            "bosun plan -d 'my dir'",
            Command {
                dirs: vec!["my dir".into()],
                ..plan()
            },
        ),
        (
            "bosun plan -d \"my dir\"",
            Command {
                dirs: vec!["my dir".into()],
                ..plan()
            },
        ),
        (
            "bosun plan -d my\\ dir",
            Command {
                dirs: vec!["my dir".into()],
                ..plan()
            },
        ),
        (
            "bosun plan -w staging",
            Command {
                workspace: Some("staging".into()),
                ..plan()
            },
        ),
        (
            "bosun plan -d a -w prod-eu.1",
            Command {
                dirs: vec!["a".into()],
                workspace: Some("prod-eu.1".into()),
                ..plan()
            },
        ),
        (
            "bosun plan -p app -p db",
            Command {
                projects: vec!["app".into(), "db".into()],
                ..plan()
            },
        ),
        (
            "bosun plan --verbose",
            Command {
                verbose: true,
                ..plan()
            },
        ),
        (
            "bosun plan -- -var x=y",
            Command {
                extra_args: vec!["-var".into(), "x=y".into()],
                ..plan()
            },
        ),
        (
            "bosun plan -d a -- -var 'msg=hello world' -target=x",
            Command {
                dirs: vec!["a".into()],
                extra_args: vec!["-var".into(), "msg=hello world".into(), "-target=x".into()],
                ..plan()
            },
        ),
        ("bosun plan --", plan()),
        (
            "bosun apply",
            Command {
                kind: CommandKind::Apply,
                ..plan()
            },
        ),
        (
            "bosun apply -p app",
            Command {
                kind: CommandKind::Apply,
                projects: vec!["app".into()],
                ..plan()
            },
        ),
        (
            "bosun unlock -d a",
            Command {
                kind: CommandKind::Unlock,
                dirs: vec!["a".into()],
                ..plan()
            },
        ),
        (
            "bosun help",
            Command {
                kind: CommandKind::Help,
                ..plan()
            },
        ),
        (
            "bosun",
            Command {
                kind: CommandKind::Help,
                ..plan()
            },
        ),
        (
            "@bosun-app --help",
            Command {
                kind: CommandKind::Help,
                ..plan()
            },
        ),
        (
            "bosun -h",
            Command {
                kind: CommandKind::Help,
                ..plan()
            },
        ),
        (
            "bosun help plan -x",
            Command {
                kind: CommandKind::Help,
                ..plan()
            },
        ),
        (
            "bosun version",
            Command {
                kind: CommandKind::Version,
                ..plan()
            },
        ),
    ];
    for (comment, want) in cases {
        assert_eq!(cmd(comment), want, "{comment:?}");
    }
}

#[test]
fn not_commands() {
    for comment in [
        "",
        "   ",
        "LGTM",
        "please bosun plan",
        "bosunplan",
        "> bosun plan",
        "```\nbosun plan\n```",
        "bosun plan\nthanks!",
        "bosun plan\r\n\r\nthanks!",
        "@someone-else plan",
        "@bosun plan",
        "running late",
        // Near misses are guessed at only for the name `atlantis`.
        "bosn plan",
        "bonus: tests pass",
    ] {
        assert_eq!(p(comment), Parsed::NotACommand, "{comment:?}");
    }
}

#[test]
fn usage_and_wrong_names() {
    assert_eq!(p("bosun plan -h"), Parsed::Usage(CommandKind::Plan));
    assert_eq!(
        p("bosun apply -d a --help"),
        Parsed::Usage(CommandKind::Apply)
    );
    for (comment, given, name) in [
        ("terraform plan", "terraform", "bosun"),
        ("Terraform", "terraform", "bosun"),
        ("atlantsi plan", "atlantsi", "atlantis"),
        ("Atlantis: please plan", "atlantis:", "atlantis"),
    ] {
        assert_eq!(
            p(comment),
            Parsed::WrongName {
                given: given.into(),
                name: name.into()
            },
            "{comment:?}"
        );
    }
    // A name of its own gets no guesses, and `terraform` as a name is a name.
    let custom = ["atlantis-sec".to_owned()];
    assert_eq!(parse("atlantis-dev plan", &custom, ""), Parsed::NotACommand);
    let terraform = ["terraform".to_owned()];
    assert!(matches!(
        parse("terraform plan", &terraform, ""),
        Parsed::Command(_)
    ));
}

#[test]
fn apply_takes_the_auto_merge_flags() {
    use crate::github::MergeMethod;
    assert_eq!(
        cmd("bosun apply --auto-merge-disabled"),
        Command {
            kind: CommandKind::Apply,
            auto_merge_disabled: true,
            ..plan()
        }
    );
    assert_eq!(
        cmd("bosun apply -d a --auto-merge-method squash"),
        Command {
            kind: CommandKind::Apply,
            dirs: vec!["a".into()],
            auto_merge_method: Some(MergeMethod::Squash),
            ..plan()
        }
    );
    assert_eq!(
        cmd("bosun apply --auto-merge-method=rebase").auto_merge_method,
        Some(MergeMethod::Rebase)
    );
    for (comment, want) in [
        (
            "bosun plan --auto-merge-disabled",
            "unknown flag `--auto-merge-disabled` (only `apply` takes it)",
        ),
        (
            "bosun apply --auto-merge-method fast-forward",
            "`--auto-merge-method fast-forward` is not merge, squash or rebase",
        ),
        (
            "bosun apply --auto-merge-disabled --auto-merge-method squash",
            "use either `--auto-merge-disabled` or `--auto-merge-method`, not both",
        ),
        (
            "bosun apply --auto-merge-method",
            "flag `--auto-merge-method` needs a value",
        ),
    ] {
        assert_eq!(err(comment), want, "{comment:?}");
    }
}

#[test]
fn blocked_extra_args() {
    for comment in [
        "bosun plan -- -chdir=../other",
        "bosun plan -- --chdir",
        "bosun plan -- -var x=1 -plugin-dir=/tmp/evil",
    ] {
        assert_eq!(
            err(comment).split(" (").next(),
            Some(
                format!(
                    "flag `{}` is not allowed in extra arguments",
                    comment.rsplit(' ').next().unwrap()
                )
                .as_str()
            ),
            "{comment:?}"
        );
    }
    // The setting replaces the list.
    let names = names();
    let own = ["-no-color".to_owned()];
    assert!(matches!(
        parse_with("bosun plan -- -chdir=x", &names, "", &own),
        Parsed::Command(_)
    ));
    assert!(matches!(
        parse_with("bosun plan -- -no-color", &names, "", &own),
        Parsed::Error(_)
    ));
}

#[test]
fn errors_say_what_was_wrong() {
    let cases = [
        (
            "bosun plna",
            "unknown command `plna` (did you mean `plan`?)",
        ),
        (
            "bosun aply",
            "unknown command `aply` (did you mean `apply`?)",
        ),
        ("bosun destroy", "unknown command `destroy`"),
        (
            "bosun plan --dri a",
            "unknown flag `--dri` (did you mean `--dir`?)",
        ),
        ("bosun plan -x", "unknown flag `-x`"),
        ("bosun plan -d", "flag `-d` needs a value"),
        ("bosun plan -d -- -var x=1", "flag `-d` needs a value"),
        (
            "bosun plan --verbose=yes",
            "flag `--verbose` takes no value",
        ),
        (
            "bosun plan -d ../other",
            "`-d ../other` leaves the repository",
        ),
        (
            "bosun plan -d a/../../x",
            "`-d a/../../x` leaves the repository",
        ),
        (
            "bosun plan -d '../*'",
            "`-d ../*`: `..` in a glob pattern is not allowed",
        ),
        (
            "bosun plan -d 'modules/[invalid'",
            "`-d modules/[invalid` is not a valid glob pattern",
        ),
        ("bosun plan -w ../x", "`-w ../x` is not a workspace name"),
        (
            "bosun plan -w ~root",
            "`-w ~root` is not a workspace name: it starts with `~`",
        ),
        (
            "bosun plan -w -x",
            "`-w -x` is not a workspace name: it starts with `-`",
        ),
        (
            "bosun plan -w=-x",
            "`-w -x` is not a workspace name: it starts with `-`",
        ),
        (
            "bosun plan -w a$HOME",
            "`-w a$HOME` is not a workspace name: it contains `$`",
        ),
        (
            "bosun plan -w abc..",
            "`-w abc..` is not a workspace name: it contains `..`",
        ),
        (
            "bosun plan -w .",
            "`-w .` is not a workspace name: it is `.`",
        ),
        (
            "bosun plan -w 'a;rm -rf /'",
            "`-w a;rm -rf /` is not a workspace name",
        ),
        ("bosun plan -w a/b", "`-w a/b` is not a workspace name"),
        ("bosun plan -w $(id)", "`-w $(id)` is not a workspace name"),
        ("bosun plan -w a -w b", "`-w` may be given once"),
        (
            "bosun plan -p app -d a",
            "use either `-p` or `-d`/`-w`, not both",
        ),
        (
            "bosun plan envs/prod",
            "unknown argument(s) `envs/prod` (extra Terraform arguments go after `--`)",
        ),
        (
            "bosun plan -d . arg -w kjj arg2",
            "unknown argument(s) `arg arg2`",
        ),
        ("bosun plan -d 'unterminated", "unterminated single quote"),
        ("bosun plan -d \"unterminated", "unterminated double quote"),
        ("bosun plan \\", "a trailing backslash escapes nothing"),
        ("bosun version -d a", "`version` takes no flags"),
        (
            "bosun unlock -- -var x=1",
            "`unlock` takes no Terraform arguments",
        ),
        (
            "bosun apply -- -auto-approve",
            "`apply` takes no Terraform arguments",
        ),
    ];
    for (comment, want) in cases {
        let got = err(comment);
        assert!(
            got.starts_with(want),
            "{comment:?}: got {got:?}, want {want:?}"
        );
    }
}

#[test]
fn usage_names_every_command_and_flag() {
    let u = usage("bosun");
    for word in [
        "plan",
        "apply",
        "unlock",
        "help",
        "version",
        "--dir",
        "--workspace",
        "--project",
        "--verbose",
        "--auto-merge-disabled",
        "--auto-merge-method",
        "-- ",
    ] {
        assert!(u.contains(word), "{word}");
    }
}

#[test]
fn quoting_like_a_shell() {
    assert_eq!(
        split_words(r#"a 'b c' "d \"e\"" f\ g "\$x" 'it''s'"#).unwrap(),
        vec!["a", "b c", "d \"e\"", "f g", "$x", "its"]
    );
    assert_eq!(split_words("  ").unwrap(), Vec::<String>::new());
    assert_eq!(split_words("''").unwrap(), vec![""]);
}

proptest! {
    #[test]
    fn no_input_panics(comment in ".{0,200}") {
        let _ = p(&comment);
        let _ = p(&format!("bosun {comment}"));
        let _ = p(&format!("bosun plan {comment}"));
    }

    #[test]
    fn accepted_dirs_never_leave_the_repo(parts in proptest::collection::vec(prop_oneof![Just("..".to_string()), Just(".".to_string()), "[a-z]{1,4}"], 0..8)) {
        let dir = parts.join("/");
        if let Parsed::Command(c) = p(&format!("bosun plan -d '{dir}'")) {
            for d in c.dirs {
                prop_assert!(!d.starts_with('/') && !d.split('/').any(|s| s == ".."), "{}", d);
            }
        }
    }

    #[test]
    fn accepted_workspaces_are_safe_names(ws in ".{0,20}") {
        if let Parsed::Command(Command { workspace: Some(w), .. }) =
            p(&format!("bosun plan -w '{}'", ws.replace('\'', "")))
        {
            let w = w.as_str();
            prop_assert!(!w.contains(['/', '\\', '$']) && !w.contains(".."), "{}", w);
            prop_assert!(!w.starts_with(['-', '~']) && w != ".", "{}", w);
            prop_assert!(!w.chars().any(|c| c.is_whitespace() || c.is_control()), "{}", w);
        }
    }
}

#[test]
fn flags_select_projects() {
    let t = |dir: &str, ws: &str, name: Option<&str>| crate::plan::Target {
        dir: dir.into(),
        workspace: ws.into(),
        name: name.map(str::to_owned),
    };
    let cmd = |text: &str| match parse(text, &["bosun".to_owned()], "") {
        Parsed::Command(c) => c,
        other => panic!("{text}: {other:?}"),
    };
    let prod = t("envs/prod", "default", Some("prod"));
    let blue = t("envs/prod", "blue", None);
    let dev = t("envs/dev", "default", None);
    let all = cmd("bosun apply");
    assert!(all.names_none());
    assert!([&prod, &blue, &dev].iter().all(|t| all.selects(t)));
    let by_dir = cmd("bosun apply -d envs/prod");
    assert!(by_dir.selects(&prod) && !by_dir.selects(&blue) && !by_dir.selects(&dev));
    let by_ws = cmd("bosun apply -d envs/prod -w blue");
    assert!(!by_ws.selects(&prod) && by_ws.selects(&blue));
    // `-w` alone is `-d . -w`, as in Atlantis.
    let ws_only = cmd("bosun unlock -w blue");
    let root_blue = t(".", "blue", None);
    assert!(ws_only.selects(&root_blue) && !ws_only.names_none());
    assert!(!ws_only.selects(&blue) && !ws_only.selects(&dev));
    let by_name = cmd("bosun apply -p prod");
    assert!(by_name.selects(&prod) && !by_name.selects(&blue));
    let by_glob = cmd("bosun apply -d 'envs/*'");
    assert!(by_glob.selects(&prod) && by_glob.selects(&dev) && !by_glob.selects(&blue));
}

#[test]
fn an_empty_workspace_is_no_workspace_as_in_atlantis() {
    assert_eq!(cmd("atlantis plan -w ''"), plan());
    assert_eq!(cmd("atlantis plan -w \"\" -d a").dirs, ["a"]);
    assert!(cmd("atlantis plan -p app -w ''").workspace.is_none());
}

#[test]
fn p_patterns_select_by_the_allowed_prefixes() {
    let t = |name: &str| crate::plan::Target {
        dir: name.into(),
        workspace: "default".into(),
        name: Some(name.into()),
    };
    let c = cmd("atlantis apply -p 'staging-.*'");
    let allowed = NameMatcher::all(&c.projects, &["staging-".to_owned()]).unwrap();
    assert!(c.selects_with(&t("staging-a"), &allowed));
    assert!(!c.selects_with(&t("prod"), &allowed));
    // Without the prefix (and in `selects`), an exact name.
    let exact = NameMatcher::all(&c.projects, &[]).unwrap();
    assert!(!c.selects_with(&t("staging-a"), &exact) && !c.selects(&t("staging-a")));
    assert!(c.selects(&t("staging-.*")));
}

#[test]
fn dir_globs_match_as_atlantis_matches() {
    for (pattern, dir, want) in [
        ("modules/*", "modules/vpc", true),
        ("modules/*", "modules/vpc/sub", false),
        ("modules/**", "modules/vpc/sub", true),
        ("environments/*/apps", "environments/prod/apps", true),
        ("env[0-9]/*", "env1/db", true),
        ("env[0-9]/*", "envx/db", false),
        ("stacks/prod-?-*", "stacks/prod-a-web", true),
        ("modules/vpc", "modules/vpc", true),
        ("modules/vpc", "modules/vpc2", false),
    ] {
        assert_eq!(
            dir_matches(pattern, &Dir::new(dir)),
            want,
            "{pattern} {dir}"
        );
    }
}

/// A word as a POSIX shell would quote it, so that it splits back into itself.
fn quoted(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// A command as a comment would write it.
fn comment_of(c: &Command) -> String {
    let mut out = format!("bosun {}", c.kind.as_str());
    for d in &c.dirs {
        out.push_str(&format!(" -d {}", quoted(d)));
    }
    if let Some(w) = &c.workspace {
        out.push_str(&format!(" --workspace={}", quoted(w.as_str())));
    }
    for p in &c.projects {
        out.push_str(&format!(" -p {}", quoted(p)));
    }
    if c.verbose {
        out.push_str(" --verbose");
    }
    if c.auto_merge_disabled {
        out.push_str(" --auto-merge-disabled");
    }
    if !c.extra_args.is_empty() {
        out.push_str(" --");
        for a in &c.extra_args {
            out.push(' ');
            out.push_str(&quoted(a));
        }
    }
    out
}

fn any_command() -> impl Strategy<Value = Command> {
    let kind = prop_oneof![
        Just(CommandKind::Plan),
        Just(CommandKind::Apply),
        Just(CommandKind::Unlock)
    ];
    let dir = "[a-z0-9][a-z0-9_-]{0,5}(/[a-z0-9][a-z0-9_-]{0,5}){0,2}";
    let by_dir = (
        proptest::collection::vec(dir, 0..3),
        proptest::option::of(
            "[a-z0-9][a-z0-9_.-]{0,8}".prop_filter("no `..`", |w| !w.contains("..")),
        ),
    )
        .prop_map(|(dirs, workspace)| (dirs, workspace, Vec::new()));
    let by_name = proptest::collection::vec("[^\\p{Cc}]{1,12}", 1..3)
        .prop_filter("`--` ends the flags", |ps| ps.iter().all(|p| p != "--"))
        .prop_map(|projects| (Vec::new(), None, projects));
    (
        kind,
        prop_oneof![by_dir, by_name],
        any::<bool>(),
        proptest::collection::vec("[^\\p{Cc}]{0,12}", 0..4),
    )
        .prop_map(
            |(kind, (dirs, workspace, projects), verbose, extra)| Command {
                kind,
                dirs,
                workspace: workspace.map(Workspace::new),
                projects,
                verbose,
                extra_args: if kind == CommandKind::Plan {
                    extra
                } else {
                    Vec::new()
                },
                args: Vec::new(),
                auto_merge_disabled: kind == CommandKind::Apply && verbose,
                auto_merge_method: None,
                policy_sets: Vec::new(),
                clear_policy_approval: false,
            },
        )
}

proptest! {
    #[test]
    fn a_command_written_out_parses_back_the_same(c in any_command()) {
        let text = comment_of(&c);
        prop_assert_eq!(p(&text), Parsed::Command(c), "{}", text);
    }
}

#[test]
fn allow_commands_turns_a_command_not_allowed_into_an_unknown_command() {
    let default: Vec<String> = split(DEFAULT_ALLOW_COMMANDS);
    let allowed = allowed_kinds(&default).expect("the default reads");
    assert_eq!(
        allowed,
        vec![
            CommandKind::Version,
            CommandKind::Plan,
            CommandKind::Apply,
            CommandKind::Unlock,
            CommandKind::ApprovePolicies
        ]
    );
    let only_plan = allowed_kinds(&split("plan")).expect("plan reads");
    match restrict(p("bosun apply"), &only_plan) {
        Parsed::Error(e) => assert_eq!(e.message, "unknown command `apply`"),
        other => panic!("{other:?}"),
    }
    match restrict(p("bosun apply --help"), &only_plan) {
        Parsed::Error(e) => assert_eq!(e.message, "unknown command `apply`"),
        other => panic!("{other:?}"),
    }
    assert_eq!(restrict(p("bosun plan"), &only_plan), p("bosun plan"));
    assert_eq!(restrict(p("bosun help"), &[]), p("bosun help"));
    assert_eq!(
        allowed_kinds(&split("all")).expect("all reads").len(),
        CommandKind::ALL.len()
    );
    assert_eq!(allowed_kinds(&split("plan,destroy")), Err("destroy".into()));
}

fn split(s: &str) -> Vec<String> {
    s.split(',').map(str::to_owned).collect()
}

fn with_args(kind: CommandKind, args: &[&str]) -> Command {
    Command {
        args: args.iter().map(|a| a.to_string()).collect(),
        ..Command::new(kind)
    }
}

#[test]
fn import_takes_an_address_and_an_id_among_its_flags() {
    assert_eq!(
        cmd("bosun import 'aws_instance.web[\"a\"]' i-123"),
        with_args(CommandKind::Import, &["aws_instance.web[\"a\"]", "i-123"])
    );
    let c = cmd("bosun import -d envs/prod addr id -w blue --verbose -- -var x=1");
    assert_eq!(c.args, ["addr", "id"]);
    assert_eq!(c.dirs, ["envs/prod"]);
    assert_eq!(c.workspace.as_ref().map(Workspace::as_str), Some("blue"));
    assert_eq!(c.extra_args, ["-var", "x=1"]);
    assert!(c.verbose);
    assert_eq!(cmd("bosun import a b -p app").projects, ["app"]);
    for wrong in [
        "bosun import",
        "bosun import a",
        "bosun import a b c",
        "bosun import a -- b",
    ] {
        assert!(err(wrong).starts_with("unknown argument(s)"), "{wrong}");
    }
    assert!(err("bosun import a b -- -chdir=..").contains("not allowed"));
    assert!(err("bosun import a b -p x -d y").contains("either `-p`"));
}

#[test]
fn state_rm_takes_addresses_after_its_subcommand() {
    assert_eq!(
        cmd("bosun state rm a.b 'c[\"d\"]'"),
        with_args(CommandKind::StateRm, &["a.b", "c[\"d\"]"])
    );
    let c = cmd("bosun state -d dir rm a.b -w ws");
    assert_eq!(
        (c.args.as_slice(), c.dirs.as_slice()),
        (&["a.b".to_owned()][..], &["dir".to_owned()][..])
    );
    assert_eq!(c.workspace.as_ref().map(Workspace::as_str), Some("ws"));
    assert!(err("bosun state").contains("needs a subcommand"));
    assert!(err("bosun state mv a b").contains("invalid subcommand `mv`"));
    assert!(err("bosun state rm").contains("at least one ADDRESS"));
    assert!(err("bosun state rm --abc").starts_with("unknown flag"));
}

#[test]
fn approve_policies_is_a_command_with_atlantis_flags() {
    assert_eq!(
        cmd("bosun approve_policies"),
        Command::new(CommandKind::ApprovePolicies)
    );
    let c = cmd("bosun approve_policies -d a --policy-set p --clear-policy-approval");
    assert_eq!(c.kind, CommandKind::ApprovePolicies);
    assert_eq!(c.policy_sets, ["p"]);
    assert!(c.clear_policy_approval);
    let two = cmd("bosun approve_policies --policy-set a --policy-set=b");
    assert_eq!(two.policy_sets, ["a", "b"]);
    assert!(!two.clear_policy_approval);
    assert!(err("bosun approve_policies --policy-set").contains("needs a value"));
    assert!(err("bosun approve_policies a b").starts_with("unknown argument(s)"));
    assert!(err("bosun plan --policy-set p").contains("only `approve_policies`"));
    assert_eq!(
        p("bosun approve_policies --help"),
        Parsed::Usage(CommandKind::ApprovePolicies)
    );
    assert!(usage("bosun").contains("import ADDRESS ID"));
    assert!(usage("bosun").contains("state rm ADDRESS..."));
    assert!(usage("bosun").contains("approve_policies"));
}

#[test]
fn allow_commands_name_import_state_and_approve_policies() {
    let names = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        allowed_kinds(&names(&["import", "state", "approve_policies"])),
        Ok(vec![
            CommandKind::Import,
            CommandKind::StateRm,
            CommandKind::ApprovePolicies
        ])
    );
    let only_plan = allowed_kinds(&names(&["plan"])).unwrap();
    assert_eq!(
        restrict(p("bosun import a b"), &only_plan),
        error("unknown command `state`".replace("state", "import"))
    );
}
