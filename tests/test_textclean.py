"""The text rules, one by one, on small inputs (whole pages are in test_clean_pages.py)."""

from __future__ import annotations

from core.article import PageMetadata
from scrapers.profiles import GENERIC, Profile, get_profile
from scrapers.textclean import clean_blocks, normalise_space, text_to_blocks

PROSE = [
    "Le premier paragraphe raconte une rencontre entre deux délégations sur la migration régulière.",
    "Le second paragraphe donne des chiffres : 150 000 migrants franchissent la frontière chaque année.",
    "Le troisième paragraphe cite un responsable qui appelle à renforcer la coopération régionale.",
]
TITLE = "Deux pays renforcent leur coopération sur la migration régulière"


def clean(blocks, meta=None, profile=GENERIC):
    return clean_blocks(blocks, meta=meta or PageMetadata(), profile=profile, url=None)


# --- text_to_blocks -------------------------------------------------------------------


def test_blank_lines_separate_blocks_and_nbsp_runs_collapse():
    assert text_to_blocks("Un\u00a0\u00a0titre\n\n\u00a0\nUn  texte.\u00a0 \n") == ["Un titre", "Un texte."]


def test_hard_wrapped_paragraph_is_joined():
    text = (
        "Une mission conjointe de l’OIM au\n"
        "Burkina Faso et de la Direction nationale des migrations\n"
        "(DNM) sur l’accueil des déplacés dans la région du Sahel\n"
        "s’est achevée hier par une\n"
        "visite à Dori.\u00a0\n\n"
        "Second paragraphe."
    )
    assert text_to_blocks(text) == [
        "Une mission conjointe de l’OIM au Burkina Faso et de la Direction nationale des migrations (DNM) "
        "sur l’accueil des déplacés dans la région du Sahel s’est achevée hier par une visite à Dori.",
        "Second paragraphe.",
    ]


def test_one_paragraph_per_line_without_blank_lines_stays_apart():
    text = "Un titre sans point final\n" + "\n".join(PROSE) + "\nFatimé Abakar\nOIM Tchad\nEmail: f@iom.int"
    assert text_to_blocks(text) == [
        "Un titre sans point final",
        *PROSE,
        "Fatimé Abakar",
        "OIM Tchad",
        "Email: f@iom.int",
    ]


def test_a_lowercase_continuation_line_is_a_wrap():
    assert text_to_blocks("Pour plus d’informations, veuillez\ncontacter\u00a0\u00a0") == [
        "Pour plus d’informations, veuillez contacter"
    ]


def test_a_headline_followed_by_its_date_line_is_not_joined():
    assert text_to_blocks(
        "APRNEWS- Un titre assez long pour ressembler à une ligne coupée\nVendredi, 29 décembre 2023"
    ) == [
        "APRNEWS- Un titre assez long pour ressembler à une ligne coupée",
        "Vendredi, 29 décembre 2023",
    ]


def test_a_word_hyphenated_across_lines_is_rejoined_keeping_the_hyphen():
    assert text_to_blocks("les Sud-\nAméricains arrivent") == ["les Sud-Américains arrivent"]


def test_list_items_are_never_joined():
    assert text_to_blocks("- Structure organisationnelle\n- directrice générale") == [
        "- Structure organisationnelle",
        "- directrice générale",
    ]


def test_crlf_and_invisible_characters():
    assert text_to_blocks("mi\u00adgrants\u200b ici\r\n\r\nfin") == ["migrants ici", "fin"]
    assert normalise_space("\ufeff  e\u0301t\u00e9\t ") == "été"


# --- clean_blocks ---------------------------------------------------------------------


def test_labels_before_the_title_are_neither_title_nor_body():
    article = clean(["News", "Global", TITLE, *PROSE])
    assert article.title == TITLE
    assert article.paragraphs == PROSE


def test_a_region_label_under_the_page_kind_is_not_the_title():
    for region in ("Afrique de l’Ouest et du Centre", "East and Horn of Africa"):
        article = clean(["Communiqué", region, TITLE, *PROSE])
        assert (article.title, article.paragraphs) == (TITLE, PROSE)


def test_a_subheading_under_the_title_stays_in_the_body():
    subheading = "Un programme de trois ans pour les communes frontalières du nord du pays"
    article = clean([TITLE, subheading, *PROSE])
    assert (article.title, article.paragraphs) == (TITLE, [subheading, *PROSE])


def test_profile_label_lines_are_dropped_anywhere():
    profile = Profile(name="site", label_lines=(r"(?i)à la une",))
    article = clean([TITLE, PROSE[0], "À la une", *PROSE[1:]], profile=profile)
    assert article.paragraphs == PROSE


def test_iom_profile_labels():
    article = clean(["Communiqué", "Global", TITLE, *PROSE], profile=get_profile("iom"))
    assert (article.title, article.paragraphs, article.profile) == (TITLE, PROSE, "iom")


