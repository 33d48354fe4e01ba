//! The comment grammar (Atlantis's, extended): `<name> plan|apply|unlock|help|version|
//! approve_policies [-d DIR]… [-w WORKSPACE] [-p PROJECT]… [--verbose] [-- EXTRA TERRAFORM
//! ARGS]`, and `<name> import [flags] ADDRESS ID` and `<name> state [flags] rm ADDRESS…` (their
//! addresses anywhere among the flags, before `--`).
//! Pure: text in, a typed [`Command`] (or a reasoned error) out.

use std::fmt;

use crate::ids::{Dir, Workspace};

pub mod pattern;
pub use pattern::{BadPattern, NameMatcher};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    Plan,
    Apply,
    Unlock,
    Help,
    Version,
    /// `import ADDRESS ID`: `terraform import` in the selected projects.
    Import,
    /// `state rm ADDRESS...`: `terraform state rm` in the selected projects.
    StateRm,
    /// `approve_policies`: an owner approves the failed policy sets they own.
    ApprovePolicies,
}

impl CommandKind {
    const ALL: [(&'static str, CommandKind); 8] = [
        ("plan", CommandKind::Plan),
        ("apply", CommandKind::Apply),
        ("unlock", CommandKind::Unlock),
        ("help", CommandKind::Help),
        ("version", CommandKind::Version),
        ("import", CommandKind::Import),
        ("state", CommandKind::StateRm),
        ("approve_policies", CommandKind::ApprovePolicies),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }
}

/// A command a comment asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub kind: CommandKind,
    /// Project directories (`-d`), normalised, relative to the repository root (`.` for it).
    /// A glob (`-d 'envs/*'`) is kept as a pattern, checked (see [`dir_matches`]).
    pub dirs: Vec<String>,
    pub workspace: Option<Workspace>,
    /// Project names (`-p`).
    pub projects: Vec<String>,
    pub verbose: bool,
    /// Everything after `--`, passed to Terraform.
    pub extra_args: Vec<String>,
    /// `import`'s `ADDRESS ID`, `state rm`'s `ADDRESS...`: the words among the flags before
    /// `--` (Atlantis passes them to Terraform after the extra arguments).
    pub args: Vec<String>,
    /// `apply --auto-merge-disabled`: no automerge after this apply.
    pub auto_merge_disabled: bool,
    /// `apply --auto-merge-method METHOD`: how the automerge after this apply merges.
    pub auto_merge_method: Option<crate::github::MergeMethod>,
    /// `approve_policies --policy-set NAME`: only these sets (none: every failed set).
    pub policy_sets: Vec<String>,
    /// `approve_policies --clear-policy-approval`: remove the commenter's approvals.
    pub clear_policy_approval: bool,
}

impl Command {
    /// The command with no flags.
    pub fn new(kind: CommandKind) -> Self {
        Command {
            kind,
            dirs: vec![],
            workspace: None,
            projects: vec![],
            verbose: false,
            extra_args: vec![],
            args: vec![],
            auto_merge_disabled: false,
            auto_merge_method: None,
            policy_sets: vec![],
            clear_policy_approval: false,
        }
    }

    /// Whether the command's flags select `target`, each `-p` an exact name; see
    /// [`Command::selects_with`].
    pub fn selects(&self, target: &crate::plan::Target) -> bool {
        let exact: Vec<NameMatcher> = self
            .projects
            .iter()
            .map(|p| NameMatcher::Exact(p.clone()))
            .collect();
        self.selects_with(target, &exact)
    }

    /// Whether the command's flags select `target`: no flags select every project; `-p`
    /// selects by name, as `names` (the `-p` values read by [`NameMatcher::all`]) match it;
    /// `-d` by dir, in the workspace `-w` names (else `default`); `-w` alone is `-d . -w`, as
    /// in Atlantis (and as `plan` reads it).
    pub fn selects_with(&self, target: &crate::plan::Target, names: &[NameMatcher]) -> bool {
        if !self.projects.is_empty() {
            return target
                .name
                .as_ref()
                .is_some_and(|n| names.iter().any(|m| m.matches(n)));
        }
        match (&self.workspace, self.dirs.is_empty()) {
            (None, true) => true,
            (Some(ws), true) => &target.workspace == ws && target.dir == Dir::root(),
            (ws, false) => {
                let in_ws = match ws {
                    Some(ws) => &target.workspace == ws,
                    None => target.workspace.is_default(),
                };
                in_ws && self.dirs.iter().any(|d| dir_matches(d, &target.dir))
            }
        }
    }

