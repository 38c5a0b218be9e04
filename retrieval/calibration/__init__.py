"""Calibrated confidence: the probability that a candidate article answers the question.

A scikit-learn logistic regression over the candidate's retrieval features (dense cosines by unit kind, BM25 and
coverage, ranks in each retriever, margins to the runner-up, language match, query length). It works on day one,
for a new KB with no chat history, because its training data comes from the KB itself:

* **positives** — every title and alternate question is used as a query, with its own unit (and any unit with the
  same text) left out of the index: the article it belongs to should still come first;
* **negatives** — the same queries with their whole article left out: whatever comes first is wrong, which is what
  an out-of-KB question looks like;
* **feedback** — when it exists, real answers labelled by customers ("yes, that helped" / "that didn't help") and by
  agents (the desk's "wrong answer" flag), collected by ``bot.feedback``. They join the model's training rows, and
  they weigh :data:`FEEDBACK_WEIGHT` times as much as a KB-derived query when the threshold is read off the curve
  (an agent's flag :data:`AGENT_FLAG_WEIGHT`), because they are the questions the threshold is for. Customers' votes
  are anonymous: they move a threshold only between bounds that the trusted evidence alone (the KB's phrasings,
  agents' flags) sets, whatever their number (:func:`guarded_thresholds`), and weigh at most
  :data:`CUSTOMER_ROW_SHARE` of the model's training rows. A saved calibration is refitted when :data:`REFIT_EVERY`
  more of them exist (at start-up, on a KB change, or by ``tier0 calibrate``; the server at most once per
  ``TIER0_FEEDBACK_REFIT_MIN_INTERVAL``).

Where articles have several phrasings, an article classifier (``retrieval.classifier``) adds its probability, out of
fold for the examples above. It reads the search models' vectors and, where that helps it on the KB's own phrasings
(out-of-fold accuracy up by :data:`EXTRA_GAIN`), those of extra models that the search does not use
(:func:`classifier_inputs`; ``TIER0_CLASSIFIER_EXTRA_MODELS``). The fit keeps every coefficient to its expected sign
(:func:`sign_constrained_fit`).

**Traffic** — the customers' questions themselves, unlabelled — teach one more thing: how many of them the KB does
not cover. The threshold has to assume a share (:data:`OUT_OF_KB_SHARE`, cautious); once :data:`MIN_TRAFFIC` real
questions exist, :func:`estimate_share` reads it off their confidences, as the mixture of the KB-derived covered
and uncovered confidence distributions that fits them best, and that share replaces the assumption (never below
:data:`SHARE_FLOOR`).

The answer threshold then follows from the operator's target wrong-answer rate: on the calibration queries (and the
labelled real answers), the lowest probability at which answering every query above it keeps the share of wrong
answers under the target — per language when there are enough queries of that language, else over all of them.

A language whose KB-derived queries are too few (fewer than :data:`MIN_PER_LANGUAGE` titles and phrasings, a
labelled answer counting :data:`FEEDBACK_WEIGHT`), or give no safe threshold, is scored and decided by the **day-one
prior** instead (``retrieval.prior``: learnt across KBs from real questions; :attr:`Calibrator.prior_langs`), so a plain
help centre answers its clearest questions from the first day and the KB takes over as its phrasings and feedback
grow.

The model is saved as plain JSON (coefficients, scaler, thresholds): nothing is unpickled.

The package, by concern:

* ``training`` — the training data: the KB's phrasings as leave-one-out queries, the article classifier's inputs,
  labelled feedback and unlabelled traffic searched again;
* ``model`` — the features' names and expected signs, the sign-constrained logistic fit, :class:`Calibrator` and
  its JSON;
* ``thresholds`` — the thresholds read off the precision–coverage curve per language, the day-one prior's fallback,
  the out-of-KB share (assumed or learnt);
* ``diagnostics`` — what a fit tells the KB's editors: confusions, unreached articles, near-duplicates;
* ``fitting`` — :func:`fit` and :func:`load_or_fit`, which put them together.

Every public name is re-exported here: ``from retrieval.calibration import fit`` and ``calibration.fit`` work.
"""

from retrieval.calibration.diagnostics import (
    DUPLICATE_SIMILARITY,
    MAX_CONFUSIONS,
    MAX_DUPLICATES,
    confusions,
    near_duplicates,
    unreached_articles,
)
from retrieval.calibration.fitting import (
    fit,
    load_or_fit,
    save,
)
from retrieval.calibration.model import (
    BASE_FEATURES,
    CLASSIFIER_FEATURES,
    VERSION,
    Calibrator,
    classifier_vector,
    expected_sign,
    feature_names,
    sign_constrained_fit,
)
from retrieval.calibration.thresholds import (
    AGENT_FLAG_WEIGHT,
    FEEDBACK_KEEP,
    FEEDBACK_RELAX,
    FEEDBACK_WEIGHT,
    MIN_ANSWERED,
    MIN_PER_LANGUAGE,
    OUT_OF_KB_SHARE,
    SHARE_CEILING,
    SHARE_FLOOR,
    bounded_share,
    choose_threshold,
    estimate_share,
    guarded_thresholds,
    keep_ceiling,
    language_evidence,
    language_thresholds,
    prior_fallback,
)
from retrieval.calibration.training import (
    CUSTOMER_ROW_SHARE,
    EXTRA_GAIN,
    MAX_QUERIES,
    MAX_TRAFFIC,
    MIN_TRAFFIC,
    NEGATIVE_SHARE,
    REFIT_EVERY,
    TRAFFIC_REFIT_EVERY,
    CalibrationExample,
    ClassifierInputs,
    Feedback,
    FeedbackExample,
    Question,
    classifier_inputs,
    customer_row_weight,
    feedback_examples,
    feedback_rows,
    fit_classifier,
    kb_fingerprint,
    new_feedback,
    new_traffic,
    phrasings,
    traffic_confidences,
    training_examples,
    uses_classifier,
)

__all__ = [
    "AGENT_FLAG_WEIGHT", "CUSTOMER_ROW_SHARE", "FEEDBACK_KEEP", "FEEDBACK_RELAX", "customer_row_weight",
    "guarded_thresholds", "keep_ceiling",
    "BASE_FEATURES", "CLASSIFIER_FEATURES", "CalibrationExample", "Calibrator", "ClassifierInputs",
    "DUPLICATE_SIMILARITY", "EXTRA_GAIN", "FEEDBACK_WEIGHT", "Feedback", "FeedbackExample", "MAX_CONFUSIONS",
    "MAX_DUPLICATES", "MAX_QUERIES", "MAX_TRAFFIC", "MIN_ANSWERED", "MIN_PER_LANGUAGE", "MIN_TRAFFIC",
    "NEGATIVE_SHARE", "OUT_OF_KB_SHARE", "Question", "REFIT_EVERY", "SHARE_CEILING", "SHARE_FLOOR",
    "TRAFFIC_REFIT_EVERY", "VERSION", "bounded_share", "choose_threshold", "classifier_inputs", "classifier_vector",
    "confusions", "estimate_share", "expected_sign", "feature_names", "feedback_examples", "feedback_rows", "fit",
    "fit_classifier", "kb_fingerprint", "language_evidence", "language_thresholds", "load_or_fit", "near_duplicates",
    "new_feedback", "new_traffic", "phrasings", "prior_fallback", "sign_constrained_fit", "traffic_confidences",
    "training_examples", "unreached_articles", "uses_classifier", "save",
]
