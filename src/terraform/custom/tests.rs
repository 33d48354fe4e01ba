//! Custom steps through the real Terraform and the direct runner (the sandbox is covered
//! end to end).

use std::path::PathBuf;
use std::sync::Arc;

use super::*;
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
    WorkflowStep::Run(command.into())
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
            value: EnvValue::Command("echo ' computed '".into()),
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
    let planned = tf.plan_project(&dir, &dir, "default", &[]).await;
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