    /// Whether the command names no project (no `-d`, `-w` or `-p`).
    pub fn names_none(&self) -> bool {
        self.dirs.is_empty() && self.projects.is_empty() && self.workspace.is_none()
    }
}

/// Whether a `-d` value names a glob pattern (`*`, `?`, `[`) rather than one directory.
pub fn is_glob(dir: &str) -> bool {
    dir.contains(['*', '?', '['])
}

/// Whether `-d pattern` selects the project directory `dir`: the same directory, or, for a
/// glob, a match as Atlantis matches (`*` within one path segment, `**` across them).
pub fn dir_matches(pattern: &str, dir: &Dir) -> bool {
    let dir = dir.as_str();
    if !is_glob(pattern) {
        return pattern == dir;
    }
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .is_ok_and(|g| g.compile_matcher().is_match(dir))
}

/// What was wrong with a comment addressed to bosun.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    pub message: String,
    /// e.g. "did you mean `plan`?"
    pub suggestion: Option<String>,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, " ({s})")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Not addressed to bosun: ignored.
    NotACommand,
    Command(Command),
    /// `<name> <command> --help`: answered with the usage.
    Usage(CommandKind),
    /// `terraform plan`, `atlantsi plan`: answered "did you mean `name`?".
    WrongName {
        given: String,
        name: String,
    },
    Error(CommandError),
}

/// The usage text `help` shows and errors end with; `name` is the first command name.
pub fn usage(name: &str) -> String {
    format!(
        "Usage: {name} <command> [flags] [-- extra terraform args]\n\n\
         Commands:\n\
         \x20 plan      plan the affected projects (or those named)\n\
         \x20 apply     apply the plans of this pull request's head (or those named)\n\
         \x20 unlock    release this pull request's locks (or those named)\n\
         \x20 help      show this help\n\
         \x20 version   show bosun's and Terraform's versions\n\
         \x20 import ADDRESS ID\n\
         \x20           run `terraform import` in the projects named (or affected)\n\
         \x20 state rm ADDRESS...\n\
         \x20           run `terraform state rm` in the projects named (or affected)\n\
         \x20 approve_policies\n\
         \x20           answered only: policy checks are not configured on this server\n\n\
         Flags (plan, apply, unlock, import, state rm):\n\
         \x20 -d, --dir DIR              project directory, relative to the repository root (repeatable)\n\
         \x20 -w, --workspace WORKSPACE  Terraform workspace (default: default)\n\
         \x20 -p, --project NAME         project name from the repo config (repeatable)\n\
         \x20 --verbose                  show Terraform's full output\n\
         \x20 --auto-merge-disabled      (apply) do not automerge after this apply\n\
         \x20 --auto-merge-method M      (apply) automerge with merge, squash or rebase\n\n\
         Example: {name} plan -d envs/prod -- -var image=v2\n"
    )
}

fn error(message: impl Into<String>) -> Parsed {
    Parsed::Error(CommandError {
        message: message.into(),
        suggestion: None,
    })
}

/// The commands BOSUN_ALLOW_COMMANDS may name, as Atlantis's `--allow-commands` does; `all`
/// names every one.
pub const ALLOWABLE_COMMANDS: [&str; 7] = [
    "plan",
    "apply",
    "unlock",
    "version",
    "approve_policies",
    "import",
    "state",
];

/// Atlantis's default `--allow-commands`.
pub const DEFAULT_ALLOW_COMMANDS: &str = "version,plan,apply,unlock,approve_policies";

/// The bosun commands a BOSUN_ALLOW_COMMANDS list allows (`help` is always allowed), or the
/// first name it does not know.
pub fn allowed_kinds(names: &[String]) -> Result<Vec<CommandKind>, String> {
    let mut kinds = Vec::new();
    for name in names {
        let name = name.to_lowercase();
        if name == "all" {
            kinds.extend(CommandKind::ALL.iter().map(|(_, k)| *k));
        } else if !ALLOWABLE_COMMANDS.contains(&name.as_str()) {
            return Err(name);
        } else if let Some((_, k)) = CommandKind::ALL.iter().find(|(n, _)| *n == name) {
            kinds.push(*k);
        }
    }
    Ok(kinds)
}

