"""Tutorial code as one Python module: a .py script, a marimo app or a Jupyter notebook's code cells in order.

Notebook-only lines (`!pip install`, `%matplotlib`, `%%capture`) are dropped, in notebooks and in
code copied from them; marimo cells (`@app.cell def _(...):`) become the statements they hold.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from engine.errors import UserError

# Cell magics whose cell is Python (run, or written to a .py file that a later `!python` runs);
# any other (%%bash, %%writefile config.yaml …) is not Python.
_PYTHON_CELL_MAGICS = ("%%capture", "%%time", "%%timeit")


def read_tutorial(path: str) -> ast.Module:
    """Parse a .py file or an .ipynb notebook into one module, raising UserError for anything that is not code."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}.") from None
    is_notebook = path.endswith(".ipynb") or text.lstrip().startswith("{")
    cells = _notebook_cells(path, text) if is_notebook else [text]
    body: list[ast.stmt] = []
    for number, cell in enumerate(cells, start=1):
        where = f"{path}: cell {number}" if is_notebook else path
        body.extend(_parse_cell(where, cell))
    return ast.Module(body=_without_marimo_cells(body), type_ignores=[])


def _notebook_cells(path: str, text: str) -> list[str]:
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not a readable notebook (invalid JSON at line {exc.lineno}: {exc.msg}); "
                        "save it again from Jupyter or Colab, or give the .py file.") from None
    if not isinstance(notebook, dict):
        raise UserError(f"{path}: not a Jupyter notebook (the JSON holds no `cells`).")
    cells = notebook.get("cells")
    if cells is None:  # nbformat 3 kept its cells in worksheets
        cells = [c for sheet in notebook.get("worksheets") or [] for c in sheet.get("cells", [])]
    if not isinstance(cells, list) or not cells:
        raise UserError(f"{path}: not a Jupyter notebook, or one without cells (the JSON holds no `cells`).")
    sources = []
    for cell in cells:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", cell.get("input", ""))
            sources.append("".join(source) if isinstance(source, list) else str(source))
    return sources


def _parse_cell(where: str, code: str) -> list[ast.stmt]:
    try:
        return ast.parse(code).body
    except (SyntaxError, RecursionError, ValueError):
        pass  # perhaps notebook lines; try again without them
    code = _without_notebook_lines(code)
    try:
        return ast.parse(code).body
    except SyntaxError as exc:
        raise UserError(f"{where}: not valid Python at line {exc.lineno}: {exc.msg}. sft-wizard reads the code "
                        "without running it; fix that line or give the file it was copied from.") from None
    except (RecursionError, ValueError) as exc:  # nesting deeper than Python parses, NUL bytes
        raise UserError(f"{where}: not Python code that sft-wizard can read ({exc}).") from None


def _without_notebook_lines(code: str) -> str:
    """The code with shell (`!`) and magic (`%`) lines replaced by `pass`, so blocks around them stay valid."""
    lines = code.splitlines()
    first = next((line.strip() for line in lines if line.strip()), "")
    writes_python = first.startswith("%%writefile") and first.endswith(".py")
    if first.startswith("%%") and not first.startswith(_PYTHON_CELL_MAGICS) and not writes_python:
        return ""
    out: list[str] = []
    continued = False
    for line in lines:
        stripped = line.lstrip()
        if continued or stripped.startswith(("!", "%")):
            out.append(line[: len(line) - len(stripped)] + "pass" if not continued else "")
            continued = stripped.endswith("\\")
        else:
            out.append(line)
    return "\n".join(out)


def _without_marimo_cells(body: list[ast.stmt]) -> list[ast.stmt]:
    """Module statements with each `@app.cell` function replaced by its body (less its closing return)."""
    out: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.FunctionDef) and any(_is_marimo_cell(d) for d in node.decorator_list):
            statements = list(node.body)
            if statements and isinstance(statements[-1], ast.Return):
                statements.pop()
            out.extend(statements)
        else:
            out.append(node)
    return out


def _is_marimo_cell(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(target, ast.Attribute) and target.attr == "cell"
