//! Custom steps through the real Terraform and the direct runner (the sandbox is covered
//! end to end).

use std::path::PathBuf;
use std::sync::Arc;

use super::*;
use crate::config::repo::Shell;
use crate::terraform::Direct;

fn fixture() -> (tempfile::TempDir, Terraform, PathBuf) {
    let tmp = tempfile::TempDir::new().unwrap();
    let bin = std::env::var_os("BOSUN_TEST_TERRAFORM")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/local/bin/terraform".into());
    let tf = Terraform::new(bin, Arc::new(Direct::default()), tmp.path().join("cache"));
    let dir = tmp.path().join("p");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("main.tf"),
        "resource \"terraform_data\" \"a\" { input = \"a\" }\n",
    )
    .unwrap();
    (tmp, tf, dir)
}

fn vars() -> StepVars {
    StepVars {
        workspace: "default".into(),
        dir: "p".into(),
        project_name: Some("web".into()),
        pull_num: 7,
        head_commit: "abc123".into(),
        base_branch: "main".into(),
        head_branch: "feature".into(),
        user_name: "alice".into(),
        comment_args: vec!["-var".into(), "x=1".into()],
    }
}

fn run(command: &str) -> WorkflowStep {
    WorkflowStep::Run(ShellCommand::plain(command))
}

#[tokio::test]
async fn run_steps_see_the_variables_and_env_steps_and_show_before_the_plan() {
    let (_tmp, tf, dir) = fixture();
    let steps = [
        WorkflowStep::Init { extra_args: vec![] },
        WorkflowStep::Env {
            name: "GREETING".into(),
            value: EnvValue::Value("hi".into()),
        },
        WorkflowStep::Env {
            name: "FROM_CMD".into(),
            value: EnvValue::Command(ShellCommand::plain("echo ' computed '")),
        },
        run(
            "echo $GREETING $FROM_CMD $PULL_NUM $WORKSPACE $DIR $PROJECT_NAME $HEAD_COMMIT \
             $BASE_BRANCH_NAME $HEAD_BRANCH_NAME $USER_NAME $COMMENT_ARGS ${PLANFILE##*/}",
        ),
        WorkflowStep::Plan { extra_args: vec![] },
    ];
    let mut v = vars();
    v.comment_args.clear();
    let out = tf.plan_custom((&dir, &dir), &steps, &v).await;
    let Outcome::Planned { summary, text } = &out.outcome else {
        panic!("{:?}\n{}", out.outcome, out.log);
    };
    assert_eq!(summary.add, 1);
    assert!(text.starts_with("$ echo $GREETING",), "{text}");
    assert!(
        text.contains("\nhi computed 7 default p web abc123 main feature alice plan.tfplan\n"),
        "{text}"
    );
    assert!(out.planfile.is_some());
}

#[tokio::test]
async fn no_plan_step_and_no_planfile_is_nothing_to_apply() {
    let (_tmp, tf, dir) = fixture();
    let out = tf
        .plan_custom((&dir, &dir), &[run("echo only")], &vars())
        .await;
    let Outcome::Failed { step, output } = &out.outcome else {
        panic!("{:?}", out.outcome);
    };
    assert_eq!(*step, Step::Plan);
    assert!(output.contains("nothing to apply"), "{output}");
    assert!(output.starts_with("$ echo only\nonly\n"), "{output}");
    assert!(out.planfile.is_none());
}

#[tokio::test]
async fn a_failing_step_stops_the_run_and_names_itself() {
    let (_tmp, tf, dir) = fixture();
    let steps = [
        run("echo one"),
        run("echo oops >&2; exit 3"),
        run("touch never"),
    ];
    let out = tf.plan_custom((&dir, &dir), &steps, &vars()).await;
    let Outcome::Failed { step, output } = &out.outcome else {
        panic!("{:?}", out.outcome);
    };
    assert_eq!(*step, Step::Run);
    assert!(
        output.ends_with("oops\nstep 2 (`run: echo oops >&2; exit 3`) failed: exit code 3"),
        "{output}"
    );
    assert!(!dir.join("never").exists());
}

