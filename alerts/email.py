"""Emails sent with smtplib: alert, digest and health emails alike (rendered by `alerts/render.py`).

`freeze` turns a message into the exact bytes sent (kept in the outbox before the SMTP
transaction, so a re-send after a crash is the same message, Message-ID included). Sending
retries a temporary refusal (`send_with_retries`, tenacity) and maps every SMTP failure to
an `errors.SmtpDeliveryError` whose message names the server and what to check, and whose class
says whether retrying later can help (`SmtpUnavailable`, `SmtpUnreachable`) or not (`SmtpRefused`).
What becomes of the unsent email is the caller's to say: an alert waits for the next run, a
digest for the next digest, a health email for the next run's checks.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import EmailPolicy

import tenacity

from alerts.render import header_safe
from alerts.settings import SmtpSettings
from errors import SmtpDeliveryError, SmtpRefused, SmtpUnavailable, SmtpUnreachable


def _international(message: EmailMessage) -> bool:
    return not "".join(str(message.get(h, "")) for h in ("From", "To")).isascii()


class FrozenMessage(EmailMessage):
    """A message whose bytes are fixed (`freeze`): `frozen` is what is sent, the headers stay
    readable. Its parts, parsed as this class too, have no bytes of their own (None)."""

    frozen: bytes | None = None


# email.policy.default (which is EmailPolicy()), parsing into FrozenMessage
_FROZEN = EmailPolicy(message_factory=FrozenMessage)


def message_bytes(message: EmailMessage) -> bytes:
    """The bytes that go to the SMTP server: a frozen message's own, else its rendering (every
    message here has the default policy: SMTP's is the same with CRLF line ends)."""
    if isinstance(message, FrozenMessage) and message.frozen is not None:
        return message.frozen
    return message.as_bytes(policy=email.policy.SMTPUTF8 if _international(message) else email.policy.SMTP)


def freeze(data: bytes | EmailMessage) -> FrozenMessage:
    """A message whose bytes are fixed: `send_email` sends exactly `data` (headers readable)."""
    data = message_bytes(data) if isinstance(data, EmailMessage) else data
    message = email.message_from_bytes(data, policy=_FROZEN)
    message.frozen = data
    return message


class _Deadline:
    """The time an SMTP exchange has left: at `seconds` its connection is shut down (a watchdog
    timer), which ends whatever the exchange was waiting for (connect, greeting, TLS handshake,
    a reply trickling in a byte at a time) at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        return max(0.001, self.end - time.monotonic())

    @property
    def passed(self) -> bool:
        """Expired, or about to: a connect given what was left of it may time out first."""
        return self.expired or time.monotonic() >= self.end - 0.05

    def watch(self, sock: socket.socket) -> None:
        """The exchange's TCP connection: a duplicate of it, to shut down at the deadline (the
        shutdown reaches the connection whatever wraps it since, TLS included)."""
        with self._lock:
            self._sock = sock.dup()
            if self.expired:
                self._shutdown()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


class _Bounded(smtplib.SMTP):
    """smtplib.SMTP whose connection is watched by a `_Deadline` (set as a class attribute of a
    subclass made per exchange, since the connection opens in `__init__`), and which knows
    whether the message's data went out: before that the server cannot have accepted it."""

    deadline: _Deadline
    data_started = False

    def _get_socket(self, host, port, timeout):
        sock = socket.create_connection((host, port), min(timeout, self.deadline.remaining()), self.source_address)
        sock.settimeout(timeout)
        self.deadline.watch(sock)
        return sock

    def data(self, msg):
        self.data_started = True
        return super().data(msg)


class _BoundedSSL(smtplib.SMTP_SSL, _Bounded):
    """SMTP_SSL over `_Bounded`'s watched connection (its `_get_socket` wraps `_Bounded`'s)."""


