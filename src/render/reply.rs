//! bosun's other comments: command errors, help, version, config and checkout problems,
//! internal errors and commands that matched no project. Each starts with its marker.

use super::{code_span, fenced, marker, no_mentions, one_line};
use crate::command::{Command, CommandError};
use crate::config::repo::ConfigError;
use crate::ids::PrNumber;
use crate::ids::{Dir, Workspace};
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

/// `s` with its first letter in upper case.
pub(super) fn capitalised(s: &str) -> String {
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

/// The reply to a comment that starts with `terraform` (or a near miss of the name `atlantis`)
/// instead of a command name.
pub fn wrong_name(command_name: &str, given: &str) -> String {
    format!(
        "{}\nDid you mean to use {} instead of {}?\n",
        marker("wrong-name"),
        code_span(&one_line(command_name)),
        code_span(&no_mentions(&one_line(given)))
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

/// The reply when the base branch's repo config, which supplies the apply policy, is invalid:
/// nothing is applied until it is fixed there.
pub fn base_config_error(e: &ConfigError) -> String {
    let place = format!("{}:{}:{}", e.file, e.line, e.col);
    format!(
        "{}\n**The base branch's {} is not valid**, so bosun did not apply: the apply policy \
         (requirements, `apply_on_merge`, `automerge`, workflows) comes from the base branch.\n\n\
         At {}: {}\n\n\
         Fix the file on the base branch, then comment again.\n",
        marker("base-config-error"),
        code_span(&e.file),
        code_span(&place),
        no_mentions(&one_line(&e.message))
    )
}

/// The plan comment's note when the pull request changes policy keys of the repo config.
pub const POLICY_AFTER_MERGE: &str = "This pull request changes the repo config's policy keys \
    (`apply_requirements`, `apply_on_merge`, `automerge`, workflows): policy changes in this PR \
    take effect after merge; until then the base branch's policy applies.";

/// The plan comment's note while applies are locked (`POST /api/apply-lock`).
pub fn apply_locked(locked_at: crate::store::Millis) -> String {
    format!(
        "**Applies are disabled:** an operator locked every apply (`POST /api/apply-lock`) at \
         {}; `apply` is refused until it is unlocked.",
        crate::render::apply::apply_lock_time(locked_at)
    )
}

/// The plan comment's note when a merge found applies locked: nothing applied on merge.
pub fn apply_locked_on_merge(
    merge_sha: &str,
    command_name: &str,
    locked_at: crate::store::Millis,
) -> String {
    format!(
        "**Not applied on merge.** {} Once it is unlocked, comment `{} apply` here to apply \
         this plan of the merge commit `{}`.",
        apply_locked(locked_at),
        one_line(command_name),
        one_line(merge_sha)
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

/// A plan asked for on a closed pull request.
pub fn pr_closed(command_name: &str) -> String {
    format!(
        "{}\nThis pull request is closed, so bosun does not plan it. \
         Reopen it and comment `{command_name} plan` again.\n",
        marker("pr-closed")
    )
}

/// The reply when a job of a pull request failed for good: `what` it was doing, `reason`
/// (already redacted, shortened here) and the job to quote.
pub fn job_failed(what: &str, job_id: i64, reason: &str) -> String {
    format!(
        "{}\n**bosun could not {what}**, for a reason on bosun's side (or GitHub's), not in this \
         pull request:\n\n{}\nPush a commit or comment to try again; if it keeps failing, ask the \
         people who run bosun and quote {}.\n",
        marker("job-failed"),
        fenced("text", &shorten(reason, 1000)),
        code_span(&format!("job {job_id}"))
    )
}

/// At most `max` characters of `text`, marked when cut.
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// The reply when something failed on bosun's side. `what` is what the operator can look
/// up in bosun's logs (e.g. a job id); no error details, which might hold secrets.
pub fn internal_error(what: &str) -> String {
    format!(
        "{}\n**Something went wrong on bosun's side**, not in this pull request. \
         Try again later; if it keeps failing, ask the people who run bosun and quote {}.\n",
        marker("internal-error"),
        code_span(what)
    )
}

/// The reply to a `-p` pattern that cannot be used (see [`crate::command::NameMatcher`]).
pub fn bad_project_pattern(bad: &crate::command::BadPattern) -> String {
    format!(
        "{}\n**{} is not a usable pattern:** {}.\n\nIt starts with a prefix the repo \
         config's `allowed_regexp_prefixes` lists, so it is read as a regular expression \
         matched against whole project names (Rust `regex` syntax).\n",
        marker("bad-project-pattern"),
        code_span(&format!("-p {}", bad.value)),
        no_mentions(&one_line(&bad.why))
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

/// The reply to a `plan` or `apply` (`verb`) whose `-d` reaches several named projects on
/// one dir and workspace: it names them and says to pick one with `-p`.
pub fn ambiguous(command_name: &str, verb: &str, found: &crate::projects::Ambiguous) -> String {
    let name = one_line(command_name);
    let mut out = format!(
        "{}
**Which project?** {} projects are on dir {} and workspace {}: `-d` cannot tell          them apart, so bosun did not {verb} anything. Name one with `-p`:

",
        marker("ambiguous"),
        found.names.len(),
        code_span(found.dir.as_str()),
        code_span(found.workspace.as_str()),
    );
    out.push_str(&list(
        found
            .names
            .iter()
            .map(|n| code_span(&format!("{name} {verb} -p {n}"))),
    ));
    out.push('\n');
    no_mentions(&out)
}

/// The reply when a plan waits for locks other pull requests hold: which projects, held by
/// which pull request, and that bosun plans by itself once they are released.
pub fn locked(command_name: &str, asked: &[Target], held: &[(Target, PrNumber)]) -> String {
    let name = one_line(command_name);
    let mut out = format!(
        "{}\n**Waiting for locks.** bosun plans a project for one pull request at a time, \
         and these are `locked`:\n\n",
        marker("locked")
    );
    out.push_str(&list(held.iter().map(|(t, pr)| {
        format!("{} is `locked` by #{pr}", code_span(&t.display_name()))
    })));
    let others: Vec<&Target> = asked
        .iter()
        .filter(|t| {
            !held
                .iter()
                .any(|(h, _)| h.dir == t.dir && h.workspace == t.workspace)
        })
        .collect();
    if !others.is_empty() {
        out.push_str("\n\nA run takes all its locks or none, so these wait too: ");
        out.push_str(
            &others
                .iter()
                .take(MAX_LISTED)
                .map(|t| code_span(&t.display_name()))
                .collect::<Vec<_>>()
                .join(", "),
        );
        out.push('.');
    }
    out.push_str(&format!(
        "\n\n**Nothing to do:** this pull request is queued, and bosun plans it by itself as \
         soon as the locks are released (when the other pull request is merged and applied, \
         or closed). Its author can release them sooner with {} on that pull request.\n",
        code_span(&format!("{name} unlock"))
    ));
    out
}

/// The reply after `unlock`: what was released (and whose plans went with it).
pub fn unlocked(command_name: &str, released: &[Target]) -> String {
    let name = one_line(command_name);
    if released.is_empty() {
        return format!(
            "{}\nThis pull request holds no lock, so there was nothing to unlock.\n",
            marker("unlocked")
        );
    }
    format!(
        "{}\n**Unlocked**; the plans of these projects were discarded:\n\n{}\n\n\
         Any pull request waiting for them is planned now. To plan this one again, \
         comment {}.\n",
        marker("unlocked"),
        list(released.iter().map(|t| code_span(&t.display_name()))),
        code_span(&format!("{name} plan"))
    )
}

/// The reply when someone unlocked a pull request's projects through bosun's API or pages.
pub fn unlocked_by(command_name: &str, released: &[Target], by: &str, reason: &str) -> String {
    let reason: String = one_line(reason).chars().take(300).collect();
    format!(
        "{}\n**Unlocked by {}** through bosun, because: {}\n\nThe plans of these projects \
         were discarded:\n\n{}\n\nAny pull request waiting for them is planned now. To plan \
         this one again, comment {}.\n",
        marker("unlocked"),
        one_line(by),
        code_span(&reason),
        list(released.iter().map(|t| code_span(&t.display_name()))),
        code_span(&format!("{} plan", one_line(command_name)))
    )
}

/// The reply when someone without the right may not run `verb`.
pub fn not_allowed(verb: &str, user: &str, has: &str, needs: &str) -> String {
    format!(
        "{}\n**@{} may not {verb} here:** it takes {needs} on this repository, and they have \
         {has}. Ask someone with {needs} to comment instead.\n",
        marker("not-allowed"),
        one_line(user).replace('@', ""),
    )
}

/// The reply when an apply was cut off (bosun stopped while Terraform ran): it is never run
/// again by itself.
pub fn apply_interrupted(command_name: &str, targets: &[Target]) -> String {
    let name = one_line(command_name);
    format!(
        "{}\n**An apply was interrupted:** bosun stopped while Terraform was applying\n\n{}\n\n\
         bosun does not run an apply again by itself. Look at the state (resources may be \
         partly changed, and Terraform's state lock may still be held), then plan again with \
         {} and apply the new plan.\n",
        marker("apply-interrupted"),
        list(targets.iter().map(|t| code_span(&t.display_name()))),
        code_span(&format!("{name} plan"))
    )
}

/// The reply when `automerge` could not merge after every project was applied.
/// The reply when every project is applied and `automerge` is about to merge (Atlantis's).
pub fn automerging() -> String {
    format!(
        "{}\nAutomatically merging because all plans have been successfully applied.\n",
        marker("automerge")
    )
}

/// The reply when a closed pull request's locks are released (Atlantis's closing comment):
/// each dir with its workspaces; `released` is sorted by dir then workspace.
pub fn closed(released: &[Target]) -> String {
    let mut dirs: Vec<(&Dir, Vec<&Workspace>)> = Vec::new();
    for t in released {
        match dirs.last_mut() {
            Some((dir, workspaces)) if *dir == &t.dir => {
                if !workspaces.contains(&&t.workspace) {
                    workspaces.push(&t.workspace);
                }
            }
            _ => dirs.push((&t.dir, vec![&t.workspace])),
        }
    }
    let lines = dirs.iter().map(|(dir, workspaces)| {
        let noun = if workspaces.len() == 1 {
            "workspace"
        } else {
            "workspaces"
        };
        let names: Vec<String> = workspaces.iter().map(|w| code_span(w.as_str())).collect();
        format!(
            "dir: {} {noun}: {}",
            code_span(dir.as_str()),
            names.join(", ")
        )
    });
    format!(
        "{}\nLocks and plans deleted for the projects and workspaces modified in this pull \
         request:\n\n{}\n",
        marker("closed"),
        list(lines)
    )
}

pub fn automerge_failed(why: &str) -> String {
    format!(
        "{}\n**Every project is applied, but bosun could not merge this pull request** \
         (`automerge`): {}. Merge it yourself once that is sorted out.\n",
        marker("automerge-failed"),
        no_mentions(&one_line(why))
    )
}

/// The reply when projects with `apply_on_merge` were not applied because they require an
/// approval the merged pull request never had.
pub fn merged_unapproved(targets: &[Target]) -> String {
    format!(
        "{}\n**Not applied on merge:** these projects require an approval, and this pull \
         request was merged without one\n\n{}\n\nApply them from a pull request that is \
         approved.\n",
        marker("merged-unapproved"),
        list(targets.iter().map(|t| code_span(&t.display_name())))
    )
}
