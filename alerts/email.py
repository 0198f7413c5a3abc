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

import email
import email.policy
import smtplib
import ssl
import time
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


def send_email(smtp: SmtpSettings, message: EmailMessage) -> None:
    """Hand `message` to the SMTP server; returns only once the server has accepted it."""
    server = f"{smtp.host}:{smtp.effective_port}"
    recipient = str(message["To"])
    connected = False
    try:
        client: smtplib.SMTP
        if smtp.security == "ssl":
            client = smtplib.SMTP_SSL(
                smtp.host, smtp.effective_port, timeout=smtp.timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(smtp.host, smtp.effective_port, timeout=smtp.timeout)
        connected = True
        with client:
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
            options = ("SMTPUTF8", "BODY=8BITMIME") if _international(message) else ()
            refused = client.sendmail(smtp.sender, [recipient], message_bytes(message), mail_options=options)
            if refused:  # only possible with several recipients; kept for safety
                code, text = next(iter(refused.values()))
                raise smtplib.SMTPResponseException(code, text)
    except SmtpDeliveryError:
        raise
    except smtplib.SMTPAuthenticationError as e:
        raise SmtpRefused(
            f"SMTP server {server} rejected the login of {smtp.username!r} ({e.smtp_code}): check "
            f"smtp.username and the password in ${smtp.password_env}"
        ) from None
    except smtplib.SMTPNotSupportedError as e:
        raise SmtpRefused(
            f"SMTP server {server} does not support what smtp.security={smtp.security} needs ({e}): "
            "check smtp.security and smtp.port"
        ) from None
    except smtplib.SMTPRecipientsRefused as e:
        code, text = next(iter(e.recipients.values()))
        raise _refusal(server, code, text, f"recipient {recipient}") from None
    except smtplib.SMTPSenderRefused as e:
        raise _refusal(server, e.smtp_code, e.smtp_error, f"sender {smtp.sender}") from None
    except smtplib.SMTPResponseException as e:
        raise _refusal(server, e.smtp_code, e.smtp_error, f"email to {recipient}") from None
    except (ssl.SSLError, ssl.CertificateError) as e:
        raise SmtpRefused(
            f"TLS with SMTP server {server} failed ({e}): check smtp.security "
            "(ssl on port 465, starttls on 587) and the server's certificate"
        ) from None
    except smtplib.SMTPServerDisconnected as e:
        raise _broken(
            SmtpUnavailable(f"SMTP server {server} closed the connection ({e})"),
            connected,
        ) from None
    except TimeoutError:
        raise _broken(
            SmtpUnreachable(
                f"SMTP server {server} did not answer within {smtp.timeout:g} s: check the server, "
                "or raise smtp.timeout"
            ),
            connected,
        ) from None
    except OSError as e:  # refused, unreachable host, DNS failure
        raise _broken(
            SmtpUnreachable(
                f"cannot reach SMTP server {server} ({e.strerror or e}): check smtp.host and "
                "smtp.port and that the server is running"
            ),
            connected,
        ) from None


def _broken(error: SmtpDeliveryError, connected: bool) -> SmtpDeliveryError:
    """An exchange that broke without a refusal: once connected, the server may have accepted."""
    error.maybe_accepted = connected
    return error


def send_with_retries(send, smtp: SmtpSettings, message: EmailMessage, attempts: int, delay: float) -> None:
    """`send(smtp, message)`, again after `delay` seconds while the refusal is temporary (a 4xx,
    a dropped connection), at most `attempts` times (tenacity); an unreachable server is not
    retried (every try would wait for the same timeout)."""
    tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max(1, attempts)),
        wait=tenacity.wait_fixed(delay),
        retry=tenacity.retry_if_exception(
            lambda e: isinstance(e, SmtpDeliveryError) and e.temporary and not e.unreachable
        ),
        sleep=time.sleep,
        reraise=True,
    )(send, smtp, message)


def _refusal(server: str, code: int, text: bytes | str, what: str) -> SmtpDeliveryError:
    detail = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    detail = header_safe(detail, limit=300)
    if 400 <= code < 500:
        return SmtpUnavailable(f"SMTP server {server} temporarily refused the {what} ({code} {detail})")
    return SmtpRefused(
        f"SMTP server {server} refused the {what} ({code} {detail}): check the address and the server's relay rules"
    )
