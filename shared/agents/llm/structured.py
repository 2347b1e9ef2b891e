"""Structured output: how a pydantic contract is asked for, and how the reply is checked.

Three modes, the first the strongest (``BATON_LLM_STRUCTURED`` picks one, or ``auto`` negotiates
them per base URL and model, from the first down; see ``docs/llm-servers.md``):

* ``json_schema``: the contract's JSON schema is sent as ``response_format`` with ``strict: true``,
  so servers that support structured outputs (OpenAI, Azure, vLLM, Ollama, LiteLLM) constrain
  decoding to it.
* ``json_object_schema``: ``{"type": "json_object", "schema": ...}``, which llama.cpp's servers
  (``llama-server`` and llama-cpp-python's) turn into a grammar: decoding is constrained too.
* ``json_object``: plain JSON mode; only the prompt can carry the contract, so it shows an example
  of a valid answer (:mod:`shared.agents.llm.example`), not the raw schema a small model copies
  back.

Either way the reply is validated against the contract with pydantic: a reply that is not JSON,
or breaks the schema, raises :class:`ContractError`; it is never accepted silently.
"""

from __future__ import annotations

import copy
import functools
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ValidationError

from shared.agents.llm.client import LLMRequest, T
from shared.agents.llm.example import example_answer
from shared.agents.llm.transport import ChatReply
from shared.errors import ContractError, PermanentError
from shared.pipeline.envelope import validation_errors

Mode = Literal["json_schema", "json_object_schema", "json_object"]
MODES: tuple[Mode, ...] = ("json_schema", "json_object_schema", "json_object")
"""Strongest first: the order ``auto`` tries them in."""

LLM_ERROR = "llm_error"

_DROP_KEYWORDS = ("title", "default")
_NAME_MAPS = ("properties", "$defs", "definitions")
_LENGTHS = ("minLength", "maxLength")


@functools.lru_cache(maxsize=256)
def strict_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """The contract's JSON schema in the form strict structured outputs require (cached: do not
    mutate the result).

    Every object lists all its properties as required and forbids others (fields with defaults
    become required, so the model always fills them); ``title`` and ``default`` are dropped, and
    string lengths, which strict mode does not accept, move into the description. Pydantic still
    enforces every constraint on the reply.
    """
    result: dict[str, Any] = _strict(copy.deepcopy(schema.model_json_schema()))
    return result


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _NAME_MAPS and isinstance(value, dict):
            out[key] = {name: _strict(sub) for name, sub in value.items()}
        elif key not in _DROP_KEYWORDS and key not in _LENGTHS:
            out[key] = _strict(value)
    hint = _length_hint(node.get("minLength"), node.get("maxLength"))
    if hint:
        described = out.get("description")
        out["description"] = f"{described} ({hint})" if described else hint
    if isinstance(out.get("properties"), dict):
        out["required"] = list(out["properties"])
    if out.get("type") == "object":
        out["additionalProperties"] = False
    all_of = out.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
        out.pop("allOf")
        out.update(all_of[0])
    return out


def _length_hint(least: object, most: object) -> str:
    if isinstance(most, int):
        if isinstance(least, int):
            return f"{least} to {most} characters"
        return f"at most {most} characters"
    if isinstance(least, int):
        return f"at least {least} characters"
    return ""


def response_format(schema: type[BaseModel], mode: Mode) -> dict[str, Any]:
    if mode == "json_object":
        return {"type": "json_object"}
    if mode == "json_object_schema":
        return {"type": "json_object", "schema": strict_schema(schema)}
    return {
        "type": "json_schema",
        "json_schema": {
            "name": schema.__name__[:64],
            "schema": strict_schema(schema),
            "strict": True,
        },
    }


def system_prompt(request: LLMRequest[T], mode: Mode) -> str:
    """The system prompt; in JSON mode it also shows what a valid answer looks like."""
    if mode == "json_schema":
        return request.system
    if mode == "json_object_schema":
        return f"{request.system}\n\nReply with one JSON object and nothing else."
    example = example_answer(request.schema)
    if example is None:  # no instance could be built: the schema is all the prompt can show
        shape = (
            f"matching this JSON schema:\n{orjson.dumps(strict_schema(request.schema)).decode()}"
        )
    else:
        shape = (
            "with exactly these fields. This example only shows the shape; fill every field "
            f"from the request:\n{example}"
        )
    return f"{request.system}\n\nReply with one JSON object and nothing else, {shape}"


def messages(request: LLMRequest[T], mode: Mode) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": system_prompt(request, mode)},
        {"role": "user", "content": request.user},
    ]


def parse_reply(completion: ChatReply, schema: type[T]) -> T:
    """The contract filled by the model's reply.

    Raises:
        PermanentError: (reason ``llm_error``) the provider's content filter stopped the reply,
            or the model refused; asking again gives the same answer.
        ContractError: (reason ``contract_violation``) no reply, a reply cut off at the token
            limit, a reply that is not JSON, or JSON that breaks the contract.
    """
    name = schema.__name__
    if not completion.choices:
        raise ContractError(f"the model returned no choices for {name}")
    choice = completion.choices[0]
    if choice.finish_reason == "content_filter":
        raise PermanentError("the provider's content filter stopped the reply", reason=LLM_ERROR)
    if choice.message.refusal:
        raise PermanentError(f"the model refused to fill {name}", reason=LLM_ERROR)
    if choice.finish_reason == "length":
        raise ContractError(
            f"the reply for {name} was cut off at max_tokens",
            errors=[{"loc": "", "msg": "reply truncated at max_tokens", "type": "truncated"}],
        )
    content = _strip_fence(choice.message.content or "")
    try:
        return schema.model_validate_json(content)
    except ValidationError as exc:
        errors = validation_errors(exc)
        if any(err["type"] == "json_invalid" for err in errors):
            raise ContractError(
                f"the reply for {name} is not JSON ({len(content)} chars)", errors=errors
            ) from None
        raise ContractError(f"the reply breaks {name}", errors=errors) from None


def _strip_fence(content: str) -> str:
    """Drop one Markdown code fence around the JSON, which some JSON-mode servers add."""
    text = content.strip()
    if text.startswith("```") and text.endswith("```") and len(text) >= 6:
        body = text[3:-3]
        newline = body.find("\n")
        if newline >= 0 and body[:newline].strip() in ("", "json", "JSON"):
            return body[newline + 1 :].strip()
    return text
