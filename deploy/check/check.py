"""Checks bosun's deploy files: the plain manifests (deploy/kubernetes/) and the Helm chart
(deploy/helm/bosun), rendered by Helm's own engine (helm-python-sdk: Helm's Go SDK as a
library, offline), against the Kubernetes JSON schemas (kubernetes-validate, strict: an
unknown field is an error) and against what bosun needs of its pods (probes, grace period,
instance id, secrets, sandbox). Also checks that the chart's values and the README's
settings table hold the same settings and that each one reaches the container.

    check.py all                      everything below, on the repository's own files
    check.py manifests FILE...        schema and bosun's needs, for manifest files
    check.py chart [--values FILE]    render the chart (with FILE's values), then the same
    check.py settings                 README settings table <-> chart values <-> container
    check.py defaults                 the chart's defaults run bosun as bosun.yaml does
    check.py dockerfile               hadolint; the image's download step, run with fake downloads

Exits 1 naming every problem found, 0 when there is none. Install what it needs with
deploy/check/install.sh; tests/deploy.rs runs it.
"""

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import dockerfile
import helm_python as helm
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "bosun"
MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
README = ROOT / "README.md"
DOCKERFILE = ROOT / "Dockerfile"

# The oldest Kubernetes the manifests are for (hostUsers and procMount: Unmasked on by
# default), and the newest the schemas know.
KUBE_VERSIONS = ["1.33.0", kubernetes_validate.latest_version()]

# Settings that are secrets: never a literal `value` in a manifest.
SECRET_SETTINGS = {
    "BOSUN_GITHUB_WEBHOOK_SECRET",
    "BOSUN_PLANFILE_KEY",
    "BOSUN_API_TOKEN",
    "BOSUN_DATABASE_URL",
    "BOSUN_DRIFT_NOTIFY_URL",
    "BOSUN_NOTIFY_URL",
}

# BOSUN_SHUTDOWN_GRACE's default.
DEFAULT_SHUTDOWN_GRACE_SECONDS = 600


class Problems(list):
    def add(self, where, what):
        self.append(f"{where}: {what}")


