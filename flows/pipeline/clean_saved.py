"""The work on one saved page of `newswatch import` (`clean_saved`) and `newswatch clean`
(`clean_shown`), as a cleaning process runs it: the page's bytes in, its article or why it
could not be cleaned out. Module level and light to import: a cleaning process imports it to
unpickle them, and the command that sends the pages imports it without the cleaner (0.5 s of
imports `newswatch clean` of one page paid for nothing: its cleaning process has them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from errors import NewswatchError

if TYPE_CHECKING:
    from core.article import Article, Removal
    from scrapers.template import SourceTemplate
    from storage.records import Incoming


@dataclass(frozen=True)
class SavedPage:
    """A saved page as read (`data`), or why it could not be read (`error`)."""

    path: Path  # as given
    uri: str  # file:///..., the page's address when it names none
    data: bytes | None = None
    error: str | None = None

    @property
    def url(self) -> str:  # how the cleaner names a page in its messages
        return str(self.path)


def clean_saved(
    page: SavedPage,
    source: str,
    url: str | None,
    profile: str | None,
    template: SourceTemplate | None,
    imported_at: str,
) -> Incoming | str:
    """The page's article on its way to the archive, with what storing derives from it
    (computed here, in the cleaning process, as a run's are), or the message saying why it
    has none. Plain values in and out."""
    from storage.derived import derive
    from storage.records import Incoming

    cleaned = clean_shown(page, url, profile, None, template, explain=False)
    if isinstance(cleaned, str):
        return cleaned
    article, _ = cleaned
    incoming = Incoming(article, source=source, url=url or article.url or page.uri)
    incoming.fetched_at = imported_at
    incoming.derived = derive(incoming)
    return incoming


def clean_shown(
    page: SavedPage,
    url: str | None,
    profile: str | None,
    found_via: str | None,
    template: SourceTemplate | None,
    explain: bool,
) -> tuple[Article, list[Removal] | None] | str:
    """The page's article and, if `explain`, every line a rule removed from it; or the message
    saying why it has none."""
    from scrapers.clean import clean_page

    if page.data is None:
        return page.error or "the file could not be read"
    removed: list[Removal] | None = [] if explain else None
    try:
        article = clean_page(
            page.data, url=url, profile=profile, found_via=found_via, template=template, removed=removed
        )
    except NewswatchError as e:
        return str(e)
    except Exception as e:  # noqa: BLE001 - a bug must cost this file, not the other files
        return f"internal error while cleaning ({type(e).__name__}: {e}); please report it"
    return article, removed
