//! Custom workflows (Atlantis's `workflows:` schema, plus bosun's `network` switch): what a
//! project runs instead of the default `init → workspace → plan → show` and `apply`.

use super::{Ctx, yaml::Node};
use crate::config::repo::ConfigError;

/// A workflow a repo config defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workflow {
    pub name: String,
    /// The plan steps; `None`: bosun's default plan.
    pub plan: Option<Vec<WorkflowStep>>,
    /// The apply steps; `None`: bosun's default apply.
    pub apply: Option<Vec<WorkflowStep>>,
    /// Whether the project's commands may use the network (bosun's own key, default `true`;
    /// `false` only narrows what the server allows).
    pub network: bool,
}

/// One step of a workflow stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkflowStep {
    /// `terraform init`, with extra arguments.
    Init { extra_args: Vec<String> },
    /// `terraform plan` into the planfile (plan stage only).
    Plan { extra_args: Vec<String> },
    /// `terraform apply` of the planfile (apply stage only).
    Apply { extra_args: Vec<String> },
    /// `/bin/sh -c <command>`, sandboxed like Terraform.
    Run(String),
    /// An environment variable for the steps after it.
    Env { name: String, value: EnvValue },
}

/// Where an `env` step's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    /// Given as is.
    Value(String),
    /// The trimmed output of a shell command (run sandboxed).
    Command(String),
}

/// Which stage a list of steps is for: `plan` may not apply, `apply` may not plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Plan,
    Apply,
    /// Atlantis's other stages: parsed strictly, never run by bosun.
    Other,
}

const STAGES: &[&str] = &[
    "plan",
    "apply",
    "policy_check",
    "import",
    "state_rm",
    "network",
];

const STEP_KEYS: &[&str] = &["init", "plan", "apply", "run", "env"];

/// Parses the workflow `name` at `path` (`workflows.<name>`).
pub(super) fn workflow(
    ctx: &Ctx,
    name: String,
    node: &Node,
    path: &str,
) -> Result<Workflow, ConfigError> {
    let mut w = Workflow {
        name,
        plan: None,
        apply: None,
        network: true,
    };
    for (key, _, v) in ctx.entries(node, path, STAGES)? {
        let kpath = format!("{path}.{key}");
        if key == "network" {
            w.network = ctx.bool(v, &kpath)?;
            continue;
        }
        let stage = match key.as_str() {
            "plan" => Stage::Plan,
            "apply" => Stage::Apply,
            _ => Stage::Other,
        };
        let mut steps = Vec::new();
        for (_, _, sv) in ctx.entries(v, &kpath, &["steps"])? {
            let spath = format!("{kpath}.steps");
            for (i, item) in ctx.seq(sv, &spath)?.iter().enumerate() {
                steps.push(step(ctx, item, &format!("{spath}[{i}]"), stage)?);
            }
        }
        match stage {
            Stage::Plan => w.plan = Some(steps),
            Stage::Apply => w.apply = Some(steps),
            Stage::Other => {}
        }
    }
    Ok(w)
}

fn step(ctx: &Ctx, node: &Node, path: &str, stage: Stage) -> Result<WorkflowStep, ConfigError> {
    use super::yaml::Value;
    let (kind, at, body) = match &node.value {
        Value::Scalar(s, _) => (s.clone(), node, None),
        Value::Map(_) => {
            let mut entries = ctx.entries(node, path, STEP_KEYS)?;
            if entries.len() != 1 {
                return Err(ctx.err(
                    node,
                    path,
                    "a step is one key: init, plan, apply, run or env",
                ));
            }
            let Some((kind, k, v)) = entries.pop() else {
                return Err(ctx.err(
                    node,
                    path,
                    "a step is one key: init, plan, apply, run or env",
                ));
            };
            // `- init:` with nothing after it is the bare step.
            let empty = matches!(&v.value, Value::Scalar(s, false) if s.is_empty());
            (kind, k, (!empty).then_some(v))
        }
        Value::Seq(_) => {
            return Err(ctx.err(node, path, "expected a step: init, plan, apply, run or env"));
        }
    };
    let kpath = format!("{path}.{kind}");
    let extra_args = |body: Option<&Node>| match body {
        None => Ok(Vec::new()),
        Some(b) => {
            let mut args = Vec::new();
            for (_, _, v) in ctx.entries(b, &kpath, &["extra_args"])? {
                args = ctx.strings(v, &format!("{kpath}.extra_args"))?;
            }
            Ok(args)
        }
    };
    match kind.as_str() {
        "init" => Ok(WorkflowStep::Init {
            extra_args: extra_args(body)?,
        }),
        "plan" if stage == Stage::Apply => Err(ctx.err(
            at,
            path,
            "a `plan` step belongs in the plan steps, not the apply steps",
        )),
        "plan" => Ok(WorkflowStep::Plan {
            extra_args: extra_args(body)?,
        }),
        "apply" if stage == Stage::Plan => Err(ctx.err(
            at,
            path,
            "an `apply` step belongs in the apply steps, not the plan steps",
        )),
        "apply" => Ok(WorkflowStep::Apply {
            extra_args: extra_args(body)?,
        }),
        "run" => match body {
            Some(b) => Ok(WorkflowStep::Run(ctx.string(b, &kpath)?)),
            None => Err(ctx.err(at, path, "a `run` step needs a command: `run: <command>`")),
        },
        "env" => match body {
            Some(b) => env(ctx, b, &kpath),
            None => Err(ctx.err(
                at,
                path,
                "an `env` step needs `name` and `value` or `command`",
            )),
        },
        other => {
            let hint = crate::names::closest(other, STEP_KEYS.iter().copied())
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            Err(ctx.err(
                at,
                path,
                format!("`{other}` is not a step: use init, plan, apply, run or env{hint}"),
            ))
        }
    }
}

fn env(ctx: &Ctx, node: &Node, path: &str) -> Result<WorkflowStep, ConfigError> {
    let (mut name, mut value) = (None, None);
    for (key, _, v) in ctx.entries(node, path, &["name", "value", "command"])? {
        let kpath = format!("{path}.{key}");
        match key.as_str() {
            "name" => {
                let n = ctx.string(v, &kpath)?;
                let ok = n
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !ok {
                    return Err(ctx.err(v, &kpath, "not a usable variable name"));
                }
                name = Some(n);
            }
            _ if value.is_some() => {
                return Err(ctx.err(v, &kpath, "give either `value` or `command`, not both"));
            }
            "value" => value = Some(EnvValue::Value(scalar(ctx, v, &kpath)?)),
            _ => value = Some(EnvValue::Command(ctx.string(v, &kpath)?)),
        }
    }
    match (name, value) {
        (Some(name), Some(value)) => Ok(WorkflowStep::Env { name, value }),
        (None, _) => Err(ctx.err(node, &format!("{path}.name"), "missing")),
        (_, None) => Err(ctx.err(node, path, "missing `value` or `command`")),
    }
}

/// Any scalar, the empty string included.
fn scalar(ctx: &Ctx, node: &Node, path: &str) -> Result<String, ConfigError> {
    match &node.value {
        super::yaml::Value::Scalar(s, _) => Ok(s.clone()),
        _ => Err(ctx.err(node, path, "expected a string")),
    }
}
