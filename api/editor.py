"""The editor console's API (/api/editor/...): KB editors write, try, publish and import articles and read what the
bot failed to answer. Every route needs a signed-in account allowed to edit the KB (api.deps.Editor)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/editor", tags=["editor"])

# -- articles, versions, publish (#22 A) --------------------------------------------------------------------------


# -- try it, calibration health, refit (#22 C) --------------------------------------------------------------------


# -- article feedback, content gaps, ticket to article (#22 D) ----------------------------------------------------


# -- import, export, rendering (#22 F) ----------------------------------------------------------------------------
