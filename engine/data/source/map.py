"""Map: a source's columns, message keys and role names renamed to ours, as the preset says.

dataset.columns renames the data's columns (ours -> theirs); dataset.message_keys and dataset.roles rename the
keys and role names of chat messages that differ from role/content and user/assistant/system/tool (what
LLaMA-Factory's sharegpt `tags` and Axolotl's `message_property_mappings`/`roles` say). The pure functions are
copied verbatim into export-script's scripts (engine.outputs.script.CONVERSION_FUNCTIONS).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.errors import UserError

if TYPE_CHECKING:
    from datasets import Dataset

    from engine.config.run_config import DatasetSection


def mapped(table: Dataset, section: "DatasetSection", source: str) -> Dataset:
    """The table with dataset.columns, then dataset.message_keys and dataset.roles, applied."""
    return apply_message_mapping(apply_column_mapping(table, section, source), section)


def column_renames(columns: dict) -> dict:
    """dataset.columns (our name -> the data's column name) as renames from the data's name to ours."""
    return {theirs: ours for ours, theirs in columns.items() if theirs != ours}


def rename_columns(table, renames: dict):
    """The table with its columns renamed, replacing any column that already has the new name."""
    clashing = [ours for ours in renames.values() if ours in table.column_names]
    if clashing:
        table = table.remove_columns(clashing)
    return table.rename_columns(renames) if renames else table


def apply_column_mapping(table: Dataset, section: "DatasetSection", source: str) -> Dataset:
    """The table with dataset.columns applied; UserError naming any mapped column the file lacks."""
    renames = column_renames(section.columns or {})
    missing = [theirs for theirs in renames if theirs not in table.column_names]
    if missing:
        raise UserError(f"{source}: {section.key('columns')} maps to {', '.join(missing)}, but the data has columns "
                        f"{', '.join(table.column_names)}.")
    return rename_columns(table, renames)


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
