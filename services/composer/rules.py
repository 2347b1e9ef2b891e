"""The composer's offline rules: one greeting, each draft's body in order, one sign-off."""

from __future__ import annotations

from services.responder.rules import GREETING, SIGN_OFF
from shared.pipeline.contracts import ComposerRequest, ComposerResult

FOLLOW_UP = {
    "en": "We are still looking into: {missing}. We will follow up on it separately.",
}
MAX_REPLY_CHARS = 2000


def body(reply: str, language: str) -> str:
    """A draft without its greeting and sign-off (the composed reply has one of each)."""
    text = reply.strip()
    greeting, sign_off = GREETING.get(language, ""), SIGN_OFF.get(language, "")
    if greeting and text.startswith(greeting):
        text = text[len(greeting) :].strip()
    if sign_off and text.endswith(sign_off):
        text = text[: -len(sign_off)].strip()
    return text


def compose(request: ComposerRequest) -> ComposerResult:
    language = request.language if request.language in GREETING else "en"
    parts = [body(draft.reply, language) for draft in request.drafts]
    if request.missing:
        template = FOLLOW_UP.get(language, FOLLOW_UP["en"])
        parts.append(template.format(missing="; ".join(request.missing)))
    closing = f"\n\n{SIGN_OFF[language]}"
    text = "\n\n".join(parts)[: MAX_REPLY_CHARS - len(GREETING[language]) - len(closing) - 1]
    return ComposerResult(reply=f"{GREETING[language]} {text}{closing}", language=language)
