"""Data-subject requests, for admins: erase one customer's personal data (handoff.erasure), and read the audit.

    POST /api/desk/privacy/erasures   {"email": …} or {"conversation_id": …}: erase, answer the counts and audit line
    GET  /api/desk/privacy/audit      the newest audit lines (erasures and retention runs)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Union

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, StrictInt

from api.deps import Admin, Engine
from tier0.vocab import MAX_EMAIL_ADDRESS_CHARS

if TYPE_CHECKING:
    Address = Optional[str]
    ConversationId = Optional[str]
else:
    from pydantic import constr

    Address = Optional[constr(strict=True, max_length=MAX_EMAIL_ADDRESS_CHARS)]
    ConversationId = Optional[constr(strict=True, max_length=64)]

router = APIRouter(prefix="/api/desk/privacy", tags=["privacy"])


class ErasureRequest(BaseModel):
    email: Address = Field(None, description="every conversation of the customer with this address")
    conversation_id: ConversationId = Field(None, description="this conversation")

    class Config:
        extra = "forbid"


class ErasureOut(BaseModel):
    kind: str = Field(..., description="erase_email or erase_conversation")
    counts: Dict[str, int] = Field(..., description="what was erased: conversations, messages, tickets, ticket events, "
                                                    "webhook deliveries, tracker events, open tickets closed")
    audit_id: Optional[int] = Field(None, description="its line in the privacy audit")


class AuditLine(BaseModel):
    id: int
    at: str
    actor: str = Field(..., description="the admin, cli, or retention")
    kind: str
    selector_hash: Optional[str] = Field(None, description="sha256 of 'email:<address>' or 'conversation:<id>'")
    counts: Dict[str, Union[StrictInt, float]] = Field(..., description="as in the erasure's answer; a retention "
                                                                    "run's also has its days")


@router.post("/erasures", response_model=ErasureOut)
def erase(body: ErasureRequest, engine: Engine, admin: Admin) -> Any:
    """Erase a customer's personal data (a data-subject request): their conversations' texts and customer data, their
    tickets' texts (open tickets are closed first), webhook payloads and Rasa's trackers. Leaves an audit line."""
    from bot.privacy import for_engine

    return for_engine(engine).erase(email=body.email, conversation_id=body.conversation_id,
                                    actor=admin.username).as_dict()


@router.get("/audit", response_model=List[AuditLine])
def audit(engine: Engine, _admin: Admin, limit: int = Query(100, ge=1, le=1000)) -> Any:
    """The privacy audit, newest first: who erased what kind of data when (the selector only as a hash)."""
    from bot.privacy import for_engine

    return for_engine(engine).audit(limit)