/// A parsed comment under BOSUN_ALLOW_COMMANDS: a command (or a command's `--help`) it does not
/// allow is answered as Atlantis answers it, as an unknown command. `help` is always allowed.
pub fn restrict(parsed: Parsed, allowed: &[CommandKind]) -> Parsed {
    let kind = match &parsed {
        Parsed::Command(c) => c.kind,
        Parsed::Usage(k) => *k,
        _ => return parsed,
    };
    if kind == CommandKind::Help || allowed.contains(&kind) {
        return parsed;
    }
    error(format!("unknown command `{}`", kind.as_str()))
}

/// Terraform flags refused after `--` by default (Atlantis's list): they would run Terraform in
/// another directory or load providers from elsewhere. BOSUN_BLOCKED_EXTRA_ARGS replaces it.
pub const DEFAULT_BLOCKED_EXTRA_ARGS: [&str; 4] =
    ["-chdir", "--chdir", "-plugin-dir", "--plugin-dir"];

/// Parses a comment with the default blocked extra arguments; see [`parse_with`].
pub fn parse(comment: &str, names: &[String], app_slug: &str) -> Parsed {
    let blocked: Vec<String> = DEFAULT_BLOCKED_EXTRA_ARGS.map(str::to_owned).to_vec();
    parse_with(comment, names, app_slug, &blocked)
}

