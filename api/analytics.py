"""Escalation analytics (/api/analytics/...): the figures of the team leads' dashboard, as JSON and CSV, for leads
and admins (#22 E)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/analytics", tags=["analytics"])
