//! Atlantis's own comment-grammar cases (`../shared/atlantis-compat/comment-cases.json`, read
//! when it is there) run through [`parse_with`]. A case passes when bosun gives the same kind
//! of answer (ignore, help, usage, did-you-mean, error) and, for a command, the same command,
//! subcommand, dir, workspace, project, extra arguments and `--verbose` (Atlantis appends
//! `import`'s and `state rm`'s addresses to the extra arguments; bosun keeps them apart, so they
//! are compared appended). Every case that does not is in
//! [`DEVIATIONS`], with its reason, mirrored in the README's "Atlantis compatibility" section.

use super::*;
use serde::Deserialize;

/// Why a case is allowed to differ. The README's table gives each of these reasons.
const APPLY_EXTRA_ARGS: &str = "`apply` takes no extra Terraform arguments: bosun applies the saved plan exactly as it was reviewed (give them to `plan`)";
const UNLOCK_FLAGS: &str = "`unlock -d`/`-w`/`-p` releases one project's lock: Atlantis sends you to its UI for that, bosun has no UI";

/// The one list of deliberate deviations from Atlantis's comment grammar: case id, reason.
const DEVIATIONS: &[(&str, &str)] = &[
    ("TestParse_Parsing#054", APPLY_EXTRA_ARGS),
    ("TestParse_Parsing#058", APPLY_EXTRA_ARGS),
    ("TestParse_Parsing#066", APPLY_EXTRA_ARGS),
    ("TestParse_Parsing#070", APPLY_EXTRA_ARGS),
    ("TestParse_Parsing#074", APPLY_EXTRA_ARGS),
    ("TestParse_UnknownShorthandFlag#001", UNLOCK_FLAGS),
];

#[derive(Deserialize)]
struct Case {
    id: String,
    comment: String,
    response_kind: String,
    error: Option<String>,
    command: Option<String>,
    subcommand: Option<String>,
    dir: Option<String>,
    workspace: Option<String>,
    project: Option<String>,
    extra_args: Option<Vec<String>>,
    verbose: Option<bool>,
    executable_name: String,
    vcs_bot_user: Option<String>,
    /// `"default"`, `null` (none) or a list.
    blocked_extra_args: serde_json::Value,
    /// `"all"` or a list (Atlantis's `--allow-commands`).
    allow_commands: serde_json::Value,
}

impl Case {
    fn deviation(&self) -> Option<&'static str> {
        DEVIATIONS
            .iter()
            .find_map(|(id, reason)| (self.id == *id).then_some(*reason))
    }

    fn blocked(&self) -> Vec<String> {
        match &self.blocked_extra_args {
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            serde_json::Value::String(s) if s == "default" => {
                DEFAULT_BLOCKED_EXTRA_ARGS.map(str::to_owned).to_vec()
            }
            _ => Vec::new(),
        }
    }

    /// The commands the case allows, as BOSUN_ALLOW_COMMANDS would.
    fn allowed(&self) -> Vec<CommandKind> {
        let names: Vec<String> = match &self.allow_commands {
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            serde_json::Value::String(s) => vec![s.clone()],
            _ => Vec::new(),
        };
        allowed_kinds(&names).unwrap_or_default()
    }

    /// What bosun answers, or why it is not what Atlantis answers.
    fn check(&self) -> Result<(), String> {
        let names = vec![self.executable_name.clone()];
        let slug = self.vcs_bot_user.clone().unwrap_or_default();
        let parsed = parse_with(&self.comment, &names, &slug, &self.blocked());
        let got = restrict(parsed, &self.allowed());
        let kind = match &got {
            Parsed::NotACommand => "ignore",
            Parsed::Command(c) if c.kind == CommandKind::Help => "help",
            Parsed::Command(_) => "command",
            Parsed::Usage(_) => "usage",
            Parsed::WrongName { .. } => "did_you_mean",
            Parsed::Error(_) => "error",
        };
        if kind != self.response_kind {
            return Err(format!("Atlantis: {}, bosun: {got:?}", self.response_kind));
        }
        match &got {
            // An error passes as the same refusal, not as bosun not knowing the command.
            Parsed::Error(e)
                if e.message.starts_with("unknown command")
                    && self.error.as_deref() != Some("unknown command") =>
            {
                Err(format!("Atlantis: {:?}, bosun: {e}", self.error))
            }
            Parsed::Command(c) if kind == "command" => self.same_command(c),
            _ => Ok(()),
        }
    }

    fn same_command(&self, c: &Command) -> Result<(), String> {
        let or_empty = |s: &Option<String>| s.clone().unwrap_or_default();
        let ours = (
            c.kind.as_str().to_owned(),
            if c.kind == CommandKind::StateRm {
                "rm".to_owned()
            } else {
                String::new()
            },
            match c.dirs.as_slice() {
                [] => String::new(),
                [one] => one.clone(),
                many => format!("{many:?}"),
            },
            c.workspace
                .as_ref()
                .map(|w| w.to_string())
                .unwrap_or_default(),
            match c.projects.as_slice() {
                [] => String::new(),
                [one] => one.clone(),
                many => format!("{many:?}"),
            },
            [c.extra_args.clone(), c.args.clone()].concat(),
            c.verbose,
        );
        let theirs = (
            or_empty(&self.command),
            or_empty(&self.subcommand),
            or_empty(&self.dir),
            or_empty(&self.workspace),
            or_empty(&self.project),
            self.extra_args.clone().unwrap_or_default(),
            self.verbose.unwrap_or(false),
        );
        if ours == theirs {
            Ok(())
        } else {
            Err(format!("Atlantis: {theirs:?}, bosun: {ours:?}"))
        }
    }
}

fn data_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/atlantis-compat"
    ))
}

#[test]
fn atlantis_comment_cases() {
    let path = data_dir().join("comment-cases.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!(
            "{} is not there: Atlantis's comment cases skipped",
            path.display()
        );
        return;
    };
    let cases: Vec<Case> = serde_json::from_str(&text).expect("comment-cases.json reads");
    for (id, _) in DEVIATIONS {
        assert!(
            cases.iter().any(|c| c.id == *id),
            "deviation {id} names no case"
        );
    }
    let mut passed = 0;
    let mut deviations: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut unexplained = Vec::new();
    let mut stale = Vec::new();
    for case in &cases {
        match (case.check(), case.deviation()) {
            (Ok(()), None) => passed += 1,
            (Ok(()), Some(reason)) => {
                stale.push(format!("{} {:?} ({reason})", case.id, case.comment))
            }
            (Err(_), Some(reason)) => *deviations.entry(reason).or_default() += 1,
            (Err(why), None) => unexplained.push(format!("{} {:?}: {why}", case.id, case.comment)),
        }
    }
    println!(
        "comment-cases.json: {passed} passed, {} deviations ({} unexplained)",
        deviations.values().sum::<usize>() + unexplained.len(),
        unexplained.len()
    );
    for (reason, n) in &deviations {
        println!("  {n}: {reason}");
    }
    assert!(
        unexplained.is_empty(),
        "cases that neither pass nor are listed deviations:\n{}",
        unexplained.join("\n")
    );
    assert!(
        stale.is_empty(),
        "listed deviations that now pass (take them off the list):\n{}",
        stale.join("\n")
    );
}

#[test]
fn every_deviation_reason_is_in_the_readme() {
    let readme = include_str!("../../README.md");
    for (_, reason) in DEVIATIONS {
        assert!(
            readme.contains(reason),
            "README lacks the deviation {reason:?}"
        );
    }
}
