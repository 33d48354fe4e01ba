//! Atlantis's mode keys, accepted only where the mode is what bosun does (so the key acts);
//! the other modes are refused with a clear error rather than ignored.

use super::yaml::Node;
use super::{ConfigError, Ctx, is_null};

/// Atlantis's `repo_locks`: bosun always locks a project when it plans it, which is
/// Atlantis's `on_plan` (its default); the other modes are refused, not ignored.
pub(super) fn repo_locks(ctx: &Ctx, node: &Node, key: &str) -> Result<(), ConfigError> {
    if is_null(node) {
        return Ok(());
    }
    for (_, _, v) in ctx.entries(node, key, &["mode"])? {
        let path = format!("{key}.mode");
        if is_null(v) {
            continue;
        }
        match ctx.string(v, &path)?.as_str() {
            "on_plan" => {}
            mode @ ("on_apply" | "disabled") => {
                return Err(ctx.err(
                    v,
                    &path,
                    format!(
                        "bosun always locks a project's dir and workspace when it plans it \
                         (`on_plan`); `{mode}` is not supported yet"
                    ),
                ));
            }
            other => {
                return Err(ctx.err(
                    v,
                    &path,
                    format!("`{other}` is not one of on_plan, on_apply, disabled"),
                ));
            }
        }
    }
    Ok(())
}

/// Atlantis's `autodiscover`: with a repo config bosun plans only the projects it lists, which
/// is Atlantis's `mode: disabled`; discovering more (`auto`, `enabled`, `ignore_paths`) is
/// refused, not ignored.
pub(super) fn autodiscover(ctx: &Ctx, node: &Node, key: &str) -> Result<(), ConfigError> {
    let mut disabled = false;
    for (name, k, v) in ctx.entries(node, key, &["mode", "ignore_paths"])? {
        let path = format!("{key}.{name}");
        if name == "ignore_paths" {
            return Err(ctx.err(
                k,
                &path,
                "bosun does not discover projects beyond the config yet, so there is nothing \
                 to ignore",
            ));
        }
        match ctx.string(v, &path)?.as_str() {
            "disabled" => disabled = true,
            mode @ ("auto" | "enabled") => {
                return Err(ctx.err(
                    v,
                    &path,
                    format!(
                        "with a repo config bosun plans only the projects it lists \
                         (`disabled`); `{mode}` is not supported yet"
                    ),
                ));
            }
            other => {
                return Err(ctx.err(
                    v,
                    &path,
                    format!("`{other}` is not one of auto, enabled, disabled"),
                ));
            }
        }
    }
    if disabled {
        Ok(())
    } else {
        Err(ctx.err(
            node,
            key,
            "give `mode: disabled` (what bosun does with a repo config: it plans only the \
             projects listed); Atlantis's default `auto` is not supported yet",
        ))
    }
}
