"""A run's prompt format as Ollama's TEMPLATE (Go template syntax), derived from the training format and checked by rendering.

Ollama renders `{{ range .Messages }}` with each message's `.Role` and `.Content`, then the model answers. The
format is read off the training format itself: the tokenizer's chat template rendered around marker messages,
or the Alpaca template. The template written is rendered back here with the same subset of Go template syntax
Ollama evaluates, and kept only if it gives the training format's text for several conversations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

ROLES = ("system", "user", "assistant")
CHECK_CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Name a colour."}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"},
     {"role": "user", "content": "Count to three."}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "2+2?"},
     {"role": "assistant", "content": "4"}, {"role": "user", "content": "3+3?"}],
]


@dataclass
class ChatFormat:
    """The text around each role's message and before the answer, in the order a conversation is written."""

    prefixes: dict[str, str]
    suffixes: dict[str, str]
    generation: str
    stops: list[str] = field(default_factory=list)

    def template(self) -> str:
        """The Ollama TEMPLATE text (Go template syntax)."""
        branches = "".join(("{{ if" if i == 0 else "{{ else if") + f' eq .Role "{role}" }}}}'
                           + _literal(self.prefixes[role]) + "{{ .Content }}" + _literal(self.suffixes[role])
                           for i, role in enumerate(r for r in ROLES if r in self.prefixes))
        return "{{ range .Messages }}" + branches + "{{ end }}{{ end }}" + _literal(self.generation)


def alpaca_format(pattern: dict[str, str], eos: str | None) -> ChatFormat:
    """An Alpaca template's layout (engine.data.source.convert.alpaca_prompt): system, answered history turns, instruction."""
    before, after = pattern["no_input"].split("{instruction}")
    stops = [s for s in (eos, before.strip().splitlines()[-1]) if s]  # the instruction's header, not a preamble above it
    return ChatFormat({"system": "", "user": before, "assistant": ""}, {"system": "\n\n", "user": after, "assistant": "\n\n"},
                      "", stops)


def chat_template_format(tokenizer: "PreTrainedTokenizerBase") -> ChatFormat | None:
    """The layout a tokenizer's chat template writes, read off renders of marker messages; None when it has no such layout."""
    render = chat_template_renderer(tokenizer)
    mark = {"s": "SFTWSYSTEMMARK", "u1": "SFTWUSERMARKONE", "a": "SFTWASSISTANTMARK", "u2": "SFTWUSERMARKTWO"}
    try:
        plain = _split(render([_m("user", mark["u1"]), _m("assistant", mark["a"]), _m("user", mark["u2"])]),
                       [mark["u1"], mark["a"], mark["u2"]])
    except Exception:  # noqa: BLE001 (a template may raise on any conversation shape it rejects)
        return None
    try:
        with_system = _split(render([_m("system", mark["s"]), _m("user", mark["u1"])]), [mark["s"], mark["u1"]])
    except Exception:  # noqa: BLE001 (gemma's template raises on a system message)
        with_system = None
    if plain is None:
        return None
    first, to_answer, after_answer, generation = plain
    user_prefix = _common_suffix([first, after_answer] + ([with_system[1]] if with_system else []))
    if first != user_prefix:
        return None  # text written only before the first message (a default system prompt): not this layout
    prefixes = {"user": user_prefix, "assistant": to_answer}
    suffixes = {"user": "", "assistant": after_answer[:len(after_answer) - len(user_prefix)]}
    if with_system:
        prefixes["system"], suffixes["system"] = with_system[0], with_system[1][:len(with_system[1]) - len(user_prefix)]
    stops = [s for s in dict.fromkeys([suffixes["assistant"].strip(), getattr(tokenizer, "eos_token", None)]) if s]
    return ChatFormat(prefixes, suffixes, generation, stops)


def chat_template_renderer(tokenizer: "PreTrainedTokenizerBase") -> Callable[[list[dict]], str]:
    """Messages → the prompt the chat template writes before the answer, without the BOS token llama.cpp adds itself."""
    bos = getattr(tokenizer, "bos_token", None)

    def render(messages: list[dict]) -> str:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return text[len(bos):] if bos and text.startswith(bos) else text

    return render