/// Parses a comment as Atlantis does. `names` are the command names (BOSUN_COMMAND_NAMES);
/// `run` and `@app_slug` address bosun too. The comment is trimmed of whitespace and backticks
/// and must be one line (blank lines after it aside). `terraform …`, and near misses of the
/// name `atlantis`, get a did-you-mean; anything else not starting with a name is ignored.
/// `blocked` are Terraform flags refused after `--` (a flag, or the flag `=` a value).
pub fn parse_with(comment: &str, names: &[String], app_slug: &str, blocked: &[String]) -> Parsed {
    let line = comment.trim().trim_matches('`');
    if line
        .split('\n')
        .skip(1)
        .any(|l| l.chars().any(|c| c != '\r'))
    {
        return Parsed::NotACommand;
    }
    let Some(first) = line.split_whitespace().next() else {
        return Parsed::NotACommand;
    };
    let first = first.to_lowercase();
    let named = |n: &str| n.eq_ignore_ascii_case(&first);
    let addressed = first == "run"
        || names.iter().any(|n| named(n))
        || (!app_slug.is_empty()
            && first
                .strip_prefix('@')
                .is_some_and(|s| s.eq_ignore_ascii_case(app_slug)));
    if !addressed {
        let name = names.first().map_or("bosun", String::as_str);
        if first == "terraform" {
            return Parsed::WrongName {
                given: first,
                name: name.to_owned(),
            };
        }
        // Like Atlantis, near misses are guessed at only for the name `atlantis`: a custom
        // name (bosun's own included) would draw replies to ordinary words close to it.
        if let Some(atlantis) = names.iter().find(|n| n.eq_ignore_ascii_case("atlantis"))
            && crate::names::similar(&first, atlantis)
        {
            return Parsed::WrongName {
                given: first,
                name: atlantis.clone(),
            };
        }
        return Parsed::NotACommand;
    }
    let words = match split_words(line) {
        Ok(w) => w,
        Err(e) => return error(e),
    };
    let mut words = words.into_iter().skip(1);
    let Some(verb) = words.next() else {
        return Parsed::Command(Command::new(CommandKind::Help));
    };
    if verb == "-h" || verb == "--help" {
        return Parsed::Command(Command::new(CommandKind::Help));
    }
    let Some(kind) = CommandKind::ALL
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(&verb))
        .map(|(_, k)| *k)
    else {
        let suggestion = crate::names::closest(&verb, CommandKind::ALL.iter().map(|(n, _)| *n))
            .map(|n| format!("did you mean `{n}`?"));
        return Parsed::Error(CommandError {
            message: format!("unknown command `{verb}`"),
            suggestion,
        });
    };
    let mut cmd = Command::new(kind);
    if kind == CommandKind::Help {
        return Parsed::Command(cmd); // `help anything` is help
    }
    let rest: Vec<String> = words.collect();
    let mut positional = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        let word = &rest[i];
        i += 1;
        if word == "--" {
            cmd.extra_args = rest[i..].to_vec();
            break;
        }
        if word == "-h" || word == "--help" {
            return Parsed::Usage(kind);
        }
        let (flag, inline) = match word.split_once('=') {
            Some((f, v)) if f.starts_with('-') => (f, Some(v.to_owned())),
            _ => (word.as_str(), None),
        };
        let apply_only = matches!(flag, "--auto-merge-disabled" | "--auto-merge-method");
        if apply_only && kind != CommandKind::Apply {
            return error(format!("unknown flag `{flag}` (only `apply` takes it)"));
        }
        let policies_only = matches!(flag, "--policy-set" | "--clear-policy-approval");
        if policies_only && kind != CommandKind::ApprovePolicies {
            return error(format!(
                "unknown flag `{flag}` (only `approve_policies` takes it)"
            ));
        }
        let takes_value = matches!(
            flag,
            "-d" | "--dir"
                | "-w"
                | "--workspace"
                | "-p"
                | "--project"
                | "--auto-merge-method"
                | "--policy-set"
        );
        let value = if takes_value {
            match inline {
                Some(v) => v,
                None if i < rest.len() && rest[i] != "--" => {
                    i += 1;
                    rest[i - 1].clone()
                }
                None => return error(format!("flag `{flag}` needs a value")),
            }
        } else {
            if inline.is_some() {
                return error(format!("flag `{flag}` takes no value"));
            }
            String::new()
        };
        match flag {
            "-d" | "--dir" => match clean_dir(&value) {
                Ok(d) => cmd.dirs.push(d),
                Err(e) => return error(e),
            },
            "-w" | "--workspace" => {
                if cmd.workspace.is_some() {
                    return error("`-w` may be given once");
                }
                let ws = match Workspace::parse(&value) {
                    Ok(ws) => ws,
                    Err(why) => {
                        return error(format!("`-w {value}` is not a workspace name: it {why}"));
                    }
                };
                // `-w ''` gives no workspace, as in Atlantis: `default`.
                if !value.is_empty() {
                    cmd.workspace = Some(ws);
                }
            }
            "-p" | "--project" => {
                if value.is_empty() || value.chars().any(|c| c.is_control()) {
                    return error("`-p` needs a project name");
                }
                cmd.projects.push(value);
            }
            "--verbose" => cmd.verbose = true,
            // Atlantis's flags of `approve_policies`.
            "--policy-set" => {
                if value.is_empty() || value.chars().any(|c| c.is_control()) {
                    return error("`--policy-set` needs a policy set's name");
                }
                cmd.policy_sets.push(value);
            }
            "--clear-policy-approval" => cmd.clear_policy_approval = true,
            "--auto-merge-disabled" => cmd.auto_merge_disabled = true,
            "--auto-merge-method" => {
                use crate::github::MergeMethod;
                cmd.auto_merge_method = Some(match value.as_str() {
                    "merge" => MergeMethod::Merge,
                    "squash" => MergeMethod::Squash,
                    "rebase" => MergeMethod::Rebase,
                    _ => {
                        return error(format!(
                            "`--auto-merge-method {value}` is not merge, squash or rebase"
                        ));
                    }
                });
            }
            other if other.starts_with('-') && other.len() > 1 => {
                let known = [
                    "--dir",
                    "--workspace",
                    "--project",
                    "--verbose",
                    "--auto-merge-disabled",
                    "--auto-merge-method",
                    "--policy-set",
                    "--clear-policy-approval",
                ];
                let suggestion =
                    crate::names::closest(other, known).map(|n| format!("did you mean `{n}`?"));
                return Parsed::Error(CommandError {
                    message: format!("unknown flag `{other}`"),
                    suggestion,
                });
            }
            other => positional.push(other.to_owned()),
        }
    }
    match command_args(kind, positional) {
        Ok(args) => cmd.args = args,
        Err(e) => return error(e),
    }
    if let Some(arg) = cmd.extra_args.iter().chain(&cmd.args).find(|a| {
        blocked.iter().any(|b| {
            *a == b
                || a.strip_prefix(b.as_str())
                    .is_some_and(|r| r.starts_with('='))
        })
    }) {
        return error(format!("flag `{arg}` is not allowed in extra arguments"));
    }
    match kind {
        CommandKind::Version if has_flags(&cmd) => return error("`version` takes no flags"),
        CommandKind::Unlock if !cmd.extra_args.is_empty() => {
            return error("`unlock` takes no Terraform arguments");
        }
        CommandKind::Apply if !cmd.extra_args.is_empty() => {
            return error(
                "`apply` takes no Terraform arguments: it applies the saved plan as it was \
                 reviewed (give them to `plan`)",
            );
        }
        _ => {}
    }
    if cmd.auto_merge_disabled && cmd.auto_merge_method.is_some() {
        return error("use either `--auto-merge-disabled` or `--auto-merge-method`, not both");
    }
    if !cmd.projects.is_empty() && (!cmd.dirs.is_empty() || cmd.workspace.is_some()) {
        return error(
            "use either `-p` or `-d`/`-w`, not both (a project already names its dir and workspace)",
        );
    }
    Parsed::Command(cmd)
}

