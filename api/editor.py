"""The editor console's API (/api/editor/...): KB editors write, try, publish and import articles and read what the
bot failed to answer. Every route needs a signed-in account allowed to edit the KB (api.deps.Editor)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/editor", tags=["editor"])

# -- articles, versions, publish (#22 A) --------------------------------------------------------------------------


# -- try it, calibration health, refit (#22 C) --------------------------------------------------------------------
from typing import Any, Optional  # noqa: E402  (this part's imports stay in its section)

from api.deps import Editor, Engine  # noqa: E402
from api.schemas import CalibrateIn, CalibrateOut, HealthOut, TryIn, TryOut  # noqa: E402


@router.post("/try", response_model=TryOut)
def try_it(body: TryIn, engine: Engine, _editor: Editor) -> Any:
    """What the bot would do with a customer's question, with a draft (``article``, its fields as in the editor)
    published beside the live articles: the decision, the candidates with their confidence, the draft's rank.
    Nothing is stored, the live index and calibration are not changed."""
    from bot.tryit import try_question

    draft = None
    if body.article is not None:
        draft = body.article.dict()
        draft["lang"] = str(body.article.lang)
    return try_question(engine.services, body.question, str(body.language) if body.language else None, draft)


@router.get("/health", response_model=HealthOut)
def calibration_health(engine: Engine, _editor: Editor) -> Any:
    """What the calibration knows about the KB: near-duplicate articles, phrasings that find another article
    (confusions), articles none of their own phrasings finds (unreached), each with the articles' ids."""
    from bot.tryit import health

    return health(engine.services)


@router.post("/calibrate", response_model=CalibrateOut, response_model_exclude_none=True)
def calibrate(engine: Engine, _editor: Editor, body: Optional[CalibrateIn] = None) -> Any:
    """Refit the calibration now, with the customers' and agents' feedback gathered; returns the precision-coverage
    curves before and after (measured on the same questions). It takes as long as a fit (a minute or two on the
    sample KB). ``dry_run``: no fit, the current curve and whether a refit is due. 409 while another refit runs."""
    from bot.tryit import recalibrate

    return recalibrate(engine.services, dry_run=bool(body and body.dry_run))



# -- article feedback, content gaps, ticket to article (#22 D) ----------------------------------------------------


# -- import, export, rendering (#22 F) ----------------------------------------------------------------------------
