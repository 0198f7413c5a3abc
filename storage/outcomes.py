"""What a fetched page that did not become an article becomes: its outcome and the reason
recorded for it (`pages.reason`). Plain values, made where the page was cleaned (a worker
process imports this module, not the archive's)."""

from __future__ import annotations

from dataclasses import dataclass

from errors import (
    BadRedirect,
    BadUrl,
    CleanError,
    ClientError,
    FetchError,
    Gone,
    NewswatchError,
    NotAnArticle,
    NotHtml,
    RedirectLoop,
    RobotsDisallowed,
    TemporaryError,
    TooLarge,
    TooManyRedirects,
)

# Why a page did not become an article, by class of error (`pages.reason`, `newswatch
# rejected --reason`); the first class the error is an instance of wins.
REASONS: tuple[tuple[type[NewswatchError], str], ...] = (
    (NotAnArticle, "not-article"),  # read, but the cleaner says it is no article (and why)
    (CleanError, "unreadable"),  # empty, binary, corrupt
    (TooLarge, "too-large"),
    (NotHtml, "not-html"),  # a PDF, an image...
    (Gone, "gone"),  # 404, 410
    (RobotsDisallowed, "robots"),
    (ClientError, "client-error"),  # another 4xx: forbidden, unauthorised...
    (RedirectLoop, "redirect"),
    (TooManyRedirects, "redirect"),
    (BadRedirect, "redirect"),
    (BadUrl, "bad-url"),
    (TemporaryError, "failing"),  # timeouts, 5xx, 429, connection errors: retried later
)


def rejection_reason(error: NewswatchError) -> str:
    for cls, reason in REASONS:
        if isinstance(error, cls):
            return reason
    return error.kind.replace("_", "-")


@dataclass
class PageOutcome:
    """A fetched URL that did not become an article, and why.

    `error`: the fetch error, the clean error, or `errors.NotAnArticle` with the cleaner's
    reason. A `PermanentError` is never asked for again; any other is retried later.
    `status`: the HTTP status of the answer (None: no answer); `found_via`: the kind of
    discovery document that listed it (a re-check cleans it the same way).
    """

    url: str
    error: NewswatchError
    status: int | None = None
    found_via: str | None = None

    @property
    def kind(self) -> str:
        return self.error.kind

    @property
    def reason(self) -> str:
        return rejection_reason(self.error)

    @property
    def message(self) -> str:
        """One line naming the URL (a fetch error names it already, the others get it in front)
        and, where the error does not say it, what happens next."""
        if isinstance(self.error, Gone):
            return f"{self.error}: the page is gone; recorded, not asked for again"
        if isinstance(self.error, ClientError):
            return f"{self.error}; recorded, not asked for again (`newswatch recheck URL` asks again)"
        if isinstance(self.error, FetchError):
            return str(self.error)
        return f"{self.url}: {self.error}"
