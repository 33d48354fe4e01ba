//! The server config's `policies:` (Atlantis's shape): `owners` (who may approve any set) and
//! `policy_sets`, each `{name, path, source: local, approve_count, prevent_self_approve,
//! owners}`. A set's `path` (relative paths from the file's directory) is read here, so a set
//! whose Rego does not read or parse is refused with the file's place of `path`.

use std::path::Path;

use super::super::{ConfigError, Ctx, workflow::is_null};
use crate::config::yaml::Node;
use crate::policy::{Owners, Policies, PolicySet, Source};

const KEYS: &[&str] = &["owners", "policy_sets", "conftest_version"];
const SET_KEYS: &[&str] = &[
    "name",
    "path",
    "source",
    "approve_count",
    "prevent_self_approve",
    "owners",
];
const OWNER_KEYS: &[&str] = &["users", "teams"];

/// Reads `policies:`; `file` is the server config's path (relative set paths start there).
pub(super) fn policies(ctx: &Ctx, node: &Node, file: &str) -> Result<Policies, ConfigError> {
    let mut out = Policies::default();
    for (name, k, v) in ctx.entries(node, "policies", KEYS)? {
        let key = format!("policies.{name}");
        if is_null(v) {
            continue;
        }
        match name.as_str() {
            "owners" => out.owners = owners(ctx, v, &key)?,
            // conftest's version: bosun evaluates Rego itself, so it is read and ignored.
            "conftest_version" => {
                ctx.string(v, &key)?;
            }
            "policy_sets" => {
                for (i, item) in ctx.seq(v, &key)?.iter().enumerate() {
                    let at = format!("{key}[{i}]");
                    let set = policy_set(ctx, item, &at, file)?;
                    if out.sets.iter().any(|s| s.name == set.name) {
                        return Err(ctx.err(
                            item,
                            &format!("{at}.name"),
                            format!("the policy set `{}` is named twice", set.name),
                        ));
                    }
                    out.sets.push(set);
                }
            }
            _ => return Err(ctx.err(k, &key, "unknown key")),
        }
    }
    Ok(out)
}

fn owners(ctx: &Ctx, node: &Node, path: &str) -> Result<Owners, ConfigError> {
    let mut out = Owners::default();
    for (name, _, v) in ctx.entries(node, path, OWNER_KEYS)? {
        let key = format!("{path}.{name}");
        if is_null(v) {
            continue;
        }
        let list = ctx.strings(v, &key)?;
        if name == "users" {
            out.users = list;
        } else {
            for (i, team) in list.iter().enumerate() {
                let ok = team.split('/').count() <= 2
                    && team.split('/').all(|p| {
                        !p.is_empty()
                            && p.chars()
                                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                    });
                if !ok {
                    return Err(ctx.err(
                        v,
                        &format!("{key}[{i}]"),
                        format!("`{team}` is not a team (`org/slug` or `slug`)"),
                    ));
                }
            }
            out.teams = list;
        }
    }
    Ok(out)
}

fn policy_set(ctx: &Ctx, node: &Node, path: &str, file: &str) -> Result<PolicySet, ConfigError> {
    let mut set = PolicySet {
        name: String::new(),
        path: String::new(),
        source: Source::Local,
        approve_count: 1,
        prevent_self_approve: false,
        owners: Owners::default(),
        modules: Vec::new(),
    };
    let mut path_node = None;
    for (name, _, v) in ctx.entries(node, path, SET_KEYS)? {
        let key = format!("{path}.{name}");
        if is_null(v) {
            continue;
        }
        match name.as_str() {
            "name" => set.name = ctx.string(v, &key)?,
            "path" => {
                set.path = ctx.string(v, &key)?;
                path_node = Some((v, key));
            }
            "source" => {
                set.source = match ctx.string(v, &key)?.as_str() {
                    "local" => Source::Local,
                    "repo" => Source::Repo,
                    other => {
                        return Err(ctx.err(
                            v,
                            &key,
                            format!(
                                "`{other}` is not a source bosun reads: `local` (files on the \
                                 server) or `repo` (the repository's base branch)"
                            ),
                        ));
                    }
                }
            }
            "approve_count" => {
                let n = ctx.int(v, &key)?;
                set.approve_count = u32::try_from(n)
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| ctx.err(v, &key, "expected a number from 1 to 100"))?;
            }
            "prevent_self_approve" => set.prevent_self_approve = ctx.bool(v, &key)?,
            "owners" => set.owners = owners(ctx, v, &key)?,
            _ => return Err(ctx.err(v, &key, "unknown key")),
        }
    }
    if set.name.is_empty() {
        return Err(ctx.err(
            node,
            &format!("{path}.name"),
            "missing: each set has a name",
        ));
    }
    let Some((at, key)) = path_node else {
        return Err(ctx.err(
            node,
            &format!("{path}.path"),
            "missing: the directory (or file) of the set's Rego",
        ));
    };
    if set.source == Source::Repo {
        let inside = !set.path.starts_with('/')
            && !set.path.contains('\\')
            && set
                .path
                .trim_end_matches('/')
                .split('/')
                .all(|p| !p.is_empty() && p != "." && p != ".." && !p.contains('\0'));
        if !inside {
            return Err(ctx.err(
                at,
                &key,
                format!(
                    "`{}` is not a relative path inside the repository",
                    set.path
                ),
            ));
        }
        return Ok(set);
    }
    let relative_to = Path::new(file).parent().unwrap_or(Path::new("."));
    let full = relative_to.join(&set.path);
    set.modules = crate::policy::load(&full).map_err(|why| ctx.err(at, &key, why))?;
    set.path = full.display().to_string();
    Ok(set)
}
