"""The HTTP layer: one FastAPI app (:mod:`api.app`), one router an audience.

    api.widget   the customer's chat widget (a conversation token per conversation)
    api.desk     tier-1..3 agents, team leads and admins (a signed-in session)
    api.inbound  channels that post to us (inbound e-mail, a shared secret)

Callers are dependencies (:mod:`api.deps`), bodies are schemas (:mod:`api.schemas`), and the limits and security
headers every response gets are applied once, in :func:`api.app.create_app`. Nothing below ``api`` imports it.
"""
