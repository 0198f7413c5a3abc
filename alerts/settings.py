"""Typed `smtp:`, `alerts:` and `health_alerts:` sections of the config file.

`flows/config/model.py` hands these sections over loosely typed; this module validates them. Rules
are validated one by one so that one broken rule (bad query, bad address) is reported with its
name and the others keep working.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Collection
from contextlib import closing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.validation import describe
from errors import AlertConfigError, QuerySyntaxError

DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}

# Deliberately loose: the SMTP server is the judge of deliverability; this only catches typos
# and anything that could smuggle a header (CR/LF, commas, angle brackets).
_ADDRESS = re.compile(r"^[^@\s,<>;\"]+@[^@\s,<>;\"]+$")


class SmtpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "localhost"
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "none"
    username: str | None = None
    # The name of the environment variable holding the password: the file never holds secrets.
    password_env: str | None = "NEWSWATCH_SMTP_PASSWORD"
    sender: str = "newswatch@localhost"
    # seconds to wait for any one answer of the server (connect, greeting, each reply)
    timeout: float = Field(default=30.0, gt=0)
    # seconds for one email's whole exchange: connect, greeting, TLS, login and every command,
    # as timeouts.total is for a page: a deadline a server answering a byte at a time cannot stretch
    total_timeout: float = Field(default=60.0, gt=0)
    # seconds for one delivery (every email of a run's outbox, retries included): what is not
    # tried by then stays pending for the next delivery
    delivery_timeout: float = Field(default=300.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _no_secret_in_file(cls, data: Any) -> Any:
        if isinstance(data, dict) and "password" in data:
            raise ValueError(
                "smtp.password is not accepted in the config file: put the password in an "
                "environment variable and name it with smtp.password_env"
            )
        return data

    @field_validator("sender")
    @classmethod
    def _sender_is_address(cls, value: str) -> str:
        if not _ADDRESS.match(value):
            raise ValueError(f"not an email address: {value!r}")
        return value

    @property
    def effective_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.security]

    def password(self) -> str | None:
        """Read at send time so that a rotated secret is picked up without reloading config."""
        if not self.password_env:
            return None
        return os.environ.get(self.password_env)

    def __repr__(self) -> str:  # keeps the env var name visible, never its value
        return f"SmtpSettings(host={self.host!r}, port={self.effective_port}, security={self.security!r})"


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _recipients(value: tuple[str, ...]) -> tuple[str, ...]:
    bad = [a for a in value if not _ADDRESS.match(a)]
    if bad:
        raise ValueError(f"not an email address: {', '.join(map(repr, bad))}")
    # Recipients are compared case-insensitively by mail servers; the outbox's uniqueness
    # must agree, or one analyst could be alerted twice under two spellings.
    return tuple(dict.fromkeys(a.strip().lower() for a in value))


class AlertRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    query: str = Field(min_length=1)
    to: tuple[str, ...] = Field(min_length=1)
    mode: Literal["immediate", "digest"] = "immediate"
    sources: tuple[str, ...] | None = None  # None: every source
    # story: one alert per story, its later versions listed "also in" by the rule's next email;
    # article: every article alerted on its own.
    per: Literal["story", "article"] = "story"

    _single_address_allowed = field_validator("to", mode="before")(_as_list)
    _addresses = field_validator("to")(_recipients)
    _single_source_allowed = field_validator("sources", mode="before")(_as_list)


class HealthAlertSettings(BaseModel):
    """`health_alerts:`: who is emailed when a source becomes unhealthy (storage/health.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    to: tuple[str, ...] = Field(min_length=1)

    _single_address_allowed = field_validator("to", mode="before")(_as_list)
    _addresses = field_validator("to")(_recipients)


@dataclass(frozen=True)
class RuleError:
    """Why one rule of `alerts:` was set aside; `position` is the 1-based column in its query."""

    rule: str
    message: str
    position: int | None = None

    def __str__(self) -> str:
        return f"alert rule {self.rule!r} set aside: {self.message}"


def set_aside_notice(error: str) -> str:
    """A set-aside rule (`str(RuleError)`, as `Config.rule_errors` keeps it) with what it means
    for the analyst: the run's summary, `newswatch sources`, `status`, `serve` and `deploy` say it."""
    return (
        f"{error}; it matches nothing until it is fixed in the config, and the articles archived "
        "meanwhile will never alert (`newswatch rules test QUERY` shows what a query matches)"
    )


NO_SMTP = "the config has no smtp: section, so no email can be sent: add one (host, port, sender)"


def require_smtp(smtp: SmtpSettings | None) -> SmtpSettings:
    """The `smtp:` section of a command that sends emails now (`alerts retry`, `digest`): its
    absence is an AlertConfigError, never a try at the defaults (localhost:25)."""
    if smtp is None:
        raise AlertConfigError(NO_SMTP)
    return smtp


def load_alert_rules(
    section: list | None, source_names: Collection[str] | None = None
) -> tuple[list[AlertRule], list[RuleError]]:
    """Validate each rule on its own, query included: (the usable rules, one error per other).
    `source_names`: the configured sources; a rule limited (`sources:` or `source:` in its
    query) to a source not among them is set aside: it would watch nothing, or less than it says."""
    rules: list[AlertRule] = []
    errors: list[RuleError] = []
    seen: set[str] = set()
    for index, raw in enumerate(section or []):
        label = raw.get("name") if isinstance(raw, dict) and raw.get("name") else f"#{index + 1}"
        try:
            rule = AlertRule.model_validate(raw)
        except ValidationError as e:
            errors.append(RuleError(str(label), describe(e.errors()[0], raw)))
            continue
        except Exception as e:  # noqa: BLE001 - one broken rule is set aside, whatever broke
            errors.append(RuleError(str(label), f"{type(e).__name__}: {str(e)[:200]}"))
            continue
        if rule.name in seen:
            errors.append(RuleError(rule.name, "another rule has the same name; names must be unique"))
            continue
        problem = check_query(rule.query)
        if problem is None and source_names is not None:
            problem = check_sources(rule, source_names)
        if problem is not None:
            message, position = problem
            errors.append(RuleError(rule.name, message, position))
            continue
        seen.add(rule.name)
        rules.append(rule)
    return rules, errors


def check_sources(rule: AlertRule, source_names: Collection[str]) -> tuple[str, int | None] | None:
    """None if every source the rule names (`sources:`, `source:` in its query) is configured,
    else (what is wrong, the column in the query or None)."""
    from storage.query import parse

    configured = f"configured: {', '.join(source_names)}" if source_names else "no source is configured"
    if rule.sources is not None and not rule.sources:
        return "sources: is empty, so the rule would watch nothing; leave sources: out to watch every source", None
    unknown = [name for name in rule.sources or () if name not in source_names]
    if unknown:
        return (
            f"sources: names {_names(unknown)}, not configured ({configured}); "
            "the rule would watch " + ("nothing" if len(unknown) == len(rule.sources or ()) else "less than it says"),
            None,
        )
    restriction = parse(rule.query).restriction
    for name in (*restriction.sources, *restriction.not_sources):
        if name not in source_names:
            column = rule.query.find(f"source:{name}")
            return f"source:{name} is not a configured source ({configured})", column + 1 if column >= 0 else None
    return None


def _names(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


def check_query(query: str) -> tuple[str, int | None] | None:
    """None if `query` compiles and FTS5 accepts it, else (what is wrong, 1-based column in
    the query, or None when the failure has no column). Never raises: a rule this says is
    usable is matched, any other is set aside."""
    from storage.query import FTS_TOKENIZE, parse  # the query language: only when a rule is checked

    try:
        expression = parse(query).fts
        with closing(sqlite3.connect(":memory:")) as conn:
            conn.execute(f"CREATE VIRTUAL TABLE q USING fts5(title, body, tokenize = '{FTS_TOKENIZE}')")
            conn.execute("SELECT rowid FROM q WHERE q MATCH ?", (expression,)).fetchall()
    except QuerySyntaxError as e:
        return str(e), e.position
    except sqlite3.Error as e:
        return f"the search engine refused it ({e})", None
    except Exception as e:  # noqa: BLE001 - whatever breaks, the rule alone is set aside
        return f"the query cannot be used ({type(e).__name__}: {str(e)[:200]})", None
    return None
