"""The house rules: import layers, no import cycles, a small flat engine top, and a wheel that holds everything."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO

PACKAGES = ("engine", "tui", "presets", "third_party")


@pytest.mark.slow
def test_import_layers_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that import each other, directly or not."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_cycle_finder_finds_a_cycle():
    assert [sorted(g) for g in _strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) if len(g) > 1] \
        == [["a", "b", "c"]]


def test_no_import_cycles_between_modules():
    import grimp

    graph = grimp.build_graph("engine", "tui")  # every import, including those inside functions
    modules = {m for m in graph.modules if m.startswith(("engine", "tui"))}
    edges = {m: {t for t in graph.find_modules_directly_imported_by(m) if t in modules} for m in modules}
    assert sum(len(e) for e in edges.values()) > 200  # the graph really was read
    cycles = [sorted(group) for group in _strongly_connected(edges) if len(group) > 1]
    assert cycles == []


def test_engine_top_level_stays_small():
    flat = sorted(p.name for p in (REPO / "engine").glob("*.py"))
    assert len(flat) <= 12, flat


@pytest.mark.slow
def test_the_wheel_holds_every_module_and_data_file(tmp_path):
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "--", *PACKAGES, "pyproject.toml", "README.md"],
                            cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    source = tmp_path / "source"
    for name in listed:
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((REPO / name).read_bytes())
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(source)], check=True, capture_output=True, timeout=300)
    wheel = next((tmp_path / "dist").glob("sft_wizard-*.whl"))
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    expected = {name for name in listed if name.startswith(tuple(f"{p}/" for p in PACKAGES))}
    assert len(expected) > 80
    assert sorted(expected - in_wheel) == []
