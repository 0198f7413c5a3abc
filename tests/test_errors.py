"""The error tree (errors.py): every error a NewswatchError, each concrete one temporary or
permanent, so a caller can decide from the class alone whether to retry later."""

from __future__ import annotations

import inspect

import pytest

import errors
from errors import FetchError, NewswatchError, PermanentError, SmtpDeliveryError, TemporaryError

CLASSES = [
    c
    for _, c in inspect.getmembers(errors, inspect.isclass)
    if c.__module__ == "errors" and c is not errors.ProcessStopping
]
# Bases that group others and are never raised themselves.
ABSTRACT = {NewswatchError, PermanentError, TemporaryError, FetchError, errors.HttpStatusError, SmtpDeliveryError}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_error_is_a_newswatch_error_and_exactly_one_of_temporary_or_permanent(cls):
    assert issubclass(cls, NewswatchError)
    if cls not in ABSTRACT:
        assert issubclass(cls, TemporaryError) != issubclass(cls, PermanentError), cls


@pytest.mark.parametrize(
    "cls, temporary",
    [
        (errors.ServerError, True),
        (errors.RateLimited, True),
        (errors.Timeout, True),
        (errors.HostNotFound, True),
        (errors.ClientError, False),
        (errors.RobotsDisallowed, False),
        (errors.NotHtml, False),
        (errors.TooLarge, False),
    ],
)
def test_fetch_errors_say_whether_a_later_run_may_succeed(cls, temporary):
    error = cls("https://example.org/a", "what happened")
    assert isinstance(error, TemporaryError) == temporary
    assert str(error) == "https://example.org/a: what happened"


def test_smtp_errors_keep_their_temporary_and_unreachable_flags():
    assert errors.SmtpUnreachable("down").temporary and errors.SmtpUnreachable("down").unreachable
    assert errors.SmtpUnavailable("451").temporary and not errors.SmtpUnavailable("451").unreachable
    assert not errors.SmtpRefused("550").temporary


def test_a_process_stopping_goes_through_every_except_exception():
    """Not an error of what it interrupts: a stage's `except Exception` must not record it."""
    try:
        try:
            raise errors.ProcessStopping()
        except Exception:  # noqa: BLE001 - what a stage does with its failures
            pytest.fail("ProcessStopping was caught as an error")
    except errors.ProcessStopping as e:
        assert str(e) == "stopped: the process is being stopped"
