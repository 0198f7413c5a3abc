"""Every newswatch error, in one tree, grouped by what the caller does with it.

    NewswatchError                  a message for the user: what failed, where, what to do next
    ├── PermanentError              record it and move on: asking again gives the same answer
    │   ├── ConfigError             the config file (flows/config/model.py)
    │   │   ├── ProfileError        an unknown or broken site profile
    │   │   └── AlertConfigError    the smtp:, alerts: or health_alerts: section
    │   ├── CleanError              a page that cannot be read at all (empty, binary, corrupt)
    │   ├── NotAnArticle            a page that reads but is not an article (a listing, a menu)
    │   ├── DocumentError           a discovery document that is not what it claims
    │   │   ├── FeedError           not an RSS/Atom feed
    │   │   └── SitemapError        not a sitemap (or a gzip bomb)
    │   ├── ArchiveError            the archive cannot be opened or written
    │   ├── QuerySyntaxError        a search or alert query that does not parse
    │   ├── ServeError              `newswatch serve` cannot start or keep serving
    │   └── DeployError             `newswatch deploy` cannot deploy (no server, bad pool)
    ├── TemporaryError              retry later: the same request may succeed then
    │   ├── CleanCrashed            the process cleaning a page died, or was stopped past the
    │   │                           page's deadline (flows/pipeline/cleaner.py)
    │   └── PrefectApiError         the Prefect server could not be asked (status, checks)
    ├── FetchError                  one URL could not be fetched (each kind below is also
    │   │                           a PermanentError or a TemporaryError)
    │   ├── BadUrl, RedirectLoop, TooManyRedirects, RobotsDisallowed, TooLarge, NotHtml,
    │   │   AddressNotAllowed, UnsupportedEncoding,
    │   │   HttpStatusError > ClientError (4xx) > Gone (404, 410), BadRedirect    permanent
    │   └── ConnectFailed > HostNotFound, Timeout > CutOff, ProtocolFailure,
    │       UnexpectedFetchError, HttpStatusError > ServerError (5xx), RateLimited (429)
    │                                                                 temporary
    └── SmtpDeliveryError           the SMTP server did not accept an email
        ├── SmtpRefused             permanent: fix the address, login or TLS settings
        └── SmtpUnavailable         temporary: a 4xx, a dropped connection
            └── SmtpUnreachable     no conversation at all (down, timeout)

    ProcessStopping                 not an error: the process is being stopped (SIGTERM,
                                    Ctrl-C); a BaseException, so no `except Exception`
                                    records it as a failure of the work it interrupts

The two groups are mixins, as in dlt's terminal/transient exceptions: `except TemporaryError`
catches what is worth another try, whatever stage raised it. A page whose error is permanent
is remembered and never asked for again; a temporary one is retried on later runs
(storage/fetchstate.py). `kind` is the stable short name written in the archive
(`pages.error_kind`) and shown in reports.

Every package imports this module and it imports nothing of newswatch.
"""

from __future__ import annotations


class NewswatchError(Exception):
    """Base of every error meant for the user: its message says what went wrong and what to do.

    The command line prints it as one line (no traceback); flows record it per source.
    """

    kind = "error"


class PermanentError(NewswatchError):
    """Asking again will not help: record it, report it, move on."""


class TemporaryError(NewswatchError):
    """The same request may succeed later: keep what is pending and retry on a later run."""


# ----------------------------------------------------------------------- configuration ---


class ConfigError(PermanentError):
    """The configuration file is missing, not YAML, or has a bad field."""

    kind = "config"


class ProfileError(ConfigError):
    """A site profile name that is not known, or a profile that cannot be used."""


class AlertConfigError(ConfigError):
    """The `smtp:`, `alerts:` or `health_alerts:` section cannot be used as written."""


# ------------------------------------------------------------------------------ pages ---


class CleanError(PermanentError):
    """A page could not be read at all (unreadable, empty, binary). The message says why."""

    kind = "clean"


