"""How well the content-gap report (bot.gaps) groups unanswered questions by topic, per language.

    nice .venv/bin/python bench/gaps_eval.py [--kb data/sample_kb] [--old 0.25,0.35,0.45] [--new 0,0.25,0.5]

A small labelled set of questions a shop's customers might ask that the sample KB does not cover: 8 topics x 5
phrasings in English and in French (written for this bench, not taken from any test). Each language's questions are
embedded with the search's default models (as ``bot.gaps.VECTORS`` does) and grouped with ``bot.gaps.cluster`` at
the old setting (an absolute cosine distance threshold, the same for every language) and at the new one (the
distances divided by the KB's own spread in that language: ``bot.gaps.kb_scale``, from the KB's question units
embedded as the index embeds them). Prints the adjusted Rand index and the pair-counting precision / recall (a pair
of questions put in one group is right when they share a topic) per language, and the number of groups found.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot import gaps  # noqa: E402
from knowledge_base.markdown import parse_article  # noqa: E402
from retrieval.embedder import language_weight, load_embedders  # noqa: E402
from retrieval.search import article_units  # noqa: E402
from tier0.config import DEFAULT_EMBEDDING_MODELS  # noqa: E402

TOPICS: Dict[str, Dict[str, List[str]]] = {
    "en": {
        "gift-wrap": ["Do you offer gift wrapping?", "Can you wrap my order as a present?",
                      "Is it possible to add a gift message to the parcel?", "can the package be gift wrapped",
                      "I'd like the item wrapped for a birthday, do you do that?"],
        "restock": ["When will the blue kettle be back in stock?", "Can I get an alert when an item is available again?",
                    "this product is sold out, will you restock it?", "notify me when it's back in stock",
                    "Are you getting more of the out-of-stock headphones?"],
        "price-match": ["Do you match competitors' prices?", "I found it cheaper elsewhere, can you match the price?",
                        "Is there a price match guarantee?", "another shop sells it for less, will you beat that",
                        "Will you lower your price to what Amazon charges?"],
        "recycling": ["Do you take back old appliances for recycling?", "How can I recycle my old phone with you?",
                      "can I drop off my broken fridge to be recycled", "Do you collect used electronics?",
                      "What do I do with my old TV when the new one arrives, will you take it away?"],
        "newsletter": ["How do I unsubscribe from your newsletter?", "Stop sending me marketing emails",
                       "I get too many promotional e-mails, how can I opt out?",
                       "remove me from your mailing list", "Where do I turn off the newsletter?"],
        "student": ["Do you have a student discount?", "Is there a discount for students?",
                    "can I get a reduction with my student card", "Any special prices for university students?",
                    "Do you offer discounts to teachers or students?"],
        "bulk": ["Can I place a bulk order for my company?", "Do you sell wholesale to businesses?",
                 "we need 200 units for our office, is there a volume discount",
                 "Do you offer corporate pricing for large orders?", "How do I open a business account for B2B orders?"],
        "manual": ["Where can I find the user manual for my blender?", "I lost the instructions for my vacuum cleaner",
                   "Do you have assembly instructions for the bookshelf?", "how do I download the product manual",
                   "Is there a PDF guide on how to set up the coffee machine?"],
    },
    "fr": {
        "gift-wrap": ["Proposez-vous un emballage cadeau ?", "Pouvez-vous emballer ma commande pour un cadeau ?",
                      "Est-il possible d'ajouter un message cadeau au colis ?", "le paquet peut-il être emballé en cadeau",
                      "Je voudrais un papier cadeau pour un anniversaire, c'est possible ?"],
        "restock": ["Quand la bouilloire bleue sera-t-elle de nouveau en stock ?",
                    "Puis-je être prévenu quand un article est à nouveau disponible ?",
                    "ce produit est épuisé, allez-vous le réapprovisionner ?", "prévenez-moi quand il revient en stock",
                    "Aurez-vous bientôt du stock pour le casque en rupture ?"],
        "price-match": ["Alignez-vous vos prix sur ceux des concurrents ?",
                        "Je l'ai trouvé moins cher ailleurs, pouvez-vous vous aligner ?",
                        "Avez-vous une garantie du meilleur prix ?", "un autre magasin le vend moins cher, vous faites mieux ?",
                        "Baisserez-vous votre prix au niveau de celui d'Amazon ?"],
        "recycling": ["Reprenez-vous les anciens appareils pour les recycler ?",
                      "Comment recycler mon vieux téléphone chez vous ?",
                      "puis-je déposer mon frigo cassé pour le recyclage", "Collectez-vous les appareils électroniques usagés ?",
                      "Que faire de mon ancienne télé quand la nouvelle arrive, vous la reprenez ?"],
        "newsletter": ["Comment me désabonner de votre newsletter ?", "Arrêtez de m'envoyer des e-mails publicitaires",
                       "Je reçois trop de mails promotionnels, comment ne plus les recevoir ?",
                       "retirez-moi de votre liste de diffusion", "Où désactiver la lettre d'information ?"],
        "student": ["Avez-vous une réduction étudiante ?", "Y a-t-il une remise pour les étudiants ?",
                    "puis-je avoir une réduc avec ma carte étudiant", "Des prix spéciaux pour les étudiants à la fac ?",
                    "Proposez-vous des remises aux enseignants ou aux étudiants ?"],
        "bulk": ["Puis-je passer une commande en gros pour mon entreprise ?", "Vendez-vous en gros aux professionnels ?",
                 "il nous faut 200 unités pour le bureau, y a-t-il une remise sur volume",
                 "Proposez-vous des tarifs entreprise pour les grosses commandes ?",
                 "Comment ouvrir un compte professionnel pour des commandes B2B ?"],
        "manual": ["Où trouver le mode d'emploi de mon blender ?", "J'ai perdu la notice de mon aspirateur",
                   "Avez-vous la notice de montage de la bibliothèque ?", "comment télécharger le manuel du produit",
                   "Y a-t-il un guide PDF pour installer la machine à café ?"],
    },
}


def pair_scores(truth: Sequence[str], pred: Sequence[int]) -> Tuple[float, float]:
    """Pair-counting precision and recall: of the pairs put together, the share of one topic; of the pairs of one
    topic, the share put together."""
    tp = fp = fn = 0
    for a, b in itertools.combinations(range(len(truth)), 2):
        same, together = truth[a] == truth[b], pred[a] == pred[b]
        tp += same and together
        fp += together and not same
        fn += same and not together
    return tp / max(tp + fp, 1), tp / max(tp + fn, 1)


def labels_of(groups: List[List[int]], n: int) -> List[int]:
    out = [0] * n
    for g, rows in enumerate(groups):
        for r in rows:
            out[r] = g
    return out


def main() -> None:
    from sklearn.metrics import adjusted_rand_score

    ap = argparse.ArgumentParser()
    ap.add_argument("--kb", default=str(REPO / "data" / "sample_kb"))
    ap.add_argument("--models", default=DEFAULT_EMBEDDING_MODELS)
    ap.add_argument("--old", default="0.25,0.35,0.45", help="absolute thresholds (the old setting)")
    ap.add_argument("--new", default="0,0.25,0.5", help="thresholds on the KB's yardstick (the new setting)")
    args = ap.parse_args()
    embedders = load_embedders(args.models)
    articles = [parse_article(p.read_text(encoding="utf-8"), str(p)) for p in sorted(Path(args.kb).glob("*.md"))]
    print(f"models {args.models}; KB {args.kb}: {len(articles)} articles")
    for lang, topics in TOPICS.items():
        truth = [t for t, qs in topics.items() for _ in qs]
        texts = [q for qs in topics.values() for q in qs]
        weights = [language_weight(e.name, lang) for e in embedders]
        joined = gaps.QuestionVectors.joined([e.encode_queries(texts) for e in embedders], weights)
        units = [(a.id, u) for a in articles if a.lang == lang for u in article_units(a) if u.kind in gaps.KB_KINDS]
        kb_vectors = [e.encode_documents([u.text for _, u in units]) for e in embedders]
        yardstick = gaps.anchors([a for a, _ in units], kb_vectors, weights)
        d = 1 - joined @ joined.T
        same = [d[a, b] for a, b in itertools.combinations(range(len(texts)), 2) if truth[a] == truth[b]]
        diff = [d[a, b] for a, b in itertools.combinations(range(len(texts)), 2) if truth[a] != truth[b]]
        print(f"\n{lang}: {len(topics)} topics, {len(texts)} questions; cosine distance within a topic: mean "
              f"{np.mean(same):.3f}, between topics: mean {np.mean(diff):.3f}; the KB's yardstick ({len(units)} "
              f"questions): within an article {yardstick[0]:.3f}, between articles {yardstick[1]:.3f}")
        rows = [("old (absolute)", float(x), float(x)) for x in args.old.split(",")]
        rows += [("new (on the KB)", float(x), gaps.threshold(float(x), yardstick)) for x in args.new.split(",")]
        for kind, setting, absolute in rows:
            pred = labels_of(gaps.cluster(joined, absolute), len(texts))
            p, r = pair_scores(truth, pred)
            print(f"  {kind:15s} {setting:5.2f} (cosine distance {absolute:.3f}): ARI "
                  f"{adjusted_rand_score(truth, pred):.3f}  pair precision {p:.3f} recall {r:.3f}  groups {len(set(pred))}")


if __name__ == "__main__":
    main()
