//! Custom workflows (Atlantis's `workflows:` schema, plus bosun's `network` switch): what a
//! project runs instead of the default `init → workspace → plan → show` and `apply`.

use super::shell_step::{self, Kind, ShellCommand};
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
    /// Atlantis's other stages (`policy_check`, `import`, `state_rm`) as the file gives them,
    /// in its order, parsed strictly: `import` and `state_rm` are what the `import` and
    /// `state rm` commands run; `policy_check` is never run (bosun has no policy checks).
    pub other_stages: Vec<(String, Vec<OtherStep>)>,
}

/// A step of a stage other than plan and apply: one of the plan and apply steps, or a step only
/// those stages have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OtherStep {
    Common(WorkflowStep),
    /// `show` (policy_check stage).
    Show,
    /// `policy_check` (policy_check stage).
    PolicyCheck {
        extra_args: Vec<String>,
    },
    /// `import` (import stage).
    Import {
        extra_args: Vec<String>,
    },
    /// `state_rm` (state_rm stage).
    StateRm {
        extra_args: Vec<String>,
    },
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
    /// `sh -c <command>` (or the step's `shell` and `shellArgs`), sandboxed like Terraform.
    Run(ShellCommand),
    /// A command printing `NAME=VALUE,NAME=VALUE`: those variables for the steps after it.
    MultiEnv(ShellCommand),
    /// An environment variable for the steps after it.
    Env { name: String, value: EnvValue },
}

/// Where an `env` step's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    /// Given as is.
    Value(String),
    /// The trimmed output of a shell command (run sandboxed).
    Command(ShellCommand),
}

/// Which stage a list of steps is for: `plan` may not apply, `apply` may not plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Plan,
    Apply,
    /// Atlantis's other stages: `import` and `state_rm` run by their commands, `policy_check`
    /// parsed strictly and never run.
    PolicyCheck,
    Import,
    StateRm,
}

impl Stage {
    /// The step kinds the stage takes besides `init`, `run` and `env`.
    fn own_steps(self) -> &'static [&'static str] {
        match self {
            Self::Plan => &["plan"],
            Self::Apply => &["apply"],
            Self::PolicyCheck => &["plan", "show", "policy_check"],
            Self::Import => &["import"],
            Self::StateRm => &["state_rm"],
        }
    }
}

const STAGES: &[&str] = &[
    "plan",
    "apply",
    "policy_check",
    "import",
    "state_rm",
    "network",
];

const STEP_KEYS: &[&str] = &[
    "init",
    "plan",
    "apply",
    "run",
    "env",
    "multienv",
    "show",
    "policy_check",
    "import",
    "state_rm",
];

/// Whether a node is YAML's null (`~`, `null` or nothing): Atlantis reads it as absent.
pub(super) fn is_null(node: &Node) -> bool {
    matches!(&node.value, super::yaml::Value::Scalar(s, false)
        if s.is_empty() || s == "~" || s.eq_ignore_ascii_case("null"))
}

/// Parses the workflow `name` at `path` (`workflows.<name>`); `version` 2 shell-splits and
/// rejoins the plan and apply stages' `run` commands, as Atlantis's version 2 does.
pub(super) fn workflow(
    ctx: &Ctx,
    name: String,
    node: &Node,
    path: &str,
    version: i64,
) -> Result<Workflow, ConfigError> {
    let mut w = Workflow {
        name,
        plan: None,
        apply: None,
        network: true,
        other_stages: Vec::new(),
    };
    // `name: ~` is a workflow of Atlantis's default stages.
    if is_null(node) {
        return Ok(w);
    }
    for (key, _, v) in ctx.entries(node, path, STAGES)? {
        let kpath = format!("{path}.{key}");
        if key == "network" {
            w.network = ctx.bool(v, &kpath)?;
            continue;
        }
        let stage = match key.as_str() {
            "plan" => Stage::Plan,
            "apply" => Stage::Apply,
            "policy_check" => Stage::PolicyCheck,
            "import" => Stage::Import,
            _ => Stage::StateRm,
        };
        // A stage, or its `steps`, given as null or nothing: the stage's default steps.
        let mut steps = None;
        if !is_null(v) {
            for (_, _, sv) in ctx.entries(v, &kpath, &["steps"])? {
                if is_null(sv) {
                    continue;
                }
                let spath = format!("{kpath}.steps");
                let mut list = Vec::new();
                for (i, item) in ctx.seq(sv, &spath)?.iter().enumerate() {
                    list.push(step(ctx, item, &format!("{spath}[{i}]"), stage, version)?);
                }
                steps = Some(list);
            }
        }
        let common = |steps: Option<Vec<OtherStep>>| {
            steps.map(|s| {
                s.into_iter()
                    .filter_map(|s| match s {
                        OtherStep::Common(s) => Some(s),
                        _ => None,
                    })
                    .collect()
            })
        };
        match stage {
            Stage::Plan => w.plan = common(steps),
            Stage::Apply => w.apply = common(steps),
            _ => {
                if let Some(steps) = steps {
                    w.other_stages.push((key, steps));
                }
            }
        }
    }
    Ok(w)
}

