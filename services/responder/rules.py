"""The responder's offline rules: a reply template per category, in the customer's language."""

from __future__ import annotations

from shared.pipeline.contracts import ResponderRequest, ResponderResult
from shared.pipeline.contracts.triage import Category

GREETING = {"en": "Hello,", "es": "Hola,", "fr": "Bonjour,", "de": "Hallo,", "pt": "Olá,",
            "it": "Ciao,", "nl": "Hallo,"}  # fmt: skip
SIGN_OFF = {"en": "Best regards, the support team", "es": "Saludos, el equipo de soporte",
            "fr": "Cordialement, l'équipe support", "de": "Viele Grüße, Ihr Support-Team",
            "pt": "Atenciosamente, a equipe de suporte",
            "it": "Cordiali saluti, il team di supporto",
            "nl": "Met vriendelijke groet, het supportteam"}  # fmt: skip

ANSWERS: dict[Category, str] = {
    "billing": "thank you for reaching out about your bill. We have opened a review of the "
    "charges on your account and will correct any error; you will receive an updated invoice "
    "by email.",
    "technical": "sorry for the trouble. Our engineers are looking into the problem you "
    "describe. Meanwhile, please try updating the app and signing in again.",
    "account": "we can help with your account. For your security, use the 'Forgot password' "
    "link on the sign-in page; the reset link is valid for 30 minutes.",
    "shipping": "thanks for your patience. We have asked the carrier for an update on your "
    "delivery and will send you the new tracking details as soon as we have them.",
    "refund": "we have received your refund request. Once approved, the money is returned to "
    "your original payment method within 5 to 10 business days.",
    "general": "thanks for your message. You can find most answers in our help centre; reply "
    "to this message if you need anything else.",
    "legal": "your message has been passed to the responsible team, who will contact you.",
    "emergency": "if anyone is in danger, contact your local emergency services now. Our team "
    "has been alerted.",
    "complaint": "we are sorry about your experience. A team lead will review your complaint.",
}
CLARIFY = (
    "thanks for contacting us. To help you quickly, could you tell us a bit more: what "
    "happened, which product or order it concerns, and when it started?"
)
URGENT_NOTE = " We are treating this as urgent."


def draft(request: ResponderRequest) -> ResponderResult:
    language = request.language if request.language in GREETING else "en"
    if request.mode == "clarify":
        body = CLARIFY
        questions = ["What happened?", "Which product or order is it about?"]
    else:
        body = ANSWERS[request.category]
        if request.priority == "urgent":
            body += URGENT_NOTE
        questions = []
    reply = f"{GREETING[language]} {body}\n\n{SIGN_OFF[language]}"
    return ResponderResult(reply=reply, language=language, follow_up_questions=questions)
