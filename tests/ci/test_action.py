"""The composite action (action.yml) and the example workflow: structure, actionlint, shellcheck, and the
action's validation step run for real with bash, the way the runner runs it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.ci.conftest import ROOT, good_record, jsonl, tool
from tests.ci.test_github import parse_commands

ACTION = ROOT / "action.yml"
WORKFLOW = ROOT / ".github" / "workflows" / "validate-batches.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@pytest.fixture(scope="module")
def action() -> dict:
    return yaml.safe_load(ACTION.read_text())


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def step(action: dict, name: str) -> dict:
    [found] = [s for s in action["runs"]["steps"] if s.get("name") == name]
    return found


def test_action_is_composite_with_the_documented_inputs(action):
    assert action["runs"]["using"] == "composite"
    inputs = action["inputs"]
    assert {"paths", "schema", "archive", "strict", "python-version", "version"} <= set(inputs)
    assert inputs["paths"]["required"] is True
    for name, spec in inputs.items():
        assert spec.get("description"), name
        assert name == "paths" or spec["required"] is False and isinstance(spec["default"], str), name
    assert inputs["strict"]["default"] == "false"
    assert action["outputs"]["exit-code"]["value"] == "${{ steps.validate.outputs.exit-code }}"


def test_action_sets_up_python_installs_its_checkout_and_runs_validate_for_github(action):
    setup = step(action, "Set up Python")
    assert setup["uses"].startswith("actions/setup-python@")
    assert setup["with"]["python-version"] == "${{ inputs.python-version }}"
    install = step(action, "Install newsarchive")
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}"
    assert 'pip install --quiet "$ACTION_PATH"' in install["run"]
    assert install["env"]["NEWSARCHIVE_REQUIREMENT"] == "${{ inputs.version }}"
    validate = step(action, "Validate batches")
    assert validate["id"] == "validate"
    assert "--format github" in validate["run"]


def test_inputs_reach_scripts_through_env_never_inline(action):
    """`${{ inputs.x }}` pasted into a script is a script-injection hole (a path such as `$(curl …)`)."""
    for s in action["runs"]["steps"]:
        if "run" in s:
            assert not EXPRESSION.search(s["run"]), s["name"]
            assert s["shell"] == "bash"
            for value in s.get("env", {}).values():
                assert EXPRESSION.fullmatch(value), value


def test_action_scripts_pass_shellcheck(action, tmp_path):
    shellcheck = tool("shellcheck")
    for s in action["runs"]["steps"]:
        if "run" in s:
            res = subprocess.run([shellcheck, "--shell=bash", "--severity=style", "-"], input=s["run"],
                                 capture_output=True, text=True, timeout=60)
            assert res.returncode == 0, f"{s['name']}:\n{res.stdout}"


def test_workflow_runs_the_local_action_on_pull_requests_touching_batches(workflow):
    assert workflow[True if True in workflow else "on"]["pull_request"]["paths"] == ["batches/**"]
    [job] = workflow["jobs"].values()
    uses = [s for s in job["steps"] if s.get("uses") == "./"]
    assert len(uses) == 1
    assert set(uses[0]["with"]) <= set(yaml.safe_load(ACTION.read_text())["inputs"])
    assert job["steps"][0]["uses"].startswith("actions/checkout@")


def run_actionlint(workdir: Path, *files: str) -> subprocess.CompletedProcess:
    actionlint = tool("actionlint")
    env = {"PATH": f"{Path(tool('shellcheck')).parent}:/usr/bin:/bin", "HOME": str(workdir)}
    return subprocess.run([actionlint, "-no-color", "-oneline", *files], cwd=workdir, capture_output=True,
                          text=True, timeout=120, env=env)


def project_copy(tmp_path: Path) -> Path:
    """The action and the workflow in a repository of their own, so actionlint sees only them."""
    repo = tmp_path / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    shutil.copy(ACTION, repo / "action.yml")
    shutil.copy(WORKFLOW, repo / ".github" / "workflows" / WORKFLOW.name)
    return repo


def test_workflow_and_the_local_action_pass_actionlint(tmp_path):
    """actionlint checks the workflow (expressions, contexts, shellcheck of its scripts) and, through
    `uses: ./`, reads action.yml: a malformed action or an input it does not declare is an error."""
    repo = project_copy(tmp_path)
    res = run_actionlint(repo, f".github/workflows/{WORKFLOW.name}")
    assert res.returncode == 0, res.stdout + res.stderr


def test_actionlint_catches_a_misused_or_broken_action(tmp_path):
    """The check above has teeth: the same repository with an undeclared input, then with a broken
    action.yml, fails."""
    repo = project_copy(tmp_path)
    path = repo / ".github" / "workflows" / WORKFLOW.name
    path.write_text(path.read_text().replace('          strict: "false"\n', '          strict: "false"\n'
                                                                                 "          stritc: true\n"))
    res = run_actionlint(repo, f".github/workflows/{WORKFLOW.name}")
    assert res.returncode == 1 and 'input "stritc" is not defined in action' in res.stdout
    shutil.copy(WORKFLOW, path)
    (repo / "action.yml").write_text(ACTION.read_text().replace("  using: composite\n", "  using: compost\n"))
    res = run_actionlint(repo, f".github/workflows/{WORKFLOW.name}")
    assert res.returncode == 1 and "compost" in res.stdout


@pytest.fixture
def runner(tmp_path):
    """A stand-in for the runner of the action's validation step: RUNNER_TEMP holding the venv the
    install step makes (here its `newsarchive` runs this checkout), GITHUB_OUTPUT, GITHUB_STEP_SUMMARY."""
    temp = tmp_path / "runner-temp"
    bin_dir = temp / "newsarchive-venv" / "bin"
    bin_dir.mkdir(parents=True)
    wrapper = bin_dir / "newsarchive"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m toolkit "$@"\n')
    wrapper.chmod(0o755)
    workspace = tmp_path / "workspace"
    (workspace / "batches" / "2024").mkdir(parents=True)
    (workspace / "batches" / "2024" / "good.jsonl").write_bytes(jsonl(good_record(1), good_record(2)))
    (workspace / "batches" / "2024" / "bad.jsonl").write_bytes(jsonl(good_record(3), good_record(4, title="")))

    def run(inputs: dict[str, str]) -> tuple[int, str, dict[str, str], Path]:
        spec = yaml.safe_load(ACTION.read_text())
        values = {name: item.get("default", "") for name, item in spec["inputs"].items()} | inputs
        validate = step(spec, "Validate batches")
        env = {"PATH": "/usr/bin:/bin", "RUNNER_TEMP": str(temp), "GITHUB_OUTPUT": str(tmp_path / "output"),
               "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), "GITHUB_WORKSPACE": str(workspace)}
        for key, value in validate["env"].items():
            env[key] = values[EXPRESSION.fullmatch(value).group(1).removeprefix("inputs.")]
        (tmp_path / "output").write_text("")
        script = tmp_path / "step.sh"
        script.write_text(validate["run"])
        # GitHub's `shell: bash` is `bash --noprofile --norc -eo pipefail {0}`
        res = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=workspace,
                             env=env, capture_output=True, text=True, timeout=120)
        outputs = dict(line.split("=", 1) for line in (tmp_path / "output").read_text().splitlines())
        return res.returncode, res.stdout + res.stderr, outputs, workspace

    return run


def test_the_validation_step_annotates_and_fails_on_invalid_batches(runner):
    code, out, outputs, _ = runner({"paths": "batches/2024/good.jsonl\nbatches/2024/bad.jsonl"})
    assert code == 1 and outputs == {"exit-code": "1"}
    [error] = [c for c in parse_commands(out) if c["level"] == "error"]
    assert (error["file"], error["line"]) == ("batches/2024/bad.jsonl", "2")


def test_the_validation_step_passes_clean_batches_and_expands_globs(runner):
    code, out, outputs, workspace = runner({"paths": "batches/**/good.jsonl", "junit": "reports/junit.xml"})
    assert code == 0 and outputs == {"exit-code": "0"}, out
    assert "2 records, 2 valid: all records valid." in out
    assert '<testcase name="2 records valid"' in (workspace / "reports" / "junit.xml").read_text()


def test_the_validation_step_passes_archive_strict_and_junit(runner, archive_root):
    code, out, outputs, workspace = runner({"paths": "batches", "archive": str(archive_root), "strict": "true",
                                            "junit": "reports/junit.xml", "max-errors": "50"})
    assert code == 1 and outputs == {"exit-code": "1"}
    errors = [c for c in parse_commands(out) if c["level"] == "error"]
    # ids 1, 2, 3 are in the archive: with strict they fail, as does the bad title
    assert sorted((e["file"], e["line"], e["title"].split(" (")[0]) for e in errors) == [
        ("batches/2024/bad.jsonl", "1", "id already in the archive"),
        ("batches/2024/bad.jsonl", "2", "minLength at /title"),
        ("batches/2024/good.jsonl", "1", "id already in the archive"),
        ("batches/2024/good.jsonl", "2", "id already in the archive"),
    ]
    assert 'type="already_archived"' in (workspace / "reports" / "junit.xml").read_text()


def test_the_validation_step_reports_a_run_that_cannot_happen(runner):
    code, out, outputs, _ = runner({"paths": "batches/missing.jsonl"})
    assert code == 2 and outputs == {"exit-code": "2"} and "no such file" in out
    code, out, outputs, _ = runner({"paths": "  \n "})
    assert code == 2 and "the paths input is empty" in out
