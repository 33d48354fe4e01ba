//! The commands of `run`, `multienv` and `env` steps as Atlantis writes them: a bare string,
//! or a map with `command`, `output` (`run` and `multienv`) and `shell` + `shellArgs`.

use super::{Ctx, yaml::Node, yaml::Value};
use crate::config::repo::ConfigError;

/// A shell command a step runs (sandboxed like Terraform).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellCommand {
    pub command: String,
    /// The shell and its arguments before the command; `None`: `sh -c`.
    pub shell: Option<Shell>,
    /// What of the output users see (comments, check runs); the logs keep it all.
    pub output: Output,
}

impl ShellCommand {
    /// `sh -c command`, everything shown.
    pub fn plain(command: impl Into<String>) -> Self {
        Self {
            command: command.into(),
            shell: None,
            output: Output::default(),
        }
    }
}

/// Atlantis's `shell` and `shellArgs`: a program found by name on the sandbox's `PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shell {
    pub program: String,
    /// Before the command; Atlantis's default is `-c`.
    pub args: Vec<String>,
}

/// Atlantis's `output` option of a step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// `hide`: none of the output is shown.
    pub hide: bool,
    /// `strip_refreshing`: everything up to the last `Refreshing state...` line is dropped.
    pub strip_refreshing: bool,
    /// `filter_regex`: each match becomes `<redacted>`, its first and second groups kept
    /// around it (Atlantis's `${1}<redacted>$2`).
    pub filter_regexes: Vec<String>,
}

/// Which step the command is for: they take different keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Run,
    MultiEnv,
    /// `env` with `command`: no `output`.
    Env,
}

/// The map form's keys other than the `env` step's `name` and `value`.
pub(super) const KEYS: &[&str] = &["command", "output", "shell", "shellArgs"];

/// Reads the map form at `path` from `entries` (already checked against the step's keys):
/// `command` is required, `shellArgs` needs `shell`.
pub(super) fn command(
    ctx: &Ctx,
    node: &Node,
    path: &str,
    kind: Kind,
    entries: &[(String, &Node, &Node)],
) -> Result<Option<ShellCommand>, ConfigError> {
    let get = |key: &str| entries.iter().find(|(k, _, _)| k == key).map(|e| e.2);
    let shell = match (get("shell"), get("shellArgs")) {
        (None, Some(args)) => {
            return Err(ctx.err(
                args,
                &format!("{path}.shellArgs"),
                "`shellArgs` goes with `shell`",
            ));
        }
        (None, None) => None,
        (Some(s), args) => Some(shell(ctx, s, args, path)?),
    };
    let Some(command) = get("command") else {
        if shell.is_some() {
            return Err(ctx.err(node, path, "`shell` goes with `command`"));
        }
        return Ok(None);
    };
    let output = match get("output") {
        None => Output::default(),
        Some(_) if kind == Kind::Env => {
            return Err(ctx.err(node, path, "an `env` step has no `output`"));
        }
        Some(o) => output(ctx, o, &format!("{path}.output"), kind)?,
    };
    Ok(Some(ShellCommand {
        command: ctx.string(command, &format!("{path}.command"))?,
        shell,
        output,
    }))
}

fn shell(ctx: &Ctx, s: &Node, args: Option<&Node>, path: &str) -> Result<Shell, ConfigError> {
    let spath = format!("{path}.shell");
    let program = ctx.string(s, &spath)?;
    if program.contains('/') || program.chars().any(char::is_whitespace) {
        return Err(ctx.err(
            s,
            &spath,
            "name the shell (`bash`): it is found on the sandbox's PATH, never a host path",
        ));
    }
    let apath = format!("{path}.shellArgs");
    let args = match args.map(|a| &a.value) {
        None => vec!["-c".to_owned()],
        // Atlantis splits a string at each space.
        Some(Value::Scalar(text, _)) => text.split(' ').map(str::to_owned).collect(),
        Some(_) => args
            .map(|a| ctx.strings(a, &apath))
            .transpose()?
            .unwrap_or_default(),
    };
    Ok(Shell { program, args })
}

