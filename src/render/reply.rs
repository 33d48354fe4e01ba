//! bosun's other comments: command errors, help, version, config and checkout problems,
//! internal errors and commands that matched no project. Each starts with its marker.

use super::{code_span, fenced, marker, no_mentions, one_line};
use crate::command::{Command, CommandError};
use crate::config::repo::ConfigError;
use crate::plan::Target;

/// The most files or projects a reply lists; the rest are counted.
const MAX_LISTED: usize = 50;

fn list(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    let mut out: Vec<String> = items
        .iter()
        .take(MAX_LISTED)
        .map(|i| format!("- {i}"))
        .collect();
    if items.len() > MAX_LISTED {
        out.push(format!("- … and {} more", items.len() - MAX_LISTED));
    }
    out.join("\n")
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The reply to a comment addressed to bosun that it could not read: what was wrong, the
/// suggestion, and the usage.
pub fn command_error(command_name: &str, error: &CommandError) -> String {
    let mut out = format!(
        "{}\n**I could not read that command:** {}.",
        marker("command-error"),
        no_mentions(&one_line(&error.message))
    );
    if let Some(s) = &error.suggestion {
        out.push_str(&format!(" {}", capitalised(&no_mentions(&one_line(s)))));
    }
    out.push_str(&format!(
        "\n\n<details><summary>Usage</summary>\n\n{}\n\n</details>\n",
        fenced("text", &crate::command::usage(&one_line(command_name)))
    ));
    out
}

/// The reply to `<name> help`.
pub fn help(command_name: &str) -> String {
    let name = one_line(command_name);
    format!(
        "{}\nbosun plans and applies Terraform for this pull request. Comment one of these:\n\n{}\n",
        marker("help"),
        fenced("text", &crate::command::usage(&name))
    )
}

/// The reply to `<name> version`.
pub fn version(bosun: &str, terraform: &str) -> String {
    format!(
        "{}\n| | Version |\n|---|---|\n| bosun | {} |\n| Terraform | {} |\n",
        marker("version"),
        super::cell(bosun),
        super::cell(terraform)
    )
}

/// The reply when the repo config is invalid: where (file:line:column), which key, what.
pub fn config_error(e: &ConfigError) -> String {
    let place = format!("{}:{}:{}", e.file, e.line, e.col);
    let key = if e.key.is_empty() {
        String::new()
    } else {
        format!(", key {}", code_span(&e.key))
    };
    format!(
        "{}\n**{} is not valid**, so bosun did not plan.\n\n\
         At {}{key}: {}\n\n\
         Fix the file and push; bosun plans again on the new commit.\n",
        marker("config-error"),
        code_span(&e.file),
        code_span(&place),
        no_mentions(&one_line(&e.message))
    )
}

/// The reply when merging the pull request into its base (checkout strategy `merge`)
/// failed: which files conflict and what to do.
pub fn merge_conflict(files: &[String]) -> String {
    let mut out = format!(
        "{}\n**bosun could not merge this pull request into its base branch**, so it did not \
         plan. bosun plans the result of that merge (checkout strategy `merge`).\n",
        marker("merge-conflict")
    );
    if !files.is_empty() {
        out.push_str("\nConflicting files:\n\n");
        out.push_str(&list(files.iter().map(|f| code_span(f))));
        out.push('\n');
    }
    out.push_str(
        "\nRebase the branch on the base branch (or merge the base branch into it), resolve the \
         conflicts and push; bosun plans again on the new commit.\n",
    );
    out
}

/// The reply when something failed on bosun's side. `what` is what the operator can look
/// up in bosun's logs (e.g. a job id); no error details, which might hold secrets.
/// A command this version of bosun does not run yet.
pub fn not_yet(command_name: &str, verb: &str) -> String {
    format!(
        "{}\n`{verb}` is not available in this version of bosun yet. \
         `{command_name} plan` and `{command_name} help` work.\n",
        marker("not-yet")
    )
}

/// A plan asked for on a closed pull request.
pub fn pr_closed(command_name: &str) -> String {
    format!(
        "{}\nThis pull request is closed, so bosun does not plan it. \
         Reopen it and comment `{command_name} plan` again.\n",
        marker("pr-closed")
    )
}

pub fn internal_error(what: &str) -> String {
    format!(
        "{}\n**Something went wrong on bosun's side**, not in this pull request. \
         Try again later; if it keeps failing, ask the people who run bosun and quote {}.\n",
        marker("internal-error"),
        code_span(what)
    )
}

/// The reply to a command that matched no project: what was asked, the projects the config
/// knows (`known`), and the closest name to each unknown one.
pub fn no_projects(command_name: &str, cmd: &Command, known: &[Target]) -> String {
    let name = one_line(command_name);
    let mut asked: Vec<String> = cmd.projects.iter().map(|p| format!("-p {p}")).collect();
    asked.extend(cmd.dirs.iter().map(|d| format!("-d {d}")));
    if let Some(w) = &cmd.workspace {
        asked.push(format!("-w {w}"));
    }
    let mut out = marker("no-projects");
    out.push('\n');
    if asked.is_empty() {
        out.push_str(&format!(
            "**No project to {}:** this pull request changes no Terraform files that bosun \
             plans.",
            cmd.kind.as_str()
        ));
    } else {
        out.push_str(&format!(
            "**No project matches** {}.",
            code_span(&format!("{name} {} {}", cmd.kind.as_str(), asked.join(" ")))
        ));
    }
    let names: Vec<&str> = known.iter().filter_map(|t| t.name.as_deref()).collect();
    let dirs: Vec<&str> = known.iter().map(|t| t.dir.as_str()).collect();
    let hints: Vec<String> =
        cmd.projects
            .iter()
            .filter_map(|p| crate::names::closest(p, names.iter().copied()).map(|c| ("-p", p, c)))
            .chain(cmd.dirs.iter().filter_map(|d| {
                crate::names::closest(d, dirs.iter().copied()).map(|c| ("-d", d, c))
            }))
            .filter(|(_, asked, close)| asked.as_str() != *close)
            .map(|(flag, asked, close)| {
                format!(
                    "Did you mean {} instead of {}?",
                    code_span(&format!("{flag} {close}")),
                    code_span(&format!("{flag} {asked}"))
                )
            })
            .collect();
    for hint in hints.iter().take(MAX_LISTED) {
        out.push_str("\n\n");
        out.push_str(hint);
    }
    if known.is_empty() {
        out.push_str(&format!(
            "\n\nThis repository has no bosun config, so a project is a directory of `.tf` \
             files: name it with {}.",
            code_span(&format!("{name} plan -d <dir>"))
        ));
    } else {
        out.push_str("\n\nProjects in the repo config:\n\n");
        out.push_str(&list(known.iter().map(|t| {
            format!(
                "{} ({})",
                code_span(&t.display_name()),
                code_span(&t.command(&name, "plan"))
            )
        })));
    }
    out.push('\n');
    no_mentions(&out)
}
