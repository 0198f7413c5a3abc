"""Edit `newswatch.yaml` in place: add or remove a source, add or remove an alert rule, change
the sources an alert rule watches.

The rest of the file stays byte for byte as it was: comments, blank lines, key order,
quoting. ruamel.yaml (round-trip mode) tells where each item of a block list starts; the edit
itself is a splice of whole lines, and only the new item's lines are generated (by ruamel,
so its values are quoted as YAML needs). An item is its lines plus the comment lines right
above it (its description): removing a source removes its comment too. Changing a rule's
`sources:` writes the rule's item anew (its own lines; the comment lines above it stay).

`save()` validates the edited text with the same loader as every command
(`flows.config.loader.parse_config`, which sets aside a rule that cannot be used) and
writes it atomically: a file that would not load is never written.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from core.files import write_atomically
from errors import ConfigError
from flows.config.loader import parse_config


class ConfigEditError(ConfigError):
    """The edit cannot be made as asked (no such source, a name taken, an invalid result)."""


def _yaml():
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


@dataclass
class _List:
    """A block list under a top-level key: where its items start, how they are indented."""

    key_line: int
    dash_col: int
    items: list[int]  # the line of each item's dash
    values: list  # the items, as loaded


def _is_blank(line: str) -> bool:
    return not line.strip()


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _load(text: str):
    from ruamel.yaml.error import YAMLError

    try:
        data = _yaml().load(text)
    except YAMLError as e:
        raise ConfigEditError(f"not valid YAML, not edited: {str(e).splitlines()[0]}") from None
    if data is None:
        return {}
    if not hasattr(data, "lc"):
        raise ConfigEditError("expected a mapping of settings at the top level, not edited")
    return data


def _block_list(text: str, key: str) -> _List | None:
    """The list under top-level `key`; None if the key is absent, null or an empty list."""
    from ruamel.yaml.comments import CommentedSeq

    data = _load(text)
    if key not in data or not data[key]:
        return None
    seq = data[key]
    if not isinstance(seq, CommentedSeq):
        raise ConfigEditError(f"{key}: is not a list; fix it by hand first")
    if seq.fa.flow_style():
        raise ConfigEditError(
            f"{key}: is written as a [flow, list]: write it as a block list "
            "(one `- ` item per line) to edit it from the command line"
        )
    lines = text.splitlines()
    items = []
    for i in range(len(seq)):
        line, col = seq.lc.item(i)
        dash = lines[line].rfind("-", 0, col + 1) if lines[line][:col].strip() else -1
        if dash < 0:  # the dash on a line of its own, value below it
            line -= 1
            dash = lines[line].rfind("-")
        items.append(line)
    dash_col = lines[items[0]].index("-")
    return _List(data.lc.key(key)[0], dash_col, items, list(seq))


def _preamble_start(lines: list[str], item_line: int, floor: int) -> int:
    """The first of the comment lines directly above an item (its description)."""
    start = item_line
    while start - 1 > floor and _is_comment(lines[start - 1]):
        start -= 1
    return start


def _item_end(lines: list[str], item_line: int, dash_col: int) -> int:
    """One past the last line of the item at `item_line` (its deeper-indented lines)."""
    end = item_line + 1
    for j in range(item_line + 1, len(lines)):
        if _is_blank(lines[j]):
            continue
        if _indent(lines[j]) > dash_col:
            end = j + 1
        else:
            break
    return end


def _render_item(item: dict, dash_col: int) -> list[str]:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    mapping = CommentedMap()
    for key, value in item.items():
        if isinstance(value, (list, tuple)):
            value = CommentedSeq(value)
            value.fa.set_flow_style()  # lists of scalars inline: `to: [a@example.org]`
        mapping[key] = value
    buffer = io.StringIO()
    _yaml().dump(mapping, buffer)
    pad = " " * dash_col
    return [
        pad + ("- " if i == 0 else "  ") + line for i, line in enumerate(buffer.getvalue().rstrip("\n").splitlines())
    ]


def _join(lines: list[str], trailing_newline: bool) -> str:
    return "\n".join(lines) + ("\n" if trailing_newline or not lines else "")


def append_item(text: str, key: str, item: dict) -> str:
    """`text` with `item` appended to the top-level block list `key` (created if absent)."""
    lines = text.splitlines()
    found = _block_list(text, key)
    if found is None:
        data = _load(text)
        if key in data:  # `key:` with nothing, or `key: []`: the list starts on that line
            at = data.lc.key(key)[0]
            head = lines[at].split("#", 1)[0].rstrip()
            lines[at] = head.removesuffix("[]").rstrip() if head.endswith("[]") else head
            new = lines[: at + 1] + _render_item(item, 2) + lines[at + 1 :]
        else:
            new = lines + ([""] if lines and lines[-1].strip() else []) + [f"{key}:"] + _render_item(item, 2)
        return _join(new, text.endswith("\n"))
    last = found.items[-1]
    end = _item_end(lines, last, found.dash_col)
    gap = []
    if len(found.items) > 1:  # items separated by blank lines get a blank line too
        before = _preamble_start(lines, last, found.items[-2])
        if before > 0 and _is_blank(lines[before - 1]):
            gap = [""]
    new = lines[:end] + gap + _render_item(item, found.dash_col) + lines[end:]
    return _join(new, text.endswith("\n"))


def replace_item(text: str, key: str, index: int, item: dict) -> str:
    """`text` with item `index` of the top-level block list `key` written anew as `item` (its
    comment lines above it kept; comments inside the item are not)."""
    lines = text.splitlines()
    found = _block_list(text, key)
    if found is None or not 0 <= index < len(found.items):
        raise ConfigEditError(f"{key}: has no item {index}")
    line = found.items[index]
    end = _item_end(lines, line, found.dash_col)
    while end > line + 1 and _is_comment(lines[end - 1]):
        end -= 1  # the next item's description stays where it is
    new = lines[:line] + _render_item(item, found.dash_col) + lines[end:]
    return _join(new, text.endswith("\n"))


def _plain(value):
    """A value loaded by ruamel as plain data (its scalars keep their quoting style)."""
    if hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def remove_item(text: str, key: str, index: int) -> str:
    """`text` without item `index` of the top-level block list `key`, and its comment lines."""
    lines = text.splitlines()
    found = _block_list(text, key)
    if found is None or not 0 <= index < len(found.items):
        raise ConfigEditError(f"{key}: has no item {index}")
    line = found.items[index]
    floor = found.items[index - 1] if index else found.key_line
    start = _preamble_start(lines, line, floor)
    if index + 1 < len(found.items):
        end = _preamble_start(lines, found.items[index + 1], line)
        # one blank line stays between the neighbours when there was one before the item
        if not (start > 0 and _is_blank(lines[start - 1])):
            while end > start and _is_blank(lines[end - 1]):
                end -= 1
    else:
        end = _item_end(lines, line, found.dash_col)
        if start > 0 and _is_blank(lines[start - 1]) and (end >= len(lines) or _is_blank(lines[end])):
            start -= 1  # no double blank line where the item was
    new = lines[:start] + lines[end:]
    if len(found.items) == 1:  # the list is now empty: say so, or it would load as null
        at = found.key_line
        new[at] = new[at].split("#", 1)[0].rstrip() + " []"
    return _join(new, text.endswith("\n"))


class ConfigFile:
    """One config file being edited: `add_source`, `remove_source`, `add_rule`, then `save`."""

    def __init__(self, path: Path, text: str | None = None) -> None:
        self.path = Path(path)
        if text is None:
            try:
                text = self.path.read_text(encoding="utf-8")
            except FileNotFoundError:
                text = (
                    "# newswatch configuration (see newswatch.example.yaml for every setting).\n"
                    "archive: data/archive.db\n"
                )
            except (OSError, UnicodeDecodeError) as e:
                raise ConfigEditError(f"cannot read {self.path}: {e}") from None
        self.original = text
        self.text = text

    def _names(self, key: str) -> list[str]:
        found = _block_list(self.text, key)
        return [str(v.get("name")) if hasattr(v, "get") else "" for v in found.values] if found else []

    def source_names(self) -> list[str]:
        return self._names("sources")

    def source_urls(self) -> list[str]:
        found = _block_list(self.text, "sources")
        return [str(v.get("url")) for v in found.values if hasattr(v, "get")] if found else []

    def source_named_for(self, url: str) -> str | None:
        """The configured source whose URL is this page (any spelling: scheme, `www.`, tracking
        parameters, trailing slash), if any."""
        from core.urls import canonical_url, url_key

        key = url_key(canonical_url(url) or url)
        found = _block_list(self.text, "sources")
        for v in found.values if found else []:
            if hasattr(v, "get") and v.get("url") and url_key(canonical_url(str(v["url"])) or str(v["url"])) == key:
                return str(v.get("name"))
        return None

    def add_source(self, source: dict) -> None:
        if source["name"] in self.source_names():
            raise ConfigEditError(f"a source named {source['name']!r} is already in {self.path}")
        other = self.source_named_for(str(source["url"]))
        if other is not None:
            raise ConfigEditError(
                f"{source['url']} is already configured as source {other!r} in {self.path}: "
                f"one source per address (two would fetch and count the same pages twice)"
            )
        self.text = append_item(self.text, "sources", source)

    def remove_source(self, name: str) -> None:
        names = self.source_names()
        if name not in names:
            raise ConfigEditError(f"no source named {name!r} in {self.path}; configured: {', '.join(names) or 'none'}")
        self.text = remove_item(self.text, "sources", names.index(name))

    def rules(self) -> list[dict]:
        """The alert rules as written (set-aside ones included), in order."""
        found = _block_list(self.text, "alerts")
        return [_plain(v) if hasattr(v, "items") else {} for v in found.values] if found else []

    def remove_rule(self, name: str) -> dict:
        """Take rule `name` out (and its comment lines); the rule as it was written."""
        names = self._names("alerts")
        if name not in names:
            raise ConfigEditError(
                f"no alert rule named {name!r} in {self.path}; configured: {', '.join(names) or 'none'}"
            )
        rule = self.rules()[names.index(name)]
        self.text = remove_item(self.text, "alerts", names.index(name))
        return rule

    def set_rule_sources(self, name: str, sources: list[str]) -> None:
        """Rule `name` now watches `sources` (an empty list: nothing, and it is set aside on load)."""
        names = self._names("alerts")
        index = names.index(name)
        rule = self.rules()[index]
        rule["sources"] = list(sources)
        self.text = replace_item(self.text, "alerts", index, rule)

    def add_rule(self, rule: dict) -> None:
        if rule["name"] in self._names("alerts"):
            raise ConfigEditError(f"an alert rule named {rule['name']!r} is already in {self.path}")
        self.text = append_item(self.text, "alerts", rule)
        self._new_rule = rule["name"]

    def validate(self):
        """The edited file as every command will load it; ConfigEditError if it would not load."""
        try:
            config = parse_config(self.text, self.path)
        except ConfigError as e:
            raise ConfigEditError(f"not saved: the result would not load: {e}") from None
        new_rule = getattr(self, "_new_rule", None)
        if new_rule is not None:
            for error in config.rule_errors:  # "alert rule 'NAME' set aside: ..."
                if error.startswith(f"alert rule {new_rule!r} set aside"):
                    raise ConfigEditError(f"not saved: {error}")
        return config

    def save(self) -> None:
        self.validate()
        if self.text != self.original:
            write_atomically(self.path, self.text.encode("utf-8"))
