//! The deploy files (deploy/kubernetes/*.yaml and the Helm chart deploy/helm/bosun), checked by
//! deploy/check/check.py: the chart rendered by Helm's own engine, every manifest against the
//! Kubernetes JSON schemas and against what bosun needs of its pods, the chart's values
//! against the README's settings table, and the Dockerfile (hadolint, and its download step).
//!
//! The check runs in the venv deploy/check/install.sh makes (`.ci/run` runs it):
//! `BOSUN_TEST_DEPLOY_PYTHON`, else /opt/bosun-deploy-check/bin/python. Missing, these tests
//! fail rather than skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    let python = std::env::var_os("BOSUN_TEST_DEPLOY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/bosun-deploy-check/bin/python"));
    assert!(
        python.is_file(),
        "{} is missing: run `bash deploy/check/install.sh` (or set BOSUN_TEST_DEPLOY_PYTHON)",
        python.display()
    );
    python
}

/// Runs deploy/check/check.py with `args`; its exit status and what it printed.
fn check(args: &[&str]) -> (Option<i32>, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(python())
        .arg(root().join("deploy/check/check.py"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("running deploy/check/check.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
    (status.code(), text)
}

#[test]
fn every_manifest_and_the_rendered_chart_pass_the_check() {
    let (code, out) = check(&["all"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("deploy check (all): no problem"), "{out}");
}

#[test]
fn an_invalid_manifest_fails_the_check() {
    // deploy/kubernetes/bosun.yaml with one mistake each.
    let manifest = std::fs::read_to_string(root().join("deploy/kubernetes/bosun.yaml"))
        .expect("reading deploy/kubernetes/bosun.yaml");
    let cases = [
        (
            "  replicas: 3\n",
            "  replicas: \"three\"\n",
            "spec.replicas: 'three' is not of type 'integer'",
        ),
        (
            "      terminationGracePeriodSeconds: 660\n",
            "      terminationGracePeriodSecond: 660\n      terminationGracePeriodSeconds: 660\n",
            "'terminationGracePeriodSecond' was unexpected",
        ),
        (
            "      terminationGracePeriodSeconds: 660\n",
            "      terminationGracePeriodSeconds: 30\n",
            "terminationGracePeriodSeconds (30) must be longer than bosun's shutdown grace (600 s)",
        ),
        (
            "            httpGet: { path: /readyz, port: http }\n",
            "            httpGet: { path: /healthz, port: http }\n",
            "readinessProbe must GET /readyz (it has /healthz)",
        ),
    ];
    let dir = tempfile::tempdir().expect("a temp dir");
    for (i, (from, to, problem)) in cases.into_iter().enumerate() {
        assert_eq!(manifest.matches(from).count(), 1, "`{from}` in bosun.yaml");
        let path = dir.path().join(format!("mistake-{i}.yaml"));
        std::fs::write(&path, manifest.replacen(from, to, 1)).expect("writing the manifest");
        let (code, out) = check(&["manifests", &path.to_string_lossy()]);
        assert_eq!(code, Some(1), "`{to}` passed:\n{out}");
        assert!(
            out.contains(problem),
            "`{to}`: expected `{problem}` in:\n{out}"
        );
        assert!(out.contains("deploy check: 1 problem(s)"), "`{to}`:\n{out}");
    }
}

#[test]
fn chart_values_that_render_an_invalid_manifest_fail_the_check() {
    let (code, out) = check(&[
        "chart",
        "--values",
        "tests/fixtures/deploy/invalid-values.yaml",
    ]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(
            "bosun/templates/deployment.yaml Deployment/bosun: Kubernetes 1.33.0: spec.replicas: 'three' is not of type 'integer'"
        ),
        "{out}"
    );
}

#[test]
fn every_readme_setting_is_a_chart_value_that_reaches_the_container() {
    let (code, out) = check(&["settings"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("deploy check (settings): no problem"), "{out}");
}

#[test]
fn the_charts_defaults_run_bosun_as_the_plain_manifest_does() {
    // Replicas, pod and container security context, probes, resources, mounts and
    // environment of the chart rendered with its defaults and of deploy/kubernetes/bosun.yaml.
    let (code, out) = check(&["defaults"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("deploy check (defaults): no problem"), "{out}");
}

#[test]
fn the_dockerfile_lints_clean_and_refuses_a_download_without_its_checksum() {
    // hadolint, then the image's download step run with fake downloads: both tools installed
    // when their SHA-256 sums match; a wrong sum, a missing one and an unknown architecture
    // refused.
    let (code, out) = check(&["dockerfile"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("deploy check (dockerfile): no problem"),
        "{out}"
    );
}
