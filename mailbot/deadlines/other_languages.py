"""A site's words for a downtime and for the incident's end, in the languages
mailbot reads besides English: German, French, Dutch, Spanish, Italian,
Portuguese, Polish and Czech (the languages of the out-of-office texts).

Written for this module; events.py joins them to the English patterns and
reads them the same way (not in the negative, the future, a condition or a
question). Sites call it a "downtime" in every language (the GOCDB's
word), so each downtime pattern holds that word. Matched on the site's own
text, case ignored, accents written out ("[ée]") as sites type them or not.
"""

from __future__ import annotations

# A downtime declared: the participle of the verb with the word, either
# order ("Wir haben eine Downtime in der GOCDB eingetragen", "nous avons
# déclaré un downtime", "abbiamo dichiarato un downtime"), or a service put
# in downtime. Future and infinitive forms ("eintragen", "déclarer") are
# not matched; events.py reads these with the words of the match, so a
# "wird"/"non"/"nie" inside one denies it.
_DE_DECLARED = (
    r"eingetragen|angelegt|angek[üu]ndigt|deklariert|erstellt|registriert"
    r"|ver[öo]ffentlicht|gemeldet|eingestellt|geplant"
)
_FR_DECLARED = (
    r"d[ée]clar[ée]|annonc[ée]|programm[ée]|planifi[ée]|enregistr[ée]"
    r"|cr[ée][ée]|ajout[ée]|saisi|pos[ée]"
)
_IT_DECLARED = r"(?:dichiarat|annunciat|registrat|inserit|creat|pubblicat|apert)[oa]"
_ES_DECLARED = r"(?:declarad|anunciad|registrad|cread|publicad|abiert)[oa]"
_PT_DECLARED = r"(?:declarad|anunciad|agendad|regist(?:r)?ad|criad|publicad)[oa]"
_NL_DECLARED = (
    r"aangemeld|aangekondigd|ingepland|ingevoerd|gedeclareerd|aangemaakt"
    r"|geregistreerd|ingediend|gepubliceerd"
)
_WORDS = r"(?:\s+[\w'’.-]+){0,6}?"
DOWNTIME_DECLARED = (
    # German and Dutch: the participle ends the clause.
    rf"\bdowntime{_WORDS}\s+(?:{_DE_DECLARED}|{_NL_DECLARED})\b"
    r"|\bin\s+(?:die\s+|eine\s+|der\s+)?downtime\s+(?:gesetzt|genommen|versetzt"
    r"|gezet|geplaatst)\b"
    r"|\b(?:ist|sind|staat|staan)\s+(?:jetzt\s+|nu\s+)?in\s+(?:der\s+)?downtime\b"
    # French, Italian, Spanish, Portuguese: the participle before the word,
    # or after it with the auxiliary ("un downtime a été déclaré").
    rf"|\b(?:{_FR_DECLARED})e?s?\s+(?:un|une|le|la)\s+(?:\w+\s+){{0,2}}?downtime\b"
    rf"|\bdowntime{_WORDS}\s+(?:a|ont)\s+[ée]t[ée]\s+(?:{_FR_DECLARED})e?s?\b"
    r"|\b(?:mise?s?|est|sont)\s+en\s+downtime\b"
    rf"|\b(?:{_IT_DECLARED}|{_ES_DECLARED}|{_PT_DECLARED})"
    r"\s+(?:un|una|uno|il|el|la|um|uma|o)\s+(?:\w+\s+){0,2}?downtime\b"
    r"|\bdowntime" + _WORDS + r"\s+(?:[èe]\s+stat[oa]|ha\s+sido|fue|foi)\s+"
    rf"(?:{_IT_DECLARED}|{_ES_DECLARED}|{_PT_DECLARED})\b"
    r"|\b(?:mess[oa]|[èe]|sono)\s+in\s+downtime\b"
    r"|\b(?:est[áa]|puest[oa]|colocad[oa])\s+(?:en|em)\s+downtime\b"
    # Spanish and Portuguese "we declared": "declaramos", "declarámos".
    r"|\b(?:declar|anunci|regist(?:r)?|agend|cri|cre)[áa]mos\s+(?:un|una|um|uma|el|o)"
    r"\s+(?:\w+\s+){0,2}?downtime\b"
    # Polish and Czech: the verb in the first person plural, or the passive.
    r"|\b(?:zg[łl]osili|og[łl]osili|zarejestrowali|wprowadzili|dodali)[śs]my"
    r"\s+(?:\w+\s+){0,2}?downtime\b"
    r"|\bdowntime\s+(?:zosta[łl]|jest)\s+(?:zg[łl]oszony|og[łl]oszony"
    r"|zarejestrowany|wprowadzony)\b"
    r"|\b(?:vyhl[áa]sili|nahl[áa]sili|zadali|zaregistrovali|zapsali)\s+jsme"
    r"\s+(?:\w+\s+){0,2}?downtime\b"
    r"|\bdowntime\s+(?:byl|je)\s+(?:vyhl[áa][šs]en|nahl[áa][šs]en|zad[áa]n"
    r"|zaregistrov[áa]n)\b"
)
# None is needed: the answer the procedure allows ("if applicable"). The
# negation belongs to the statement and starts or stands inside the match.
_DE_NEEDED = r"(?:notwendig|n[öo]tig|erforderlich|ben[öo]tigt)"
_FR_NEEDED = r"(?:n[ée]cessaire|requis|utile)"
_IT_NEEDED = r"(?:necessari[oa]|richiest[oa])"
_ES_NEEDED = r"(?:necesari[oa]|requerid[oa])"
_PT_NEEDED = r"(?:necess[áa]ri[oa]|requerid[oa])"
_NL_NEEDED = r"(?:nodig|vereist|noodzakelijk)"
DOWNTIME_NOT_NEEDED = (
    rf"\b(?:eine\s+|die\s+)?downtime\s+(?:ist\s+|war\s+)?nicht\s+{_DE_NEEDED}"
    rf"|\bkeine\s+downtime\s+(?:ist\s+|war\s+)?{_DE_NEEDED}"
    r"|\b(?:brauchen|ben[öo]tigen)\s+(?:wir\s+)?keine\s+downtime\b"
    rf"|\bdowntime\s*:\s*(?:nicht\s+(?:{_DE_NEEDED}|zutreffend)|entf[äa]llt)"
    rf"|\bpas\s+(?:besoin\s+d(?:e\s+|'|’)(?:un\s+|une\s+)?downtime|de\s+downtime"
    rf"\s+{_FR_NEEDED})"
    rf"|\baucun\s+downtime\s+(?:n'est\s+|n’est\s+)?{_FR_NEEDED}"
    rf"|\bdowntime\s+n(?:'|’)est\s+pas\s+{_FR_NEEDED}"
    r"|\bdowntime\s*:\s*(?:non\s+(?:n[ée]cessaire|applicable|requis)|sans\s+objet)"
    rf"|\bnessun\s+downtime\s+(?:[èe]\s+)?{_IT_NEEDED}"
    rf"|\bdowntime\s+non\s+(?:[èe]\s+)?{_IT_NEEDED}"
    rf"|\bnon\s+(?:[èe]\s+{_IT_NEEDED}|serve)\s+(?:un\s+|alcun\s+)?downtime\b"
    r"|\bdowntime\s*:\s*non\s+(?:necessario|applicabile)"
    rf"|\bgeen\s+downtime\s+(?:is\s+)?{_NL_NEEDED}"
    rf"|\bdowntime\s+is\s+niet\s+{_NL_NEEDED}"
    r"|\bhebben\s+geen\s+downtime\s+nodig\b"
    r"|\bdowntime\s*:\s*(?:niet\s+(?:nodig|van\s+toepassing)|n\.?v\.?t\b)"
    rf"|\bno\s+(?:es\s+{_ES_NEEDED}|hace\s+falta|se\s+necesita|necesitamos)"
    r"\s+(?:un\s+|una\s+|ning[úu]n\s+)?downtime\b"
    rf"|\bdowntime\s+no\s+(?:es\s+)?{_ES_NEEDED}"
    rf"|\bn[ãa]o\s+(?:[ée]\s+{_PT_NEEDED}|precisamos\s+de|h[áa]\s+necessidade\s+de)"
    r"\s+(?:um\s+|uma\s+|nenhum\s+)?downtime\b"
    rf"|\bdowntime\s+n[ãa]o\s+(?:[ée]\s+)?{_PT_NEEDED}"
    r"|\bsem\s+necessidade\s+de\s+downtime\b"
    r"|\bdowntime\s+nie\s+(?:jest\s+)?(?:potrzebny|konieczny|wymagany)"
    r"|\bnie\s+(?:potrzeba|trzeba|potrzebujemy)\s+(?:\w+\s+)?downtime\b"
    r"|\bdowntime\s+(?:nen[íi]|nebyl)\s+(?:pot[řr]eba|nutn[ýyée])"
    r"|\b(?:nen[íi]|nebyl)\s+(?:pot[řr]eba|nutn[ýyée])\s+(?:\w+\s+)?downtime\b"
)

