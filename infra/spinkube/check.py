#!/usr/bin/env python3
"""Checks that the edge's deployment files agree with each other and with the component.

- every variable the component reads (edge-fn/src/config.rs) is declared in infra/spin.toml and
  passed to the component there, and nothing else is;
- the SpinApp in infra/spinkube/edge.yaml binds every variable infra/spin.toml declares, binds no
  unknown one, and takes each secret from a Kubernetes Secret rather than a literal;
- the SpinApp keeps store `default` on a mounted volume, and the CronJob makes the signed
  maintenance call with the same secret, never two at once.

Exits 1 with one line per problem. Run by infra/test.sh.
"""

import pathlib
import re
import sys
import tomllib

import yaml

root = pathlib.Path(__file__).resolve().parents[2]
problems = []

source = (root / "edge-fn/src/config.rs").read_text()
read = set(re.findall(r'\b(?:get|budget|set|seconds)\(\s*"([a-z0-9_]+)"', source))
if not read:
    problems.append("found no variable reads in edge-fn/src/config.rs")

spin = tomllib.loads((root / "infra/spin.toml").read_text())
declared = spin["variables"]
component = spin["component"]["edge-fn"]
passed = component.get("variables", {})
# Declared for the platform's allow-list only, never read by the component.
allow_list_only = {name for name in declared if name.startswith("parent_origin_")}
for name in sorted(read - set(declared)):
    problems.append(f"spin.toml: the component reads `{name}` but [variables] lacks it")
for name in sorted(read - set(passed)):
    problems.append(f"spin.toml: `{name}` is not passed in [component.edge-fn.variables]")
for name in sorted(set(passed) - read):
    problems.append(f"spin.toml: passes `{name}`, which the component never reads")
for name in sorted(set(declared) - read - allow_list_only):
    problems.append(f"spin.toml: declares `{name}`, which the component never reads")
for name, template in passed.items():
    if template != "{{ %s }}" % name:
        problems.append(f"spin.toml: `{name}` is passed as {template!r}")
if "default" not in component.get("key_value_stores", []):
    problems.append("spin.toml: the component has no key-value store `default`")

docs = list(yaml.safe_load_all((root / "infra/spinkube/edge.yaml").read_text()))
kinds = {d["kind"]: d for d in docs if d}
app = kinds.get("SpinApp")
cron = kinds.get("CronJob")
if app is None or cron is None:
    problems.append("edge.yaml: needs a SpinApp and a CronJob")
else:
    spec = app["spec"]
    bound = {v["name"]: v for v in spec.get("variables", [])}
    for name in sorted(set(declared) - set(bound)):
        if declared[name].get("required") or "default" not in declared[name]:
            problems.append(f"edge.yaml: the SpinApp does not bind required `{name}`")
    for name in sorted(set(bound) - set(declared)):
        problems.append(f"edge.yaml: the SpinApp binds `{name}`, which spin.toml does not declare")
    for name, var in bound.items():
        if declared.get(name, {}).get("secret") and "secretKeyRef" not in var.get("valueFrom", {}):
            problems.append(f"edge.yaml: secret `{name}` must come from a Secret, not a value")
    stores = {s["name"]: s for s in spec.get("runtimeConfig", {}).get("keyValueStores", [])}
    mounts = [m["mountPath"] for m in spec.get("volumeMounts", [])]
    default = stores.get("default")
    path = next((o.get("value") for o in (default or {}).get("options", []) if o["name"] == "path"), None)
    if path is None or not any(path.startswith(m.rstrip("/") + "/") for m in mounts):
        problems.append("edge.yaml: store `default` must be a file on a mounted volume")
    if spec.get("replicas", 1) != 1:
        problems.append("edge.yaml: one replica per edge (its cache is one SQLite file)")
    secret = bound.get("edge_secret", {}).get("valueFrom", {}).get("secretKeyRef")
    job = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    command = job.get("command", []) + job.get("args", [])
    if command[:3] != ["edge-host", "call", "maintain"]:
        problems.append(f"edge.yaml: the CronJob runs {command}, not `edge-host call maintain`")
    env = {e["name"]: e for e in job.get("env", [])}
    if env.get("EDGE_SECRET", {}).get("valueFrom", {}).get("secretKeyRef") != secret:
        problems.append("edge.yaml: the CronJob's EDGE_SECRET is not the SpinApp's edge_secret")
    if cron["spec"].get("concurrencyPolicy") != "Forbid":
        problems.append("edge.yaml: the CronJob must not run two maintenance calls at once")

for p in problems:
    print(p, file=sys.stderr)
print(f"edge deployment files: {len(read)} component variables, {len(problems)} problems")
sys.exit(1 if problems else 0)
