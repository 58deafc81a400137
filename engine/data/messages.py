"""Chat messages whose keys or role names differ from role/content and user/assistant/system/tool, renamed to ours.

dataset.message_keys and dataset.roles say how (what LLaMA-Factory's sharegpt `tags` and Axolotl's
`message_property_mappings`/`roles` say); the rows then read as chat data. Pure functions, copied verbatim
into export-script's scripts like engine.data.formats's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasets import Dataset
    from engine.config.run_config import DatasetSection


def role_names(roles: dict) -> dict:
    """dataset.roles (ours -> the data's name or names) as a lookup from the data's name to ours."""
    names = {}
    for ours, theirs in (roles or {}).items():
        for name in theirs if isinstance(theirs, list) else [theirs]:
            names[str(name)] = ours
    return names


def renamed_message(message: dict, keys: dict, names: dict) -> dict:
    """One message with its role and content under `role`/`content` and its role named as ours."""
    their_keys = {keys.get(ours, ours): ours for ours in ("role", "content")}
    renamed = {their_keys.get(key, key): value for key, value in message.items()
               if key not in ("role", "content") or key in their_keys}
    role = renamed.get("role")
    if role is not None:
        renamed["role"] = names.get(str(role), role)
    return renamed


def renamed_messages(table, keys: dict, roles: dict):
    """The table's `messages` with each message renamed (renamed_message); the table as it is when nothing is mapped."""
    if not (keys or roles) or "messages" not in table.column_names:
        return table
    names = role_names(roles)
    return table.map(lambda row: {"messages": [renamed_message(m, keys, names) for m in row["messages"]]})


def apply_message_mapping(table: Dataset, section: "DatasetSection") -> Dataset:
    """The table with dataset.message_keys and dataset.roles applied to its chat messages."""
    return renamed_messages(table, section.message_keys or {}, section.roles or {})
