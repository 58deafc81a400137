"""The house's seams in figures: `Any` in annotations, and the walk a run's request takes through the engine.

    python benchmarks/seams.py            # both
    python benchmarks/seams.py --any      # annotation counts only (no training)
    python benchmarks/seams.py --any DIR  # the annotation counts of another checkout (e.g. a git worktree)

The walk: a one-step demo run is traced (sys.setprofile); a stop is a call into an engine function that
receives the request, its config or its plan (the same objects, by identity); a climb back is a stop in
engine/run/train.py right after a stop in another module.
"""

from __future__ import annotations

import ast
import os
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


SEAMS = ("engine/run/probe.py", "engine/run/train.py", "tui/wizard/messages.py", "tui/wizard/app.py",
         "engine/background_jobs.py", "engine/analysis.py", "tui/wizard/analysis.py", "tui/wizard/job_processes.py")
"""The seams issue 20 named (with the old names of the background-job modules)."""


def _holds_any(node: ast.AST | None) -> bool:
    return node is not None and any(isinstance(n, ast.Name) and n.id == "Any" or
                                    isinstance(n, ast.Constant) and isinstance(n.value, str) and "Any" in n.value
                                    for n in ast.walk(node))


def _is_any(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Name) and node.id == "Any" or isinstance(node, ast.Constant) and node.value == "Any"


def annotation_counts(root: Path = REPO) -> tuple[int, int, Counter]:
    """(`name: Any` annotations, annotations holding Any anywhere, holding-Any count per file) in engine/ and tui/."""
    plain = holding = 0
    per_file: Counter = Counter()
    for path in sorted([*root.glob("engine/**/*.py"), *root.glob("tui/**/*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        annotations = []  # (annotation, whether it is a `name: ...` one rather than a return)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs, node.args.vararg, node.args.kwarg]
                annotations += [(a.annotation, True) for a in args if a is not None] + [(node.returns, False)]
            elif isinstance(node, ast.AnnAssign):
                annotations.append((node.annotation, True))
        for annotation, named in annotations:
            if _holds_any(annotation):
                holding += 1
                per_file[str(path.relative_to(root))] += 1
                plain += named and _is_any(annotation)
    return plain, holding, per_file


def request_walk() -> list[tuple[str, str]]:
    """The (module, function) stops of a one-step tiny-demo run's request, config and plan through the engine."""
    import tempfile

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from engine.config.presets import load_preset
    from engine.run.train import RunRequest, run_training

    config, _, _ = load_preset("demo", ["training.max_steps=1", "training.eval_strategy=no", "training.save_strategy=no"])
    tracked: set[int] = {id(config)}
    stops: list[tuple[str, str]] = []

    def profile(frame, event, arg):
        if event != "call":
            return
        module = frame.f_globals.get("__name__", "")
        if not module.startswith("engine."):
            return
        values = frame.f_locals.values()
        if any(id(v) in tracked for v in values):
            stops.append((module, frame.f_code.co_name))
            for value in values:  # a plan or request built from the config is followed too
                if getattr(value, "config", None) is config:
                    tracked.add(id(value))

    with tempfile.TemporaryDirectory() as folder:
        request = RunRequest(config, output_dir=folder)
        tracked.add(id(request))
        sys.setprofile(profile)
        try:
            run_training(request)
        finally:
            sys.setprofile(None)
    return stops


def main() -> None:
    others = [a for a in sys.argv[1:] if not a.startswith("--")]
    plain, holding, per_file = annotation_counts(Path(others[0]).resolve() if others else REPO)
    print(f"`: Any` annotations: {plain}; annotations holding Any: {holding}")
    for name in SEAMS:
        print(f"  seam {per_file.get(name, 0):4d}  {name}")
    for name, count in per_file.most_common(8):
        print(f"  {count:4d}  {name}")
    if "--any" in sys.argv:
        return
    stops = request_walk()
    modules = {m for m, _ in stops}
    climbs = sum(1 for (a, _), (b, _) in zip(stops, stops[1:]) if b == "engine.run.train" and a != b)
    print(f"a run's request: {len(stops)} stops in {len(modules)} modules, {climbs} climbs back to engine.run.train")
    for module, function in stops:
        print(f"  {module}.{function}")


if __name__ == "__main__":
    main()
