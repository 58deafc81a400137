"""Events as one line of text each, for the headless printer and the monitor's log."""

from __future__ import annotations

from engine.units import human_bytes


def format_event(event: dict) -> str | None:
    """The line a headless run prints for an event (None for events it keeps quiet about)."""
    kind = event.get("event")
    if kind == "start":
        resumed = f", resumed from {event['resumed_from']}" if event.get("resumed_from") else ""
        world = int(event.get("world_size") or 1)
        processes = f" x{world} processes ({event.get('strategy')})" if world > 1 else ""
        return (f"start: {event.get('total_steps')} steps, {event.get('num_train_examples')} train / "
                f"{event.get('num_eval_examples')} eval rows, {event.get('precision')} on {event.get('device')}"
                f"{processes} ({event.get('precision_reason')}){resumed}")
    if kind == "log":
        parts = [f"step {event.get('step'):>5}/{event.get('total_steps')}", f"epoch {event.get('epoch') or 0:.2f}"]
        if isinstance(event.get("loss"), (int, float)):
            parts.append(f"loss {event['loss']:.4f}")
        if isinstance(event.get("learning_rate"), (int, float)):
            parts.append(f"lr {event['learning_rate']:.2e}")
        if isinstance(event.get("grad_norm"), (int, float)):
            parts.append(f"grad {event['grad_norm']:.2f}")
        if event.get("tokens_per_second"):
            parts.append(f"{event['tokens_per_second']:,.0f} tok/s")
        if isinstance(event.get("ranks"), list):
            parts.append("ranks " + " ".join(_rank_memory(r) for r in event["ranks"] if isinstance(r, dict)))
        elif "reserved_bytes" in event:
            parts.append(f"gpu {human_bytes(event['reserved_bytes'])} reserved, peak {human_bytes(event.get('peak_bytes'))}")
        elif "rss_bytes" in event:
            parts.append(f"rss {human_bytes(event['rss_bytes'])}")
        return " | ".join(parts)
    if kind == "eval":
        loss = event.get("eval_loss")
        return f"eval  step {event.get('step')}: eval_loss {loss:.4f}" if isinstance(loss, (int, float)) else None
    if kind == "checkpoint":
        return f"checkpoint saved: {event.get('path')}"
    if kind == "status" and event.get("phase") in ("warning", "launching"):
        return f"{event['phase']}: {event.get('message')}"
    if kind == "status" and event.get("phase") in ("loading model", "tokenizing", "stopping", "saving"):
        return f"{event['phase']}…"
    if kind == "end":
        lines = [f"end: {event.get('status')} — {event.get('message')}"]
        if event.get("first_loss") is not None and event.get("final_loss") is not None:
            lines.append(f"  loss {event['first_loss']:.4f} → {event['final_loss']:.4f} over {event.get('global_step')} steps"
                         + (f" in {event['train_runtime']:.1f} s" if event.get("train_runtime") else ""))
        if event.get("best_eval_loss") is not None:
            lines.append(f"  best eval_loss {event['best_eval_loss']:.4f} at step {event.get('best_eval_step')}")
        if event.get("final_path"):
            lines.append(f"  final model: {event['final_path']}")
        return "\n".join(lines)
    return None


def _rank_memory(reading: dict) -> str:
    """One rank's memory for a log line: GPU reserved, or RSS on CPU."""
    value = reading.get("reserved_bytes", reading.get("rss_bytes"))
    return f"{reading.get('rank')}:{human_bytes(value)}"
