"""The ECAMP entity lexicon and whole-word entity search in report text.

The 44 words come from the reference implementation (docs/method.md, "Text side"). They drive the entity-aware
masking of the MLM input and the rule-based context distillation. Every function takes the lexicon as an
argument so users can swap in their own word list.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

ENTITY_LEXICON: tuple[str, ...] = (
    "abnormality", "abscess", "aerate", "aorta", "atelectasis", "bronchiectasis", "calcification",
    "cardiomediastinal", "cardiomegaly", "catheter", "chf", "collapse", "congestion", "consolidation",
    "contour", "copd", "deformity", "dilation", "distention", "edema", "effusion", "embolism", "emphysema",
    "engorgement", "fibrosis", "fracture", "granuloma", "hernia", "hilar", "hyperinflate", "hemidiaphragm",
    "infiltrate", "mass", "nodule", "obscure", "opacity", "perihilar", "pneumonia", "pneumothorax",
    "sarcoidosis", "silhouette", "thickening", "tuberculosis", "vasculature",
)

#: Lexicon words the reference code never matches (upper-case "COPD" against lower-cased text; "aerate" and
#: "hyperinflate" are not whole words of its vocabulary). ``masking: reference`` drops them.
REFERENCE_UNMATCHED: frozenset[str] = frozenset({"copd", "aerate", "hyperinflate"})


class EntityMatch(NamedTuple):
    """One entity found in a text: the lexicon word it matched and its character span."""

    word: str
    start: int
    end: int


@lru_cache(maxsize=32)
def _pattern(lexicon: tuple[str, ...], allow_plural: bool) -> re.Pattern[str]:
    words = sorted({w.lower() for w in lexicon}, key=len, reverse=True)
    suffix = r"(?:e?s)?" if allow_plural else ""
    alternatives = "|".join(re.escape(w) for w in words)
    return re.compile(rf"\b({alternatives}){suffix}\b", re.IGNORECASE)


def find_entities(
    text: str, lexicon: Sequence[str] = ENTITY_LEXICON, *, allow_plural: bool = False
) -> list[EntityMatch]:
    """All whole-word, case-insensitive occurrences of lexicon words in ``text``, in text order.

    With ``allow_plural`` a trailing "s"/"es" is accepted ("effusions" matches "effusion"); the match
    span then covers the plural form while ``word`` is the lexicon entry.
    """
    if not lexicon:
        return []
    pattern = _pattern(tuple(lexicon), allow_plural)
    return [EntityMatch(m.group(1).lower(), m.start(), m.end()) for m in pattern.finditer(text)]