def send_email(smtp: SmtpSettings, message: EmailMessage) -> None:
    """Hand `message` to the SMTP server; returns only once the server has accepted it.

    The whole exchange (connect, greeting, TLS, login, every command) has `smtp.total_timeout`
    seconds, each answer `smtp.timeout`: either one passing is an `SmtpUnreachable` that says
    "timed out", so the delivery tries no other recipient (and a run, through `OncePerRun`,
    not this server again)."""
    deadline = _Deadline(smtp.total_timeout)
    state = {"data": False}
    try:
        _exchange(smtp, message, deadline, state)
    except SmtpDeliveryError as e:
        if deadline.passed:
            raise _timed_out(smtp, deadline, state["data"]) from None
        raise e from None
    except Exception as e:  # noqa: BLE001 - every failure becomes an SmtpDeliveryError (or is re-raised)
        if deadline.passed or _is_timeout(e):
            raise _timed_out(smtp, deadline, state["data"]) from None
        raise _failure(smtp, message, e, state["data"]) from None
    finally:
        deadline.close()


def _exchange(smtp: SmtpSettings, message: EmailMessage, deadline: _Deadline, state: dict) -> None:
    server = f"{smtp.host}:{smtp.effective_port}"
    base = _BoundedSSL if smtp.security == "ssl" else _Bounded
    kind = type("BoundedSMTP", (base,), {"deadline": deadline})
    options = {"context": ssl.create_default_context()} if smtp.security == "ssl" else {}
    client = kind(smtp.host, smtp.effective_port, timeout=smtp.timeout, **options)
    try:
        if smtp.security == "starttls":
            client.starttls(context=ssl.create_default_context())
        if smtp.username:
            password = smtp.password()
            if password is None:
                raise SmtpRefused(
                    f"SMTP server {server} needs a password for {smtp.username!r} but the "
                    f"environment variable {smtp.password_env or '(smtp.password_env unset)'} "
                    "is not set: set it"
                )
            client.login(smtp.username, password)
        recipient = str(message["To"])
        options_ = ("SMTPUTF8", "BODY=8BITMIME") if _international(message) else ()
        try:
            refused = client.sendmail(smtp.sender, [recipient], message_bytes(message), mail_options=options_)
        finally:
            state["data"] = client.data_started
        if refused:  # only possible with several recipients; kept for safety
            code, text = next(iter(refused.values()))
            raise smtplib.SMTPResponseException(code, text)
        with contextlib.suppress(Exception):  # accepted: the goodbye may fail, the email is sent
            client.quit()
    finally:
        with contextlib.suppress(Exception):
            client.close()


def _is_timeout(e: BaseException) -> bool:
    """A timeout, as raised or as smtplib re-words one ("Connection unexpectedly closed: timed out")."""
    return isinstance(e, TimeoutError) or (
        isinstance(e, smtplib.SMTPServerDisconnected) and str(e).rstrip().endswith("timed out")
    )


def _timed_out(smtp: SmtpSettings, deadline: _Deadline, data_started: bool) -> SmtpDeliveryError:
    server = f"{smtp.host}:{smtp.effective_port}"
    if deadline.passed:
        what = f"the exchange did not end within smtp.total_timeout ({deadline.seconds:g} s)"
    else:
        what = f"no answer within smtp.timeout ({smtp.timeout:g} s)"
    error = SmtpUnreachable(
        f"SMTP server {server} timed out: {what}; it is not tried again in this run: check that the "
        "server is up and answers, or raise smtp.timeout / smtp.total_timeout"
    )
    error.maybe_accepted = data_started
    return error