#[tokio::test]
async fn custom_apply_runs_its_steps_on_the_saved_plan() {
    let (_tmp, tf, dir) = fixture();
    let planned = tf.plan_project(&dir, &dir, &"default".into(), &[]).await;
    let planfile = planned.planfile.expect("planned");
    let steps = [
        run("echo before"),
        WorkflowStep::Apply {
            extra_args: vec!["-parallelism=1".into()],
        },
    ];
    match tf
        .apply_custom((&dir, &dir), &steps, &vars(), &planfile)
        .await
    {
        ApplyOutcome::Applied { output } => {
            assert!(output.starts_with("$ echo before\nbefore\n"), "{output}");
            assert!(
                output.contains("Apply complete! Resources: 1 added"),
                "{output}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn with_network_only_narrows() {
    let (_tmp, tf, _) = fixture();
    assert!(!tf.with_network(false).network);
    assert!(tf.with_network(true).network);
    assert!(!tf.with_network(false).with_network(true).network);
}

#[test]
fn comment_args_are_comma_joined_and_the_planfile_is_absolute() {
    let env = vars().env(Path::new("/runs/1/plan.tfplan"));
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("COMMENT_ARGS"), Some("-var,x=1"));
    assert_eq!(get("PLANFILE"), Some("/runs/1/plan.tfplan"));
    assert_eq!(get("REPO_REL_DIR"), Some("p"));
}

#[tokio::test]
async fn env_steps_may_not_set_what_bosun_owns() {
    let (_tmp, tf, dir) = fixture();
    for name in [
        "TF_DATA_DIR",
        "HOME",
        "TF_CLI_CONFIG_FILE",
        "GIT_ALLOW_PROTOCOL",
    ] {
        let steps = [
            WorkflowStep::Env {
                name: name.into(),
                value: EnvValue::Value("./.terraform".into()),
            },
            WorkflowStep::Plan { extra_args: vec![] },
        ];
        let out = tf.plan_custom((&dir, &dir), &steps, &vars()).await;
        let Outcome::Failed { step, output } = &out.outcome else {
            panic!("{name}: {:?}", out.outcome);
        };
        assert_eq!(*step, Step::Run);
        assert!(output.contains(&format!("may not set {name}")), "{output}");
    }
}

#[tokio::test]
async fn run_steps_get_the_runs_home_and_data_dir_not_the_checkouts() {
    let (_tmp, tf, dir) = fixture();
    let steps = [
        WorkflowStep::Init { extra_args: vec![] },
        run("echo \"home=$HOME data=$TF_DATA_DIR\"; ls -a"),
        WorkflowStep::Plan { extra_args: vec![] },
    ];
    let vars = StepVars {
        comment_args: Vec::new(),
        ..vars()
    };
    let out = tf.plan_custom((&dir, &dir), &steps, &vars).await;
    let Outcome::Planned { text, .. } = &out.outcome else {
        panic!("{:?}", out.outcome);
    };
    let runs = tf.runs_dir.display().to_string();
    assert!(text.contains(&format!("home={runs}/")), "{text}");
    assert!(text.contains(&format!("data={runs}/")), "{text}");
    assert!(!text.contains(".terraform\n"), "{text}");
    assert!(!dir.join(".terraform").exists());
}

fn with(command: &str, f: impl FnOnce(&mut ShellCommand)) -> ShellCommand {
    let mut c = ShellCommand::plain(command);
    f(&mut c);
    c
}

#[tokio::test]
async fn multienv_sets_variables_for_later_steps_and_shows_only_their_names() {
    let (_tmp, tf, dir) = fixture();
    let steps = [
        WorkflowStep::MultiEnv(ShellCommand::plain("echo \"A=$((40+2)),B='t,w o'\"")),
        run("echo \"a=$A b=$B\""),
        WorkflowStep::Plan { extra_args: vec![] },
    ];
    let mut v = vars();
    v.comment_args.clear();
    let out = tf.plan_custom((&dir, &dir), &steps, &v).await;
    let Outcome::Planned { text, .. } = &out.outcome else {
        panic!("{:?}\n{}", out.outcome, out.log);
    };
    assert!(
        text.contains("Dynamic environment variables added:\nA\nB\n"),
        "{text}"
    );
    assert!(text.contains("\na=42 b=t,w o\n"), "{text}");
    // The values are not shown, only the names.
    assert!(!text.contains("A=42"), "{text}");
}

#[tokio::test]
async fn multienv_may_not_set_what_bosun_owns() {
    let (_tmp, tf, dir) = fixture();
    for printed in ["A=1,TF_DATA_DIR=x", "HOME=/tmp"] {
        let steps = [
            WorkflowStep::MultiEnv(ShellCommand::plain(format!("echo {printed}"))),
            WorkflowStep::Plan { extra_args: vec![] },
        ];
        let out = tf.plan_custom((&dir, &dir), &steps, &vars()).await;
        let Outcome::Failed { step, output } = &out.outcome else {
            panic!("{printed}: {:?}", out.outcome);
        };
        assert_eq!(*step, Step::Run);
        assert!(output.contains("may not set"), "{output}");
    }
}

#[tokio::test]
async fn run_output_hide_and_a_named_shell_with_its_args() {
    let (_tmp, tf, dir) = fixture();
    let hidden = with("echo hidden-text", |c| c.output.hide = true);
    // `-e`: the first failing command ends the step, so `after` never prints.
    let bash = with("echo $BASH_VERSION >/dev/null && echo shell-ok", |c| {
        c.shell = Some(Shell {
            program: "bash".into(),
            args: vec!["-e".into(), "-c".into()],
        });
    });
    let steps = [
        WorkflowStep::Run(hidden),
        WorkflowStep::Run(bash),
        WorkflowStep::Plan { extra_args: vec![] },
    ];
    let mut v = vars();
    v.comment_args.clear();
    let out = tf.plan_custom((&dir, &dir), &steps, &v).await;
    let Outcome::Planned { text, .. } = &out.outcome else {
        panic!("{:?}\n{}", out.outcome, out.log);
    };
    assert!(!text.contains("hidden-text"), "{text}");
    assert!(out.log.contains("hidden-text"), "{}", out.log);
    assert!(text.contains("\nshell-ok\n"), "{text}");
    let failing = with("false; echo after", |c| {
        c.shell = Some(Shell {
            program: "bash".into(),
            args: vec!["-e".into(), "-c".into()],
        });
    });
    let steps = [WorkflowStep::Run(failing)];
    let out = tf.plan_custom((&dir, &dir), &steps, &v).await;
    let Outcome::Failed { output, .. } = &out.outcome else {
        panic!("{:?}", out.outcome);
    };
    assert!(!output.contains("\nafter\n"), "{output}");
}

#[tokio::test]
async fn env_command_runs_in_its_shell() {
    let (_tmp, tf, dir) = fixture();
    let steps = [
        WorkflowStep::Env {
            name: "WHICH".into(),
            value: EnvValue::Command(with("echo ${BASH_VERSION:+bash}", |c| {
                c.shell = Some(Shell {
                    program: "bash".into(),
                    args: vec!["-c".into()],
                });
            })),
        },
        run("echo which=$WHICH"),
        WorkflowStep::Plan { extra_args: vec![] },
    ];
    let mut v = vars();
    v.comment_args.clear();
    let out = tf.plan_custom((&dir, &dir), &steps, &v).await;
    let Outcome::Planned { text, .. } = &out.outcome else {
        panic!("{:?}\n{}", out.outcome, out.log);
    };
    assert!(text.contains("\nwhich=bash\n"), "{text}");
}