fn output(ctx: &Ctx, node: &Node, path: &str, kind: Kind) -> Result<Output, ConfigError> {
    let allowed = match kind {
        Kind::MultiEnv => "show or hide",
        _ => "show, hide, strip_refreshing or filter_regex",
    };
    let mut out = Output::default();
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) if kind == Kind::Run => items.iter().collect(),
        _ => vec![node],
    };
    for (i, item) in items.into_iter().enumerate() {
        let ipath = if matches!(node.value, Value::Seq(_)) {
            format!("{path}[{i}]")
        } else {
            path.to_owned()
        };
        match &item.value {
            Value::Scalar(s, _) if s == "show" => {}
            Value::Scalar(s, _) if s == "hide" => out.hide = true,
            Value::Scalar(s, _) if s == "strip_refreshing" && kind == Kind::Run => {
                out.strip_refreshing = true;
            }
            Value::Map(_) if kind == Kind::Run => {
                for (_, _, v) in ctx.entries(item, &ipath, &["filter_regex"])? {
                    let fpath = format!("{ipath}.filter_regex");
                    let patterns = match &v.value {
                        Value::Seq(_) => ctx.strings(v, &fpath)?,
                        _ => vec![ctx.string(v, &fpath)?],
                    };
                    for p in patterns {
                        if let Err(e) = regex::Regex::new(&p) {
                            return Err(ctx.err(v, &fpath, format!("not a usable regex: {e}")));
                        }
                        out.filter_regexes.push(p);
                    }
                }
            }
            _ => return Err(ctx.err(item, &ipath, format!("expected {allowed}"))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::repo::{EnvValue, WorkflowStep, parse};

    /// The plan steps of a file whose one workflow has `step` as its one plan step.
    fn read(step: &str) -> Result<WorkflowStep, String> {
        let text =
            format!("version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - {step}\n");
        let c = parse("bosun.yaml", &text).map_err(|e| e.to_string())?;
        let mut steps = c.workflows[0].plan.clone().unwrap_or_default();
        steps.pop().ok_or_else(|| "no step".to_owned())
    }

    fn bash(args: &[&str]) -> Option<Shell> {
        Some(Shell {
            program: "bash".into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        })
    }

    #[test]
    fn run_map_form_reads_command_output_and_shell() {
        let run = |step: &str| match read(step) {
            Ok(WorkflowStep::Run(c)) => c,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            run("run: {command: echo hi}"),
            ShellCommand::plain("echo hi")
        );
        let c = run("run: {command: echo hi, output: hide}");
        assert!(c.output.hide && !c.output.strip_refreshing);
        let c = run("run: {command: x, output: strip_refreshing}");
        assert!(c.output.strip_refreshing && !c.output.hide);
        assert_eq!(
            run("run: {command: x, output: show}").output,
            Output::default()
        );
        let c = run(r#"run: {command: x, output: [strip_refreshing, {filter_regex: ".*"}]}"#);
        assert!(c.output.strip_refreshing);
        assert_eq!(c.output.filter_regexes, [".*"]);
        assert_eq!(run("run: {command: x, shell: bash}").shell, bash(&["-c"]));
        assert_eq!(
            run("run: {command: x, shell: bash, shellArgs: -e -c}").shell,
            bash(&["-e", "-c"])
        );
        assert_eq!(
            run("run: {command: x, shell: bash, shellArgs: [-e, -c]}").shell,
            bash(&["-e", "-c"])
        );
    }

    #[test]
    fn multienv_and_env_steps_read_their_options() {
        assert_eq!(
            read("multienv: ./envs.sh"),
            Ok(WorkflowStep::MultiEnv(ShellCommand::plain("./envs.sh")))
        );
        match read("multienv: {command: envs.sh, output: hide, shell: bash}") {
            Ok(WorkflowStep::MultiEnv(c)) => {
                assert!(c.output.hide);
                assert_eq!(c.shell, bash(&["-c"]));
            }
            other => panic!("{other:?}"),
        }
        match read("env: {name: A, command: echo 1, shell: bash, shellArgs: [-c, --debug]}") {
            Ok(WorkflowStep::Env {
                value: EnvValue::Command(c),
                ..
            }) => assert_eq!(c.shell, bash(&["-c", "--debug"])),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn step_options_are_refused_where_atlantis_refuses_them_or_bosun_cannot_run_them() {
        let cases = [
            ("run: {output: hide}", "run.command: missing"),
            (
                "run: {command: x, shellArgs: -c}",
                "`shellArgs` goes with `shell`",
            ),
            (
                "run: {command: x, output: loud}",
                "expected show, hide, strip_refreshing",
            ),
            ("run: {command: x, other: 1}", "unknown key"),
            ("run: {command: x, shell: /bin/bash}", "never a host path"),
            (
                "multienv: {command: x, output: strip_refreshing}",
                "expected show or hide",
            ),
            ("multienv:", "a `multienv` step needs a command"),
            (
                "env: {name: A, value: v, shell: bash}",
                "`shell` goes with `command`",
            ),
            ("env: {name: A, command: x, output: hide}", "unknown key"),
            (
                r#"run: {command: x, output: [{filter_regex: "("}]}"#,
                "not a usable regex",
            ),
        ];
        for (step, want) in cases {
            let got = read(step).expect_err(step);
            assert!(got.contains(want), "{step}: {got}");
        }
    }
}
