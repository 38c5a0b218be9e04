"""What the customer is told when a person's desk changes their request, in French and English."""

from __future__ import annotations

from typing import Dict, Optional

from tier0.vocab import Language

NOTICES: Dict[str, Dict[str, str]] = {
    "resolved": {
        Language.EN: "Your request {ticket} has been marked as resolved by our {team} team. "
        "If you need anything else about it, just reply here.",
        Language.FR: "Votre demande {ticket} a été marquée comme résolue par notre équipe {team}. "
        "Pour toute autre question à ce sujet, répondez simplement ici.",
    },
    "escalated": {
        Language.EN: "Your request {ticket} has been passed to our {team} team, who will follow up here.",
        Language.FR: "Votre demande {ticket} a été transmise à notre équipe {team}, qui vous répondra ici.",
    },
    "returned": {
        Language.EN: "You are back with the virtual assistant. Ask me anything, or ask for a person at any time.",
        Language.FR: "Vous êtes de nouveau avec l'assistant virtuel. Posez-moi vos questions, ou demandez un "
        "conseiller à tout moment.",
    },
    "reopened": {
        Language.EN: "Your request {ticket} is open again; our {team} team will reply here.",
        Language.FR: "Votre demande {ticket} est rouverte ; notre équipe {team} vous répondra ici.",
    },
    "email_saved": {
        Language.EN: "Thank you. We will reply to {email} about your request {ticket}.",
        Language.FR: "Merci. Nous vous répondrons à l'adresse {email} au sujet de votre demande {ticket}.",
    },
}


def notice(key: str, lang: Optional[str], **params) -> str:
    entry = NOTICES[key]
    return (entry.get(lang or Language.EN) or entry[Language.EN]).format(**params)