fn step(
    ctx: &Ctx,
    node: &Node,
    path: &str,
    stage: Stage,
    version: i64,
) -> Result<OtherStep, ConfigError> {
    use super::yaml::Value;
    let (kind, at, body) = match &node.value {
        Value::Scalar(s, _) => (s.clone(), node, None),
        Value::Map(_) => {
            let mut entries = ctx.entries(node, path, STEP_KEYS)?;
            if entries.len() != 1 {
                return Err(ctx.err(
                    node,
                    path,
                    "a step is one key: init, plan, apply, run, env or multienv",
                ));
            }
            let Some((kind, k, v)) = entries.pop() else {
                return Err(ctx.err(
                    node,
                    path,
                    "a step is one key: init, plan, apply, run, env or multienv",
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
    let own = stage.own_steps();
    let known = STEP_KEYS.contains(&kind.as_str());
    if known
        && !["init", "run", "env", "multienv"].contains(&kind.as_str())
        && !own.contains(&kind.as_str())
    {
        let message = match (kind.as_str(), stage) {
            ("plan", Stage::Apply) => {
                "a `plan` step belongs in the plan steps, not the apply steps".to_owned()
            }
            ("apply", Stage::Plan) => {
                "an `apply` step belongs in the apply steps, not the plan steps".to_owned()
            }
            _ => format!(
                "`{kind}` steps do not belong in this stage (it takes init, {}, run or env)",
                own.join(", ")
            ),
        };
        return Err(ctx.err(at, path, message));
    }
    let common = |s| Ok(OtherStep::Common(s));
    match kind.as_str() {
        "init" => common(WorkflowStep::Init {
            extra_args: extra_args(body)?,
        }),
        "plan" => common(WorkflowStep::Plan {
            extra_args: extra_args(body)?,
        }),
        "apply" => common(WorkflowStep::Apply {
            extra_args: extra_args(body)?,
        }),
        "show" => {
            extra_args(body)?;
            Ok(OtherStep::Show)
        }
        "policy_check" => Ok(OtherStep::PolicyCheck {
            extra_args: extra_args(body)?,
        }),
        "import" => Ok(OtherStep::Import {
            extra_args: extra_args(body)?,
        }),
        "state_rm" => Ok(OtherStep::StateRm {
            extra_args: extra_args(body)?,
        }),
        kind @ ("run" | "multienv") => {
            let what = if kind == "run" {
                Kind::Run
            } else {
                Kind::MultiEnv
            };
            let mut cmd = match body {
                Some(b) if matches!(b.value, Value::Map(_)) => {
                    let entries = ctx.entries(b, &kpath, shell_step::KEYS)?;
                    shell_step::command(ctx, b, &kpath, what, &entries)?
                        .ok_or_else(|| ctx.err(b, &format!("{kpath}.command"), "missing"))?
                }
                Some(b) => ShellCommand::plain(ctx.string(b, &kpath)?),
                None => {
                    return Err(ctx.err(
                        at,
                        path,
                        format!("a `{kind}` step needs a command: `{kind}: <command>`"),
                    ));
                }
            };
            // Atlantis's version 2 re-splits `run` commands of the plan and apply stages.
            if what == Kind::Run && version == 2 && matches!(stage, Stage::Plan | Stage::Apply) {
                let b = body.unwrap_or(at);
                cmd.command = shell_words(&cmd.command)
                    .map_err(|e| {
                        ctx.err(b, &kpath, format!("unable to parse `{}`: {e}", cmd.command))
                    })?
                    .join(" ");
            }
            common(match what {
                Kind::Run => WorkflowStep::Run(cmd),
                _ => WorkflowStep::MultiEnv(cmd),
            })
        }
        "env" => match body {
            Some(b) => env(ctx, b, &kpath).map(OtherStep::Common),
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
                format!(
                    "`{other}` is not a step: use init, plan, apply, run, env or multienv{hint}"
                ),
            ))
        }
    }
}

/// Splits a command into words as Atlantis's version 2 does (Go's `google/shlex`): blanks
/// separate words; `'…'` is literal; `"…"` is literal but for `\`, which keeps the next
/// character; outside quotes `\` keeps the next character; `#` at a word's start comments
/// out the rest of the line.
fn shell_words(text: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else {
            return Ok(words);
        };
        if first == '#' {
            while chars.next_if(|&c| c != '\n').is_some() {}
            continue;
        }
        let mut word = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
            match c {
                '\\' => word.push(chars.next().ok_or("EOF found after escape character")?),
                '\'' => loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("EOF found when expecting closing quote"),
                    }
                },
                '"' => loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => word.push(
                            chars
                                .next()
                                .ok_or("EOF found when expecting closing quote")?,
                        ),
                        Some(c) => word.push(c),
                        None => return Err("EOF found when expecting closing quote"),
                    }
                },
                c => word.push(c),
            }
        }
        words.push(word);
    }
}

fn env(ctx: &Ctx, node: &Node, path: &str) -> Result<WorkflowStep, ConfigError> {
    let (mut name, mut value) = (None, None);
    let entries = ctx.entries(
        node,
        path,
        &["name", "value", "command", "shell", "shellArgs"],
    )?;
    let command = shell_step::command(ctx, node, path, Kind::Env, &entries)?;
    for (key, _, v) in &entries {
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
            "shell" | "shellArgs" => {}
            _ if value.is_some() => {
                return Err(ctx.err(v, &kpath, "give either `value` or `command`, not both"));
            }
            "value" => value = Some(EnvValue::Value(scalar(ctx, v, &kpath)?)),
            _ => value = command.clone().map(EnvValue::Command),
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
