"""Press-contact blocks: found, taken out of the article body, parsed into `Contact`s.

IOM releases end with "Pour plus d'informations, veuillez contacter" / "For more information
please contact" followed by name, office, phone and e-mail lines; older releases put it all
inline ("For further information, please contact X at IOM Geneva, Tel: …, Email: …").
Saved pages often carry the remnant of a mangled anchor, `"mailto:x@iom.int">x@iom.int`,
which `repair_mailto` turns back into the address.
"""

from __future__ import annotations

import re

from core.article import Contact

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# 7 to 16 digits, with the separators people write between them: "+52 (1) 962 12 25 469",
# "+41.22.717.9486", "055-536-3922". Years and counts have fewer digits.
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d[\d ().\-/]{5,}\d(?![\w@])")
_PHONE_DIGITS = (7, 16)

# A bare `mailto:` glued to the word before it ("Etats-UnisMAILTO:…") is part of that word,
# not an anchor's remnant: without a quote or the anchor before it, it starts a word.
_MAILTO_REMNANT = re.compile(
    r"""(?:<a\b[^>]*?\bhref\s*=\s*)?(?:["']|(?<!\w))mailto:(?P<href>[^"'\s<>]+)["']?"""
    r"""(?:\s*>\s*(?P<text>[^<\s]*)(?:\s*</a\s*>)?)?""",
    re.I,
)

_INTRO_PHRASE = (
    r"(?:pour\s+(?:de\s+)?plus\s+(?:d['’]\s*)?(?:amples\s+)?informations?"
    r"|pour\s+toutes?\s+(?:informations?|questions?|demandes?)(?:\s+(?:complémentaires|presse))?"
    r"|for\s+(?:more|further|additional)\s+(?:information|details)"
    r"|for\s+(?:media|press)\s+(?:enquiries|inquiries|information)"
    r"|para\s+(?:más|mayor)\s+información)"
)
# The phrase must lead to a contact ("… please contact", "…:" or nothing after it), so that
# "For more information, please visit our website" stays in the body.
_INTRO = re.compile(
    _INTRO_PHRASE + r"\s*[,:]?\s*(?:(?:please|kindly|veuillez|merci\s+de|n['’]hésitez\s+pas\s+à|por\s+favor)\s+)?"
    r"(?:(?:contacter|contactez|contact|contacte|contactar)\b(?:\s+a\b)?\s*:?|:\s*|\s*$)",
    re.I,
)
_CONTACT_HEADING = re.compile(
    r"^(?:contacts?\s+(?:presse|médias?|media)|(?:press|media)\s+contacts?|contacts?)\s*:?\s*$", re.I
)
# The lookahead on the words' initials lets the engine skip other letters: half the time.
_INTRO_CUE = re.compile(
    r"(?=[idqec])(?:informations?|información|details|enquiries|inquiries|questions?|demandes?|contact)", re.I
)
_SENTENCE_END_BEFORE = re.compile(r"(?:^|[.!?…:)»”\"]\s*)$")

_FIELD_LABEL = re.compile(
    r"\b(?:t[ée]l[ée]phone|t[ée]l|phone|mobile|mob|portable|cell|fax|e-?mail|courriel|mail)\b\s*[.:]?",
    re.I,
)
_SEPARATOR_LINE = re.compile(r"^(?:ou|or|et|and|/|-)$", re.I)
# "Courriel : a@iom.int ou" (the next line's "ou" joined to it): the person ends there.
_TRAILING_SEPARATOR = re.compile(r"\s+(?:ou|or)$", re.I)
# Between two people on one line: "… Email: a@iom.int or Jean …", "…; Marie …".
_PEOPLE_SEPARATOR = re.compile(r"\s*(?:;|\b(?:ou|or|and|et)\b)\s*(?=[A-ZÀ-Ý+(])")
_NAME_SPLIT = re.compile(r"\s*(?:,|\s+at\s+|\s+à\s+|\s+[-–—|]\s+|\(|\))\s*")
# "Jeremy MacGillivray OIM Mexique" (a flattened <br>): the office starts at the acronym.
_ACRONYM_START = re.compile(r"\s(?=[A-Z]{2,}\b)")
_TRIM = " \t.,;:-–—|/"
_MAX_CONTACT_LINE_WORDS = 8
# Longer than this after the intro phrase, it is running text that mentions contacting
# someone, not a contact section.
_MAX_CONTACT_TEXT = 600


def repair_mailto(text: str) -> str:
    """Replace mangled anchor remnants (`"mailto:x@y">x@y`, `<a href="mailto:x@y">x@y</a>`,
    a bare `mailto:x@y`) by the address itself."""
    if "mailto:" not in text.lower():
        return text
    return _MAILTO_REMNANT.sub(_mailto_address, text)


