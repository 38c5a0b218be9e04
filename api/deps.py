"""Who is calling, as ``Annotated`` dependencies: one an audience, each checked before the route runs.

    Engine          the running conversation engine (503 while tier0 starts)
    CustomerToken   the bearer token of the widget's conversation (checked against the conversation by the route)
    CurrentAgent    a signed-in desk account (bearer token, or ``?access_token=`` for event streams)
    Lead / Admin    a signed-in account with at least that role
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from fastapi import Depends, Header, Query, Request
from typing_extensions import Annotated

from bot.engine import ConversationEngine  # light: Rasa loads inside a turn, not at import
from handoff.agents import AgentView
from tier0.errors import Forbidden, NotReady
from tier0.vocab import Role


def bearer(authorization: Optional[str]) -> Optional[str]:
    """The token of an ``Authorization: Bearer <token>`` header, if that is what it is."""
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


def _engine(request: Request) -> ConversationEngine:
    engine = getattr(request.app.state, "engine", None)
    if engine is None:
        raise NotReady("tier0 is starting")
    return engine


def _customer_token(authorization: Optional[str] = Header(None)) -> Optional[str]:
    return bearer(authorization)


def _current_agent(
    engine: ConversationEngine = Depends(_engine),
    authorization: Optional[str] = Header(None),
    access_token: Optional[str] = Query(None, description="for EventSource, which cannot send headers"),
) -> AgentView:
    return engine.services.agents.authenticate(bearer(authorization) or access_token)


def _role(role: Role) -> Callable[..., Any]:
    def dep(agent: AgentView = Depends(_current_agent)) -> AgentView:
        if not Role(agent.role).at_least(role):
            raise Forbidden(f"this needs the {role} role; you are {agent.role}")
        return agent

    return dep


Engine = Annotated[ConversationEngine, Depends(_engine)]
CustomerToken = Annotated[Optional[str], Depends(_customer_token)]
CurrentAgent = Annotated[AgentView, Depends(_current_agent)]
Lead = Annotated[AgentView, Depends(_role(Role.LEAD))]
Admin = Annotated[AgentView, Depends(_role(Role.ADMIN))]
