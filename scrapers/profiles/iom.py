"""Site profile: iom.int (Drupal; French pages under /fr/, English at the root)."""

from __future__ import annotations

import re

from scrapers.profiles.base import Profile, register

IOM = register(
    Profile(
        name="iom",
        hosts=("iom.int",),
        # The full view of a news node; listing teasers are the same node type in teaser mode.
        article_xpath="//article[contains(concat(' ', normalize-space(@class), ' '), ' node--view-mode-full ')]",
        drop_xpaths=(
            ".//*[contains(@class, 'field--name-field-tags')]",
            ".//*[contains(@class, 'field--name-field-related')]",
        ),
        # Type and region labels printed above the headline ("Communiqué" / "Global");
        # textclean matches them case-insensitively against whole lines.
        label_lines=(
            r"communiqu[ée]s?( de presse)?",
            r"press releases?",
            r"news|actualit[ée]s|nouvelles",
            r"global|mondial",
        ),
        article_path=re.compile(r"^/(?:(?:fr|es|ar)/)?news/[^/?#]+/?$"),
        tracking_params=("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "fbclid", "gclid"),
        extra={
            # Listing pages: /news (English) and /fr/news, paginated with ?page=N where N starts at 0.
            "listing_paths": ("/news", "/fr/news"),
            "pager_param": "page",
            "pager_first_page": 0,
        },
    )
)
