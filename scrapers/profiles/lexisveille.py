"""Site profile: lexisveille.fr (LexisNexis legal news, French; some articles are paywalled)."""
from __future__ import annotations

import re

from scrapers.profiles import Profile, register

LEXISVEILLE = register(Profile(
    name="lexisveille",
    hosts=("lexisveille.fr",),
    article_xpath="//article[contains(concat(' ', normalize-space(@class), ' '), ' article-detail ')]",
    drop_xpaths=(
        # "Offert" / "Abonnés" badges: access labels, not text.
        ".//*[contains(concat(' ', normalize-space(@class), ' '), ' badge ')]",
        ".//*[contains(@class, 'article-detail__actions')]",
    ),
    label_lines=(r"offert", r"abonn[ée]s?", r"r[ée]serv[ée] aux abonn[ée]s"),
    article_path=re.compile(r"^/[^/?#]+-\d+(?:\.html)?$|^/(?:actualites|veille)/[^?#]+$"),
    tracking_params=("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "xtor"),
))