def renders_like(chat_format: ChatFormat, reference: Callable[[list[dict]], str]) -> bool:
    """Whether the Ollama template gives reference's text for every check conversation it can render."""
    template = chat_format.template()
    checked = 0
    for messages in CHECK_CONVERSATIONS:
        if any(m["role"] not in chat_format.prefixes for m in messages):
            continue
        try:
            expected = reference(messages)
        except Exception:  # noqa: BLE001 (the reference rejects this shape: nothing to compare)
            continue
        if render_template(template, messages) != expected:
            return False
        checked += 1
    return checked > 0


def render_template(template: str, messages: list[dict]) -> str:
    """Evaluate the Go template subset ChatFormat.template writes: range .Messages, if/else if eq .Role, .Content."""
    tokens = re.split(r"(\{\{.*?\}\})", template)
    out: list[str] = []
    position = _run(tokens, 0, {"Messages": messages}, out)
    if position != len(tokens):
        raise ValueError(f"unexpected {tokens[position]!r} in the template")
    return "".join(out)


def _run(tokens: list[str], i: int, scope: dict, out: list[str] | None) -> int:
    """Render tokens from i into out (None: skip) until an unmatched end/else; return where it stopped."""
    while i < len(tokens):
        token = tokens[i]
        action = token[2:-2].strip() if token.startswith("{{") else None
        if action is None:
            if out is not None:
                out.append(token)
            i += 1
        elif action == "end" or action.startswith("else"):
            return i
        elif action == ".Content":
            if out is not None:
                out.append(str(scope["Content"]))
            i += 1
        elif action.startswith('"') and action.endswith('"'):
            if out is not None:
                out.append(action[1:-1])
            i += 1
        elif action == "range .Messages":
            end = _skip_block(tokens, i + 1)
            for message in scope["Messages"] if out is not None else []:
                _run(tokens, i + 1, {"Role": message["role"], "Content": message["content"]}, out)
            i = end + 1
        elif action.startswith("if "):
            i = _run_if(tokens, i, scope, out)
        else:
            raise ValueError(f"unsupported template action {token!r}")
    return i


def _run_if(tokens: list[str], i: int, scope: dict, out: list[str] | None) -> int:
    """An if / else if / else chain; returns the index after its end."""
    taken = False
    while True:
        action = tokens[i][2:-2].strip()
        condition = action.removeprefix("else").strip()
        if condition.startswith("if "):
            match = re.fullmatch(r'if eq \.Role "(\w+)"', condition)
            if match is None:
                raise ValueError(f"unsupported condition {tokens[i]!r}")
            holds = not taken and scope.get("Role") == match[1]
        else:
            holds = not taken
        stop = _run(tokens, i + 1, scope, out if holds and out is not None else None)
        taken = taken or holds
        if tokens[stop][2:-2].strip() == "end":
            return stop + 1
        i = stop


def _skip_block(tokens: list[str], i: int) -> int:
    """The index of the end closing the block that starts at i."""
    depth = 0
    while i < len(tokens):
        action = tokens[i][2:-2].strip() if tokens[i].startswith("{{") else ""
        if action.startswith(("if ", "range ")):
            depth += 1
        elif action == "end":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise ValueError("a block without its {{ end }}")


def _literal(text: str) -> str:
    """Text placed literally in a Go template: `{{` cannot appear bare, so it is written as a quoted string action."""
    return text.replace("{{", '{{ "{{" }}')


def _m(role: str, content: str) -> dict:
    return {"role": role, "content": content}


def _split(text: str, markers: list[str]) -> list[str] | None:
    """The text between markers in order (before the first, between each, after the last); None if one is missing."""
    parts = []
    for marker in markers:
        if marker not in text:
            return None
        before, text = text.split(marker, 1)
        parts.append(before)
    return parts + [text]


def _common_suffix(texts: list[str]) -> str:
    shortest = min(len(t) for t in texts)
    n = 0
    while n < shortest and len({t[len(t) - n - 1] for t in texts}) == 1:
        n += 1
    return texts[0][len(texts[0]) - n:] if n else ""
