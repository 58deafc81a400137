"""Message tables (OpenAssistant's flat export: one message per row, linked by parent_id) rebuilt into conversations.

Each tree (a prompt with no parent, and the replies branching under it) becomes one conversation: from the root,
the top-ranked reply at every branch (OpenAssistant's `rank` 0 is the best; unranked replies come after ranked
ones, ties in file order) down to the last assistant turn. One path per tree, not every path to a leaf, so that
no prompt is learned twice with different answers and the answers learned are the ones people ranked best.
Deleted messages (`deleted: true`) are left out. `prompter` is the user.

export-script copies these functions into its scripts verbatim (engine.outputs.script.CONVERSION_FUNCTIONS), so
they use only builtins.
"""

from __future__ import annotations

TREE_ROLES = {"prompter": "user", "user": "user", "assistant": "assistant", "system": "system"}
"""OpenAssistant's message roles as chat roles."""


def is_message_table(columns):
    """Whether the columns are a message table's: one message per row, with message_id, parent_id, role and text."""
    names = set(columns)
    return {"message_id", "parent_id", "role"} <= names and bool({"text", "content"} & names)


def top_ranked_conversations(rows):
    """(conversations, trees, messages left out): one conversation per tree along its top-ranked replies."""
    kept = [row for row in rows if not row.get("deleted")]
    replies = {}
    for row in kept:
        replies.setdefault(row.get("parent_id") or None, []).append(row)
    for siblings in replies.values():
        siblings.sort(key=lambda row: (row.get("rank") is None, row.get("rank") or 0))
    conversations, used = [], 0
    roots = replies.get(None, [])
    for root in roots:
        path, node, seen = [], root, set()
        while node is not None and node["message_id"] not in seen:  # a repeated id would make the walk a loop
            seen.add(node["message_id"])
            text = node.get("text") if node.get("text") is not None else node.get("content")
            path.append({"role": TREE_ROLES.get(str(node["role"]), str(node["role"])), "content": str(text or "")})
            node = (replies.get(node["message_id"]) or [None])[0]
        while path and path[-1]["role"] != "assistant":
            path.pop()
        if path:
            conversations.append(path)
            used += len(path)
    return conversations, len(roots), len(rows) - used
