"""Every example config of LLaMA-Factory, Axolotl and TRL imported one by one and held against what that tool trains.

Usage: python benchmarks/import_examples.py --llama-factory DIR --axolotl DIR --trl DIR [--fresh] [-v]

Each DIR is a checkout of the tool's repository (or a tree of its files at one commit), e.g.
    git clone --depth 1 https://github.com/hiyouga/LLaMA-Factory
    git clone --depth 1 https://github.com/axolotl-ai-cloud/axolotl
    git clone --depth 1 https://github.com/huggingface/trl
or, from a bare mirror: mkdir DIR && git --git-dir=MIRROR archive HEAD | tar -x -C DIR.
The files: every *.yaml/*.yml under each examples/, and each ```yaml block of TRL's docs/source/*.md (saved under
the file name its first comment gives, e.g. dpo_config.yaml, as the docs tell users to). Each file is imported with
the repository as working directory, as each tool runs its examples from there (LLaMA-Factory's data/).
Prints, per tool and kind (what the tool itself does with the file: benchmarks/import_oracles.py), the files, the
import's exit codes, and over the SFT files imported the settings right, wrong (a different value, said nowhere) and
flagged (listed as not read, warned about or left to complete). -v lists each wrong and flagged setting.
--fresh imports each file a second time in a new process and counts the files whose output differs from the
import in this one (state carried from one import to the next).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

import import_oracles as oracles  # noqa: E402

from engine.errors import UserError  # noqa: E402
from engine.importing.detect import preset_from_file  # noqa: E402
from engine.yamlio import load_yaml  # noqa: E402

KINDS = (oracles.SFT, oracles.NOT_SFT, oracles.NO_TRAINING, oracles.V1)


def example_files(tool: str, root: Path, scratch: Path) -> list[Path]:
    """The tool's example YAML files, and for TRL its docs' YAML blocks written out under scratch."""
    files = sorted(path for path in (root / "examples").rglob("*") if path.suffix in (".yaml", ".yml") and path.is_file())
    if tool != "trl":
        return files
    for page in sorted((root / "docs" / "source").glob("*.md")):
        blocks = re.findall(r"^```yaml\n(.*?)^```", page.read_text(encoding="utf-8"), re.S | re.M)
        for number, block in enumerate(blocks):
            named = re.match(r"# (\S+\.ya?ml)\n", block)
            folder = scratch / f"{page.stem}-{number}"
            folder.mkdir(parents=True)
            files.append(folder / (named.group(1) if named else "config.yaml"))
            files[-1].write_text(block, encoding="utf-8")
    return files


def import_one(path: Path):
    """The exit code `sft-wizard import` gives, its message when refused, and the imported preset when read."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return 0, "", preset_from_file(str(path))
    except UserError as exc:
        return 2, str(exc), None
    except Exception as exc:  # what the command line shows as a traceback, exit 1
        return 1, f"{type(exc).__name__}: {exc}", None


def value_at(config, where: str):
    """The preset's value at an oracle's place: training.max_length, lora.r, sources[1], sources[0].format …"""
    from engine.config.schema import schema

    head, _, key = where.partition(".")
    if head in ("lora", "quantization"):
        section = getattr(config, head)
        if not key:
            return section is not None
        if section is None:
            return None
        spec = schema()[head].get(key)
        return section.get(key, spec.default if spec and head == "lora" else None)
    if head == "training":
        return config.training_value(key)
    if head in ("model", "dataset", "distributed"):
        return getattr(getattr(config, head), key)
    listed = config.dataset.training_sources() if head.startswith("sources") else config.dataset.eval_sources
    match = re.match(r"\w+\[(\d+)\]", head)
    if not match:  # every source's value, one value when they agree
        values = {str(getattr(source, key)) for source in listed}
        return values.pop() if len(values) == 1 else sorted(values)
    index = int(match.group(1))
    if index >= len(listed):
        return None
    return getattr(listed[index], key) if key else listed[index]


def same(actual, expected) -> bool:
    """Whether the preset's value trains as the source tool's does."""
    if isinstance(expected, oracles.Source):
        return actual is not None and all(same(getattr(actual, key), value) for key, value in expected.items())
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected or (expected is None and actual is False)
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return math.isclose(actual, expected)
    if isinstance(expected, list) and isinstance(actual, str):
        return expected == [actual]
    if isinstance(expected, str) and isinstance(actual, list):
        return actual == [expected]
    if isinstance(expected, str) and isinstance(actual, str) and ("/" in expected or "\\" in expected):
        return os.path.normpath(actual) == os.path.normpath(expected)
    return actual == expected or (expected is None and actual in ("", [], {}))


def mentioned(words: tuple[str, ...], lines: list[str]) -> bool:
    """Whether a line names one of the words (a key, `datasets[1]`, `'alpaca_en_demo'`)."""
    patterns = [re.escape(word) if "[" in word or "'" in word else rf"(?<!\w){re.escape(word)}(?!\w)" for word in words]
    return any(re.search(pattern, line) for pattern in patterns for line in lines)


