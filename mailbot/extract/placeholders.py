"""Placeholders: what a site writes where it has no value yet.

"N/A", "-", "unknown", "TBD", "will send later", in the languages the
template's headings know, under a heading or after a label of its own
("Erkannt durch: noch offen"): such an item is no value, so the field stays
missing and the reminder still asks for it.
"""

from __future__ import annotations

import re
from typing import Final

# What a site writes under a heading of the template when it has no value
# yet: "N/A", "-", "unknown", "TBD", "none yet", "nothing so far", "not
# known", "will send later", "pending", in the languages the headings know.
# Such an item is no value: the field stays missing, and the reminder asks
# for it. A bare "none" or "no" stays an answer ("Losses: none"), as does
# "see attached" (the evidence is in the mail).
_NOT_YET: Final = (
    r"(?:[ \t]+(?:yet|so[ \t]+far|for[ \t]+now|at[ \t]+(?:the|this)[ \t]+"
    r"(?:moment|time|point)|until[ \t]+now|currently))"
)
# The same in German, French, Italian, Spanish, Dutch and Polish, as sites
# write them (a breaker's retest: "Erkannt durch: noch offen", "Détecté par :
# à compléter", "aucune pour l'instant" were stored as values). As in
# English, "none" alone ("keine", "aucune", "nessuna", "ninguna", "geen",
# "brak") stays an answer; with "so far" it is none.
_SO_FAR_ELSEWHERE: Final = (
    r"[ \t]+(?:bisher|bis[ \t]+jetzt|momentan|derzeit|pour[ \t]+l['’]instant"
    r"|pour[ \t]+le[ \t]+moment|à[ \t]+ce[ \t]+jour|jusqu['’]à[ \t]+présent"
    r"|per[ \t]+ora|per[ \t]+il[ \t]+momento|finora|al[ \t]+momento"
    r"|por[ \t]+ahora|por[ \t]+el[ \t]+momento|hasta[ \t]+ahora|de[ \t]+momento"
    r"|tot[ \t]+nu[ \t]+toe|voorlopig|op[ \t]+dit[ \t]+moment|na[ \t]+razie"
    r"|do[ \t]+tej[ \t]+pory|jak[ \t]+dotąd)"
)
_NOT_YET_ELSEWHERE: Final = (
    # German
    r"|(?:noch[ \t]+)?(?:offen|ausstehend|unklar|nicht[ \t]+(?:bekannt|geklärt"
    r"|ermittelt|verfügbar))|noch[ \t]+nicht(?:s)?|noch[ \t]+keine?"
    r"|(?:keine?|nichts)" + _SO_FAR_ELSEWHERE + r"|(?:bisher|noch)[ \t]+"
    r"(?:keine?|nichts)"
    r"|(?:in[ \t]+(?:arbeit|bearbeitung|klärung|prüfung)|wird[ \t]+geprüft)"
    r"|(?:folgen|folgt|wird|werden)[ \t]+(?:später|nachgereicht|ergänzt|noch)"
    r"(?:[ \t]+(?:nachgereicht|ergänzt|geliefert))?|noch[ \t]+zu[ \t]+(?:ergänzen"
    r"|klären|ermitteln|bestimmen)|zu[ \t]+ergänzen"
    # French
    r"|à[ \t]+(?:compléter|préciser|confirmer|renseigner|fournir|venir|suivre)"
    r"|(?:aucune?|rien)" + _SO_FAR_ELSEWHERE + r"|pas[ \t]+encore(?:[ \t]+(?:connue?s?"
    r"|déterminée?s?|disponibles?|fait))?|(?:encore[ \t]+)?inconnue?s?"
    r"|non[ \t]+(?:déterminée?s?|disponibles?)|en[ \t]+(?:cours|attente)"
    r"(?:[ \t]+d['’](?:analyse|investigation))?|n\.?[ \t]?c\.?|suivra|plus[ \t]+tard"
    r"|(?:sera|seront)[ \t]+(?:envoyée?s?|fournie?s?|transmise?s?|communiquée?s?)"
    r"(?:[ \t]+plus[ \t]+tard)?"
    # Italian
    r"|da[ \t]+(?:completare|confermare|verificare|fornire|inviare)"
    r"|(?:nessun[oa]?|niente|nulla)" + _SO_FAR_ELSEWHERE + r"|non[ \t]+ancora"
    r"(?:[ \t]+(?:not[oa]|noti|disponibile|definit[oa]))?|ancora[ \t]+(?:nessun[oa]?"
    r"|sconosciut[oa])|in[ \t]+(?:corso|attesa)|(?:non[ \t]+)?disponibile[ \t]+più"
    r"[ \t]+tardi|seguirà|seguiranno|più[ \t]+tardi"
    # Spanish
    r"|por[ \t]+(?:completar|definir|confirmar|aclarar)|pendientes?"
    r"|(?:ningun[oa]?|nada)" + _SO_FAR_ELSEWHERE + r"|(?:todavía|aún)[ \t]+(?:no|nada"
    r"|ningun[oa]|desconocid[oa])|en[ \t]+(?:curso|proceso)|no[ \t]+disponible"
    r"|(?:se[ \t]+)?enviar[áa]n?[ \t]+(?:más[ \t]+tarde|luego)|más[ \t]+tarde"
    # Dutch
    r"|nog[ \t]+(?:open|niet(?:[ \t]+bekend)?|geen|te[ \t]+bepalen)"
    r"|(?:geen|niets)" + _SO_FAR_ELSEWHERE + r"|nader[ \t]+te[ \t]+bepalen|n\.?t\.?b\.?"
    r"|volgt(?:[ \t]+(?:later|nog))?|wordt[ \t]+nagestuurd|in[ \t]+(?:behandeling"
    r"|onderzoek)"
    # Polish
    r"|brak[ \t]+danych|nieznan[yaei]|(?:jeszcze[ \t]+)?nie[ \t]+(?:wiadomo|ustalono"
    r"|znane?)|jeszcze[ \t]+nie|do[ \t]+(?:uzupełnienia|ustalenia|określenia"
    r"|potwierdzenia)|(?:brak|nic)" + _SO_FAR_ELSEWHERE + r"|na[ \t]+razie[ \t]+(?:brak"
    r"|nic)|w[ \t]+(?:toku|trakcie(?:[ \t]+analizy)?)|później|wkrótce"
    r"|(?:zostan(?:ie|ą)[ \t]+)?(?:przesłane|przekazane|uzupełnione)[ \t]+później"
    # Not applicable, as "N/A".
    r"|entfällt|nicht[ \t]+zutreffend|sans[ \t]+objet|non[ \t]+applicabile?"
    r"|no[ \t]+(?:aplica|procede)|n\.?v\.?t\.?|niet[ \t]+van[ \t]+toepassing"
    r"|nie[ \t]+dotyczy"
)
_NON_ANSWER: Final = re.compile(
    r"(?:n/?a|n\.[ \t]?a\.?|not[ \t]+applicable|-+|–|—|\?+|\.{2,}|…|x{3,}"
    r"|(?:still[ \t]+|yet[ \t]+|currently[ \t]+)?(?:unknown|not[ \t]+(?:yet[ \t]+)?"
    r"(?:known|determined|clear|identified|available|confirmed))" + _NOT_YET + r"?"
    r"|unclear|tbd|tba|tbc|t\.b\.d\.?|to[ \t]+be[ \t]+(?:determined|confirmed|defined"
    r"|decided|done|announced|provided|added|completed|clarified|investigated"
    r"|filled(?:[ \t]+in)?|sent|updated)"
    r"|(?:none|nothing|no[ \t]+(?:actions?|information|info|details))"
    r"(?:[ \t]+(?:taken|done|found|known|to[ \t]+report))?"
    + _NOT_YET
    + r"|not[ \t]+yet|pending|in[ \t]+progress|ongoing"
    r"|(?:under|being)[ \t]+investigat(?:ion|ed)|(?:still[ \t]+)?investigating"
    r"|(?:i|we)?[ \t]*(?:will|shall|'ll)[ \t]+(?:be[ \t]+)?(?:send|sent|provided"
    r"|supplied|shared|added|given|follow|update[ds]?|provide|share|add)"
    r"(?:[ \t]+(?:it|them|this|these))?(?:[ \t]+(?:later|soon|shortly|asap))?"
    r"|(?:send|sent|provided|to[ \t]+follow|follows?)[ \t]+(?:later|soon|shortly)"
    r"|to[ \t]+follow|later"
    # German, French, Italian, Spanish, Portuguese, Dutch, Czech, Slovak,
    # Romanian.
    r"|(?:noch[ \t]+)?unbekannt|keine[ \t]+angabe|k\.[ \t]?a\.?|folgt(?:[ \t]+später)?"
    r"|inconnue?|non[ \t]+connue?|à[ \t]+(?:déterminer|définir|venir|suivre)"
    r"|sconosciut[oa]|non[ \t]+not[oa]|da[ \t]+(?:definire|determinare)"
    r"|desconocid[oa]|por[ \t]+determinar|desconhecid[oa]|a[ \t]+determinar"
    r"|(?:nog[ \t]+)?onbekend|neznám[éýá]|zatiaľ[ \t]+neznám[eyá]|necunoscut[ăa]?"
    + _NOT_YET_ELSEWHERE
    + r")[ \t]*[.!;:]*",
    re.IGNORECASE,
)


def non_answer(item: str) -> bool:
    """Whether free-text `item` (collapsed) only says its field has no value yet."""
    item = item.strip("()[]<>*_\"' ")
    return len(item) <= 40 and _NON_ANSWER.fullmatch(item) is not None


# A label that no template heading knows ("Erkannt durch:", "Détecté par :")
# before the placeholder: the line is read as prose, and its label's words
# speak to a field, but it gives no value either.
_LABEL: Final = re.compile(r"[ \t]*[^\W\d][^:\n]{0,40}?[ \t]*:[ \t]*")


def labelled_non_answer(line: str) -> bool:
    """Whether prose `line` is a label and a placeholder only ("Erkannt
    durch: noch offen")."""
    label = _LABEL.match(line) if ":" in line else None
    return label is not None and non_answer(line[label.end() :])
