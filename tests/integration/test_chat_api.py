"""The chat API end to end: trained Rasa model, real embeddings, real SQLite, in-process actions."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from knowledge_base.markdown import parse_article
from retrieval.lexical import terms
from tests.integration.chat import say, start

SAMPLE_KB = Path(__file__).resolve().parents[2] / "data" / "sample_kb"


@pytest.fixture(scope="module")
def client(engine):
    with TestClient(create_app(engine=engine)) as c:
        yield c


def desk_ticket(client, turn):
    """The ticket of a hand-off turn as the desk sees it (the customer's turn carries only its public part)."""
    return client.app.state.engine.services.handoff.get(turn["ticket"]["id"])


def test_question_is_answered_with_a_cited_article(client):
    cid, auth = start(client)
    turn = say(client, cid, auth, "I forgot my password, how can I get back into my account?")
    assert turn["outcome"]["type"] == "answer"
    assert turn["outcome"]["article_id"] == "reset-password-en"
    assert 0 < turn["outcome"]["confidence"] <= 1.01
    source = turn["messages"][0]["sources"][0]
    assert source["article_id"] == "reset-password-en" and source["url"] == "/api/articles/reset-password-en"
    article = client.get(source["url"]).json()
    assert article["title"] in turn["messages"][0]["text"]
    assert turn["ticket"] is None


def test_french_question_gets_a_french_answer(client):
    cid, auth = start(client)
    turn = say(client, cid, auth, "j'ai oublié mon mot de passe")
    assert turn["language"] == "fr"
    assert turn["outcome"] == {**turn["outcome"], "type": "answer", "article_id": "reset-password-fr"}
    assert turn["messages"][0]["text"].startswith("Voici ce que j'ai trouvé")


def test_greeting_is_small_talk_in_the_customers_language(client):
    cid, auth = start(client)
    assert say(client, cid, auth, "bonjour")["messages"][0]["text"].startswith("Bonjour")
    turn = say(client, cid, auth, "hello")
    assert turn["outcome"]["type"] == "other" and turn["ticket"] is None
    assert turn["messages"][0]["text"].startswith("Hello")


def test_handoff_carries_the_whole_transcript_and_silences_the_bot(client):
    cid, auth = start(client, customer={"name": "Ada", "email": "ada@example.com"})
    say(client, cid, auth, "hello")
    say(client, cid, auth, "how long does delivery take to Belgium?")
    turn = say(client, cid, auth, "I want to talk to a human please")
    assert turn["outcome"]["type"] == "handoff"
    ticket = desk_ticket(client, turn)
    assert ticket["reason"] == "customer_request" and ticket["queue"] == "tier1"
    assert ticket["id"] in turn["messages"][0]["text"]  # the customer gets the reference
    assert "customer service" in turn["messages"][0]["text"]
    customer_lines = [m["text"] for m in ticket["transcript"] if m["sender"] == "customer"]
    assert customer_lines == ["hello", "how long does delivery take to Belgium?", "I want to talk to a human please"]
    assert any(m["sender"] == "bot" for m in ticket["transcript"])
    assert ticket["candidates"] and all("score" in c and "article_id" in c for c in ticket["candidates"])
    assert ticket["candidates"][0]["article_id"].startswith("delivery")  # what the bot tried for the question
    assert ticket["customer"] == {"name": "Ada", "email": "ada@example.com", "verified": False}
    assert ticket["language"] == "en" and ticket["channel"] == "web" and ticket["priority"] == "normal"

    after = say(client, cid, auth, "hello? are you there?")
    assert after["messages"] == [] and after["outcome"]["ticket_id"] == ticket["id"]
    transcript = client.get(f"/api/conversations/{cid}/messages", headers=auth).json()
    assert transcript["status"] == "handed_off"
    assert transcript["messages"][-1]["text"] == "hello? are you there?"


@pytest.mark.parametrize(
    "question, request_for_a_person, expected",
    [
        ("how long does delivery take to Belgium?", "I need to speak to customer service", "delivery-times-costs-en"),
        ("combien de temps pour livrer en Belgique ?", "je veux joindre le service client", "delivery-times-costs-fr"),
        (None, "I want to talk to a human about my return", "return-item-en"),
    ],
)
def test_the_ticket_shows_the_customers_problem_not_how_to_contact_us(client, question, request_for_a_person,
                                                                      expected):
    # Asking for a person finds the contact-hours article (0.88-0.99 in the sample KB); the agent needs what the
    # bot tried for the customer's question instead, and a subject named in the request itself.
    cid, auth = start(client)
    if question:
        say(client, cid, auth, question)
    ticket = desk_ticket(client, say(client, cid, auth, request_for_a_person))
    assert ticket["reason"] == "customer_request"
    assert ticket["candidates"][0]["article_id"] == expected
    assert ticket["category"] == client.get(f"/api/articles/{expected}").json()["category"]
    # how sure the bot was of what it tried for the problem, not of its reading of "a person please"
    assert ticket["confidence"] == max(c["score"] for c in ticket["candidates"])


# ("delivery" left this list on 2026-12-03: since English-only models count less for French questions, the sample
# KB's joint calibration puts it just under the English threshold, so it gets one suggestion, not a choice; the browser
# test drives that path)
@pytest.mark.parametrize("word", ["colis", "compte"])
def test_a_single_word_several_articles_contain_asks_which_one(client, word):
    cid, auth = start(client)
    turn = say(client, cid, auth, word)  # a subject, not yet a question: no article is picked for the customer
    assert turn["outcome"]["type"] == "clarify" and len(turn["outcome"]["options"]) >= 2
    message = turn["messages"][0]
    assert "?" in message["text"] and "rephrase" not in message["text"] and "reformulez" not in message["text"]
    kb = {a.id: a for a in (parse_article(f.read_text(encoding="utf-8"), str(f)) for f in SAMPLE_KB.glob("*.md"))}
    for aid in turn["outcome"]["options"]:  # every option is about that word, in the customer's language
        art = kb[aid]
        assert art.lang == turn["language"] and not art.handoff
        assert terms(word)[0] in terms(" ".join([art.title, *art.questions, art.body]))  # the search's stems
    assert [b["payload"] for b in message["buttons"][:-1]] == [kb[a].title for a in turn["outcome"]["options"]]


@pytest.mark.parametrize(
    "word, none_of_these", [("the delivery", "None of these"), ("commande", "Aucune de ces questions")]
)
def test_an_unsure_clarification_offers_its_guess_and_a_way_out(client, word, none_of_these):
    cid, auth = start(client)
    turn = say(client, cid, auth, word)  # too vague to answer: a guess (one article only), not an answer
    assert turn["outcome"]["type"] == "clarify" and len(turn["outcome"]["options"]) == 1
    message = turn["messages"][0]
    # words that read as help, not "I did not understand"
    assert message["text"] in ("This article may answer your question:", "Cet article peut répondre à votre question :")
    titles = [b["title"] for b in message["buttons"]]
    assert titles[-1] == none_of_these and len(titles) == 2
    guess = client.get(f"/api/articles/{turn['outcome']['options'][0]}").json()
    assert message["buttons"][0]["payload"] == guess["title"]

    out = say(client, cid, auth, message["buttons"][-1]["payload"])  # what the widget sends on a click
    assert out["outcome"] == {"type": "clarify", "confidence": turn["outcome"]["confidence"], "options": []}
    assert out["ticket"] is None and not out["messages"][0]["buttons"]  # first: say it in other words
    out = say(client, cid, auth, "no")  # nothing more to say: a person takes over
    assert out["outcome"]["type"] == "handoff" and desk_ticket(client, out)["reason"] == "low_confidence"
    assert desk_ticket(client, out)["candidates"][0]["article_id"] == turn["outcome"]["options"][0]


def test_a_click_on_a_suggested_article_answers_from_it(client, engine):
    cid, auth = start(client)
    turn = say(client, cid, auth, "commande")
    assert turn["outcome"]["type"] == "clarify" and turn["outcome"]["options"]
    button = turn["messages"][0]["buttons"][0]
    out = say(client, cid, auth, button["payload"])  # the title, as the widget sends it
    assert out["outcome"]["type"] == "answer" and out["outcome"]["chosen"] is True
    assert out["outcome"]["article_id"] == turn["outcome"]["options"][0]
    assert out["messages"][0]["sources"][0]["article_id"] == out["outcome"]["article_id"]
    assert "?" in out["messages"][-1]["text"]  # did this help?
    yes = say(client, cid, auth, "yes")  # it helped: a label for the question the suggestions answered
    assert yes["outcome"] == {"type": "other", "feedback": "helpful"}
    from bot.feedback import read

    labelled, asked = read(engine.services.db)
    mine = [fb for fb in labelled if fb.article_id == out["outcome"]["article_id"] and fb.query == "commande"]
    assert mine and mine[-1].helpful and button["payload"] not in {q.text for q in asked}
    again = say(client, cid, auth, button["payload"])  # the same words once the options are gone: a question
    assert "chosen" not in again["outcome"]


def test_refund_topic_goes_to_billing_without_an_answer(client):
    cid, auth = start(client)
    turn = say(client, cid, auth, "I was charged twice for my order, I want my money back")
    assert turn["outcome"]["type"] == "handoff"
    assert desk_ticket(client, turn)["queue"] == "billing"
    assert desk_ticket(client, turn)["reason"] in ("needs_authority", "customer_request")


def test_legal_threat_is_urgent(client):
    cid, auth = start(client)
    turn = say(client, cid, auth, "je vais porter plainte contre vous, c'est inadmissible")
    assert turn["outcome"]["type"] == "handoff"
    assert desk_ticket(client, turn)["priority"] == "urgent" and desk_ticket(client, turn)["language"] == "fr"
    assert "réclamations" in turn["messages"][0]["text"] or "service client" in turn["messages"][0]["text"]


def test_two_unsure_turns_in_a_row_hand_off(client):
    cid, auth = start(client)
    first = say(client, cid, auth, "what is the capital of Australia?")
    assert first["outcome"]["type"] == "clarify"
    second = say(client, cid, auth, "who won the football world cup in 1998?")
    assert second["outcome"]["type"] == "handoff"
    assert desk_ticket(client, second)["reason"] == "repeated_failure"


def test_only_the_token_holder_reads_or_writes(client):
    cid, auth = start(client)
    other, other_auth = start(client)
    say(client, cid, auth, "hi")
    assert client.get(f"/api/conversations/{cid}/messages").status_code == 403
    assert client.get(f"/api/conversations/{cid}/messages", headers=other_auth).status_code == 403
    r = client.post(f"/api/conversations/{cid}/messages", json={"text": "x"}, headers=other_auth)
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert client.get("/api/conversations/nope/messages", headers=auth).status_code == 404
    assert len(client.get(f"/api/conversations/{other}/messages", headers=other_auth).json()["messages"]) == 0


@pytest.mark.parametrize(
    "payload",
    [{"text": ""}, {"text": "x" * 4001}, {"text": 42}, {}, {"message": "hi"}],
)
def test_bad_messages_get_a_clear_4xx_and_lose_nothing(client, payload):
    cid, auth = start(client)
    say(client, cid, auth, "hello")
    r = client.post(f"/api/conversations/{cid}/messages", json=payload, headers=auth)
    assert r.status_code == 422 and r.json()["detail"]
    assert len(client.get(f"/api/conversations/{cid}/messages", headers=auth).json()["messages"]) == 2


def test_malformed_requests_are_4xx(client):
    r = client.post("/api/conversations", data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert client.post("/api/conversations", json={"language": "de"}).status_code == 422
    assert client.get("/api/articles/does-not-exist").status_code == 404
    cid, auth = start(client)
    assert client.get(f"/api/conversations/{cid}/messages?after=-1", headers=auth).status_code == 422


def test_openapi_documents_the_widget_api(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/conversations" in paths and "/api/conversations/{conversation_id}/messages" in paths
    assert client.get("/healthz").json()["status"] == "ok"
    assert "<form" in client.get("/").text
