"""Checks a user's environment values files against the triton-stack charts: the `triton-stack-values` hook of
.pre-commit-hooks.yaml, and the same command in a GitHub Actions step (see docs/ci.md, "Linting in your own CI").

For each values file given, three checks, all offline:

1. the values checker: the file merged over the charts' defaults is validated against the umbrella's
   values.schema.json and each subchart's schema at its alias (`server`, `routing`, ...), as Helm validates them,
   and every error is listed with its value path (Helm stops at the first);
2. `helm lint --strict` of the umbrella chart with the file;
3. the render-time checks: `helm template` at the lowest and the highest Kubernetes minor the charts declare, so
   every `fail` in the charts' validation templates (fatal combinations, MIG profiles, quotas, ...) runs.

The charts are the ones this package was installed with (pre-commit pins them by the hook's `rev`), or charts/ of
the repository it runs from. Helm is $HELM, or `helm` on PATH (3.8 or later, or 4). The charts are copied to a
temporary directory and their file:// dependencies built there, so nothing is written beside them.

    triton-stack-check-values envs/prod.yaml envs/staging.yaml      # installed by pre-commit or pip
    python -m ci.hooks.check_values values/prod.yaml                 # from this repository

Exit status: 0 when every file passes, 1 when any check fails (each problem printed as `file: check: message`,
invalid YAML included), 2 on a usage error (no helm, a file that cannot be read).
"""

from __future__ import annotations

import argparse
import copy
import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jsonschema
import yaml

UMBRELLA = "triton-stack"
HELM_TIMEOUT_SECONDS = 120


class UsageError(Exception):
    """The checker cannot run: no helm, no charts, or an input that is not a YAML mapping."""


def default_charts_dir() -> Path:
    """charts/ shipped inside the installed package, else the repository's charts/ (running from a checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "charts", here.parents[1] / "charts"):
        if (candidate / UMBRELLA / "Chart.yaml").exists():
            return candidate
    raise UsageError(f"no charts next to {here}: install the hook from the triton-stack repository")


def helm_command() -> str:
    helm = os.environ.get("HELM") or shutil.which("helm")
    if not helm:
        raise UsageError("helm not found: put helm (3.8+ or 4) on PATH or set $HELM")
    return helm


def run_helm(helm: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([helm, *args], capture_output=True, text=True, timeout=HELM_TIMEOUT_SECONDS)


def deep_merge(base: dict, override: dict) -> dict:
    """Helm's coalescing of a values file over chart defaults: maps merge, anything else replaces; null deletes."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _read_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def schema_errors(values: dict, charts_dir: Path) -> list[str]:
    """`path: message` for every schema violation of `values` (a user's file) in the umbrella and its subcharts."""
    umbrella_dir = charts_dir / UMBRELLA
    umbrella = _read_yaml(umbrella_dir / "Chart.yaml")
    defaults = _read_yaml(umbrella_dir / "values.yaml")
    merged = deep_merge(defaults, values)
    checks = [("", merged, umbrella_dir / "values.schema.json")]
    early: list[str] = []
    for dependency in umbrella.get("dependencies", []):
        subchart_dir = charts_dir / dependency["repository"].removeprefix("file://../")
        key = dependency.get("alias", dependency["name"])
        schema = subchart_dir / "values.schema.json"
        if not schema.exists() or _read_yaml(subchart_dir / "Chart.yaml").get("type") == "library":
            continue
        enabled = dependency.get("condition")
        if enabled and not _lookup(merged, enabled):
            continue
        section = merged.get(key) or {}
        if not isinstance(section, dict):
            # Helm keeps the chart's table and only warns ("cannot overwrite table with non table"): say it here.
            early.append(f"{key}: is {section!r}, but `{key}` is a section of settings (a mapping): indent its keys under `{key}:`")
            continue
        # The subchart's defaults, then the umbrella's for its section, then the user's section as written: a null
        # there (`server.probes: null`) must delete the subchart's default, as Helm's coalescing does.
        user_section = values.get(key) if isinstance(values.get(key), dict) else {}
        sub_values = deep_merge(deep_merge(deep_merge(_read_yaml(subchart_dir / "values.yaml"), defaults.get(key) or {}), user_section),
                                {"global": merged.get("global", {})} if "global" in merged else {})
        checks.append((f"{key}.", sub_values, schema))
    sections = subchart_sections(charts_dir)
    errors = list(early)
    for prefix, instance, schema_path in checks:
        validator = jsonschema.Draft7Validator(yaml.safe_load(schema_path.read_text()))
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
            path = (prefix + ".".join(str(part) for part in error.absolute_path)).rstrip(".")
            hint = suggestion(error, path, sections if not prefix else {})
            errors.append(f"{path or '(top level)'}: {error.message}" + (f": {hint}" if hint else ""))
    return errors