def _failure(smtp: SmtpSettings, message: EmailMessage, e: Exception, data_started: bool) -> SmtpDeliveryError:
    """The SmtpDeliveryError for what broke the exchange (not a timeout): its message names
    the server and what to check, its class whether retrying can help."""
    server = f"{smtp.host}:{smtp.effective_port}"
    recipient = str(message["To"])
    if isinstance(e, smtplib.SMTPAuthenticationError):
        return SmtpRefused(
            f"SMTP server {server} rejected the login of {smtp.username!r} ({e.smtp_code}): check "
            f"smtp.username and the password in ${smtp.password_env}"
        )
    if isinstance(e, smtplib.SMTPNotSupportedError):
        return SmtpRefused(
            f"SMTP server {server} does not support what smtp.security={smtp.security} needs ({e}): "
            "check smtp.security and smtp.port"
        )
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(e.recipients.values()))
        return _refusal(server, code, text, f"recipient {recipient}")
    if isinstance(e, smtplib.SMTPSenderRefused):
        return _refusal(server, e.smtp_code, e.smtp_error, f"sender {smtp.sender}")
    if isinstance(e, smtplib.SMTPResponseException):
        return _refusal(server, e.smtp_code, e.smtp_error, f"email to {recipient}")
    if isinstance(e, (ssl.SSLError, ssl.CertificateError)):
        return SmtpRefused(
            f"TLS with SMTP server {server} failed ({e}): check smtp.security "
            "(ssl on port 465, starttls on 587) and the server's certificate"
        )
    if isinstance(e, smtplib.SMTPServerDisconnected):
        return _broken(SmtpUnavailable(f"SMTP server {server} closed the connection ({e})"), data_started)
    if isinstance(e, OSError):  # refused, unreachable host, DNS failure
        return _broken(
            SmtpUnreachable(
                f"cannot reach SMTP server {server} ({e.strerror or e}): check smtp.host and "
                "smtp.port and that the server is running"
            ),
            data_started,
        )
    raise e


class OncePerRun:
    """A `send` for one run: a server that timed out or could not be reached is not tried again
    by the run (its early alerts, its end-of-run delivery, its health emails): each further
    email fails at once with the first error, and stays pending for the next run."""

    def __init__(self, send: Callable) -> None:
        self.send = send
        self._down: dict[str, SmtpDeliveryError] = {}
        self._lock = threading.Lock()

    def __call__(self, smtp: SmtpSettings, message: EmailMessage) -> None:
        server = f"{smtp.host}:{smtp.effective_port}"
        with self._lock:
            earlier = self._down.get(server)
        if earlier is not None:
            error = SmtpUnreachable(f"not tried: {earlier}")
            raise error
        try:
            self.send(smtp, message)
        except SmtpDeliveryError as e:
            if e.unreachable:
                with self._lock:
                    self._down.setdefault(server, e)
            raise


def _broken(error: SmtpDeliveryError, data_started: bool) -> SmtpDeliveryError:
    """An exchange that broke without a refusal: once its data went out, the server may have accepted."""
    error.maybe_accepted = data_started
    return error


def send_with_retries(
    send, smtp: SmtpSettings, message: EmailMessage, attempts: int, delay: float, *, until: float | None = None
) -> None:
    """`send(smtp, message)`, again after `delay` seconds while the refusal is temporary (a 4xx,
    a dropped connection), at most `attempts` times (tenacity); an unreachable server is not
    retried (every try would wait for the same timeout). `until` (time.monotonic()): the
    delivery's deadline; each try's smtp.total_timeout is cut to what is left of it, and no
    retry starts after it."""

    def attempt() -> None:
        settings = smtp
        if until is not None:
            left = max(0.001, until - time.monotonic())
            settings = smtp.model_copy(update={"total_timeout": min(smtp.total_timeout, left)})
        send(settings, message)

    tenacity.Retrying(
        stop=tenacity.stop_any(tenacity.stop_after_attempt(max(1, attempts)), _OutOfTime(until, delay)),
        wait=tenacity.wait_fixed(delay),
        retry=tenacity.retry_if_exception(
            lambda e: isinstance(e, SmtpDeliveryError) and e.temporary and not e.unreachable
        ),
        sleep=time.sleep,
        reraise=True,
    )(attempt)


class _OutOfTime(tenacity.stop.stop_base):
    """Stop retrying when the next try would start after `until` (None: never)."""

    def __init__(self, until: float | None, delay: float) -> None:
        self.until, self.delay = until, delay

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self.until is not None and time.monotonic() + self.delay >= self.until


def _refusal(server: str, code: int, text: bytes | str, what: str) -> SmtpDeliveryError:
    detail = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    detail = header_safe(detail, limit=300)
    if 400 <= code < 500:
        return SmtpUnavailable(f"SMTP server {server} temporarily refused the {what} ({code} {detail})")
    return SmtpRefused(
        f"SMTP server {server} refused the {what} ({code} {detail}): check the address and the server's relay rules"
    )
