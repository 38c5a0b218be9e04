"""Who is calling, as ``Annotated`` dependencies: one an audience, each checked before the route runs.

    Engine          the running conversation engine (503 while tier0 starts)
    CustomerToken   the bearer token of the widget's conversation (checked against the conversation by the route)
    SignedInAgent   a signed-in desk account (``Authorization: Bearer``; never a token in the URL), even one that
                    must still change its password (/me, the password change)
    CurrentAgent    a signed-in desk account that has no password to change (403 password_change_required)
    Editor / Lead / Admin   a CurrentAgent with at least that role (tier0.vocab.Role: agent < editor < lead < admin)

Event streams, which a browser opens without headers, take a stream ticket instead (tier0.stream_tickets).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from fastapi import Depends, Header, Request
from typing_extensions import Annotated

from bot.engine import ConversationEngine  # light: Rasa loads inside a turn, not at import
from handoff.agents import AgentView
from tier0.errors import Forbidden, NotReady, PasswordChangeRequired, Unauthorized
from tier0.stream_tickets import StreamTickets
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


def refuse_token_in_url(request: Request, *names: str) -> None:
    """A token in a query string ends up in logs, history and Referer headers: refused with a clear 401."""
    for name in names:
        if name in request.query_params:
            raise Unauthorized(f"tokens are not accepted in the URL (?{name}=): send 'Authorization: Bearer <token>'"
                               " (event streams: ?ticket= from POST …/stream-ticket)")


def usable(agent: AgentView) -> AgentView:
    """``agent``, unless their password must be changed first (403 ``password_change_required``)."""
    if agent.must_change_password:
        raise PasswordChangeRequired("change your password first: POST /api/desk/password")
    return agent


def stream_tickets(engine: ConversationEngine) -> StreamTickets:
    s = engine.services
    return StreamTickets(s.db, s.clock, s.settings.stream_ticket_seconds)


def _signed_in_agent(
    request: Request,
    engine: ConversationEngine = Depends(_engine),
    authorization: Optional[str] = Header(None),
) -> AgentView:
    refuse_token_in_url(request, "access_token")
    return engine.services.agents.authenticate(bearer(authorization))


def _current_agent(agent: AgentView = Depends(_signed_in_agent)) -> AgentView:
    return usable(agent)


def _role(role: Role) -> Callable[..., Any]:
    def dep(agent: AgentView = Depends(_current_agent)) -> AgentView:
        if not Role(agent.role).at_least(role):
            raise Forbidden(f"this needs the {role} role; you are {agent.role}")
        return agent

    return dep


Engine = Annotated[ConversationEngine, Depends(_engine)]
CustomerToken = Annotated[Optional[str], Depends(_customer_token)]
SignedInAgent = Annotated[AgentView, Depends(_signed_in_agent)]
CurrentAgent = Annotated[AgentView, Depends(_current_agent)]
Editor = Annotated[AgentView, Depends(_role(Role.EDITOR))]
Lead = Annotated[AgentView, Depends(_role(Role.LEAD))]
Admin = Annotated[AgentView, Depends(_role(Role.ADMIN))]