# --- suggestions: what to do about an error, where the schema's own message stops at what is wrong -------------

# A memory or storage size written the way people say it (4GB, 512 mb, 1.5GiB) rather than as a Kubernetes quantity.
_BYTE_SIZE = re.compile(r"(?i)^\s*(?P<number>[0-9]+(?:\.[0-9]+)?)\s*(?P<prefix>[kmgtpe])(?P<binary>i)?b?\s*$")


def subchart_sections(charts_dir: Path) -> dict[str, set[str]]:
    """{umbrella section (alias): the top-level keys its subchart's schema declares}, for every subchart."""
    umbrella = _read_yaml(charts_dir / UMBRELLA / "Chart.yaml")
    sections = {}
    for dependency in umbrella.get("dependencies", []):
        schema = charts_dir / dependency["repository"].removeprefix("file://../") / "values.schema.json"
        if schema.exists():
            sections[dependency.get("alias", dependency["name"])] = set(yaml.safe_load(schema.read_text()).get("properties", {}))
    return sections


def _unexpected_keys(error: jsonschema.ValidationError) -> list[str]:
    declared = error.schema.get("properties", {})
    patterns = error.schema.get("patternProperties", {})
    return [str(key) for key in error.instance if key not in declared and not any(re.search(p, str(key)) for p in patterns)]


def suggestion(error: jsonschema.ValidationError, path: str, sections: dict[str, set[str]]) -> str:
    """What to do about one schema error, or "" where the schema's message says it all. `sections` is given for
    errors at the umbrella's own level: a key that belongs to a subchart is named with the section it goes under."""
    where = f"{path}." if path else ""
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        hints = []
        for key in _unexpected_keys(error):
            owners = [section for section, keys in sections.items() if key in keys] if not path else []
            if owners:
                hints.append(f"`{key}` is a setting of the {owners[0]} chart: put it under `{owners[0]}:` ({owners[0]}.{key})")
                continue
            close = difflib.get_close_matches(key, list(error.schema.get("properties", {})), n=1, cutoff=0.6)
            if close:
                hints.append(f"did you mean `{where}{close[0]}`?")
            else:
                hints.append(f"`{key}` is not a setting here; the keys of `{path or '(top level)'}` are: "
                             + ", ".join(sorted(error.schema.get("properties", {}))))
        return "; ".join(hints)
    if isinstance(error.instance, str) and error.validator in ("pattern", "oneOf", "anyOf", "type"):
        size = _BYTE_SIZE.match(error.instance)
        if size and not error.instance.strip().isdigit():
            number, prefix = size.group("number"), size.group("prefix").upper().replace("K", "k")
            binary = f"{number}{prefix.upper()}i"
            decimal = f"{number}{prefix}"
            return (f"a Kubernetes quantity has no `B`: write `{binary}` (powers of 1024, what `free -h` shows) or "
                    f"`{decimal}` (powers of 1000)")
    if error.validator == "enum" and isinstance(error.instance, str):
        options = [str(v) for v in error.validator_value]
        same_but_case = [option for option in options if option.lower() == error.instance.lower()]
        close = same_but_case or difflib.get_close_matches(error.instance, options, n=1, cutoff=0.5)
        if close:
            return f"did you mean `{close[0]}`?"
    if error.validator == "required":
        missing = [key for key in error.validator_value if key not in (error.instance or {})]
        if not missing:
            return ""
        if any(isinstance(part, int) for part in error.absolute_path):
            # Inside a list item: nothing the chart defaults, the item itself lacks a field.
            return f"add `{missing[0]}` to this item"
        return (f"`{where}{missing[0]}` is gone: a `null` there, or a section whose entries are all commented out, removes "
                "the chart's defaults; delete the key to keep the defaults, or give it its entries")
    return ""


