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

Exits 1 naming every problem found, 0 when there is none. Install what it needs with
deploy/check/install.sh; tests/deploy.rs runs it.
"""

import argparse
import re
import sys
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "bosun"
MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
README = ROOT / "README.md"

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

    replicas = (doc.get("spec") or {}).get("replicas", 1)
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


def readme_settings():
    """The env column of the README's settings table."""
    rows = re.findall(r"^\| `(BOSUN_[A-Z0-9_]+)` \| `--", README.read_text(encoding="utf-8"), re.M)
    return rows


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


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("all")
    manifests = sub.add_parser("manifests")
    manifests.add_argument("files", nargs="+", type=Path)
    chart = sub.add_parser("chart")
    chart.add_argument("--values", type=Path)
    sub.add_parser("settings")
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

    for problem in problems:
        print(problem)
    if problems:
        print(f"deploy check: {len(problems)} problem(s)")
        return 1
    print(f"deploy check ({args.what}): no problem (Kubernetes {', '.join(KUBE_VERSIONS)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
