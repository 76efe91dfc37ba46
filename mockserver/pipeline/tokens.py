"""The mock's documented token count: a token is a run of word characters or one punctuation mark.

`"Hello, world!"` is 4 tokens. Usage, `max_tokens` cuts and stream chunking all use this count, so
they agree with each other (they do not try to match any provider's tokenizer).
"""

from __future__ import annotations

import re
from functools import lru_cache

TOKEN = re.compile(r"\w+|[^\w\s]")
# Fixed cost of each chat message (role and framing), as providers charge something similar.
TOKENS_PER_MESSAGE = 4


@lru_cache(maxsize=8192)
def count_tokens(text: str) -> int:
    """Memoised: the same texts (templates, generated answers) come back on every call."""
    return len(TOKEN.findall(text))


def token_ends(text: str) -> list[int]:
    """The end offset of every token in `text`."""
    return [match.end() for match in TOKEN.finditer(text)]


def cut_to_tokens(text: str, limit: int) -> tuple[str, bool]:
    """The first `limit` tokens of `text`, and whether anything was cut."""
    ends = token_ends(text)
    if len(ends) <= limit:
        return text, False
    return (text[: ends[limit - 1]] if limit > 0 else ""), True