def load(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def render(values=None, release="bosun"):
    """The chart's manifests rendered with `values` over its defaults: [(template, doc)]."""
    with helm.Chart.load(str(CHART)) as chart:
        rendered = chart.render(values, name=release, namespace="bosun")
    docs = []
    for template, text in sorted(rendered.items()):
        if template.endswith(".txt"):
            continue
        docs.extend((template, d) for d in yaml.safe_load_all(text) if d is not None)
    return docs


def lint(problems):
    report = helm.lint(str(CHART), strict=True)
    for error in report.get("errors", []):
        problems.add("helm lint", error)
    for message in report.get("messages", []):
        # 1 is info ("icon is recommended"); 2 warning and 3 error fail.
        if message.get("severity", 0) >= 2:
            problems.add(f"helm lint {message.get('path')}", message.get("error"))


def name_of(doc):
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def validate_schema(where, doc, problems):
    """Whether `doc` is valid for every version in KUBE_VERSIONS; the first problem if not."""
    for version in KUBE_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            problems.add(f"{where} {name_of(doc)}", f"Kubernetes {version}: {path}: {e.message}")
            return False
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as e:
            problems.add(f"{where} {name_of(doc)}", f"Kubernetes {version}: no schema: {e}")
            return False
    return True


def seconds(duration):
    """A humantime duration ("10m", "1h 30m", "90s") in seconds; None if it is not one."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+)\s*(ms|s|m|h|d)", duration)
    if not parts or re.sub(r"(\d+)\s*(ms|s|m|h|d)|\s", "", duration):
        return None
    return sum(int(n) * units[u] for n, u in parts)


def bosun_container(doc):
    if doc.get("kind") not in ("Deployment", "StatefulSet"):
        return None
    pod = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in pod.get("containers") or []:
        if container.get("name") == "bosun":
            return pod, container
    return None


def check_workload(where, doc, docs, problems):
    """What bosun needs of the pods that run it."""
    found = bosun_container(doc)
    if found is None:
        return
    pod, container = found
    at = f"{where} {name_of(doc)}"
    env = {e.get("name"): e for e in container.get("env") or []}

    def probe(kind, path):
        got = ((container.get(kind) or {}).get("httpGet") or {}).get("path")
        if got != path:
            problems.add(at, f"{kind} must GET {path} (it has {got})")

    probe("readinessProbe", "/readyz")
    probe("livenessProbe", "/healthz")

    grace = DEFAULT_SHUTDOWN_GRACE_SECONDS
    if "value" in env.get("BOSUN_SHUTDOWN_GRACE", {}):
        grace = seconds(str(env["BOSUN_SHUTDOWN_GRACE"]["value"]))
        if grace is None:
            problems.add(at, "BOSUN_SHUTDOWN_GRACE is not a duration")
            grace = DEFAULT_SHUTDOWN_GRACE_SECONDS
    termination = pod.get("terminationGracePeriodSeconds", 30)
    if termination <= grace:
        problems.add(
            at,
            f"terminationGracePeriodSeconds ({termination}) must be longer than bosun's "
            f"shutdown grace ({grace:g} s), or running jobs are killed",
        )

    instance = ((env.get("BOSUN_INSTANCE_ID") or {}).get("valueFrom") or {}).get("fieldRef") or {}
    if instance.get("fieldPath") != "metadata.name":
        problems.add(at, "BOSUN_INSTANCE_ID must come from the pod's name (fieldRef metadata.name)")

    for name in sorted(SECRET_SETTINGS & env.keys()):
        if "value" in env[name]:
            problems.add(at, f"{name} is a secret: take it from a Secret, not a literal value")

    replicas = (doc.get("spec") or {}).get("replicas") or 1
    if replicas > 1:
        if "BOSUN_DATABASE_URL" not in env:
            problems.add(at, f"{replicas} replicas need the PostgreSQL store (BOSUN_DATABASE_URL)")
        if not any(e in env for e in ("BOSUN_PLANFILE_KEY", "BOSUN_PLANFILE_KEY_FILE")):
            problems.add(at, f"{replicas} replicas need one planfile key (BOSUN_PLANFILE_KEY_FILE)")
        labels = ((doc["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        if not any(selects_pdb(d, labels) for d in docs):
            problems.add(at, f"{replicas} replicas need a PodDisruptionBudget selecting them")

    sandboxed = (env.get("BOSUN_SANDBOX") or {}).get("value", "bwrap") != "none"
    if sandboxed:
        seccomp = ((pod.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
        if seccomp not in ("Unconfined", "Localhost"):
            problems.add(at, "bwrap needs a seccomp profile that allows user namespaces and mounts")
        if (container.get("securityContext") or {}).get("procMount") != "Unmasked":
            problems.add(at, "bwrap mounts a fresh /proc: the container needs procMount: Unmasked")
        if pod.get("hostUsers", True) is not False:
            problems.add(at, "procMount: Unmasked needs the pod in its own user namespace (hostUsers: false)")


def selects_pdb(doc, labels):
    if doc.get("kind") != "PodDisruptionBudget":
        return False
    wanted = (((doc.get("spec") or {}).get("selector") or {}).get("matchLabels")) or {}
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def check_docs(where_docs, problems):
    docs = [d for _, d in where_docs]
    for where, doc in where_docs:
        # bosun's needs are checked on documents of the right shape only.
        if validate_schema(where, doc, problems):
            check_workload(where, doc, docs, problems)


def check_manifests(paths, problems):
    for path in paths:
        try:
            docs = load(path)
        except yaml.YAMLError as e:
            problems.add(str(path), f"not YAML: {e}")
            continue
        if not docs:
            problems.add(str(path), "no manifest")
        check_docs([(str(path), d) for d in docs], problems)
    return problems


def check_chart(values, problems):
    try:
        docs = render(values)
    except helm.HelmError as e:
        problems.add("helm render", str(e))
        return problems
    check_docs(docs, problems)
    return problems


def same_defaults(problems):
    """The chart rendered with its defaults runs bosun as deploy/kubernetes/bosun.yaml does:
    the same replicas, pod and container security, probes, resources, mounts and environment
    (less the two placeholders the plain manifest fills in)."""
    placeholders = {"BOSUN_GITHUB_APP_ID", "BOSUN_REPO_ALLOWLIST"}

    def essentials(doc):
        pod, container = bosun_container(doc)
        pod_keys = ("terminationGracePeriodSeconds", "hostUsers", "securityContext",
                    "automountServiceAccountToken")
        container_keys = ("args", "ports", "startupProbe", "livenessProbe", "readinessProbe",
                          "resources", "securityContext")
        env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env") or []}
        for name in placeholders:
            env.pop(name, None)
        # The Secret's name is the release's choice; the key is what matters.
        for value in env.values():
            if isinstance(value, dict) and "secretKeyRef" in value:
                value["secretKeyRef"] = {"key": value["secretKeyRef"]["key"]}
        return {
            "replicas": doc["spec"].get("replicas"),
            **{k: pod.get(k) for k in pod_keys},
            **{k: container.get(k) for k in container_keys},
            "env": env,
            "volumeMounts": sorted(
                (m["mountPath"], m.get("readOnly", False)) for m in container["volumeMounts"]
            ),
            "volumes": sorted(
                (v.get("emptyDir") or {}).get("sizeLimit", "")
                or str((v.get("secret") or {}).get("defaultMode"))
                for v in pod["volumes"]
            ),
        }

    plain = [d for d in load(ROOT / "deploy" / "kubernetes" / "bosun.yaml") if bosun_container(d)]
    chart = [d for _, d in render() if bosun_container(d)]
    if len(plain) != 1 or len(chart) != 1:
        problems.add("defaults", "expected one bosun workload in bosun.yaml and in the chart")
        return problems
    want, got = essentials(plain[0]), essentials(chart[0])
    for key in want:
        if want[key] != got[key]:
            problems.add(
                "chart defaults",
                f"{key} differs from deploy/kubernetes/bosun.yaml: {got[key]} != {want[key]}",
            )
    return problems


def readme_settings():
    """The env column of the README's settings table."""
    return re.findall(r"^\| `(BOSUN_[A-Z0-9_]+)` \| `--", README.read_text(encoding="utf-8"), re.M)


def deployment_env(docs):
    for _, doc in docs:
        found = bosun_container(doc)
        if found:
            return found[1].get("env") or []
    return []


def check_settings(problems):
    table = readme_settings()
    if len(table) < 10:
        problems.add(str(README), f"found only {len(table)} rows of the settings table")
        return problems
    with open(CHART / "values.yaml", encoding="utf-8") as f:
        values = yaml.safe_load(f)
    chart_env = values.get("env") or {}
    for name in sorted(set(table) - chart_env.keys()):
        problems.add("values.yaml env", f"{name} (a README setting) has no value")
    for name in sorted(chart_env.keys() - set(table)):
        problems.add("values.yaml env", f"{name} is not in the README's settings table")

    # Every setting given a value reaches the container as that variable, false and 0 too.
    given = {name: f"set-{name.lower()}" for name in table}
    given[table[0]] = False
    given[table[1]] = 0
    no_secret_env = {name: None for name in values.get("secretEnv") or {}}
    env = deployment_env(render({"env": given, "secretEnv": no_secret_env}))
    for name, value in given.items():
        entries = [e for e in env if e.get("name") == name]
        want = str(value).lower() if isinstance(value, bool) else str(value)
        if [e.get("value") for e in entries] != [want]:
            problems.add("chart", f"env.{name}={value!r} reaches the container as {entries}")

    # With the defaults, secretEnv's variables come from the Secret, once each.
    env = deployment_env(render())
    for name, key in (values.get("secretEnv") or {}).items():
        entries = [e for e in env if e.get("name") == name]
        ref = [((e.get("valueFrom") or {}).get("secretKeyRef") or {}) for e in entries]
        if ref != [{"name": values["secret"]["name"], "key": key}]:
            problems.add("chart", f"secretEnv.{name} reaches the container as {entries}")
    return problems


def check_dockerfile(problems):
    hadolint = Path(sys.executable).with_name("hadolint")
    lint = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True, text=True
    )
    if lint.returncode != 0:
        for line in (lint.stdout + lint.stderr).splitlines():
            problems.add("hadolint", line)
    check_download_step(problems)
    return problems


