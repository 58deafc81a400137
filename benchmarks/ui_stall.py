"""The longest stall of the wizard's UI thread while workers import torch/transformers and estimate.

Runs the wizard (headless Pilot, 100x30) with a 10 ms timer for a few seconds after the first
paint and prints the longest gap between ticks: what a user typing during that time would feel.
Usage: python benchmarks/ui_stall.py [SECONDS]
"""

import asyncio
import statistics
import sys
import time

from tui.wizard.app import make_app


async def measure(seconds: float) -> list[float]:
    app = make_app()
    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    async with app.run_test(size=(100, 30)) as pilot:
        app.set_interval(0.01, tick)
        await pilot.press("enter")  # New run -> Model step: estimate, preview and check workers start
        await asyncio.sleep(seconds)
    return gaps


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 8.0
    gaps = asyncio.run(measure(seconds))
    stalls = sorted(gaps)[-5:]
    print(f"timer ticks: {len(gaps)}, median gap {statistics.median(gaps) * 1000:.0f} ms, "
          f"longest gaps {', '.join(f'{g * 1000:.0f}' for g in reversed(stalls))} ms "
          f"(background imports and workers running; target: no freeze over 100 ms)")


if __name__ == "__main__":
    main()
