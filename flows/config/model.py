"""The configuration's typed tree: `Config` and its sections (sources, fetch settings, schedules...).

Read and validated by `flows/config/loader.py`; edited in place by `flows/config/editor.py`.
`smtp:`, `alerts:` and `health_alerts:` are kept as written (the flows type them with
`alerts/settings.py`) but validated on load too; an alert rule that cannot be used is set
aside with its name (`Config.rule_errors`), the others work.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from alerts.settings import AlertRule, HealthAlertSettings, SmtpSettings, load_alert_rules
from errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Timeouts(_Strict):
    connect: float = Field(10.0, gt=0, description="seconds to open a connection")
    read: float = Field(30.0, gt=0, description="seconds to wait for data")
    total: float = Field(
        120.0,
        gt=0,
        description="seconds for a whole exchange: lookup, connect, "
        "TLS, status line, headers and body; a deadline a slow server cannot stretch",
    )


class Retries(_Strict):
    attempts: int = Field(3, ge=1, le=10, description="tries per request, the first included")
    backoff: float = Field(1.0, ge=0, description="seconds before the first retry, then doubled")
    max_backoff: float = Field(60.0, ge=0)
    max_retry_after: float = Field(
        120.0, ge=0, description="longest Retry-After waited; longer ones are recorded as errors"
    )


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _duration(value: Any) -> Any:
    """ "90m", "6h", "2d" (s, m, h, d, w) -> timedelta; numbers (seconds) are left to pydantic."""
    if isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            raise ValueError('expected a duration such as "90m", "6h", "2d" or seconds')
        return timedelta(seconds=float(m.group(1)) * _UNIT_SECONDS[m.group(2)])
    return value


# Today's schedules, used when `schedules:` (or one of its entries) is left out.
DEFAULT_TIMEZONE = "Europe/Paris"
MIN_INTERVAL = timedelta(minutes=1)  # the Prefect scheduler's granularity


class Schedule(_Strict):
    """When a flow runs: `interval` ("30m", seconds) or `cron` (5 fields), in `timezone`."""

    interval: timedelta | None = None
    cron: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    enabled: bool = True  # false: the deployment exists (runs on demand) but nothing is scheduled

    _interval_duration = field_validator("interval", mode="before")(_duration)

    @field_validator("interval")
    @classmethod
    def _at_least_a_minute(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < MIN_INTERVAL:
            raise ValueError("must be at least one minute (1m)")
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        from cronsim import CronSim, CronSimError

        if value is None:
            return None
        value = value.strip()
        try:
            CronSim(value, datetime(2024, 1, 1))
        except CronSimError as e:
            raise ValueError(
                f"not a cron expression ({e}): expected 5 fields, minute hour "
                'day-of-month month day-of-week, e.g. "0 7 * * *"'
            ) from None
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: expected an IANA name such as Europe/Paris or UTC"
            ) from None
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Schedule:
        if (self.interval is None) == (self.cron is None):
            raise ValueError(
                'give either interval (e.g. "30m") or cron (e.g. "0 7 * * *"), not '
                + ("both" if self.cron else "neither")
            )
        return self

    def describe(self) -> str:
        if not self.enabled:
            return "not scheduled (enabled: false)"
        if self.interval is not None:
            return f"every {human_duration(self.interval)}"
        return f"cron {self.cron!r} ({self.timezone})"


def human_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


class Schedules(_Strict):
    """`schedules:`: one per flow; an entry left out keeps its default."""

    ingest: Schedule = Schedule(interval=timedelta(minutes=30))
    digest: Schedule = Schedule(cron="0 7 * * *")


class Source(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    url: str
    kind: Literal["listing", "feed", "sitemap"] | None = None  # None: detected on fetch
    profile: str | None = None  # None: inferred from the host
    delay: float = Field(2.0, ge=0, le=600)
    max_pages: int = Field(5, ge=1, le=1000)
    expected_interval: timedelta | None = None  # "6h", "2d", seconds: for health checks
    enabled: bool = True
    # Regular expressions searched in a discovered link's path: with `include`, a link must
    # match one; a link matching an `exclude` is never taken.
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    # New pages fetched per run at most, newest first; the rest wait for the next runs.
    max_new_per_run: int = Field(200, ge=1, le=100_000)
    # New links one run's discovery keeps, newest first (a sitemap of 859,000 URLs, a feed
    # of 300,000 items): the others are counted as waiting and found again by later runs.
    max_entries: int = Field(10_000, ge=1, le=1_000_000)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http:// or https:// URL with a host name")
        if len(value.strip()) > 2048:  # core.urls.MAX_URL_LENGTH (not imported here: courlan is slow)
            raise ValueError(f"a URL of {len(value.strip()):,} characters: at most 2,048")
        return value.strip()

    @field_validator("include", "exclude")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(f"{pattern!r} is not a regular expression ({e})") from None
        return value

    _expected_interval_duration = field_validator("expected_interval", mode="before")(_duration)

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str | None) -> str | None:
        from scrapers.profiles import all_profiles

        known = sorted({p.name for p in all_profiles()} | {"generic"})
        if value is not None and value not in known:
            raise ValueError(
                f"unknown profile {value!r}; known profiles: {', '.join(known)} "
                "(or leave it out to infer it from the host)"
            )
        return value

    @model_validator(mode="after")
    def _infer_profile(self) -> Source:
        from scrapers.profiles import profile_for_url

        if self.profile is None:
            object.__setattr__(self, "profile", profile_for_url(self.url).name)
        return self

    @property
    def host(self) -> str:
        from core.urls import host_key  # courlan comes with it: only when fetch settings are built

        return host_key(self.url)


class Execution(_Strict):
    """`execution:`: where the sources' discovery, fetching and cleaning run. Left out: in the
    run's own process. `dask: "tcp://HOST:8786"`: on that Dask scheduler's workers, through
    Prefect's Dask task runner (flows/orchestration/dask_runner.py); the run's process stays
    the only writer of the archive."""

    dask: str | None = None

    @field_validator("dask")
    @classmethod
    def _scheduler_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        parts = urlsplit(value)
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme not in ("tcp", "tls") or not parts.hostname or port is None or parts.path not in ("", "/"):
            raise ValueError(
                f"{value!r} is not a Dask scheduler address: expected tcp://HOST:PORT (or tls://HOST:PORT), "
                'e.g. "tcp://10.0.0.5:8786", as `dask scheduler` prints it'
            )
        return value.rstrip("/")


class Config(_Strict):
    archive: Path = Path("data/archive.db")
    user_agent: str = Field(
        "newswatch/0.1", min_length=1, description="identifies the crawler to sites; put a contact in it"
    )
    timeouts: Timeouts = Timeouts()
    max_page_bytes: int = Field(5_000_000, ge=1024)
    max_document_bytes: int = Field(50_000_000, ge=1024, description="cap of a listing page, feed or sitemap (decoded)")
    allow_private_networks: bool = Field(
        False,
        description="fetch from private, loopback and link-local addresses wherever "
        "pages point (default: only the ranges a source's own url is in; never link-local)",
    )
    max_redirects: int = Field(5, ge=0, le=30)
    retries: Retries = Retries()
    max_parallel_hosts: int = Field(8, ge=1, le=64)
    # Worker processes that clean pages when a run has enough of them (flows/pipeline/cleaner.py);
    # None: one per CPU; 1: one process cleans every page; 0: the run's own thread does, with
    # no deadline per page (a thread cannot be stopped: for profiling).
    clean_processes: int | None = Field(None, ge=0, le=64)
    sources: list[Source] = Field(default_factory=list)
    smtp: SmtpSettings | None = None  # None: no email can be sent
    # The usable rules; a rule that cannot be used is set aside on load (`rule_errors`).
    alerts: list[AlertRule] = Field(default_factory=list)
    health_alerts: HealthAlertSettings | None = None
    schedules: Schedules = Schedules()
    feeds_dir: Path | None = None  # Atom feeds of matches written here each run (alerts/atom.py)
    # Where feeds_dir is served (http://host/feeds/): each feed's rel="self" link; else its file:// URI.
    feeds_url: HttpUrl | None = None
    execution: Execution = Execution()
    path: Path | None = Field(None, exclude=True)  # the file this came from, set by load_config
    # "alert rule 'x' set aside: ..." for each rule of alerts: that cannot be used (set on load).
    rule_errors: tuple[str, ...] = Field((), exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _set_broken_rules_aside(cls, data: Any) -> Any:
        """Each rule of `alerts:` on its own: the usable ones stay, the others are named in
        `rule_errors` (a list of another type is left to the field's own message)."""
        if isinstance(data, dict) and isinstance(data.get("alerts"), list):
            listed = data.get("sources")
            sources: list = listed if isinstance(listed, list) else []
            names = [str(s["name"]) for s in sources if isinstance(s, dict) and s.get("name")]
            rules, errors = load_alert_rules(data["alerts"], names)
            data = {**data, "alerts": rules, "rule_errors": tuple(str(e) for e in errors)}
        return data

    @property
    def file(self) -> Path:
        """The file this came from, for commands that hand it on (a config built in code has none)."""
        if self.path is None:
            raise ConfigError("this configuration was not loaded from a file (load_config)")
        return self.path

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
                raise ValueError(
                    f"sources[{i}].name: {source.name!r} is already the name of another source; names must be unique"
                )
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

    @model_validator(mode="after")
    def _health_alerts_need_smtp(self) -> Config:
        if self.health_alerts is not None and self.smtp is None:
            raise ValueError("health_alerts: needs an smtp: section to send its emails")
        return self
