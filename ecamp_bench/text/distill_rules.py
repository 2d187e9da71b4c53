"""The offline, deterministic ``rules`` context backend: lexicon + sentence splitting + negation/uncertainty.

For every entity mention the report's sentence is searched for negation cues ("no", "without", "free of",
"negative for", "clear of", "resolved", ...) and uncertainty cues ("may", "possible", "cannot exclude",
"questionable", "suggest", ...), and the mention's clause for laterality, zone and severity words. Mentions
are rendered as short sentences, e.g.::

    Entity context: consolidation present in the right lower lobe, moderate. Pleural effusion absent.
    Pneumothorax uncertain.

A negation or uncertainty cue reaches forward over a list of entities ("no effusion, pneumothorax or
consolidation") until a scope breaker ("but", "however", "which", ";", a new "there is") or an entity clause
with its own severity ("no pneumothorax and a small effusion"). Post-cues ("has resolved", "cannot be
excluded", "is possible") reach back to the start of their clause.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ecamp_bench.text.entities import ENTITY_LEXICON, find_entities

_UNCERTAIN_PRE = re.compile(
    r"\b(may|might|could|possible|possibly|probable|probably|likely|questionable|question of|suspicious for|"
    r"suspected|suspect|concerning for|concern for|cannot exclude|can not exclude|cannot rule out|"
    r"not ruled out|suggest|suggests|suggestive of|suggesting|differential|versus|vs|equivocal|"
    r"indeterminate|borderline)\b"
)
_UNCERTAIN_POST = re.compile(
    r"\b((is|are) (possible|suspected|questioned|not excluded|likely)|(cannot|can not|can't) be "
    r"(excluded|ruled out)|not (entirely )?excluded|is a consideration)\b"
)
_NEGATION_PRE = re.compile(
    r"\b(no|without|free of|negative for|clear of|absence of|not|nor|resolved|resolution of|removal of)\b"
)
_NEGATION_POST = re.compile(
    r"\b((has|have) (resolved|cleared|been removed)|resolved|(is|are) (absent|no longer (seen|present|visible))|"
    r"no longer (seen|present|visible|evident)|not (seen|identified|appreciated|visualized|present)|excluded)\b"
)
_BREAKER = re.compile(
    r"\b(but|however|although|though|except|which|while|whereas|aside from|apart from|there (is|are))\b|;"
)
_CLAUSE = re.compile(r",|;|\b(and|with|or|but|which|while|although|however)\b")
_SEVERITY = re.compile(
    r"\b(mild to moderate|moderate to large|moderate to severe|small to moderate|tiny|trace|minimal|small|mild|"
    r"moderate|large|severe|extensive|marked|massive|mildly|moderately|severely|markedly)\b"
)
_ADVERB = {"mildly": "mild", "moderately": "moderate", "severely": "severe", "markedly": "marked"}
_SIDE = re.compile(r"\b(left|right|bilateral|bilaterally|both|bibasilar|bibasal)\b")
_ZONE = re.compile(r"\b(upper|middle|mid|lower|lingula|lingular|base|bases|basal|basilar|bibasilar|apex|apices|"
                   r"apical)\b")
_QUALIFIERS = frozenset(
    "pleural pulmonary interstitial airspace alveolar vascular mediastinal hiatal rib aortic venous central "
    "pericardial cardiomediastinal hilar perihilar".split()
)
_NORMAL = re.compile(r"\b(normal|unremarkable|within normal limits|preserved|stable|unchanged)\b")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class Mention:
    """One entity mention with its reading."""

    name: str
    status: str  # "present" | "absent" | "uncertain" | "normal"
    location: str
    severity: str

    def render(self) -> str:
        """The mention as a short sentence without the final "."."""
        text = f"{self.name} {self.status}"
        if self.location:
            text += f" {self.location}"
        if self.severity and self.status in ("present", "uncertain"):
            text += f", {self.severity}"
        return text


def _spans(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text)]


def _clause_bounds(sentence: str, start: int, end: int) -> tuple[int, int]:
    """The clause (between clause separators) that holds the span start..end."""
    cuts = [m for m in _CLAUSE.finditer(sentence)]
    left = max((m.end() for m in cuts if m.end() <= start), default=0)
    right = min((m.start() for m in cuts if m.start() >= end), default=len(sentence))
    return left, right


def _location(clause: str) -> str:
    sides = {m.group(1) for m in _SIDE.finditer(clause)}
    zones = {m.group(1) for m in _ZONE.finditer(clause)}
    bilateral = bool(sides & {"bilateral", "bilaterally", "both", "bibasilar", "bibasal"}) or {"left", "right"} <= sides
    side = "bilateral" if bilateral else next((s for s in ("left", "right") if s in sides), "")
    zone = next((z for z in ("upper", "middle", "lower") if z in zones), "mid" if "mid" in zones else "")
    if "lobe" in clause or "lobes" in clause:
        lobe = "lobes" if bilateral else "lobe"
        side_word = "both" if bilateral else side
        return " ".join(w for w in ("in the" if not bilateral else "in", side_word, zone, lobe) if w)
    if zones & {"lingula", "lingular"}:
        return "in the lingula"
    if zones & {"base", "bases", "basal", "basilar", "bibasilar"} or "bibasilar" in sides or "bibasal" in sides:
        return "at both bases" if bilateral else f"at the {side} base".replace("  ", " ")
    if zones & {"apex", "apices", "apical"}:
        return "at both apices" if bilateral else f"at the {side} apex".replace("  ", " ")
    if zone:
        return f"in {'both' if bilateral else 'the ' + side} {zone} {'lungs' if bilateral else 'lung'}".replace(
            "the  ", "the "
        )
    if side:
        return "bilaterally" if bilateral else f"on the {side}"
    return ""


def _name(sentence: str, start: int, word: str) -> str:
    before = sentence[:start].split()[-2:]
    qualifiers = []
    for token in reversed(before):
        token = token.strip(",;:()")
        if token not in _QUALIFIERS:
            break
        qualifiers.insert(0, token)
    return " ".join([*qualifiers, word])


def _forward_scope(sentence: str, cues: list[tuple[int, int]], start: int, clause: tuple[int, int]) -> bool:
    """True if a cue before ``start`` reaches the mention (no breaker, no own severity in between)."""
    own_severity = _SEVERITY.search(sentence[clause[0] : start]) is not None
    for _, cue_end in cues:
        if cue_end <= start and not _BREAKER.search(sentence[cue_end:start]):
            if cue_end >= clause[0] or not own_severity:
                return True
    return False


def _backward_scope(sentence: str, cues: list[tuple[int, int]], end: int) -> bool:
    """True if a post-cue after ``end`` reaches back to the mention without a breaker in between."""
    return any(cue_start >= end and not _BREAKER.search(sentence[end:cue_start]) for cue_start, _ in cues)


def _overlaps(span: tuple[int, int], others: list[tuple[int, int]]) -> bool:
    return any(span[0] < b and a < span[1] for a, b in others)


def read_sentence(sentence: str, lexicon: Sequence[str] = ENTITY_LEXICON) -> list[Mention]:
    """The entity mentions of one sentence with status, location and severity."""
    text = sentence.lower()
    uncertain_pre, uncertain_post = _spans(_UNCERTAIN_PRE, text), _spans(_UNCERTAIN_POST, text)
    uncertain_all = uncertain_pre + uncertain_post
    negation_pre = [s for s in _spans(_NEGATION_PRE, text) if not _overlaps(s, uncertain_all)]
    negation_post = [s for s in _spans(_NEGATION_POST, text) if not _overlaps(s, uncertain_all)]
    mentions = []
    matches = find_entities(text, lexicon, allow_plural=True)
    for match, following in zip(matches, [*matches[1:], None], strict=False):
        if following is not None and not text[match.end : following.start].strip():
            continue  # "cardiomediastinal silhouette": read once, as the name of the following entity
        clause = _clause_bounds(text, match.start, match.end)
        clause_text = text[clause[0] : clause[1]]
        if _forward_scope(text, negation_pre, match.start, clause) or _backward_scope(text, negation_post, match.end):
            status = "absent"
        elif _forward_scope(text, uncertain_pre, match.start, clause) or _backward_scope(
            text, uncertain_post, match.end
        ):
            status = "uncertain"
        elif _NORMAL.search(clause_text):
            status = "normal"
        else:
            status = "present"
        severity = _SEVERITY.search(clause_text)
        mentions.append(
            Mention(
                name=_name(text, match.start, match.word),
                status=status,
                location=_location(clause_text),
                severity=_ADVERB.get(severity.group(1), severity.group(1)) if severity else "",
            )
        )
    return mentions


def rules_context(report: str, lexicon: Sequence[str] = ENTITY_LEXICON) -> str:
    """The entity-centred context of ``report``: one short sentence per distinct entity reading."""
    phrases: list[str] = []
    for sentence in _SENTENCE.split(report):
        for mention in read_sentence(sentence, lexicon):
            phrase = mention.render()
            if phrase not in phrases:
                phrases.append(phrase)
    if not phrases:
        return "Entity context: no listed entity mentioned."
    rest = "".join(f" {p[0].upper()}{p[1:]}." for p in phrases[1:])
    return f"Entity context: {phrases[0]}.{rest}"


class RulesBackend:
    """Deterministic, offline context distillation (the default backend)."""

    name = "rules-v1"

    def __init__(self, lexicon: Sequence[str] = ENTITY_LEXICON):
        self.lexicon = tuple(lexicon)

    def distill(self, reports: list[str], study_ids: list[str] | None = None) -> list[str]:
        """One context per report (``study_ids`` is ignored)."""
        return [rules_context(r, self.lexicon) for r in reports]
