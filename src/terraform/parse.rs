//! Reading Terraform's output: the structured summary from `show -json`, and from `plan`'s
//! text the part a reviewer reads and Terraform's own one-line summary. All pure.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::plan::{Action, PlanSummary, ResourceChange};

#[derive(Deserialize)]
struct ShowJson {
    #[serde(default)]
    resource_changes: Vec<RawResourceChange>,
    #[serde(default)]
    output_changes: BTreeMap<String, RawChange>,
}

#[derive(Deserialize)]
struct RawResourceChange {
    address: String,
    #[serde(default)]
    previous_address: Option<String>,
    #[serde(default)]
    deposed: Option<String>,
    change: RawChange,
}

#[derive(Deserialize)]
struct RawChange {
    #[serde(default)]
    actions: Vec<String>,
    /// Present (an object) when the resource is imported by this plan.
    #[serde(default)]
    importing: Option<serde_json::Value>,
    /// The values the digest covers (`null` when absent).
    #[serde(default)]
    before: serde_json::Value,
    #[serde(default)]
    after: serde_json::Value,
    #[serde(default)]
    after_unknown: serde_json::Value,
    #[serde(default)]
    before_sensitive: serde_json::Value,
    #[serde(default)]
    after_sensitive: serde_json::Value,
    #[serde(default)]
    replace_paths: serde_json::Value,
}

impl RawChange {
    fn is_no_op(&self) -> bool {
        self.actions.iter().all(|a| a == "no-op")
    }

    /// What the digest covers of a change: what Terraform would do and every value it
    /// would write, as one JSON value.
    fn digested(&self) -> serde_json::Value {
        serde_json::json!({
            "actions": self.actions,
            "before": self.before,
            "after": self.after,
            "after_unknown": self.after_unknown,
            "before_sensitive": self.before_sensitive,
            "after_sensitive": self.after_sensitive,
            "importing": self.importing,
            "replace_paths": self.replace_paths,
        })
    }
}

