"""Site profile: apr-news.fr (Drupal 7 news agency site, French)."""

from __future__ import annotations

import re

from scrapers.profiles.base import Profile, register

APRNEWS = register(
    Profile(
        name="aprnews",
        hosts=("apr-news.fr",),
        # The content region holds the page headline (h1) and the node; the breadcrumb and the
        # "Back to top" link sit beside it and are pruned as HTML boilerplate.
        article_xpath="//div[@id='content']",
        drop_xpaths=(
            ".//*[contains(@class, 'field-name-field-tags')]",
            ".//*[contains(@class, 'node-links')]",
        ),
        label_lines=(r"vous [êe]tes ici", r"back to top", r"retour en haut"),
        # Drupal paths: a section, then the headline's slug (`/fr/depeches-breves/<slug>`), or a
        # node id; the section pages themselves (`/fr/depeches-breves`) are listings.
        article_path=re.compile(r"^(?:/[a-z]{2})?/(?:node/\d+|[a-z0-9-]+/[a-z0-9]+(?:-[a-z0-9]+){2,})/?$"),
        tracking_params=("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "fbclid"),
        extra={"agency_prefix": "APRNEWS"},
    )
)
