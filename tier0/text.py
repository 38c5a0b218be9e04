"""Text helpers shared by retrieval and the bot: normalisation, tokens, language detection.

Language detection is tuned for the product's two first-class languages (French, English) and for the short,
informal messages of a chat: it scores function words, frequent support vocabulary and French diacritics, and
answers ``None`` when the message carries no evidence (``ok``, ``T-12``, an order number), so the caller keeps
the conversation's language.
"""

from __future__ import annotations

import re
import unicodedata
from typing import List, Optional

SUPPORTED_LANGUAGES = ("en", "fr")

_TOKEN_RE = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def normalize(text: str) -> str:
    """Case- and accent-insensitive form: 'Réinitialiser' -> 'reinitialiser'."""
    return strip_accents(text.casefold())


def tokens(text: str) -> List[str]:
    return _TOKEN_RE.findall(normalize(text).replace("’", "'"))


# Words that are frequent in one language and rare in the other (accents stripped, lower case).
_FR = set(
    """
    le la les un une des du de au aux et ou est sont suis etes es je j tu il elle nous vous ils elles
    mon ma mes ton ta tes son sa ses notre votre vos leur leurs ce cet cette ces ca cela ceci qui que quoi
    quel quelle quels quelles ou comment pourquoi quand combien dans sur sous avec sans pour par pas ne n
    plus tres bien aussi mais donc car si deja encore toujours jamais rien tout tous toutes faire fait
    avoir ai as avons avez ont etre peux peut pouvez voudrais veux veut faut bonjour bonsoir salut merci
    oui non svp stp commande colis livraison remboursement facture compte mot passe aide besoin probleme
    recu reçu paiement carte retour article produit adresse mail numero conseiller humain quelqu personne
    parler rappeler aujourd hui demain hier semaine jours mois ans moi toi lui eux chez apres avant depuis
    jusqu pendant entre vers en avoir enfin marre nul arnaque plainte avocat
    """.split()
)
_EN = set(
    """
    the and or is are am was were be been being i you he she it we they my your his her its our
    their this that these those what which who whom where when why how can could would should will shall
    do does did done have has had not no yes to of in on at for with without from by about into over
    please thanks thank hello hi hey bye order orders parcel package delivery refund invoice account
    password help need problem received payment card return item product address email number agent
    human someone person talk speak call back today tomorrow yesterday week days month years still
    again never anything everything want wanted get got just there here than then some any all my i'm
    don't can't didn't doesn't won't it's isn't haven't i've i'll you're charged twice broken lost
    """.split()
)
_FR_DIACRITICS = set("éèêëàâîïôûùüçœæ")
_FR_APOSTROPHE = re.compile(r"\b(?:j|l|d|qu|n|c|s|m|t)['’]\w", re.IGNORECASE)


def language_scores(text: str) -> dict:
    low = text.casefold()
    words = tokens(text)
    fr = sum(1.0 for w in words if w in _FR)
    en = sum(1.0 for w in words if w in _EN)
    fr += 1.5 * sum(1 for c in low if c in _FR_DIACRITICS)
    fr += 1.0 * len(_FR_APOSTROPHE.findall(low))
    return {"fr": fr, "en": en}


def detect_language(text: str, default: Optional[str] = None) -> Optional[str]:
    """'fr', 'en', or ``default`` when the text carries no clear evidence."""
    s = language_scores(text)
    if s["fr"] == s["en"]:
        return default
    if max(s.values()) < 1.0:
        return default
    return "fr" if s["fr"] > s["en"] else "en"