# The incident is over, from the site's side. The case named, then "is
# resolved", "can be closed", or "we consider it resolved", "you can
# close it". Subordinate clauses put the verb last in German and Dutch
# ("sobald der Vorfall abgeschlossen ist"): those do not match.
_DE_CASE = (
    r"(?:der|den|dieser|diesen)\s+(?:sicherheits)?(?:vorfall|fall)|das\s+incident"
)
_DE_OVER = r"(?:abgeschlossen|gel[öo]st|erledigt|behoben|beendet|geschlossen)"
_DE_SIDE = r"(?:(?:nun|jetzt|damit|hiermit|von\s+unserer\s+seite|unsererseits)\s+)*"
_FR_CASE = r"(?:l'|l’|cet\s+|cette\s+|ce\s+|le\s+)(?:incident|cas|probl[èe]me)"
_FR_OVER = r"(?:r[ée]solue?|clos|cl[ôo]tur[ée]e?|ferm[ée]e?|termin[ée]e?)"
_IT_CASE = r"(?:l'|l’|il\s+|questo\s+|quest'|quest’)(?:incidente|caso|problema)"
_IT_OVER = r"(?:risolt|chius|conclus)[oa]"
_ES_CASE = r"(?:el|este)\s+(?:incidente|caso|problema)"
_ES_OVER = r"(?:resuelto|cerrado|solucionado)"
_PT_CASE = r"(?:o|este)\s+(?:incidente|caso|problema)"
_PT_OVER = r"(?:resolvido|encerrado|fechado)"
_NL_CASE = r"(?:het|dit|de|deze)\s+(?:incident|zaak|probleem)"
_NL_OVER = r"(?:opgelost|afgesloten|gesloten|afgehandeld)"
_PL_OVER = r"(?:rozwi[ąa]zany|zamkni[ęe]ty|zako[ńn]czony)"
_CS_OVER = r"(?:vy[řr]e[šs]en[ýy]?|uzav[řr]en[ýy]?|ukon[čc]en[ýy]?)"
RESOLVED = (
    rf"(?:wir|ich)\s+betrachten\s+(?:{_DE_CASE}|ihn|es|das)\s+{_DE_SIDE}als\s+{_DE_OVER}"
    rf"|betrachten\s+wir\s+(?:{_DE_CASE}|ihn|es|das)\s+{_DE_SIDE}als\s+{_DE_OVER}"
    rf"|(?:{_DE_CASE})\s+(?:ist|wurde|gilt)\s+{_DE_SIDE}(?:als\s+)?{_DE_OVER}"
    rf"|(?:{_DE_CASE})\s+kann\s+{_DE_SIDE}(?:als\s+{_DE_OVER}\s+betrachtet"
    r"|geschlossen|abgeschlossen)\s+werden"
    rf"|(?:sie|ihr)\s+k[öo]nn(?:en|t)\s+(?:{_DE_CASE})\s+{_DE_SIDE}"
    r"(?:schlie(?:ß|ss)en|abschlie(?:ß|ss)en)"
    rf"|nous\s+consid[ée]rons\s+(?:d[ée]sormais\s+)?{_FR_CASE}\s+comme\s+{_FR_OVER}"
    rf"|{_FR_CASE}\s+(?:est|a\s+[ée]t[ée])\s+(?:d[ée]sormais\s+|maintenant\s+)?{_FR_OVER}"
    rf"|{_FR_CASE}\s+(?:peut|pourrait)\s+(?:d[ée]sormais\s+|maintenant\s+)?[êe]tre\s+"
    rf"(?:consid[ée]r[ée]e?\s+comme\s+)?{_FR_OVER}"
    rf"|vous\s+pouvez\s+(?:cl[ôo]turer|clore|fermer)\s+{_FR_CASE}"
    rf"|consideriamo\s+{_IT_CASE}\s+(?:come\s+)?{_IT_OVER}"
    rf"|{_IT_CASE}\s+(?:[èe]\s+(?:stat[oa]\s+)?|pu[òo]\s+essere\s+(?:considerat[oa]\s+)?)"
    rf"{_IT_OVER}"
    rf"|potete\s+chiudere\s+{_IT_CASE}"
    rf"|consideramos\s+(?:{_ES_CASE}|{_PT_CASE})\s+(?:como\s+)?(?:{_ES_OVER}|{_PT_OVER})"
    rf"|{_ES_CASE}\s+(?:est[áa]|ha\s+sido|fue|queda)\s+{_ES_OVER}"
    rf"|{_ES_CASE}\s+(?:puede|podr[íi]a)\s+(?:ser\s+cerrado|cerrarse"
    rf"|darse\s+por\s+{_ES_OVER})"
    rf"|pueden\s+cerrar\s+{_ES_CASE}"
    rf"|{_PT_CASE}\s+(?:est[áa]|foi)\s+{_PT_OVER}"
    rf"|{_PT_CASE}\s+pode\s+ser\s+(?:considerado\s+)?{_PT_OVER}"
    rf"|podem\s+(?:encerrar|fechar)\s+{_PT_CASE}"
    rf"|(?:wij|we|ik)\s+beschouwen\s+{_NL_CASE}\s+(?:nu\s+)?als\s+{_NL_OVER}"
    rf"|{_NL_CASE}\s+(?:is|werd)\s+(?:nu\s+)?{_NL_OVER}"
    rf"|{_NL_CASE}\s+kan\s+(?:nu\s+)?(?:worden\s+)?(?:gesloten|afgesloten)"
    rf"|(?:u|jullie)\s+(?:kunt|kunnen)\s+{_NL_CASE}\s+(?:nu\s+)?(?:sluiten|afsluiten)"
    rf"|(?:uwa[żz]amy|traktujemy)\s+(?:ten\s+)?incydent\s+za\s+{_PL_OVER}"
    rf"|incydent\s+(?:jest|zosta[łl])\s+(?:ju[żz]\s+)?{_PL_OVER}"
    r"|incydent\s+mo[żz]na\s+zamkn[ąa][ćc]|mo[żz]na\s+zamkn[ąa][ćc]\s+(?:ten\s+)?incydent"
    rf"|pova[žz]ujeme\s+(?:tento\s+|ten\s+)?incident\s+za\s+{_CS_OVER}"
    rf"|incident\s+(?:je|byl)\s+(?:ji[žz]\s+)?{_CS_OVER}"
    r"|incident\s+lze\s+uzav[řr][íi]t|(?:m[ůu][žz]ete|lze)\s+uzav[řr][íi]t\s+"
    r"(?:tento\s+)?incident"
)
# Every branch of RESOLVED holds one of these (lower case), the words for
# over: events.py looks only near them (not near "incident", which most
# mails name all along).
RESOLVED_WORDS = (
    *("schlossen", "schlie", "gelöst", "gelost", "erledigt", "behoben", "beendet"),
    *("résolu", "resolu", "clos", "clore", "clôtur", "clotur", "ferm", "termin"),
    *("risolt", "chius", "conclus", "chiud", "resuelt", "cerra", "solucionad"),
    *("resolvid", "encerra", "fecha", "opgelost", "sloten", "afgehandeld"),
    *("sluiten", "rozwi", "zamkn", "zako", "vyřeš", "vyres", "uzavř", "uzavr"),
    *("ukonč", "ukonc"),
)
# A condition right after a statement, in these languages: "..., sobald der
# Host neu installiert ist", "... si vous êtes d'accord".
CONDITIONS = (
    r"wenn|falls|sobald|nachdem|si|lorsque|quand|d[èe]s\s+que|une\s+fois\s+que"
    r"|quando|appena|non\s+appena|una\s+volta\s+che|cuando|una\s+vez\s+que"
    r"|assim\s+que|zodra|wanneer|indien|je[śs]li|gdy|kiedy|pokud|jakmile"
)
# Before a statement, in its clause: a condition of what is to come ("quand
# l'incident est résolu, nous ...", "una volta che l'incidente è chiuso").
# Not "si", "se": a pronoun too.
CONDITIONS_BEFORE = (
    r"wenn|falls|sobald|lorsque|quand|d[èe]s\s+que|une\s+fois\s+que|quando|appena"
    r"|una\s+volta\s+che|cuando|una\s+vez\s+que|assim\s+que|zodra|wanneer|indien"
    r"|je[śs]li|gdy|kiedy|pokud|jakmile"
)
# Before a statement, in its clause: Czech and Polish denials and futures
# that the shared NOT_DONE (extract/facts.py) does not list ("server nebyl
# izolován", "ještě není izolován", "serwer będzie odizolowany").
DENIED_BEFORE = (
    r"nebyl\w*|nen[íi]|nejsou|nebud\w*|bude|budou|je[šs]t[ěe]\s+ne|zat[íi]m\s+ne"
    r"|b[ęe]dzie|b[ęe]d[ąa]"
)
# "can", "may" in these languages: a statement of what may be done stands
# before a condition after a comma ("kann geschlossen werden, sobald ...").
MAY = (
    r"kann|k[öo]nnen|peut|pourrait|pouvez|pu[òo]|potete|puede|pueden|podr[íi]a"
    r"|pode|podem|kan|kunt|kunnen|mo[żz]na|lze|m[ůu][žz]ete"
)