def download_step():
    """The image's download step as the shell runs it (BuildKit's parser joins the lines),
    its shell, and the ARG defaults before it."""
    shell, args, found = None, {}, []
    for instruction in dockerfile.parse_file(str(DOCKERFILE)):
        cmd = instruction.cmd.upper()
        if cmd == "FROM":
            shell, args = ["/bin/sh", "-c"], {}
        elif cmd == "SHELL":
            shell = list(instruction.value)
        elif cmd == "ARG":
            name, _, default = instruction.value[0].partition("=")
            args[name] = default
        elif cmd == "RUN" and "fetch()" in instruction.value[0]:
            found.append((instruction.value[0], shell, dict(args)))
    return found


def check_download_step(problems):
    """Runs the download step with `curl` replaced by a function that hands out zips made
    here: it must install both tools when their sums match, and refuse a wrong or missing
    sum and an unknown architecture."""
    steps = download_step()
    if len(steps) != 1:
        problems.add(str(DOCKERFILE), f"expected one RUN defining fetch(), found {len(steps)}")
        return
    script, shell, defaults = steps[0]
    for name in ("TERRAFORM_SHA256_AMD64", "TERRAFORM_SHA256_ARM64"):
        if not re.fullmatch(r"[0-9a-f]{64}", defaults.get(name, "")):
            problems.add(str(DOCKERFILE), f"ARG {name} is not a pinned SHA-256")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sums = {}
        for tool in ("terraform", "tofu"):
            with zipfile.ZipFile(tmp / f"{tool}.zip", "w") as z:
                info = zipfile.ZipInfo(tool)
                info.external_attr = 0o755 << 16
                z.writestr(info, f"#!/bin/sh\necho {tool} fake \"$@\"\n")
                z.writestr("LICENSE.txt", "license")
            sums[tool] = hashlib.sha256((tmp / f"{tool}.zip").read_bytes()).hexdigest()
        if script.count("/out") < 3 or script.count("/tmp/") < 2:
            problems.add(str(DOCKERFILE), "the download step no longer writes /out and /tmp/")
            return
        local = re.sub(
            r"/out\b|/tmp/",
            lambda m: f"{tmp}/out" if m.group() == "/out" else f"{tmp}/dl/",
            script,
        )
        fake_curl = f"""curl() {{
  local out= url=
  while [ $# -gt 0 ]; do
    case $1 in -o) out=$2; shift ;; https://*) url=$1 ;; esac
    shift
  done
  echo "$url" >>{tmp}/urls
  case $url in
    *terraform_*) cp {tmp}/terraform.zip "$out" ;;
    *tofu_*) cp {tmp}/tofu.zip "$out" ;;
    *) return 22 ;;
  esac
}}
"""

        def run(arch, **sums_given):
            for d in ("out", "dl"):
                subprocess.run(["rm", "-rf", str(tmp / d)], check=True)
            (tmp / "dl").mkdir()
            (tmp / "urls").write_text("")
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **defaults}
            env.update(TARGETARCH=arch, **sums_given)
            done = subprocess.run(
                [*shell, fake_curl + local], env=env, capture_output=True, text=True
            )
            return done.returncode, done.stdout + done.stderr, (tmp / "urls").read_text()

        good = dict(TERRAFORM_SHA256_AMD64=sums["terraform"], OPENTOFU_SHA256_AMD64=sums["tofu"])
        code, out, urls = run("amd64", **good)
        want = [
            "https://releases.hashicorp.com/terraform/1.15.5/terraform_1.15.5_linux_amd64.zip",
            "https://github.com/opentofu/opentofu/releases/download/v1.11.5/tofu_1.11.5_linux_amd64.zip",
        ]
        if code != 0 or "terraform fake version" not in out or "tofu fake version" not in out:
            problems.add("download step", f"matching sums: exit {code}: {out}")
        elif urls.split() != want:
            problems.add("download step", f"fetched {urls.split()}, not {want}")

        arm = dict(TERRAFORM_SHA256_ARM64=sums["terraform"], OPENTOFU_SHA256_ARM64=sums["tofu"])
        code, out, urls = run("arm64", **arm)
        if code != 0 or "linux_arm64.zip" not in urls:
            problems.add("download step", f"arm64 with matching sums: exit {code}: {out}")

        refusals = [
            ("a wrong sum", "amd64", {**good, "TERRAFORM_SHA256_AMD64": sums["tofu"]},
             "does not have the SHA-256"),
            ("no sum", "amd64", {**good, "OPENTOFU_SHA256_AMD64": ""},
             "no SHA-256 for tofu on amd64"),
            ("another architecture", "s390x", good, "unsupported TARGETARCH 's390x'"),
        ]
        for what, arch, given, message in refusals:
            code, out, _ = run(arch, **given)
            if code == 0 or message not in out or (tmp / "out" / "tofu").exists():
                problems.add("download step", f"{what} was not refused: exit {code}: {out}")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("all")
    manifests = sub.add_parser("manifests")
    manifests.add_argument("files", nargs="+", type=Path)
    chart = sub.add_parser("chart")
    chart.add_argument("--values", type=Path)
    sub.add_parser("settings")
    sub.add_parser("dockerfile")
    sub.add_parser("defaults")
    args = parser.parse_args(argv)

    problems = Problems()
    if args.what in ("all", "manifests"):
        check_manifests(args.files if args.what == "manifests" else MANIFESTS, problems)
    if args.what in ("all", "chart"):
        if args.what == "all":
            lint(problems)
        values = None
        if getattr(args, "values", None):
            with open(args.values, encoding="utf-8") as f:
                values = yaml.safe_load(f)
        check_chart(values, problems)
    if args.what in ("all", "settings"):
        check_settings(problems)
    if args.what in ("all", "defaults"):
        same_defaults(problems)
    if args.what in ("all", "dockerfile"):
        check_dockerfile(problems)

    for problem in problems:
        print(problem)
    if problems:
        print(f"deploy check: {len(problems)} problem(s)")
        return 1
    print(f"deploy check ({args.what}): no problem (Kubernetes {', '.join(KUBE_VERSIONS)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
