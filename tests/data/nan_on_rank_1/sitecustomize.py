"""Test injection, loaded by every process that has this folder on PYTHONPATH: rank 1's loss turns NaN from step 3.

Only the test of the NaN stop across ranks puts it there; the other ranks and the launcher are untouched.
"""

import os

if os.environ.get("RANK") == "1":
    import engine.run.trainer as _trainer

    _build_trainer = _trainer.build_trainer

    def build_trainer(*args, **kwargs):
        trainer = _build_trainer(*args, **kwargs)
        compute_loss = trainer.compute_loss

        def poisoned(model, inputs, *rest, **options):
            out = compute_loss(model, inputs, *rest, **options)
            if trainer.state.global_step < 3:
                return out
            if isinstance(out, tuple):
                return (out[0] * float("nan"), *out[1:])
            return out * float("nan")

        trainer.compute_loss = poisoned
        return trainer

    _trainer.build_trainer = build_trainer
