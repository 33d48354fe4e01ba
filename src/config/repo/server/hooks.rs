//! Atlantis's `pre_workflow_hooks` and `post_workflow_hooks` of a `repos:` entry: commands the
//! operator has bosun run at the root of a pull request's checkout, before a command finds
//! its projects (so a hook may write the repo config) and after the command. Each is
//! `{run, description, shell, shellArgs, commands}` as in Atlantis, plus bosun's `blocking`.

use super::super::shell_step::{self, Kind};
use super::super::{ConfigError, Ctx, ShellCommand};
use crate::config::yaml::Node;

/// One workflow hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// What runs: `sh -c run`, or the named `shell` with its `shellArgs`.
    pub run: ShellCommand,
    /// How comments and errors name the hook; else its command.
    pub description: Option<String>,
    /// The commands it runs for (`plan`, `apply`, …); `None`: every command that runs hooks.
    pub commands: Option<Vec<String>>,
    /// A pre hook that fails stops the command (bosun's default; Atlantis's
    /// `--fail-on-pre-workflow-hook-error`); `blocking: false` lets it go on. Post hooks never
    /// stop anything: the command is done.
    pub blocking: bool,
}

impl Hook {
    /// Whether the hook runs for `command` (a comment command's name).
    pub fn runs_for(&self, command: &str) -> bool {
        self.commands
            .as_ref()
            .is_none_or(|c| c.iter().any(|n| n == command))
    }

    /// The hook as comments name it.
    pub fn name(&self) -> &str {
        self.description.as_deref().unwrap_or(&self.run.command)
    }
}

const KEYS: &[&str] = &[
    "run",
    "description",
    "shell",
    "shellArgs",
    "commands",
    "blocking",
];

/// The commands a hook's `commands` may name: those bosun runs hooks for.
pub const COMMANDS: &[&str] = &["plan", "apply", "import", "state"];

/// A hook list at `key`.
pub(in crate::config::repo) fn hooks(
    ctx: &Ctx,
    node: &Node,
    key: &str,
) -> Result<Vec<Hook>, ConfigError> {
    let mut out = Vec::new();
    for (i, item) in ctx.seq(node, key)?.iter().enumerate() {
        out.push(hook(ctx, item, &format!("{key}[{i}]"))?);
    }
    Ok(out)
}

fn hook(ctx: &Ctx, node: &Node, path: &str) -> Result<Hook, ConfigError> {
    let entries = ctx.entries(node, path, KEYS)?;
    let get = |key: &str| entries.iter().find(|(k, _, _)| k == key).map(|e| e.2);
    // `run` is the command; the step reader calls it `command`.
    let renamed: Vec<(String, &Node, &Node)> = entries
        .iter()
        .filter(|(k, _, _)| matches!(k.as_str(), "run" | "shell" | "shellArgs"))
        .map(|(k, kn, v)| {
            let k = if k == "run" { "command" } else { k.as_str() };
            (k.to_owned(), *kn, *v)
        })
        .collect();
    let Some(run) = shell_step::command(ctx, node, path, Kind::Env, &renamed)? else {
        return Err(ctx.err(
            node,
            &format!("{path}.run"),
            "missing: the command the hook runs",
        ));
    };
    let description = get("description")
        .map(|d| ctx.string(d, &format!("{path}.description")))
        .transpose()?;
    let commands = match get("commands") {
        None => None,
        Some(c) => {
            let key = format!("{path}.commands");
            // Atlantis writes them comma-separated; a list reads too.
            let names: Vec<String> = match &c.value {
                crate::config::yaml::Value::Scalar(..) => ctx
                    .string(c, &key)?
                    .split(',')
                    .map(|n| n.trim().to_owned())
                    .filter(|n| !n.is_empty())
                    .collect(),
                _ => ctx.strings(c, &key)?,
            };
            if let Some(bad) = names.iter().find(|n| !COMMANDS.contains(&n.as_str())) {
                return Err(ctx.err(
                    c,
                    &key,
                    format!(
                        "`{bad}` is not a command bosun runs hooks for; use {}",
                        COMMANDS.join(", ")
                    ),
                ));
            }
            Some(names)
        }
    };
    let blocking = get("blocking")
        .map(|b| ctx.bool(b, &format!("{path}.blocking")))
        .transpose()?
        .unwrap_or(true);
    Ok(Hook {
        run,
        description,
        commands,
        blocking,
    })
}
