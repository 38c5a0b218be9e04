"""Customer-side helpers over the chat API, shared by the integration tests."""


def start(client, **body):
    """Open a conversation; returns (conversation id, auth headers)."""
    r = client.post("/api/conversations", json=body or None)
    assert r.status_code == 201, r.text
    d = r.json()
    return d["conversation_id"], {"Authorization": f"Bearer {d['token']}"}


def say(client, cid, auth, text):
    """Post a customer message; returns the turn's JSON."""
    r = client.post(f"/api/conversations/{cid}/messages", json={"text": text}, headers=auth)
    assert r.status_code == 200, r.text
    return r.json()
