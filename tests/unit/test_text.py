import pytest

from tier0.text import detect_language, normalize, tokens


@pytest.mark.parametrize(
    "text, lang",
    [
        ("bonjour", "fr"),
        ("merci beaucoup", "fr"),
        ("mot de passe oublie", "fr"),
        ("j'ai été prélevé deux fois", "fr"),
        ("ou est mon colis", "fr"),
        ("je veux parler a un humain", "fr"),
        ("hi", "en"),
        ("where is my parcel", "en"),
        ("I forgot my password", "en"),
        ("agent please", "en"),
        ("refund?", "en"),
    ],
)
def test_detects_french_and_english_on_short_messages(text, lang):
    assert detect_language(text) == lang


@pytest.mark.parametrize("text", ["ok", "T-12", "NV-12345678", "???"])
def test_no_evidence_keeps_the_conversation_language(text):
    assert detect_language(text, default="fr") == "fr"
    assert detect_language(text) is None


def test_normalize_is_case_and_accent_insensitive():
    assert normalize("Réinitialiser MON Mot-de-Passe") == "reinitialiser mon mot-de-passe"
    assert tokens("Où est ma commande NV-123 ?") == ["ou", "est", "ma", "commande", "nv", "123"]
