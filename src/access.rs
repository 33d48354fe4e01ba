//! Who may do what, pure: the permission comment commands take, who may apply, and whether
//! pull requests from forks are served. The workflows read GitHub (the commenter's permission,
//! team memberships, whether a pull request is a fork) and decide here.

use std::fmt;

use crate::github::Permission;

/// An organisation's team, as settings name it: `org/team-slug`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub org: String,
    pub slug: String,
}

impl Team {
    /// Parses `org/team-slug`; says what is wrong otherwise.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let ok = |part: &str| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        };
        match s.split_once('/') {
            Some((org, slug)) if ok(org) && ok(slug) => Ok(Self {
                org: org.to_owned(),
                slug: slug.to_owned(),
            }),
            _ => Err(format!("`{s}` is not org/team-slug")),
        }
    }
}

impl fmt::Display for Team {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.org, self.slug)
    }
}

/// The server's rules of who may do what (BOSUN_COMMAND_PERMISSION, BOSUN_APPLY_USERS,
/// BOSUN_APPLY_TEAMS, BOSUN_ALLOW_FORK_PRS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPolicy {
    /// The least permission on the repository a commenter needs to run commands.
    pub command_permission: Permission,
    /// When this or `apply_teams` is not empty, only these logins (or team members) may apply.
    pub apply_users: Vec<String>,
    pub apply_teams: Vec<Team>,
    /// Whether pull requests from forks are planned and take commands.
    pub allow_fork_prs: bool,
}

impl Default for AccessPolicy {
    fn default() -> Self {
        Self {
            command_permission: Permission::Write,
            apply_users: Vec::new(),
            apply_teams: Vec::new(),
            allow_fork_prs: false,
        }
    }
}

impl AccessPolicy {
    /// Whether someone with permission `has` may run commands: the one threshold every
    /// command (and `unlock`, for others than the author) is held to.
    pub fn may_command(&self, has: Permission) -> bool {
        has >= self.command_permission && has > Permission::None
    }

    /// Whether `apply` is limited to listed users and teams.
    pub fn apply_limited(&self) -> bool {
        !(self.apply_users.is_empty() && self.apply_teams.is_empty())
    }

    /// Whether `login` is one of the listed users (GitHub logins ignore case).
    pub fn listed_user(&self, login: &str) -> bool {
        self.apply_users
            .iter()
            .any(|u| u.trim_start_matches('@').eq_ignore_ascii_case(login))
    }

    /// Whether a pull request (a fork or not) is served: planned and answered.
    pub fn serves(&self, from_fork: bool) -> bool {
        !from_fork || self.allow_fork_prs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_orders_github_roles() {
        let p = AccessPolicy::default();
        assert!(!p.may_command(Permission::Read));
        assert!(!p.may_command(Permission::Triage));
        assert!(p.may_command(Permission::Write));
        assert!(p.may_command(Permission::Admin));
        let triage = AccessPolicy {
            command_permission: Permission::Triage,
            ..p.clone()
        };
        assert!(triage.may_command(Permission::Triage));
        assert!(!triage.may_command(Permission::Read));
        let none = AccessPolicy {
            command_permission: Permission::None,
            ..p
        };
        assert!(!none.may_command(Permission::None), "never without access");
    }

    #[test]
    fn teams_parse_and_users_match_without_case() {
        assert_eq!(
            Team::parse(" acme/infra-admins ").unwrap().to_string(),
            "acme/infra-admins"
        );
        for bad in ["acme", "/x", "acme/", "a/b/c", "acme/x y"] {
            assert!(Team::parse(bad).is_err(), "{bad}");
        }
        let p = AccessPolicy {
            apply_users: vec!["Alice".into(), "@bob".into()],
            ..AccessPolicy::default()
        };
        assert!(p.apply_limited());
        assert!(p.listed_user("alice") && p.listed_user("BOB"));
        assert!(!p.listed_user("carol"));
        assert!(!AccessPolicy::default().apply_limited());
    }

    #[test]
    fn forks_are_served_only_when_allowed() {
        let p = AccessPolicy::default();
        assert!(p.serves(false) && !p.serves(true));
        let open = AccessPolicy {
            allow_fork_prs: true,
            ..p
        };
        assert!(open.serves(true));
    }
}
