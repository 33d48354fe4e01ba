//! Replies about who may do what: a commenter below the command permission, and a pull
//! request from a fork when forks are not served.

use super::{code_span, marker, one_line};
use crate::github::Permission;

/// The levels at or above `needs`, as GitHub names them (`write, maintain, admin`).
pub fn levels_from(needs: Permission) -> String {
    Permission::LEVELS
        .iter()
        .filter(|p| **p >= needs)
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a permission reads in a sentence: `read access`, `no access`.
pub fn access_name(p: Permission) -> String {
    match p {
        Permission::None => "no access".to_owned(),
        p => format!("{} access", p.as_str()),
    }
}

/// The reply when `user`, with permission `has`, comments a command (`verb`) that takes
/// `needs`: who may run commands, and that `help` is open to all.
pub fn command_not_allowed(
    command_name: &str,
    verb: &str,
    user: &str,
    has: Permission,
    needs: Permission,
) -> String {
    let name = one_line(command_name);
    format!(
        "{}\n**@{} may not run {} here:** commands on this repository take {} or more ({}), \
         and they have {}. Ask someone with {} to comment instead; {} is open to everyone.\n",
        marker("not-allowed"),
        one_line(user).replace('@', ""),
        code_span(&format!("{name} {verb}")),
        access_name(needs),
        levels_from(needs),
        access_name(has),
        access_name(needs),
        code_span(&format!("{name} help")),
    )
}

/// The reply to a command on a pull request from a fork, when forks are not served.
pub fn fork_refused(command_name: &str) -> String {
    format!(
        "{}\n**bosun does not run commands on pull requests from forks here:** anyone can \
         open one, and its code would run inside bosun. To plan this change, push its branch to this repository and open a pull request from there \
         (bosun's operator can also allow forks with `BOSUN_ALLOW_FORK_PRS`). {} still works.\n",
        marker("fork-refused"),
        code_span(&format!("{} help", one_line(command_name))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::marker_kind;

    #[test]
    fn replies_say_who_may_and_what_to_do() {
        let refused = command_not_allowed(
            "bosun",
            "plan",
            "@rita",
            Permission::Read,
            Permission::Write,
        );
        assert_eq!(marker_kind(&refused), Some("not-allowed"));
        let none = command_not_allowed(
            "bosun",
            "apply",
            "mallory",
            Permission::None,
            Permission::Triage,
        );
        let fork = fork_refused("bosun");
        assert_eq!(marker_kind(&fork), Some("fork-refused"));
        insta::assert_snapshot!([refused, none, fork].join("\n=====\n"));
    }
}
