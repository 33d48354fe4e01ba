//! The access settings resolved into an [`AccessPolicy`].

use super::{SettingsError, Sources};
use crate::access::{AccessPolicy, Team};
use crate::github::Permission;

/// BOSUN_COMMAND_PERMISSION, BOSUN_APPLY_USERS, BOSUN_APPLY_TEAMS and BOSUN_ALLOW_FORK_PRS.
pub(super) fn policy(sources: &Sources) -> Result<AccessPolicy, SettingsError> {
    let raw = sources.get_or_default("command_permission").trim();
    let command_permission = Permission::parse(raw)
        .filter(|p| *p != Permission::None)
        .ok_or_else(|| {
            let levels: Vec<&str> = Permission::LEVELS.iter().map(|p| p.as_str()).collect();
            SettingsError::of(
                "command_permission",
                format!("`{raw}` is not one of {}", levels.join(", ")),
            )
        })?;
    let apply_users = sources.list("apply_users");
    if let Some(bad) = apply_users.iter().find(|u| {
        let login = u.trim_start_matches('@');
        login.is_empty()
            || !login
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    }) {
        return Err(SettingsError::of(
            "apply_users",
            format!("`{bad}` is not a GitHub login"),
        ));
    }
    let apply_teams = sources
        .list("apply_teams")
        .iter()
        .map(|t| Team::parse(t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SettingsError::of("apply_teams", e))?;
    let allow_fork_prs = sources.parsed::<bool>("allow_fork_prs", "true or false")?;
    Ok(AccessPolicy {
        command_permission,
        apply_users,
        apply_teams,
        allow_fork_prs,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Settings, Sources};
    use crate::access::Team;
    use crate::github::Permission;

    fn sources(pairs: &[(&str, &str)]) -> Sources {
        let mut s = Sources::default();
        s.env.set("github_app_id", "42");
        s.env.set(
            "github_app_key_file",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keys/app.pem"),
        );
        s.env.set("github_webhook_secret", "s3cret");
        for (k, v) in pairs {
            s.env.set(k, *v);
        }
        s
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        Settings::resolve(&sources(pairs)).unwrap_err().to_string()
    }

    #[test]
    fn defaults_take_write_and_refuse_forks() {
        let a = Settings::resolve(&sources(&[])).unwrap().access;
        assert_eq!(a.command_permission, Permission::Write);
        assert!(!a.apply_limited());
        assert!(!a.allow_fork_prs);
    }

    #[test]
    fn values_are_read_and_bad_ones_named() {
        let a = Settings::resolve(&sources(&[
            ("command_permission", "Triage"),
            ("apply_users", "alice, @bob"),
            ("apply_teams", "acme/ops,acme/sre"),
            ("allow_fork_prs", "true"),
        ]))
        .unwrap()
        .access;
        assert_eq!(a.command_permission, Permission::Triage);
        assert_eq!(a.apply_users, vec!["alice", "@bob"]);
        assert_eq!(
            a.apply_teams,
            vec![
                Team::parse("acme/ops").unwrap(),
                Team::parse("acme/sre").unwrap()
            ]
        );
        assert!(a.allow_fork_prs);
        assert_eq!(
            err(&[("command_permission", "none")]),
            "BOSUN_COMMAND_PERMISSION (--command-permission): `none` is not one of read, triage, write, maintain, admin"
        );
        assert_eq!(
            err(&[("apply_teams", "ops")]),
            "BOSUN_APPLY_TEAMS (--apply-teams): `ops` is not org/team-slug"
        );
        assert_eq!(
            err(&[("apply_users", "a b")]),
            "BOSUN_APPLY_USERS (--apply-users): `a b` is not a GitHub login"
        );
        assert_eq!(
            err(&[("allow_fork_prs", "yes")]),
            "BOSUN_ALLOW_FORK_PRS (--allow-fork-prs): `yes` is not true or false"
        );
    }
}