def _lookup(values: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(values, dict):
            return None
        values = values.get(part)
    return values


def declared_kube_versions(charts_dir: Path) -> tuple[str, str]:
    """The lowest and highest Kubernetes minors the umbrella's kubeVersion admits (">=1.A.0-0 <1.B.0-0")."""
    constraint = _read_yaml(charts_dir / UMBRELLA / "Chart.yaml")["kubeVersion"]
    match = re.fullmatch(r">=\s*1\.(\d+)\.0(?:-0)?\s+<\s*1\.(\d+)\.0(?:-0)?", constraint)
    if not match:
        raise UsageError(f"cannot read the umbrella's kubeVersion {constraint!r}")
    return f"1.{match.group(1)}.0", f"1.{int(match.group(2)) - 1}.0"


def prepared_charts(helm: str, charts_dir: Path, workdir: Path) -> Path:
    """A copy of the charts with every file:// dependency built, subcharts before the charts that use them."""
    copy_dir = workdir / "charts"
    shutil.copytree(charts_dir, copy_dir, ignore=shutil.ignore_patterns("*.tgz", "__pycache__"))
    pending = {path.parent.name for path in copy_dir.glob("*/Chart.yaml") if _read_yaml(path).get("dependencies")}
    while pending:
        ready = [name for name in sorted(pending)
                 if not {d["name"] for d in _read_yaml(copy_dir / name / "Chart.yaml")["dependencies"]} & pending]
        if not ready:
            raise UsageError(f"dependency cycle among {sorted(pending)}")
        for name in ready:
            built = run_helm(helm, "dependency", "build", "--skip-refresh", str(copy_dir / name))
            if built.returncode != 0:
                raise UsageError(f"helm dependency build {name} failed: {built.stderr.strip()}")
            pending.discard(name)
    return copy_dir / UMBRELLA


def check_file(path: Path, helm: str, charts_dir: Path, umbrella: Path) -> list[str]:
    """Every problem with one values file, as `check: message` lines; empty when it passes."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot read it ({error.__class__.__name__}: {error})") from error
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as error:
        return [f"yaml: {error}"]
    except RecursionError:
        return ["yaml: nested too deeply to be a values file"]
    if values is None:
        values = {}
    if not isinstance(values, dict):
        return ["yaml: a values file must be a mapping at the top level"]
    try:
        problems = [f"schema: {error}" for error in schema_errors(values, charts_dir)]
    except RecursionError:
        return ["yaml: nested too deeply to be a values file"]
    if problems:
        # Helm validates the same schemas first and would stop at the same errors, less clearly.
        return [*problems, "helm lint and the renders: not run until the schema errors above are fixed"]
    lint = run_helm(helm, "lint", "--strict", str(umbrella), "--values", str(path))
    if lint.returncode != 0:
        findings = [line.strip() for line in lint.stdout.splitlines() if line.strip().startswith(("[ERROR]", "[WARNING]", "Error"))]
        problems += [f"helm lint --strict: {finding}" for finding in findings or [lint.stderr.strip()]]
    for kube_version in declared_kube_versions(charts_dir):
        rendered = run_helm(helm, "template", "triton", str(umbrella), "--values", str(path), "--kube-version", kube_version)
        if rendered.returncode != 0:
            problems.append(f"render at Kubernetes {kube_version}: {rendered.stderr.strip()}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check environment values files against the triton-stack charts.")
    parser.add_argument("files", nargs="+", type=Path, help="values files for the triton-stack umbrella chart")
    parser.add_argument("--charts", type=Path, help="the charts directory (default: the charts this checker ships with)")
    args = parser.parse_args(argv)
    try:
        helm = helm_command()
        charts_dir = args.charts or default_charts_dir()
        with tempfile.TemporaryDirectory(prefix="triton-stack-check-") as workdir:
            umbrella = prepared_charts(helm, charts_dir, Path(workdir))
            failed = False
            for path in args.files:
                problems = check_file(path, helm, charts_dir, umbrella)
                for problem in problems:
                    print(f"{path}: {problem}")
                failed |= bool(problems)
                if not problems:
                    print(f"{path}: ok (schema, helm lint --strict, render at {' and '.join(declared_kube_versions(charts_dir))})")
    except UsageError as error:
        print(f"triton-stack-check-values: {error}", file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