class NotAnArticle(PermanentError):
    """A page that reads but is not an article; the message is the cleaner's reason.

    Not raised: the cleaner returns such pages with `is_article=False`, and the ingest run
    records them with this error so that they are counted apart and never fetched again.
    """

    kind = "not_article"


class CleanCrashed(TemporaryError):
    """The process cleaning the page died (a crash in a C library, out of memory), or was
    stopped, the page taking longer than its deadline (`flows.pipeline.cleaner.PAGE_SECONDS`):
    the page is tried again on a later run, and given up after a few attempts."""

    kind = "clean_crashed"


class DocumentError(PermanentError):
    """A discovery document (feed, sitemap) that cannot be read as one."""

    kind = "document"


class FeedError(DocumentError):
    """The document is not a feed feedparser can read."""


class SitemapError(DocumentError):
    """The document is not a sitemap."""


# --------------------------------------------------------------------------- fetching ---


class FetchError(NewswatchError):
    """A URL could not be fetched. Each concrete class is also permanent or temporary.

    `retry_in_run`: worth retrying within seconds, in this run (with backoff), as opposed to
    on a later run. `url` is the URL asked for; `final_url` the hop that failed.
    """

    kind = "fetch"
    retry_in_run = False

    def __init__(self, url: str, message: str, *, status: int | None = None, final_url: str | None = None) -> None:
        self.url = url
        self.message = message
        self.status = status
        self.final_url = final_url or url
        where = f" (redirected to {self.final_url})" if self.final_url != url else ""
        super().__init__(f"{url}{where}: {message}")

    def __reduce__(self):
        # Pickled whole (a Dask worker's results, the cleaner's processes): the class, its
        # arguments and what was set on it since.
        return (_fetch_error, (type(self), self.url, self.message, self.status, self.final_url), self.__dict__)

    def again(self, url: str, message: str | None = None) -> FetchError:
        """The same error, reported for `url` (the URL asked for, not the hop that failed)."""
        return type(self)(url, message or self.message, status=self.status, final_url=self.final_url)


def _fetch_error(
    cls: type[FetchError], url: str, message: str, status: int | None, final_url: str | None
) -> FetchError:
    return cls(url, message, status=status, final_url=final_url)


class ConnectFailed(FetchError, TemporaryError):
    """The connection could not be opened (refused, reset): retried with backoff, then next run."""

    kind = "connect"
    retry_in_run = True


class HostNotFound(ConnectFailed):
    """DNS does not know the host: retrying within seconds would not help, later might."""

    kind = "dns"
    retry_in_run = False


class Timeout(FetchError, TemporaryError):
    """No answer, or a page trickled past the total timeout: the site is slow or down."""

    kind = "timeout"
    retry_in_run = True


class CutOff(Timeout):
    """The exchange outlived `timeouts.total` (a server trickling its answer): not retried in
    this run, which must end on time; the next run asks again."""

    kind = "cut_off"
    retry_in_run = False


class ProtocolFailure(FetchError, TemporaryError):
    """The connection broke mid-response (reset, bad framing, bad compression)."""

    kind = "protocol"
    retry_in_run = True


class UnexpectedFetchError(FetchError, TemporaryError):
    """A failure newswatch does not know (a bug to report); the page is tried again later."""

    kind = "unexpected"


class HttpStatusError(FetchError):
    """The server answered with an error status (`status`)."""

    kind = "http_status"


class ClientError(HttpStatusError, PermanentError):
    """4xx: the page is gone, forbidden, or the URL is wrong."""


class Gone(ClientError):
    """404 or 410: the page is not (or no longer) there. For a discovered link this is no
    error of the source: the page is recorded as gone and not asked for again."""

    kind = "gone"


class BadRedirect(HttpStatusError, PermanentError):
    """A redirect status without a Location header: the site is misconfigured."""


class ServerError(HttpStatusError, TemporaryError):
    """5xx after the retries of this run: the site is failing now, the next run asks again."""

    kind = "server_error"
    retry_in_run = True