def judged(tool: str, config: dict, imported) -> list[tuple[str, oracles.Setting, object]]:
    """Each setting with right, wrong or flagged, and the preset's value."""
    told = imported.result.not_read + imported.warnings + [str(problem) for problem in imported.to_complete]
    out = []
    for setting in oracles.settings(tool, config):
        actual = value_at(imported.config, setting.where)
        flagged = mentioned(setting.flag_words, told)
        if setting.expected is not oracles.UNSUPPORTED and same(actual, setting.expected):
            out.append(("right", setting, actual))
        else:
            out.append(("flagged" if flagged else "wrong", setting, actual))
    return out


def cli_output(path: Path, out: Path, fresh: bool) -> str:
    """`sft-wizard import FILE --output OUT`'s printed text, exit code and preset, here or in a new process."""
    args = ["import", str(path), "--output", str(out), "--force"]
    out.unlink(missing_ok=True)
    if fresh:
        done = subprocess.run([sys.executable, "-m", "tui", *args], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        text, code = f"{done.stdout}\n-- stderr:\n{done.stderr}", done.returncode
    else:
        from engine.cli.main import main

        out_text, err_text = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out_text), contextlib.redirect_stderr(err_text):
            try:
                code = main(args)
            except SystemExit as exc:
                code = exc.code
        text = f"{out_text.getvalue()}\n-- stderr:\n{err_text.getvalue()}"
    preset = out.read_text(encoding="utf-8") if out.exists() else ""
    return f"{code}\n{text.replace(str(out), 'OUT')}\n{preset}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for tool in ("llama-factory", "axolotl", "trl"):
        parser.add_argument(f"--{tool}", type=Path, metavar="DIR", help=f"a checkout of {tool}'s repository")
    parser.add_argument("--fresh", action="store_true", help="also import each file in a new process and compare")
    parser.add_argument("-v", action="store_true", help="list each wrong and flagged setting")
    args = parser.parse_args()
    rows, details, differing, total = {}, [], [], Counter()
    roots = {tool: getattr(args, tool.replace("-", "_")) for tool in ("llama-factory", "axolotl", "trl")}
    roots = {tool: root.resolve() for tool, root in roots.items() if root is not None}
    with tempfile.TemporaryDirectory() as scratch:
        for tool, root in roots.items():
            for path in example_files(tool, root, Path(scratch) / tool):
                os.chdir(root)
                shown = path.relative_to(root) if path.is_relative_to(root) else Path("docs") / path.parent.name / path.name
                try:
                    config = load_yaml(path.read_text(encoding="utf-8"))
                except Exception:
                    config = None
                what = oracles.kind(tool, config, path.name) if isinstance(config, dict) else oracles.NO_TRAINING
                code, message, imported = import_one(path)
                row = rows.setdefault((tool, what), Counter())
                row["files"] += 1
                row[f"exit {code}"] += 1
                if code == 1 or (what != oracles.SFT and code == 0) or (what == oracles.SFT and code != 0):
                    details.append(f"{tool} {shown} ({what}): exit {code} {message[:200]}")
                if what == oracles.SFT and imported is not None:
                    for verdict, setting, actual in judged(tool, config, imported):
                        row[verdict] += 1
                        if verdict != "right":
                            details.append(f"{tool} {shown}: {verdict} {setting.label} -> {setting.where} = {actual!r}"
                                           f" (the tool: {'unsupported' if setting.expected is oracles.UNSUPPORTED else repr(setting.expected)})")
                if args.fresh:
                    here = cli_output(path, Path(scratch) / "here.yaml", fresh=False)
                    again = cli_output(path, Path(scratch) / "fresh.yaml", fresh=True)
                    if here != again:
                        differing.append(str(shown))
    print("| tool | kind (what the tool does) | files | exit 0 | exit 2 | exit 1 | settings right | wrong | flagged |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (tool, what), row in sorted(rows.items(), key=lambda item: (item[0][0], KINDS.index(item[0][1]))):
        total.update(row)
        print(f"| {tool} | {what} | {row['files']} | {row['exit 0']} | {row['exit 2']} | {row['exit 1']} | "
              f"{row['right']} | {row['wrong']} | {row['flagged']} |")
    print(f"| all | | {total['files']} | {total['exit 0']} | {total['exit 2']} | {total['exit 1']} | {total['right']} | "
          f"{total['wrong']} | {total['flagged']} |")
    if args.fresh:
        print(f"\nimported again in a new process: {len(differing)} of {total['files']} files differ"
              + "".join(f"\n  {name}" for name in differing))
    if args.v:
        print("\n" + "\n".join(details))


if __name__ == "__main__":
    main()
