"""The estimator against published measurements: calibration rows, held-out rows, before and after.

Rows come from tests/data/vram-measured.csv (a copy of shared/reference/vram-measured.csv, the
first calibration set) and benchmarks/data/vram-published.csv (more published tables, each row with
its source and a `split`: fit, or held-out = never used for fitting). The script refits the
constants on the fit rows and prints the error of the first constants, of the fitted ones and of
the constants in use, separately on fit and held-out rows.
Usage: python benchmarks/estimator_accuracy.py [CSV ...]
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine.fit.calibration import errors, fit_constants, load_rows  # noqa: E402
from engine.fit.estimate import CONSTANTS, FIRST_CONSTANTS, estimate_memory  # noqa: E402
from engine.units import GIB  # noqa: E402

paths = sys.argv[1:] or [REPO / "tests" / "data" / "vram-measured.csv", REPO / "benchmarks" / "data" / "vram-published.csv"]
rows = load_rows(paths)
fit = [r for r in rows if r.split == "fit"]
held_out = [r for r in rows if r.split != "fit"]

print(f"{'id':<20} {'split':<8} {'method':<14} {'b':>2} {'seq':>5} {'measured':>9} {'predicted':>9} {'error':>7}")
for row, error in zip(rows, errors(rows, CONSTANTS)):
    i = row.inputs
    method = "weights only" if row.weights_only else \
        (f"{'q' if i.quantization else ''}lora r{i.lora_r}{'+emb' if i.lora_extra_trainable else ''}" if i.lora_r else "full")
    predicted = estimate_memory(i).total_bytes if not row.weights_only else estimate_memory(i).breakdown["weights"]
    print(f"{row.id:<20} {row.split:<8} {method:<14} {i.batch_size:>2} {i.seq_len:>5} "
          f"{row.measured_bytes / GIB:>7.2f}Gi {predicted / GIB:>7.2f}Gi {error:>+7.1%}")


def summary(constants, subset) -> str:
    errs = [abs(e) for e in errors(subset, constants)]
    return f"mean {sum(errs) / len(errs):5.1%}, worst {max(errs):5.1%} over {len(errs)} rows"


refit = fit_constants(fit)
print(f"\nconstants refitted on the {len(fit)} fit rows: {refit}")
print(f"constants in use: {CONSTANTS}")
for name, constants in (("first constants (before)", FIRST_CONSTANTS), ("constants in use (after)", CONSTANTS)):
    print(f"{name:<26} fit rows: {summary(constants, fit)};  held-out rows: {summary(constants, held_out)}")
