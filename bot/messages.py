"""What the bot says, in French and English. One place, so wording is reviewed and translated together."""

from __future__ import annotations

from typing import Optional

CATALOG = {
    "answer_intro": {
        "en": "Here is what I found in our help centre:",
        "fr": "Voici ce que j'ai trouvé dans notre centre d'aide :",
    },
    "answer_followup": {
        "en": "Did this answer your question?",
        "fr": "Cela répond-il à votre question ?",
    },
    "clarify_choice": {
        "en": "I want to be sure I answer the right question. Which of these is closest?",
        "fr": "Je veux être sûr de répondre à la bonne question. Laquelle de ces questions est la plus proche ?",
    },
    "clarify_rephrase": {
        "en": "I'm not sure I understood. Could you rephrase your question with a few more details? "
        "You can also ask to talk to a person.",
        "fr": "Je ne suis pas sûr d'avoir compris. Pouvez-vous reformuler votre question avec un peu plus de "
        "détails ? Vous pouvez aussi demander à parler à un conseiller.",
    },
    "suggest_one": {
        "en": "This article may answer your question:",
        "fr": "Cet article peut répondre à votre question :",
    },
    "suggest_many": {
        "en": "These articles may answer your question:",
        "fr": "Ces articles peuvent répondre à votre question :",
    },
    "clarify_none": {
        "en": "Sorry about that. Could you tell me a little more, in other words? If I still can't find it, "
        "I will pass you to a person.",
        "fr": "Désolé. Pouvez-vous m'en dire un peu plus, avec d'autres mots ? Si je ne trouve toujours pas, "
        "je vous passe un conseiller.",
    },
    "handoff": {
        "en": "I'm passing your conversation to our {team} team. A person will reply here in this chat. "
        "Your ticket reference is {ticket}. You are number {position} in the queue; "
        "expected wait: about {wait} minutes.",
        "fr": "Je transmets votre conversation à notre équipe {team}. Un conseiller vous répondra ici, dans "
        "cette fenêtre. Votre référence de ticket est {ticket}. Vous êtes en position {position} dans la file ; "
        "attente estimée : environ {wait} minutes.",
    },
    "handoff_offline": {
        "en": "I'm passing your conversation to our {team} team (ticket {ticket}), but nobody is available right "
        "now{opens}. Please leave your e-mail address here and we will reply as soon as we can.",
        "fr": "Je transmets votre conversation à notre équipe {team} (ticket {ticket}), mais personne n'est "
        "disponible pour le moment{opens}. Laissez-nous votre adresse e-mail ici : nous vous répondrons dès que "
        "possible.",
    },
    "handoff_offline_known_email": {
        "en": "I'm passing your conversation to our {team} team (ticket {ticket}), but nobody is available right "
        "now{opens}. We will reply to {email} as soon as we can.",
        "fr": "Je transmets votre conversation à notre équipe {team} (ticket {ticket}), mais personne n'est "
        "disponible pour le moment{opens}. Nous vous répondrons à {email} dès que possible.",
    },
    "opens_at": {"en": " (we open again at {when})", "fr": " (réouverture à {when})"},
    "handoff_existing": {
        "en": "Your conversation is already with our {team} team (ticket {ticket}). A person will reply here.",
        "fr": "Votre conversation est déjà transmise à notre équipe {team} (ticket {ticket}). "
        "Un conseiller vous répondra ici.",
    },
    "feedback_yes": {
        "en": "Great, glad I could help! Anything else?",
        "fr": "Parfait, ravi d'avoir pu vous aider ! Autre chose ?",
    },
    "feedback_prompt": {
        "en": "How can I help you?",
        "fr": "Comment puis-je vous aider ?",
    },
    "read_more": {"en": "Source", "fr": "Source"},
    "none_of_these": {"en": "None of these", "fr": "Aucune de ces questions"},
}


def say(key: str, lang: Optional[str], **params) -> str:
    entry = CATALOG[key]
    text = entry.get(lang or "en") or entry["en"]
    return text.format(**params) if params else text
