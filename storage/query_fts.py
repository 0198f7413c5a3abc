"""A parsed query's tree, and its translation into an FTS5 MATCH expression.

`storage.query` parses the text into these nodes (`Term`, `Near`, `And`, `Or`, `Field`);
`_compile` writes the expression the archive's search and the alert rules' matcher run: each
word with its singular/plural forms (`word_forms`) and its ligatures written both ways
(`ligature_variants`), NEAR groups expanded into phrases, exclusions flat.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import product

_MAX_NEAR_COMBINATIONS = 64


# ---------------------------------------------------------------------------- the tree ---


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]  # folded tokens; several = a phrase
    prefix: bool = False
    phrase: bool = False  # written in quotes: no plural expansion


@dataclass(frozen=True)
class Near:
    terms: tuple[Term, ...]
    distance: int


@dataclass(frozen=True)
class And:
    include: tuple[Node, ...]
    exclude: tuple[Node, ...] = ()


@dataclass(frozen=True)
class Or:
    options: tuple[Node, ...]


@dataclass(frozen=True)
class Field:
    """`title:…`: the node matched in one column of the index."""

    column: str
    node: Node


# A parsed query: a tree of these.
Node = Term | Near | And | Or | Field


# ------------------------------------------------------------------------------ compiling ---

# Singular words ending in -s/-x whose "singular" would be another word (mois → moi).
_INVARIABLE = frozenset(
    """
pays fois mois temps corps bras prix voix choix croix paix noix poids avis acces succes proces
progres repas discours secours recours cours concours parcours ours dos gros bas pas tres apres
depuis plus moins sous sans dans vers alors lors ailleurs toujours jamais parfois hors tous
refus abus virus bus campus consensus news series species
""".split()
)


def word_forms(word: str) -> list[str]:
    """The word and its singular/plural forms (folded), most likely first.

    French: -s/-x plurals, -al/-ail → -aux, -eau/-eu/-au → -x; English: -ies ↔ -y.
    Words of three letters or fewer, and digits, are left alone.
    """
    forms = [word]
    if len(word) <= 3 or not word.isalpha() or word in _INVARIABLE:
        return forms

    def add(*candidates):
        for c in candidates:
            if len(c) >= 3 and c not in forms:
                forms.append(c)

    if word.endswith("aux"):
        add(word[:-3] + "al", word[:-3] + "ail", word[:-1])  # journaux, travaux; tuyaux → tuyau
    elif word.endswith(("eaux", "eux", "oux")):
        add(word[:-1])
    elif word.endswith("ies") and len(word) > 4:
        add(word[:-3] + "y", word[:-1])
    elif word.endswith(("s", "x", "z")):
        if word.endswith("s") and not word.endswith("ss"):
            add(word[:-1])
    else:
        if word.endswith("al"):
            add(word[:-2] + "aux", word + "s")
        elif word.endswith("ail"):
            add(word + "s", word[:-3] + "aux")
        elif word.endswith(("eau", "au", "eu")):
            add(word + "x", word + "s")
        elif word.endswith("y") and word[-2] not in "aeiou":
            add(word + "s", word[:-1] + "ies")
        else:
            add(word + "s")
    return forms


def _quote(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def _phrase(term: Term) -> str:
    text = _quote(" ".join(term.words))
    return text + " *" if term.prefix else text


# The French ligatures are letters of their own for the FTS tokenizer (no Unicode
# decomposition turns œ into oe), and French keyboards rarely type them: a query word is
# matched written both ways (`oeuvre` <-> `œuvre`, `coeur`, `soeur`, `Oedipe`, `ex aequo`).
# Done on the query side, so the stored index (and every archive already built) stays as it is.
_LIGATURES = {"oe": "œ", "ae": "æ"}
_SPELLED_OUT = str.maketrans({"œ": "oe", "æ": "ae"})
_LIGATURE_PAIR = re.compile("|".join(_LIGATURES))
_MAX_LIGATURE_VARIANTS = 8
_MAX_PHRASE_VARIANTS = 16


def ligature_variants(word: str) -> list[str]:
    """`word` (folded) with each oe/œ and ae/æ written both ways; the word itself first."""
    spelled = word.translate(_SPELLED_OUT)
    spots = [m for m in _LIGATURE_PAIR.finditer(spelled)]
    variants = [word]
    for chosen in product((False, True), repeat=min(len(spots), 3)):
        out, last = [], 0
        for m, ligature in zip(spots, chosen, strict=False):
            out += [spelled[last : m.start()], _LIGATURES[m.group()] if ligature else m.group()]
            last = m.end()
        variant = "".join(out) + spelled[last:]
        if variant not in variants:
            variants.append(variant)
        if len(variants) >= _MAX_LIGATURE_VARIANTS:
            break
    return variants


def _term_options(term: Term) -> list[str]:
    if term.phrase or term.prefix or len(term.words) > 1:
        options = []
        for words in product(*(ligature_variants(w) for w in term.words)):
            options.append(_phrase(Term(words, phrase=term.phrase, prefix=term.prefix)))
            if len(options) >= _MAX_PHRASE_VARIANTS:
                break
        return options
    return list(
        dict.fromkeys(_quote(variant) for form in word_forms(term.words[0]) for variant in ligature_variants(form))
    )


def _compile(node) -> str:
    if isinstance(node, Term):
        options = _term_options(node)
        return options[0] if len(options) == 1 else "(" + " OR ".join(options) + ")"
    if isinstance(node, Or):
        return "(" + " OR ".join(_compile(o) for o in node.options) + ")"
    if isinstance(node, And):
        text = " AND ".join(_compile(n) for n in node.include)
        if len(node.include) > 1:
            text = "(" + text + ")"
        if node.exclude:
            # One NOT whatever their number: nesting them would deepen FTS5's parser stack.
            text = f"({text} NOT ({' OR '.join(_compile(n) for n in node.exclude)}))"
        return text
    if isinstance(node, Field):
        return f"{node.column} : ({_compile(node.node)})"
    if isinstance(node, Near):
        # FTS5 NEAR takes phrases only: expand word forms into alternative NEAR groups.
        choices = [_term_options(t) for t in node.terms]
        groups = []
        for combo in product(*choices):
            groups.append(f"NEAR({' '.join(combo)}, {node.distance})")
            if len(groups) >= _MAX_NEAR_COMBINATIONS:
                break
        return groups[0] if len(groups) == 1 else "(" + " OR ".join(groups) + ")"
    raise TypeError(node)
