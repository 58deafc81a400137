"""The tested versions: constraints.txt pins what set-up installs, the bundled option schema is built for
those pins, and `--version` and `gpus` print the versions in use."""

import json
import subprocess
import sys
from importlib import metadata

import pytest
from conftest import REPO, run_command
from packaging.requirements import Requirement

from engine.cli.versions import LIBRARIES, build_of, versions_in_use
from engine.config.schema import BUNDLED_DIR, versions_key


def locked_pins() -> dict[str, str]:
    """Each `name==version` line of constraints.txt, names in their canonical form."""
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", line
            pins[requirement.name.lower().replace("_", "-")] = specifier.version
    return pins


def test_the_bundled_schema_is_built_for_the_locked_versions():
    bundled = sorted(p.name for p in BUNDLED_DIR.glob("schema-*.json"))
    assert bundled == [f"schema-{versions_key(locked_pins())}.json"]
    trainer_keys = sorted(p.name for p in BUNDLED_DIR.glob("trainer-keys-*.json"))
    assert trainer_keys == [f"trainer-keys-{versions_key(locked_pins())}.json"]


def test_the_lock_pins_every_dependency_within_pyproject_ranges_and_leaves_torch_to_set_up():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = locked_pins()
    assert "torch" not in pins and "sft-wizard" not in pins
    for line in project["dependencies"] + project["optional-dependencies"]["test"]:
        requirement = Requirement(line)
        assert requirement.name in pins, f"{requirement.name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[requirement.name]), (line, pins[requirement.name])


def test_the_torch_build_is_read_from_its_version_file():
    cuda = "from typing import Optional\n__version__ = '2.13.0'\ncuda: Optional[str] = '12.8'\nhip: Optional[str] = None\n"
    rocm = "__version__ = '2.13.0+rocm6.3'\ncuda = None\nhip = '6.3.42131'\n"
    cpu = "__version__ = '2.13.0+cpu'\ncuda: Optional[str] = None\nhip: Optional[str] = None\n"
    assert (build_of(cuda), build_of(rocm), build_of(cpu)) == ("CUDA 12.8", "ROCm 6.3.42131", "CPU")


def test_version_prints_every_library_in_use_without_importing_them():
    code = ("import sys\nfrom engine.cli.main import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print(','.join(m for m in ('torch', 'transformers', 'trl', 'peft', 'textual') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    lines = out.splitlines()
    assert lines[-1] == ""  # nothing heavy was imported
    shown = dict(line.split(None, 1) for line in lines[:-1])
    for name in LIBRARIES:
        assert shown[name].startswith(metadata.version(name)), (name, shown[name])
    assert shown["sft-wizard"] == "0.1.0" and "build)" in shown["torch"]


def test_gpus_reports_the_versions_in_use_as_text_and_json():
    text = run_command("gpus")
    assert text.returncode == 0 and f"transformers  {metadata.version('transformers')}" in text.stdout
    data = json.loads(run_command("gpus", "--json").stdout)
    assert data["versions"] == versions_in_use()
    assert set(LIBRARIES) | {"sft-wizard", "torch-build"} <= set(data["versions"])
