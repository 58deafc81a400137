"""Ollama's Modelfile parser, ported rule for rule, and values quoted so that it reads them back exactly.

Ollama's parser (ollama/ollama parser/parser.go, ParseFile) has no escapes: a value is bare (one line, trimmed),
"quoted" or \"\"\"triple-quoted\"\"\", and it ends at the first line break where what was read so far is a
complete quoted string. Characters that are not printable (Go's strconv.IsPrint), other than spaces, tabs and
line breaks, are dropped. So a value is written in the first quoting this port parses back to the same text.
"""

from __future__ import annotations

import re
import unicodedata

COMMANDS = ("from", "license", "template", "system", "adapter", "draft", "renderer", "parser", "parameter", "message",
            "requires")
ROLES = ("system", "user", "assistant")
_NIL, _NAME, _VALUE, _PARAMETER, _MESSAGE, _COMMENT = range(6)
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029" \
            "\u202f\u205f\u3000"
"""What Go's strings.TrimSpace trims (unicode.IsSpace)."""


class ModelfileError(ValueError):
    """Ollama's parser would refuse this Modelfile (its ParserError or io.ErrUnexpectedEOF)."""


def parse_modelfile(text: str) -> list[tuple[str, str]]:
    """The (name, args) commands Ollama's ParseFile reads from text: FROM is "model", PARAMETER x is "x"."""
    commands: list[tuple[str, str]] = []
    name, role, state, line = "", "", _NIL, 1
    buffer: list[str] = []
    for rune in text.removeprefix("\ufeff"):
        line += rune in "\r\n"
        following, kept = _next_state(rune, state, line)
        if following != state:
            read = "".join(buffer)
            if state == _NAME:
                if read.lower() not in COMMANDS:
                    raise ModelfileError(f"(line {line}): command must be one of {', '.join(COMMANDS)}")
                command = read.lower()
                following = {"parameter": _PARAMETER, "message": _MESSAGE}.get(command, following)
                name = "model" if command == "from" else command if command != "parameter" else name
            elif state == _PARAMETER:
                name = read
            elif state == _MESSAGE:
                if read not in ROLES:
                    raise ModelfileError(f"(line {line}): message role must be one of {', '.join(ROLES)}")
                role = read
            elif state == _VALUE:
                value, complete = _unquote(read.strip(_GO_SPACE))
                if not complete or rune in " \t":
                    buffer.append(rune)
                    continue
                commands.append((name, f"{role}: {value}" if role else value))
                role = ""
            buffer = []
            state = following
        if kept is not None and _is_print(kept):
            buffer.append(kept)
    if state == _VALUE:
        value, complete = _unquote("".join(buffer).strip(_GO_SPACE))
        if not complete:
            raise ModelfileError("unexpected EOF: a quoted value is never closed")
        commands.append((name, f"{role}: {value}" if role else value))
    elif state not in (_NIL, _COMMENT):
        raise ModelfileError("unexpected EOF: a command without its value")
    if not any(command == "model" for command, _ in commands):
        raise ModelfileError("no FROM line")
    return commands


def modelfile_line(command: str, value: str, what: str) -> str:
    """`command value` with value quoted so Ollama reads exactly it back; UserError naming `what` when no quoting can."""
    from engine.errors import UserError

    multi_line = command.split()[0] in ("TEMPLATE", "SYSTEM", "LICENSE", "MESSAGE")
    quotings = [f'"""{value}"""', f'"{value}"', value] if multi_line else [f'"{value}"', f'"""{value}"""', value]
    expected = command.split()[1] if command.startswith("PARAMETER ") else command.lower()
    for quoted in quotings:
        line = f"{command} {quoted}"
        try:
            if parse_modelfile(f"FROM x\n{line}\n")[1:] == [(expected, value)]:
                return line
        except ModelfileError:
            continue
    raise UserError(f"{what} cannot be written in an Ollama Modelfile exactly: {_unwritable_reason(value)} (Ollama's "
                    "Modelfile parser has no escapes); change that text where it comes from (the training data's system "
                    "prompt, the tokenizer's template) and export again.")


def _next_state(rune: str, state: int, line: int) -> tuple[int, str | None]:
    """parseRuneForState: the state after rune, and the rune to keep (None for Go's 0)."""
    space, newline = rune in " \t", rune in "\r\n"
    if state == _NIL:
        return (_COMMENT, None) if rune == "#" else (_NIL, None) if space or newline else (_NAME, rune)
    if state == _NAME:
        if _is_alpha(rune):
            return _NAME, rune
        if space:
            return _VALUE, None
        raise ModelfileError(f"(line {line}): command must be one of {', '.join(COMMANDS)}")
    if state == _VALUE:
        return (_NIL, rune) if space or newline else (_VALUE, rune)
    if state in (_PARAMETER, _MESSAGE):
        if _is_alpha(rune) or state == _PARAMETER and (rune.isascii() and rune.isdigit() or rune == "_"):
            return state, rune
        if space:
            return _VALUE, None
        raise ModelfileError("unexpected EOF: a parameter or message without its value")
    return (_NIL, None) if newline else (_COMMENT, None)


def _unquote(text: str) -> tuple[str, bool]:
    """unquote: (inner text, complete) for \"\"\"…\"\"\", "…" or a bare value."""
    if text.startswith('"""'):
        return (text[3:-3], True) if len(text) >= 6 and text.endswith('"""') else ("", False)
    if text.startswith('"'):
        return (text[1:-1], True) if len(text) >= 2 and text.endswith('"') else ("", False)
    return text, True


def _is_alpha(rune: str) -> bool:
    return rune.isascii() and rune.isalpha()


def _is_print(rune: str) -> bool:
    """Go's strconv.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space."""
    return rune == " " or unicodedata.category(rune)[0] in "LMNPS"


def _unwritable_reason(value: str) -> str:
    """Why no quoting reads value back: a character the parser drops, or a line that ends its quoted value early."""
    dropped = next((c for c in value if c not in " \t\r\n" and not _is_print(c)), None)
    if dropped is not None:
        return f"it holds {unicodedata.name(dropped, 'a control character')} (U+{ord(dropped):04X}), which the parser drops"
    for number, text in enumerate(re.split(r"[\r\n]", value)[:-1], 1):
        if text.rstrip(_GO_SPACE).endswith('"""'):
            return f'its line {number} ends with """, where the parser ends a quoted value'
    return "the parser reads every quoting of it differently"
