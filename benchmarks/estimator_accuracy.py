"""Prints the estimator's prediction against every published measurement in vram-measured.csv."""

import sys
from pathlib import Path

from engine.fit.calibration import error_table
from engine.units import GIB

default = Path(__file__).resolve().parent.parent.parent / "shared" / "reference" / "vram-measured.csv"
path = Path(sys.argv[1]) if len(sys.argv) > 1 else default
table = error_table(path)
print(f"{'id':<4} {'model':<17} {'method':<22} {'b':>2} {'seq':>5} {'measured':>9} {'predicted':>9} {'error':>7}  kind")
for row, predicted, error in table:
    i = row.inputs
    method = (f"{'q' if i.quantization else ''}lora r{i.lora_r}" if i.lora_r else "full") if not row.weights_only else "weights only"
    print(f"{row.id:<4} {row.model[:17]:<17} {method:<22} {i.batch_size:>2} {i.seq_len:>5} "
          f"{row.measured_bytes / GIB:>7.2f}Gi {predicted / GIB:>7.2f}Gi {error:>+7.1%}  {row.kind} ({row.certainty})")
errors = [abs(e) for *_, e in table]
print(f"mean absolute percentage error {sum(errors) / len(errors):.1%}, worst {max(errors):.1%}, rows {len(errors)}")