/// The words among the flags a command takes, as Atlantis counts them: `import` exactly an
/// address and an id, `state` the subcommand `rm` and at least one address, every other
/// command none. `Err`: what is wrong.
fn command_args(kind: CommandKind, positional: Vec<String>) -> Result<Vec<String>, String> {
    let unknown = |words: &[String], hint: &str| {
        format!("unknown argument(s) `{}` ({hint})", words.join(" "))
    };
    match kind {
        CommandKind::Import if positional.len() == 2 => Ok(positional),
        CommandKind::Import => Err(unknown(&positional, "`import` takes ADDRESS ID")),
        CommandKind::StateRm => match positional.split_first() {
            None => Err("`state` needs a subcommand: `state rm ADDRESS...`".into()),
            Some((sub, _)) if sub != "rm" => {
                Err(format!("invalid subcommand `{sub}` of `state` (not rm)"))
            }
            Some((_, [])) => Err("`state rm` needs at least one ADDRESS".into()),
            Some((_, addresses)) => Ok(addresses.to_vec()),
        },
        _ if positional.is_empty() => Ok(positional),
        _ => Err(unknown(
            &positional,
            "extra Terraform arguments go after `--`",
        )),
    }
}

fn has_flags(c: &Command) -> bool {
    !c.dirs.is_empty()
        || c.workspace.is_some()
        || !c.projects.is_empty()
        || c.verbose
        || !c.extra_args.is_empty()
}

/// Splits a line into words as a POSIX shell would: 'single' and "double" quotes, and
/// backslash escapes (outside single quotes).
///
/// Ours, not `shell-words` or `shlex`: both end a word only at space, tab or newline (ours at any
/// Unicode whitespace, so `plan\u{a0}-d` is two words), both drop a word starting with `#` and
/// the rest of the line (`-- -var x=1 #note` loses `#note`), and neither says which quote is
/// unterminated (shell-words keeps a trailing backslash as a word; shlex returns no reason at all),
/// which the errors tested in `command/tests.rs` name.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("a trailing backslash escapes nothing".into()),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// A directory inside the repository, cleaned as Atlantis cleans it (`./a/../b/` → `b`,
/// `/` → `.`, `/adir` → `adir`). A glob (`*`, `?`, `[`) is kept as it is, a leading `./` or `/`
/// aside, once checked: no `..`, and well formed.
fn clean_dir(dir: &str) -> Result<String, String> {
    if dir.is_empty() {
        return Err("`-d` needs a directory".into());
    }
    if is_glob(dir) {
        if dir.contains("..") {
            return Err(format!("`-d {dir}`: `..` in a glob pattern is not allowed"));
        }
        if dir.chars().any(char::is_control) {
            return Err(format!("`-d {dir}` is not a directory pattern"));
        }
        if let Err(e) = globset::GlobBuilder::new(dir)
            .literal_separator(true)
            .build()
        {
            return Err(format!(
                "`-d {dir}` is not a valid glob pattern: {}",
                e.kind()
            ));
        }
        let trimmed = dir.strip_prefix("./").unwrap_or(dir);
        let trimmed = trimmed.strip_prefix('/').unwrap_or(trimmed);
        return Ok(if trimmed.is_empty() {
            ".".into()
        } else {
            trimmed.into()
        });
    }
    // Atlantis joins the dir to the root, so `/` is the root and `/adir` is `adir`.
    let relative = dir.trim_start_matches('/');
    if relative.is_empty() {
        return Ok(".".into());
    }
    crate::names::repo_dir(relative).map_err(|why| format!("`-d {dir}` {why}"))
}

#[cfg(test)]
mod atlantis_compat;
#[cfg(test)]
mod tests;