def test_mega_menu_before_the_title_is_dropped():
    menu = [
        "-",
        "Qui sommes nous",
        "Qui sommes nousL'Organisation fait partie du système des Nations Unies et promeut une migration humaine.",
        "Structure",
        "Structure",
        "- Structure organisationnelle",
        "- Bureau du Chef de Cabinet",
        "Ce que nous faisons",
        "Ce que nous faisons",
        "Travailler avec nous",
        "- 2030 AGENDA",
    ]
    article = clean([*menu, TITLE, *PROSE])
    assert article.title == TITLE
    assert article.paragraphs == PROSE


def test_icon_sprite_names_and_paywall_badge_are_dropped():
    sprite = (
        "accordion-iconalert-iconarrow-leftarrowarticleShowedbacktotopCreated with Sketch. "
        "bookmarkcall-iconcheckchecked-iconclockclose-grclose feedMark__icon--radiofeedMark__icon--star"
    )
    article = clean([sprite, "Réservé aux abonnés", TITLE, *PROSE])
    assert article.title == TITLE
    assert article.paragraphs == PROSE


def test_navigation_lines_and_breadcrumbs_are_dropped():
    article = clean(["Vous êtes ici", "Accueil › Actualités › Migration", TITLE, *PROSE, "Retour en haut de page"])
    assert article.paragraphs == PROSE


def test_action_links_and_consent_buttons_are_dropped():
    article = clean(["Accepter", TITLE, "Lire plus tard", *PROSE, "Version imprimable", "Partager", "Tweeter"])
    assert (article.title, article.paragraphs) == (TITLE, PROSE)


def test_agency_token_leading_the_headline_and_paragraphs_is_stripped():
    article = clean([f"AFP : {TITLE}", f"AFP- {TITLE}", f"AFP - {PROSE[0]}", *PROSE[1:]])
    assert article.title == TITLE
    assert article.paragraphs == PROSE


def test_place_dateline_stays():
    first = "GENÈVE - " + PROSE[0]
    article = clean([TITLE, first, *PROSE[1:]])
    assert article.paragraphs[0] == first
    first = "GENEVA – " + PROSE[0]
    assert clean([TITLE, first, *PROSE[1:]]).paragraphs[0] == first


def test_date_line_gives_the_date_and_leaves_the_body():
    article = clean([TITLE, "Publié le 29/12/2023 à 10h30", *PROSE])
    assert article.date == "2023-12-29"
    assert article.paragraphs == PROSE


def test_metadata_date_wins_over_a_date_line():
    assert clean([TITLE, "29 décembre 2023", *PROSE], meta=PageMetadata(date="2023-12-28")).date == "2023-12-28"


def test_a_date_inside_a_sentence_is_not_the_page_date():
    article = clean(
        [TITLE, "Le 24 novembre 2021, une embarcation a fait naufrage dans la Manche, selon la préfecture.", *PROSE]
    )
    assert article.date is None
    assert len(article.paragraphs) == 4


def test_metadata_title_with_site_suffix_finds_the_heading_block():
    article = clean(["Menu", TITLE, *PROSE], meta=PageMetadata(title=f"{TITLE} | Site d'information"))
    assert article.title == TITLE
    assert article.paragraphs == PROSE


def test_metadata_title_is_used_when_the_page_shows_none():
    article = clean(PROSE, meta=PageMetadata(title=f"{TITLE} | OIM"))
    assert article.title == TITLE
    assert article.paragraphs == PROSE


def test_title_repeated_as_first_paragraph_is_dropped():
    assert clean([TITLE, TITLE.upper(), *PROSE]).paragraphs == PROSE


def test_html_block_with_line_breaks_is_split_for_contacts():
    article = clean(
        [TITLE, *PROSE, "Pour plus d’informations, veuillez contacter", "Jean Dupont\nOIM Mexique\nEmail: jd@iom.int"]
    )
    assert article.paragraphs == PROSE
    assert [(c.name, c.organisation, c.emails) for c in article.contacts] == [
        ("Jean Dupont", "OIM Mexique", ["jd@iom.int"])
    ]


def test_menus_only_is_not_an_article():
    article = clean(["Accueil", "Qui sommes nous", "Notre travail", "Partenariats", "Agir"])
    assert article.is_article is False
    assert article.reason


def test_too_little_running_text_is_not_an_article():
    article = clean([TITLE, "Une seule phrase courte ici."])
    assert article.is_article is False
    assert "words" in article.reason


def test_listing_page_is_not_an_article():
    items = []
    for n in range(8):
        items += [f"Titre numéro {n} d'une actualité sur les migrations", f"{n + 1} décembre 2023"]
    article = clean(["Actualités", *items])
    assert article.is_article is False
    assert "listing" in article.reason


def test_nothing_left_is_not_an_article():
    article = clean(["-", "Back to top", "Offert"])
    assert (article.is_article, article.paragraphs) == (False, [])


def test_language_from_metadata_or_stop_words():
    assert clean([TITLE, *PROSE], meta=PageMetadata(language="en-GB")).language == "en"
    assert clean([TITLE, *PROSE]).language == "fr"
    english = [
        "The two countries agreed to strengthen their cooperation on the root causes of migration.",
        "The ministry said that the delegations will meet again in January in the capital.",
    ]
    assert clean(["Countries agree to work together on migration", *english]).language == "en"
    assert clean(["12345 67890"]).language is None
