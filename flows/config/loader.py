"""The configuration file (`newswatch.yaml`): found, read, validated into `flows.config.model.Config`.

Which file: `--config PATH`, else `$NEWSWATCH_CONFIG`, else `./newswatch.yaml`.
Relative paths inside it (the archive, feeds_dir) are relative to the file's directory, so a
run started from cron or another directory uses the same archive.

The whole file is checked on load, by every command, before anything starts (Prefect
included): every problem becomes one line of a `ConfigError` naming the file, the field
(`sources[2].delay`) and what is expected.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ValidationError

from core.validation import describe
from errors import ConfigError
from flows.config.model import Config
from flows.config.yaml_text import YAMLError, load_yaml

ENV_VAR = "NEWSWATCH_CONFIG"
DEFAULT_FILE = "newswatch.yaml"


def config_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The file to read: the argument, else $NEWSWATCH_CONFIG, else ./newswatch.yaml."""
    if path:
        return Path(path)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else Path(DEFAULT_FILE)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    file = config_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file {file} not found; copy newswatch.example.yaml to {DEFAULT_FILE}, "
            f"or name one with --config or ${ENV_VAR}"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config file {file}: {e}") from None
    return parse_config(text, file)


def parse_config(text: str, file: str | os.PathLike[str] = "<config>") -> Config:
    file = Path(file)
    try:
        data = load_yaml(text)
    except YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{file}: not valid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{file}: expected a mapping of settings (archive:, sources:, ...) "
            f"at the top level, got {type(data).__name__}"
        )
    problems: list[str] = []
    config: Config | None = None
    try:
        config = Config.model_validate(data)
    except ValidationError as e:
        problems += [describe(err, data) for err in e.errors()]
    if problems or config is None:  # no config without a problem found
        # One line per problem, each naming the file, so that all of them can be fixed at once.
        raise ConfigError("\n".join(f"{file}: {p}" for p in problems))
    archive = config.archive if config.archive.is_absolute() else file.parent / config.archive
    feeds_dir = config.feeds_dir
    if feeds_dir is not None and not feeds_dir.is_absolute():
        feeds_dir = file.parent / feeds_dir
    return config.model_copy(update={"archive": archive, "feeds_dir": feeds_dir, "path": file})
