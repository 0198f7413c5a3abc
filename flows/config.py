"""The configuration file (`newswatch.yaml`): loaded, validated, turned into settings.

Which file: `--config PATH`, else `$NEWSWATCH_CONFIG`, else `./newswatch.yaml`.
Relative paths inside it (the archive) are relative to the file's directory, so a run
started from cron or another directory uses the same archive.

Every problem becomes one `ConfigError` naming the file, the field (`sources[2].delay`)
and what is expected. `smtp:`, `alerts:` and `health_alerts:` are passed through loosely typed here;
`alerts/config.py` validates them.
"""
from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from errors import ConfigError
from scrapers.discover import SourceSpec
from scrapers.fetch import FetchSettings, host_key

ENV_VAR = "NEWSWATCH_CONFIG"
DEFAULT_FILE = "newswatch.yaml"
SOURCE_KINDS = ("listing", "feed", "sitemap")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Timeouts(_Strict):
    connect: float = Field(10.0, gt=0, description="seconds to open a connection")
    read: float = Field(30.0, gt=0, description="seconds to wait for data")
    total: float = Field(120.0, gt=0, description="seconds for a whole response")


class Retries(_Strict):
    attempts: int = Field(3, ge=1, le=10, description="tries per request, the first included")
    backoff: float = Field(1.0, ge=0, description="seconds before the first retry, then doubled")
    max_backoff: float = Field(60.0, ge=0)
    max_retry_after: float = Field(
        120.0, ge=0, description="longest Retry-After waited; longer ones are recorded as errors")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class Source(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    url: str
    kind: Literal["listing", "feed", "sitemap"] | None = None  # None: detected on fetch
    profile: str | None = None  # None: inferred from the host
    delay: float = Field(2.0, ge=0, le=600)
    max_pages: int = Field(5, ge=1, le=1000)
    expected_interval: timedelta | None = None  # "6h", "2d", seconds: for health checks
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http:// or https:// URL with a host name")
        return value.strip()

    @field_validator("expected_interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str):
            m = _DURATION.match(value)
            if not m:
                raise ValueError('expected a duration such as "90m", "6h", "2d" or seconds')
            return timedelta(seconds=float(m.group(1)) * _UNIT_SECONDS[m.group(2)])
        return value

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str | None) -> str | None:
        from scrapers.profiles import all_profiles

        known = sorted({p.name for p in all_profiles()} | {"generic"})
        if value is not None and value not in known:
            raise ValueError(
                f"unknown profile {value!r}; known profiles: {', '.join(known)} "
                "(or leave it out to infer it from the host)")
        return value

    @model_validator(mode="after")
    def _infer_profile(self) -> Source:
        from scrapers.profiles import profile_for_url

        if self.profile is None:
            object.__setattr__(self, "profile", profile_for_url(self.url).name)
        return self

    @property
    def host(self) -> str:
        return host_key(self.url)

    def spec(self) -> SourceSpec:
        """What discovery needs (`scrapers.discover.discover`)."""
        from scrapers.profiles import get_profile

        return SourceSpec(name=self.name, url=self.url, kind=self.kind,
                          profile=get_profile(self.profile or "generic"),
                          max_pages=self.max_pages)


class Config(_Strict):
    archive: Path = Path("data/archive.db")
    user_agent: str = Field(
        "newswatch/0.1", min_length=1,
        description="identifies the crawler to sites; put a contact in it")
    timeouts: Timeouts = Timeouts()
    max_page_bytes: int = Field(5_000_000, ge=1024)
    max_redirects: int = Field(5, ge=0, le=30)
    retries: Retries = Retries()
    max_parallel_hosts: int = Field(8, ge=1, le=64)
    sources: list[Source] = Field(default_factory=list)
    smtp: dict | list | None = None  # typed by alerts/config.py
    alerts: dict | list | None = None  # typed by alerts/config.py
    health_alerts: dict | list | None = None  # typed by alerts/config.py
    feeds_dir: Path | None = None  # Atom feeds of matches written here each run (alerts/feeds.py)
    path: Path | None = Field(None, exclude=True)  # the file this came from, set by load_config

    @field_validator("user_agent")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value or "\r" in value:
            raise ValueError("expected a single line")
        return value.strip()

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        seen: set[str] = set()
        for i, source in enumerate(self.sources):
            if source.name in seen:
                raise ValueError(f"sources[{i}].name: {source.name!r} is already the name of "
                                 "another source; names must be unique")
            seen.add(source.name)
        return self

    def source(self, name: str) -> Source:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources) or "none"
        raise ConfigError(f"no source named {name!r} in {self.path}; configured: {known}")

    def enabled_sources(self) -> list[Source]:
        return [s for s in self.sources if s.enabled]

    def fetch_settings(self) -> FetchSettings:
        # Two sources on one host (IOM fr/en) share its politeness: the slower delay wins.
        delays: dict[str, float] = {}
        for source in self.sources:
            delays[source.host] = max(delays.get(source.host, 0.0), source.delay)
        return FetchSettings(
            user_agent=self.user_agent,
            connect_timeout=self.timeouts.connect,
            read_timeout=self.timeouts.read,
            total_timeout=self.timeouts.total,
            max_page_bytes=self.max_page_bytes,
            max_redirects=self.max_redirects,
            attempts=self.retries.attempts,
            backoff_base=self.retries.backoff,
            backoff_max=self.retries.max_backoff,
            max_retry_after=self.retries.max_retry_after,
            default_delay=max(delays.values(), default=1.0),
            host_delays=delays,
            max_parallel_hosts=self.max_parallel_hosts,
        )


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
            f"or name one with --config or ${ENV_VAR}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config file {file}: {e}") from None
    return parse_config(text, file)


def parse_config(text: str, file: str | os.PathLike[str] = "<config>") -> Config:
    file = Path(file)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{file}: not valid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: expected a mapping of settings (archive:, sources:, ...) "
                          f"at the top level, got {type(data).__name__}")
    try:
        config = Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"{file}: " + "; ".join(_describe(err, data) for err in e.errors())) \
            from None
    archive = config.archive if config.archive.is_absolute() else file.parent / config.archive
    feeds_dir = config.feeds_dir
    if feeds_dir is not None and not feeds_dir.is_absolute():
        feeds_dir = file.parent / feeds_dir
    return config.model_copy(update={"archive": archive, "feeds_dir": feeds_dir, "path": file})


def _describe(error: dict[str, Any], data: Any) -> str:
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