class RateLimited(HttpStatusError, TemporaryError):
    """429 (or 503 with Retry-After) beyond what this run will wait: asked again next run."""

    kind = "rate_limited"


class TooLarge(FetchError, PermanentError):
    """More bytes than `max_page_bytes`: the download is aborted, the page is remembered."""

    kind = "too_large"


class AddressNotAllowed(FetchError, PermanentError):
    """The host resolves into a network newswatch does not fetch from (link-local, or a
    private range the source's own URL is not in): see `allow_private_networks`."""

    kind = "address_not_allowed"


class UnsupportedEncoding(FetchError, PermanentError):
    """A content coding newswatch did not ask for, or too many of them stacked."""

    kind = "bad_encoding"


class NotHtml(FetchError, PermanentError):
    """The response is not a document of an accepted type (a PDF, an image...)."""

    kind = "not_html"


class RedirectLoop(FetchError, PermanentError):
    """A redirect back to an address already visited: the site is misconfigured."""

    kind = "redirect_loop"


class TooManyRedirects(FetchError, PermanentError):
    """More hops than `max_redirects`."""

    kind = "too_many_redirects"


class RobotsDisallowed(FetchError, PermanentError):
    """The host's robots.txt disallows the URL for our user agent: it is never requested."""

    kind = "robots_disallowed"


class BadUrl(FetchError, PermanentError):
    """Not an http(s) URL with a host name."""

    kind = "bad_url"


# ---------------------------------------------------------------------------- archive ---


class ArchiveError(PermanentError):
    """The archive cannot be opened, upgraded or written; the message names the file."""

    kind = "archive"


class QuerySyntaxError(PermanentError):
    """A query of the search language that does not parse; `position` is its 1-based column."""

    kind = "query"

    def __init__(self, message: str, query: str, position: int, hint: str = ""):
        self.query, self.position, self.hint = query, position, hint
        text = f"bad query at column {position}: {message}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)


# ------------------------------------------------------------------------------ email ---


class SmtpDeliveryError(NewswatchError):
    """The SMTP server did not accept an email. `temporary`: retrying later may succeed;
    `unreachable`: no conversation with the server happened at all (down, timeout)."""

    kind = "smtp"
    unreachable = False
    # The exchange broke without a refusal from the server after it started (a timeout, a
    # dropped connection): the server may have accepted the email all the same.
    maybe_accepted = False

    @property
    def temporary(self) -> bool:
        return isinstance(self, TemporaryError)


class SmtpRefused(SmtpDeliveryError, PermanentError):
    """Refused for good (5xx, login, TLS): the settings or the address must change."""


class SmtpUnavailable(SmtpDeliveryError, TemporaryError):
    """Refused for now (4xx) or the connection dropped: the next delivery tries again."""


class SmtpUnreachable(SmtpUnavailable):
    """The server could not be reached at all: other recipients would wait for the same timeout."""

    unreachable = True


# ------------------------------------------------------------------------------ serve ---


class ServeError(PermanentError):
    """`newswatch serve` could not start its Prefect server or keep serving."""

    kind = "serve"


class DeployError(PermanentError):
    """`newswatch deploy` could not deploy: no Prefect server, a work pool of another type,
    `prefect deploy` failing."""

    kind = "deploy"


class PrefectApiError(TemporaryError):
    """The Prefect server did not answer a question about the deployments and their runs
    (`newswatch status`, the checks of `newswatch serve` and `newswatch deploy`)."""

    kind = "prefect-api"


class ProcessStopping(BaseException):
    """The process is being stopped (a signal; `scrapers.transport.stop_work`): network work in
    hand is abandoned where it is. Not an error of the URL, the page or the source: nothing is
    recorded about it, and a later run asks again. A BaseException, like KeyboardInterrupt,
    so that the `except Exception` of every stage lets it through to the run's end."""

    def __init__(self, message: str = "stopped: the process is being stopped") -> None:
        super().__init__(message)
