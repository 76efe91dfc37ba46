"""Serialise a chat response once, then reuse it: identical calls differ only in ids and time.

For a given body, drawn configs, project and session, a ChatResponse differs between calls only in
its log ids, the provider ids derived from them, and `created`. `ResponseTemplate` is the JSON with
those values cut out; `fill` writes them back in. The result is byte-identical to serialising
`chat_response(answer)` (tests hold it to that), at a fraction of the cost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from mockserver import jsonio
from mockserver.determinism import logical_unix
from mockserver.memo import Memo
from mockserver.pipeline.answer import ChatAnswer, ParsedChat
from mockserver.pipeline.respond import chat_response

# A slot marker: control characters cannot come from our ids, and orjson writes them as \u0001.
_MARK = "\x01hlmock:{}\x01"
# One literal prefix, so `re` scans a long body for it quickly; a `created` slot also takes the quotes
# around it (the number replaces the whole JSON string).
_SLOT = re.compile(rb"\\u0001hlmock:(?:created|id:(\d+))\\u0001")


@dataclass(slots=True)
class ResponseTemplate:
    parts: list[bytes]
    slots: list[tuple[str, int]]  # ("id", sample index) or ("created", 0), in text order

    def fill(self, answer: ChatAnswer) -> bytes:
        values = []
        for kind, index in self.slots:
            if kind == "created":
                values.append(str(logical_unix(answer.tick)).encode())
            else:  # an id slot follows its literal prefix ("data_" or "chatcmpl-") in the template
                values.append(answer.samples[index].log_id.removeprefix("data_").encode())
        out = [self.parts[0]]
        for value, part in zip(values, self.parts[1:], strict=True):
            out += (value, part)
        return b"".join(out)


def build_template(answer: ChatAnswer) -> ResponseTemplate | None:
    """The template for this answer's shape, or None if the body could be confused with a slot."""
    # A marked log id lands in the data item's id and in the provider id derived from it.
    marked = replace(answer, samples=[replace(s, log_id="data_" + _MARK.format(f"id:{s.index}"))
                                      for s in answer.samples])
    body = chat_response(marked)
    for item in body["provider_responses"]:
        item["created"] = _MARK.format("created")
    raw = jsonio.dumps(body)
    parts: list[bytes] = []
    slots: list[tuple[str, int]] = []
    position = 0
    for match in _SLOT.finditer(raw):
        quoted = 0 if match.group(1) else 1
        parts.append(raw[position:match.start() - quoted])
        slots.append(("id", int(match.group(1))) if match.group(1) else ("created", 0))
        position = match.end() + quoted
    parts.append(raw[position:])
    expected = sorted([("id", s.index) for s in answer.samples] * 2 + [("created", 0)] * len(answer.samples))
    if sorted(slots) != expected:  # a request that carries our marker text: do not template it
        return None
    return ResponseTemplate(parts, slots)


_NO_TEMPLATE = ResponseTemplate([], [])


def _template_size(template: ResponseTemplate) -> int:
    """Bytes a memoised template keeps (for the byte budget): its parts."""
    return sum(map(len, template.parts))


def render_json(memo: Memo, parsed: ParsedChat, answer: ChatAnswer) -> bytes:
    """The JSON body of `answer`: from a template when the same shape was answered before."""
    if any(sample.script is not None for sample in answer.samples):
        return jsonio.dumps(chat_response(answer))  # scripted answers are not memoised
    key = (
        parsed.body,
        tuple((s.config_id, s.config_fingerprint) for s in answer.samples),
        answer.project_id,
        answer.session_id,
    )
    template = memo.get("response-template", key, lambda: build_template(answer) or _NO_TEMPLATE,
                        _template_size)
    if template is _NO_TEMPLATE:
        return jsonio.dumps(chat_response(answer))
    return template.fill(answer)
