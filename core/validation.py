"""One way to say what is wrong with a validated section: a pydantic error as one line.

    describe(error, data)
    -> "sources[2].delay (source 'iom-fr'): Input should be greater than or equal to 0 (got -1)"

Used for the whole config file (`flows.config.loader`) and for each alert rule set aside
(`alerts.settings.load_alert_rules`): the field's path (`a.b[2].c`), the source's name when
the field is in `sources:`, the message without pydantic's "Value error, " prefix, and the
value given when it helps ("unknown setting", "required" and the rules' own messages say
it already).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def describe(error: Mapping[str, Any], data: Any = None) -> str:
    loc = _field_path(error["loc"])
    name = _source_name(error["loc"], data)
    msg = error["msg"]
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{loc}{name}: unknown setting (a typo?)"
    if kind == "missing":
        return f"{loc}{name}: required, missing"
    msg = msg.removeprefix("Value error, ")
    if kind not in ("value_error", "assertion_error") and "input" in error:
        msg = f"{msg} (got {error['input']!r})"
    return f"{loc}{name}: {msg}" if loc else msg


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "[" in str(part):
            continue  # pydantic's internal step names (function-after[...]), not fields
        else:
            out += f".{part}" if out else str(part)
    return out


def _source_name(loc: tuple[Any, ...], data: Any) -> str:
    if len(loc) >= 2 and loc[0] == "sources" and isinstance(loc[1], int):
        try:
            name = data["sources"][loc[1]].get("name")
        except (KeyError, IndexError, TypeError, AttributeError):
            return ""
        if name:
            return f" (source {name!r})"
    return ""
