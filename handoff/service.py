"""The desk's service: moved to :mod:`handoff.transitions` while it is split by concern; callers keep this name."""

from handoff.transitions import HandoffRequest, HandoffService

__all__ = ["HandoffRequest", "HandoffService"]
