"""Text in the forms mailbot matches words in, whatever the language.

`normalise` keeps the words but drops case and accents ("Réponse
automatique" and "reponse automatique" match); `compact` drops the
separators too, for the local part of an address ("No.Reply" is "noreply").
"""

from __future__ import annotations

import re
import unicodedata


def normalise(text: str) -> str:
    """Case-folded text without accents, for matching words in any language."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.split())


def compact(text: str) -> str:
    """Text without case, spaces or separators: `No.Reply` gives `noreply`."""
    return re.sub(r"[\s._+=\-\"']", "", text.casefold())
