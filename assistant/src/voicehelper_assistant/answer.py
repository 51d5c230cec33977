"""Extractive answers: the sentences of the retrieved chunks that share the question's words.

The server's retrieval ranks chunks (by the embedder it runs, often a lexical hash); this
module picks, inside them, the few sentences that answer, so that a spoken answer is a
sentence or three rather than a whole 800-character chunk, and says so when none does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from voicehelper import models

#: The answer when no document says anything about the question.
DONT_KNOW = "I don't know that yet; upload a document about it."
#: Sentences an extractive answer quotes at most.
MAX_SENTENCES = 3

_WORD = re.compile(r"[\w']+", re.UNICODE)
_SENTENCE = re.compile(r"(?<=[.!?。！？])[\"')\]]*\s+|\n+")
_STOPWORDS = frozenset(
    """a about above after again against all am an and any are aren't as at be because been before being
    below between both but by can can't could couldn't did didn't do does doesn't doing don't down during
    each few for from further had hadn't has hasn't have haven't having he her here hers herself him himself
    his how i i'm if in into is isn't it it's its itself just know let's like me more most my myself no nor
    not of off on once only or other ought our ours ourselves out over own please same say she should so
    some such tell than that that's the their theirs them themselves then there there's these they this
    those through to too under until up us very was wasn't we were weren't what what's when where where's
    which while who who's whom why will with won't would wouldn't you your yours yourself yourselves""".split()
)


def stem(word: str) -> str:
    """A crude English stem, enough for `opens`/`open` and `hours`/`hour` to meet."""
    word = word.lower().removesuffix("'s").strip("'")
    for suffix, replacement in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: len(word) - len(suffix)] + replacement
    return word


def keywords(text: str) -> set[str]:
    """The words of a text that carry its meaning, stemmed."""
    return {stem(word) for word in _WORD.findall(text) if word.lower() not in _STOPWORDS and len(word) > 1}


def sentences(text: str) -> list[str]:
    return [" ".join(part.split()) for part in _SENTENCE.split(text) if part.strip()]


@dataclass(frozen=True)
class Answer:
    """An extractive answer: its text and the titles of the documents it quotes."""

    text: str
    sources: tuple[str, ...]

    @property
    def known(self) -> bool:
        return bool(self.sources)


def chunk_title(chunk: models.Chunk) -> str:
    title = chunk.metadata.get("title")
    return title if isinstance(title, str) and title.strip() else "your document"


def extract(question: str, chunks: Sequence[models.Chunk]) -> Answer:
    """The sentences of `chunks` (best first) that answer `question`, citing their documents.

    A sentence counts when it holds enough of the question's keywords (one of one or two,
    two of more); the best ones are quoted, at most MAX_SENTENCES, in the order of their
    chunks, without the repeats that overlapping chunks bring.
    """
    wanted = keywords(question)
    if not wanted:
        return Answer(DONT_KNOW, ())
    needed = 1 if len(wanted) <= 2 else 2
    scored: list[tuple[int, int, int, str, str]] = []
    seen: set[str] = set()
    for rank, chunk in enumerate(chunks):
        for position, sentence in enumerate(sentences(chunk.content)):
            key = sentence.lower()
            if key in seen:
                continue
            seen.add(key)
            hits = len(wanted & keywords(sentence))
            if hits >= needed:
                scored.append((hits, rank, position, sentence, chunk_title(chunk)))
    if not scored:
        return Answer(DONT_KNOW, ())
    best = max(hit for hit, *_ in scored)
    # The best sentences, and those nearly as good, best chunk first.
    chosen = sorted((s for s in scored if s[0] >= max(needed, best - 1)), key=lambda s: (-s[0], s[1], s[2]))
    chosen = sorted(chosen[:MAX_SENTENCES], key=lambda s: (s[1], s[2]))
    sources = tuple(dict.fromkeys(title for *_, title in chosen))
    body = " ".join(sentence if sentence[-1] in ".!?。！？" else f"{sentence}." for *_, sentence, _ in chosen)
    return Answer(f"{body} (Source: {', '.join(sources)})", sources)