def _mailto_address(match: re.Match) -> str:
    shown = match["text"] or ""
    address = shown if "@" in shown else match["href"]
    # The anchor separated the address from the text around it: keep them apart.
    before = match.string[match.start() - 1] if match.start() else " "
    after = match.string[match.end()] if match.end() < len(match.string) else " "
    return ("" if before.isspace() else " ") + address + (" " if after.isalnum() else "")


def find_phones(text: str) -> list[str]:
    phones = []
    for match in _PHONE.finditer(text):
        digits = sum(c.isdigit() for c in match.group(0))
        if _PHONE_DIGITS[0] <= digits <= _PHONE_DIGITS[1]:
            phones.append(" ".join(match.group(0).split()))
    return phones


def extract_contacts(blocks: list[str]) -> tuple[list[str], list[Contact]]:
    """Split blocks into (body blocks, press contacts).

    A contact section starts at an intro phrase (at a block start or after a sentence end,
    so that the older inline form inside a paragraph is found too) or a "Press contacts"
    heading, and runs over the following contact-like lines (names, offices, phones,
    e-mails, "or"). Everything else stays in the body, in order.
    """
    kept: list[str] = []
    contacts: list[Contact] = []
    i = 0
    while i < len(blocks):
        block = blocks[i]
        start, end = _contact_intro(block)
        if start is None:
            kept.append(block)
            i += 1
            continue
        before = block[:start].strip()
        if before:
            kept.append(before)
        lines = [block[end:]]
        i += 1
        while i < len(blocks) and _is_contact_line(blocks[i]):
            lines.append(blocks[i])
            i += 1
        contacts.extend(parse_contacts(lines))
    return kept, contacts


def parse_contacts(lines: list[str]) -> list[Contact]:
    """Contacts from the lines of a contact section.

    A plain-text line is a name, then the office of that name; phones and e-mails attach
    to the current person; a new name after phones/e-mails, or an "or"/"ou" line, starts
    the next person.
    """
    contacts: list[Contact] = []
    current: Contact | None = None
    for line in lines:
        for part in _PEOPLE_SEPARATOR.split(repair_mailto(line).strip()):
            part = part.strip()
            if not part:
                continue
            if _SEPARATOR_LINE.match(part):
                current = None
                continue
            ends_person = bool(_TRAILING_SEPARATOR.search(part))
            if ends_person:
                part = _TRAILING_SEPARATOR.sub("", part)
            emails = EMAIL.findall(part)
            phones = find_phones(part)
            names = _name_chunks(part, emails, phones)
            if names:
                if current is None or current.emails or current.phones:
                    current = Contact()
                    contacts.append(current)
                for chunk in names:
                    if current.name is None:
                        current.name = chunk
                    elif current.organisation is None:
                        current.organisation = chunk
            if emails or phones:
                if current is None:
                    current = Contact()
                    contacts.append(current)
                current.emails.extend(e for e in emails if e not in current.emails)
                current.phones.extend(p for p in phones if p not in current.phones)
            if ends_person:
                current = None
    return [c for c in contacts if c.name or c.emails or c.phones]


def _contact_intro(block: str) -> tuple[int | None, int]:
    if not _INTRO_CUE.search(block):
        return None, 0  # every intro phrase and heading holds one of these: most blocks hold none
    if _CONTACT_HEADING.match(block):
        return 0, len(block)
    for match in _INTRO.finditer(block):
        if len(block) - match.end() > _MAX_CONTACT_TEXT:
            continue
        if _SENTENCE_END_BEFORE.search(block[: match.start()]):
            return match.start(), match.end()
    return None, 0


def _is_contact_line(block: str) -> bool:
    line = block.strip()
    if len(line) > _MAX_CONTACT_TEXT:
        return False
    if not line or _SEPARATOR_LINE.match(line):
        return True
    words = line.split()
    if EMAIL.search(line) or find_phones(line):
        return len(words) <= 40
    return len(words) <= _MAX_CONTACT_LINE_WORDS and not line.endswith((".", "!", "?", "…"))


def _name_chunks(part: str, emails: list[str], phones: list[str]) -> list[str]:
    rest = part
    for value in emails + phones:
        rest = rest.replace(value, " ")
    rest = _PHONE.sub(" ", rest)  # phones written with odd spacing that find_phones re-spaced
    rest = _FIELD_LABEL.sub(" ", rest)
    chunks = []
    for chunk in _NAME_SPLIT.split(rest):
        chunk = " ".join(chunk.split()).strip(_TRIM)
        if any(c.isalpha() for c in chunk) and len(chunk) <= 80:
            chunks.extend(_split_office(chunk))
    return chunks


def _split_office(chunk: str) -> list[str]:
    parts = _ACRONYM_START.split(chunk, maxsplit=1)
    if len(parts) == 2 and len(parts[0].split()) >= 2:
        return [parts[0].strip(), parts[1].strip()]
    return [chunk]