/// The SHA-256 (hex) of the canonical JSON of everything a plan would do: every resource
/// change that is not a no-op (or that imports), with its address, previous address, deposed
/// key, actions and values before and after (known, unknown and sensitive), and every output
/// that changes. Canonical: object keys sorted, no whitespace, resources by address, so two
/// plans that propose the very same changes have the same digest however Terraform ordered
/// or spaced its JSON, and a single changed value gives another.
fn digest(show: &ShowJson) -> String {
    use sha2::Digest as _;
    let mut resources: Vec<(String, serde_json::Value)> = show
        .resource_changes
        .iter()
        .filter(|rc| !rc.change.is_no_op() || rc.change.importing.is_some())
        .map(|rc| {
            let key = format!("{}\u{0}{}", rc.address, rc.deposed.as_deref().unwrap_or(""));
            let value = serde_json::json!({
                "address": rc.address,
                "previous_address": rc.previous_address,
                "deposed": rc.deposed,
                "change": rc.change.digested(),
            });
            (key, value)
        })
        .collect();
    resources.sort_by(|a, b| a.0.cmp(&b.0));
    let outputs: BTreeMap<&str, serde_json::Value> = show
        .output_changes
        .iter()
        .filter(|(_, c)| !c.is_no_op())
        .map(|(name, c)| (name.as_str(), c.digested()))
        .collect();
    let whole = serde_json::json!({
        "resource_changes": resources.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        "output_changes": outputs,
    });
    let mut text = String::new();
    canonical(&whole, &mut text);
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// `value` as JSON with object keys sorted and no whitespace.
fn canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(k) {
                    canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The action of a `change.actions` list; `None` for lists bosun has no action for
/// (`["forget"]`, which drops an object from state without destroying it).
fn action(actions: &[String]) -> Option<Action> {
    let actions: Vec<&str> = actions.iter().map(String::as_str).collect();
    match actions.as_slice() {
        ["create"] | ["create", "forget"] => Some(Action::Create),
        ["update"] => Some(Action::Update),
        ["delete"] => Some(Action::Delete),
        ["delete", "create"] | ["create", "delete"] => Some(Action::Replace),
        ["read"] => Some(Action::Read),
        ["no-op"] => Some(Action::NoOp),
        _ => None,
    }
}

/// The summary of a plan from `terraform show -json PLANFILE`'s output. Counts as Terraform
/// does (a replace is one add and one destroy; an import counts whatever else happens to
/// the resource too); `line` is left empty for the caller to fill from the plan's text.
pub fn summarise(show_json: &[u8]) -> Result<PlanSummary> {
    let show: ShowJson = serde_json::from_slice(show_json).context("reading the plan JSON")?;
    let mut summary = PlanSummary {
        digest: digest(&show),
        ..PlanSummary::default()
    };
    for rc in show.resource_changes {
        if rc.change.importing.as_ref().is_some_and(|v| !v.is_null()) {
            summary.import += 1;
        }
        let Some(action) = action(&rc.change.actions) else {
            tracing::debug!(address = %rc.address, actions = ?rc.change.actions, "unknown plan actions");
            continue;
        };
        match action {
            Action::Create => summary.add += 1,
            Action::Update => summary.change += 1,
            Action::Delete => summary.destroy += 1,
            Action::Replace => {
                summary.add += 1;
                summary.destroy += 1;
            }
            Action::Read | Action::NoOp => continue,
        }
        summary.changes.push(ResourceChange {
            address: rc.address,
            action,
        });
    }
    summary.changes.sort();
    summary.output_changes = show
        .output_changes
        .values()
        .any(|c| c.actions.iter().any(|a| a != "no-op"));
    Ok(summary)
}

/// A summary line in Terraform's words, for when its output has none (a plan that only
/// changes outputs prints no `Plan:` line).
pub fn fallback_line(summary: &PlanSummary) -> String {
    if summary.changes.is_empty() && summary.import == 0 {
        return if summary.output_changes {
            "Plan: 0 to add, 0 to change, 0 to destroy. Changes to Outputs only.".into()
        } else {
            "No changes. Your infrastructure matches the configuration.".into()
        };
    }
    let import = if summary.import > 0 {
        format!("{} to import, ", summary.import)
    } else {
        String::new()
    };
    format!(
        "Plan: {import}{} to add, {} to change, {} to destroy.",
        summary.add, summary.change, summary.destroy
    )
}

/// Terraform's own summary line from `plan` output: `Plan: 1 to add, 0 to change, 0 to
/// destroy.` or `No changes. Your infrastructure matches the configuration.`. Only
/// unindented lines count, so an attribute value in the diff cannot pose as one.
pub fn plan_line(output: &str) -> Option<String> {
    output
        .lines()
        .map(|l| l.trim_end())
        .find(|l| l.starts_with("Plan: ") || l.starts_with("No changes."))
        .map(str::to_owned)
}

/// A plan's summary read from its own human output, for its check run while `show -json`
/// still runs (the comment, the stored plan and policy checks wait for the JSON's summary,
/// and the check run is written again should that render otherwise). The counts come from
/// the `Plan:` line; the changes from the `  # ADDRESS will be created` headers (and their
/// kin) of the proposed actions only, not of the drift note above them. `None` without a
/// `Plan:` or `No changes.` line, or when the headers do not add up to the line's counts (an
/// output this does not read the way its tool meant): then the check run waits for the JSON.
/// No digest.
pub fn summarise_text(output: &str) -> Option<PlanSummary> {
    let line = plan_line(output)?;
    let mut summary = PlanSummary {
        line: line.clone(),
        ..PlanSummary::default()
    };
    if let Some(counts) = line.strip_prefix("Plan: ") {
        for part in counts.trim_end_matches('.').split(", ") {
            let Some((n, what)) = part.split_once(' ') else {
                continue;
            };
            let Ok(n) = n.parse::<u32>() else { continue };
            match what {
                "to import" => summary.import = n,
                "to add" => summary.add = n,
                "to change" => summary.change = n,
                "to destroy" => summary.destroy = n,
                _ => {}
            }
        }
    }
    let mut in_actions = false;
    for l in output.lines().map(str::trim_end) {
        // Terraform's words, or OpenTofu's.
        if l.ends_with(" will perform the following actions:") && !l.starts_with(' ') {
            in_actions = true;
            continue;
        }
        if l.starts_with("Plan: ") {
            in_actions = false;
        }
        if l.starts_with("Changes to Outputs:") {
            in_actions = false;
            summary.output_changes = true;
        }
        let header = l.strip_prefix("  # ").filter(|_| in_actions);
        if let Some(change) = header.and_then(change_header) {
            summary.changes.push(change);
        }
    }
    summary.changes.sort();
    let count = |a: Action| summary.changes.iter().filter(|c| c.action == a).count();
    let (replace, create, update, delete) = (
        count(Action::Replace),
        count(Action::Create),
        count(Action::Update),
        count(Action::Delete),
    );
    let adds_up = summary.add as usize == create + replace
        && summary.change as usize == update
        && summary.destroy as usize == delete + replace;
    adds_up.then_some(summary)
}

/// The change a `  # ADDRESS will be created` header of human plan output announces (read
/// and import-only headers announce none that a summary lists).
fn change_header(header: &str) -> Option<ResourceChange> {
    const ENDINGS: &[(&str, Action)] = &[
        (" will be created", Action::Create),
        (" will be updated in-place", Action::Update),
        (" will be destroyed", Action::Delete),
        (" is tainted, so must be replaced", Action::Replace),
        (" must be replaced", Action::Replace),
    ];
    let (address, action) = ENDINGS
        .iter()
        .find_map(|(end, action)| header.strip_suffix(end).map(|a| (a, *action)))?;
    // `ADDRESS (deposed object 1a2b3c4d)`: the JSON lists it under its address.
    let address = match address.rsplit_once(" (deposed object ") {
        Some((address, rest)) if rest.ends_with(')') => address,
        _ => address,
    };
    Some(ResourceChange {
        address: address.to_owned(),
        action,
    })
}

/// Where the part of `plan` output worth reading starts: drift, the proposed changes, no
/// changes, or output changes only.
const START: &[&str] = &[
    "Note: Objects have changed outside of Terraform",
    "Terraform used the selected providers",
    "Terraform will perform the following actions:",
    "No changes.",
    "Changes to Outputs:",
];

/// Progress lines that say nothing about the plan.
fn is_noise(line: &str) -> bool {
    const PROGRESS: &[&str] = &[
        ": Refreshing state...",
        ": Reading...",
        ": Read complete after ",
        ": Preparing import...",
    ];
    line.starts_with("Acquiring state lock")
        || line.starts_with("Releasing state lock")
        || (!line.starts_with(' ') && PROGRESS.iter().any(|p| line.contains(p)))
}

fn is_rule(line: &str) -> bool {
    !line.is_empty() && line.chars().all(|c| c == '─')
}

/// The part of `plan` output a reviewer wants: from the proposed changes (or the drift
/// note, or "No changes.") through the `Plan:` line, output changes and any `Warning:`
/// blocks — without refresh progress, state-lock messages, runs of blank lines and the
/// `Saved the plan to: …` footer.
pub fn plan_text(output: &str) -> String {
    let lines: Vec<&str> = output.lines().map(str::trim_end).collect();
    let start = lines
        .iter()
        .position(|l| START.iter().any(|s| l.starts_with(s)))
        .unwrap_or(0);
    let mut kept: Vec<&str> = Vec::new();
    for line in lines.iter().skip(start) {
        if line.starts_with("Saved the plan to:") {
            break;
        }
        if is_noise(line) || (line.is_empty() && kept.last().is_none_or(|l| l.is_empty())) {
            continue;
        }
        kept.push(line);
    }
    while kept.last().is_some_and(|l| l.is_empty() || is_rule(l)) {
        kept.pop();
    }
    kept.join("\n")
}

#[cfg(test)]
mod tests;
