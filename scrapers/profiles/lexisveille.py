"""Site profile: lexisveille.fr (LexisNexis legal news, French; some articles are paywalled)."""

from __future__ import annotations

import re

from scrapers.profiles.base import Profile, register

LEXISVEILLE = register(
    Profile(
        name="lexisveille",
        hosts=("lexisveille.fr",),
        article_xpath="//article[contains(concat(' ', normalize-space(@class), ' '), ' article-detail ')]",
        drop_xpaths=(
            # "Offert" / "Abonnés" badges: access labels, not text.
            ".//*[contains(concat(' ', normalize-space(@class), ' '), ' badge ')]",
            ".//*[contains(@class, 'article-detail__actions')]",
        ),
        label_lines=(r"offert", r"abonn[ée]s?", r"r[ée]serv[ée] aux abonn[ée]s"),
        # Articles sit at the root as the headline's slug (`/<slug>`, no date nor id); older
        # paths had a section. A slug of four words or more: menu pages (`/contact`,
        # `/mentions-legales`, `/qui-sommes-nous`) are shorter.
        article_path=re.compile(r"^(?:/(?:actualites|veille))?/[a-z0-9]+(?:-[a-z0-9]+){3,}(?:\.html)?/?$"),
        tracking_params=("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "xtor"),
    )
)
