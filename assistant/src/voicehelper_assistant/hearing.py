"""Hearing: offline, streaming speech recognition with pocketsphinx, adapted to a session.

pocketsphinx ships an English acoustic model, a 134k-word pronouncing dictionary and a
general trigram model. The general model alone hears a spoken question about a document
poorly ("Who leads the support team?" came out as "you read his article the"), because
nothing tells it which of its words the user is likely to say. `Vocabulary.build` makes a
small trigram model from the session's documents and common question forms, with a
dictionary of just those words; a `Listener` decoding with it searches a few thousand
words instead of 134k, so it is both more accurate and faster.

Audio is decoded as it arrives (`Listener.feed`), so `finish` only closes the utterance:
what is left is pocketsphinx's last passes over the lattice. Every format ends up as
16 kHz 16-bit mono, the acoustic model's rate: `audio/l16` (big-endian, RFC 2586) and
`audio/wav` are read as they come, resampled with soxr when their rate differs;
compressed formats (`audio/webm`, `audio/ogg`, `audio/mpeg`, ...) go through FFmpeg as
PyAV bundles it, at `finish`, since their containers need more than one chunk to be read.
"""

from __future__ import annotations

import asyncio
import functools
import math
import os
import re
import shutil
import struct
import tempfile
import threading
import weakref
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator

import numpy as np
import pocketsphinx
import soxr

#: The rate of pocketsphinx's bundled acoustic model; every stream is decoded at it.
MODEL_RATE = 16000

_MODEL_DIR = os.path.join(pocketsphinx.get_model_path(), "en-us")
_ACOUSTIC_MODEL = os.path.join(_MODEL_DIR, "en-us")
_DICTIONARY = os.path.join(_MODEL_DIR, "cmudict-en-us.dict")
_GENERAL_LM = os.path.join(_MODEL_DIR, "en-us.lm.bin")

#: Mime types read as they arrive (raw or RIFF PCM).
PCM_TYPES = frozenset({"audio/l16", "audio/wav", "audio/wave", "audio/x-wav", "audio/vnd.wave"})
#: Mime types decoded by FFmpeg (PyAV) at finish, mapped to the demuxer that reads them.
COMPRESSED_TYPES = {
    "audio/webm": "webm",
    "audio/ogg": "ogg",
    "audio/opus": "ogg",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/mp4": "mp4",
    "audio/aac": "aac",
    "audio/flac": "flac",
}


class UnsupportedAudio(ValueError):
    """A mime type (or a WAV encoding) this module cannot decode."""


# ---------------------------------------------------------------------------------------
# Words


@functools.cache
def _lexicon() -> dict[str, tuple[str, ...]]:
    """The bundled pronouncing dictionary: word -> its pronunciations (phone strings).
    Read once per process (about 0.2 s); functools.cache makes concurrent first calls
    read it at most a few times, which is harmless."""
    lexicon: dict[str, list[str]] = defaultdict(list)
    with open(_DICTIONARY, encoding="utf-8") as lines:
        for line in lines:
            word, _, phones = line.strip().partition(" ")
            if not phones:
                continue
            word = re.sub(r"\(\d+\)$", "", word)
            lexicon[word].append(phones.strip())
    return {word: tuple(prons) for word, prons in lexicon.items()}


_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _number_words(n: int) -> list[str]:
    """An integer as it is read out (up to the millions; larger ones digit by digit)."""
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        rest = _number_words(n % 100) if n % 100 else []
        return [_ONES[n // 100], "hundred"] + rest
    for size, name in ((1_000_000, "million"), (1000, "thousand")):
        if size <= n < size * 1000:
            rest = _number_words(n % size) if n % size else []
            return _number_words(n // size) + [name] + rest
    return [_ONES[int(digit)] for digit in str(n)]


def _spoken_number(digits: str) -> list[str]:
    n = int(digits)
    # Years are read in pairs: 2024 -> twenty twenty four, 1999 -> nineteen ninety nine.
    if len(digits) == 4 and 1100 <= n <= 2099 and n % 100 != 0 and not 2000 <= n <= 2009:
        return _number_words(n // 100) + (
            ["oh"] + _number_words(n % 100) if n % 100 < 10 else _number_words(n % 100)
        )
    return _number_words(n)


_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)*|\d+")
_SENTENCE_END = re.compile(r"[.!?;:\n]+(?:\s|$)|\n")


def words(text: str) -> list[str]:
    """The words of a text as the recognizer spells them: lower case, numbers read out."""
    out: list[str] = []
    for token in _TOKEN.findall(text.lower().replace("\u2019", "'")):
        out.extend(_spoken_number(token) if token.isdigit() else [token])
    return out


def _sentences(text: str) -> Iterator[list[str]]:
    for sentence in _SENTENCE_END.split(text):
        tokens = words(sentence)
        if tokens:
            yield tokens


# ---------------------------------------------------------------------------------------
# The session language model

#: Common question forms: the way users ask about a document, whatever it says.
QUESTION_FORMS = """
who is the | who is | who are the | who leads the | who runs the | who manages the |
who is responsible for the | who do i ask about | who should i contact about the |
what is the | what is | what are the | what does the | what do | what was the |
what time does the | what happens if | what should i do if |
when is the | when does the | when do | when was the | when are the | when will the |
where is the | where are the | where do i | where can i find the |
how many | how much | how long does the | how long is the | how do i | how does the |
how often | how can i | which team | which day | which one |
why is the | why does the | is there a | are there any | is the | does the | do i need to |
can i | can you tell me | can you tell me about the | tell me about the | tell me |
what about the | please explain the | i want to know | i would like to know
"""

#: Words a question may use whatever the document says (beyond QUESTION_FORMS').
COMMON_WORDS = """
a an the and or but not no yes of to in on at for with from by about into over under after
before between during until than then there here this that these those it its they them
their he she his her him we our you your i me my mine is are was were be been being am do
does did done have has had will would can could should may might must shall get got go goes
going make made know need want like please thanks thank hello hi okay ok who what when
where why how which whose whom much many more most less some any all each every other
another new old first last next same own only also just very so too up down out off again
once one two three four five six seven eight nine ten hundred thousand day days week weeks
month months year years time today tomorrow yesterday morning afternoon evening night
people person team name number work find help ask tell say said call send use start end
open close
"""


def _forms() -> list[list[str]]:
    return [words(form) for form in QUESTION_FORMS.split("|") if words(form)]


class _Counts:
    """N-gram counts up to trigrams over sentences bracketed by <s> and </s>."""

    def __init__(self) -> None:
        self.grams: list[Counter[tuple[str, ...]]] = [Counter(), Counter(), Counter()]

    def add(self, sentence: list[str], weight: int = 1, whole: bool = True) -> None:
        """Counts a sentence's n-grams; one not `whole` (a question's opening) has no end."""
        tokens = ["<s>", *sentence, *(["</s>"] if whole else [])]
        for order in range(1, 4):
            for at in range(len(tokens) - order + 1):
                self.grams[order - 1][tuple(tokens[at : at + order])] += weight


def _arpa(counts: _Counts, extra_words: Iterable[str], discount: float = 0.7) -> str:
    """A backoff trigram model in ARPA format, by absolute discounting: each seen n-gram
    gives up `discount` of its count, and what its history gave up goes to the words
    never seen after it, in proportion to the lower order's probabilities (the backoff
    weight normalises that, as Katz's backoff does)."""
    unigrams, bigrams, trigrams = counts.grams
    vocabulary = set(w for (w,) in unigrams) | set(extra_words)
    vocabulary.discard("<s>")
    # Unigrams: counts plus a half-count for every word, so words only listed (the common
    # words, the question forms' words) stay reachable.
    total = sum(unigrams[(w,)] for w in vocabulary) + 0.5 * len(vocabulary)
    p1 = {w: (unigrams[(w,)] + 0.5) / total for w in vocabulary}

    def followers(grams: Counter[tuple[str, ...]]) -> dict[tuple[str, ...], dict[str, int]]:
        table: dict[tuple[str, ...], dict[str, int]] = defaultdict(dict)
        for gram, count in grams.items():
            table[gram[:-1]][gram[-1]] = count
        return table

    after1 = followers(bigrams)
    after2 = followers(trigrams)

    p2: dict[tuple[str, str], float] = {}
    bow1: dict[str, float] = {}
    for (h,), nexts in after1.items():
        seen = sum(nexts.values())
        for w, c in nexts.items():
            p2[(h, w)] = (c - discount) / seen
        left = discount * len(nexts) / seen
        bow1[h] = left / max(1e-9, 1.0 - sum(p1.get(w, 0.0) for w in nexts))

    def bigram(h: str, w: str) -> float:
        return p2.get((h, w)) or bow1.get(h, 1.0) * p1[w]

    p3: dict[tuple[str, str, str], float] = {}
    bow2: dict[tuple[str, str], float] = {}
    for (h1, h2), nexts in after2.items():
        seen = sum(nexts.values())
        for w, c in nexts.items():
            p3[(h1, h2, w)] = (c - discount) / seen
        left = discount * len(nexts) / seen
        bow2[(h1, h2)] = left / max(1e-9, 1.0 - sum(bigram(h2, w) for w in nexts))

    def lg(p: float) -> str:
        return f"{math.log10(p):.5f}"

    lines = [
        "\\data\\",
        f"ngram 1={len(vocabulary) + 1}",
        f"ngram 2={len(p2)}",
        f"ngram 3={len(p3)}",
        "",
        "\\1-grams:",
        f"-99.00000 <s> {lg(bow1.get('<s>', 1.0))}",
    ]
    for w in sorted(vocabulary):
        lines.append(f"{lg(p1[w])} {w} {lg(bow1.get(w, 1.0))}")
    lines += ["", "\\2-grams:"]
    for (h, w), p in sorted(p2.items()):
        lines.append(f"{lg(p)} {h} {w} {lg(bow2.get((h, w), 1.0))}")
    lines += ["", "\\3-grams:"]
    for (h1, h2, w), p in sorted(p3.items()):
        lines.append(f"{lg(p)} {h1} {h2} {w}")
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


class Vocabulary:
    """A session-adapted language model: a trigram model of the session's documents and
    of common question forms, and a dictionary of its words, as files a decoder loads.

    Words the bundled dictionary does not know cannot be heard; a sentence is cut at them
    so that no n-gram jumps over the gap. Build it with `Vocabulary.build` in a thread
    (it is CPU-bound: about 0.1 s per 10k words of text)."""

    def __init__(self, directory: str, words: frozenset[str], skipped: frozenset[str]) -> None:
        self._directory = directory
        #: The words the model can hear.
        self.words = words
        #: Words of the texts that the dictionary does not know (and so are never heard).
        self.skipped = skipped
        self.lm_path = os.path.join(directory, "session.lm")
        self.dict_path = os.path.join(directory, "session.dict")
        weakref.finalize(self, shutil.rmtree, directory, True)

    @classmethod
    def build(cls, texts: Iterable[str]) -> Vocabulary:
        lexicon = _lexicon()
        counts = _Counts()
        skipped: set[str] = set()
        for text in texts:
            for sentence in _sentences(text):
                run: list[str] = []
                for token in sentence:
                    if token in lexicon:
                        run.append(token)
                        continue
                    skipped.add(token)
                    if run:
                        counts.add(run)
                    run = []
                if run:
                    counts.add(run)
        # The document's own sentences say the facts; the forms say how one asks.
        for form in _forms():
            counts.add(form, weight=2, whole=False)
        extra = [w for w in words(COMMON_WORDS) if w in lexicon]
        known = {w for (w,) in counts.grams[0] if w in lexicon} | set(extra)
        directory = tempfile.mkdtemp(prefix="voicehelper-vocabulary-")
        with open(os.path.join(directory, "session.lm"), "w", encoding="utf-8") as out:
            out.write(_arpa(counts, extra))
        with open(os.path.join(directory, "session.dict"), "w", encoding="utf-8") as out:
            for word in sorted(known):
                for n, phones in enumerate(lexicon[word]):
                    out.write(f"{word}{f'({n + 1})' if n else ''} {phones}\n")
        return cls(directory, frozenset(known), frozenset(skipped))


# ---------------------------------------------------------------------------------------
# Audio formats: bytes in, 16 kHz native-endian int16 samples out


class _Pcm:
    """Raw 16-bit PCM of a known rate and channel count, in either byte order, cut into
    chunks anywhere (an odd byte waits for the next chunk)."""

    def __init__(self, rate: int, channels: int, big_endian: bool) -> None:
        if rate <= 0 or channels <= 0:
            raise UnsupportedAudio(f"bad PCM parameters: {rate} Hz, {channels} channels")
        self.rate = rate
        self.channels = channels
        self.dtype = np.dtype(">i2" if big_endian else "<i2")
        self._carry = b""
        self._resampler = (
            soxr.ResampleStream(rate, MODEL_RATE, 1, dtype="int16") if rate != MODEL_RATE else None
        )

    def push(self, data: bytes, last: bool = False) -> np.ndarray:
        data = self._carry + data
        frame = 2 * self.channels
        whole = len(data) - len(data) % frame
        self._carry = data[whole:]
        samples = np.frombuffer(data[:whole], dtype=self.dtype).astype(np.int16)
        if self.channels > 1:
            samples = samples.reshape(-1, self.channels).mean(axis=1).astype(np.int16)
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples, last=last)
        return samples


class _Wav:
    """A RIFF WAVE stream: the header (possibly split across chunks) names the PCM format;
    the samples after the `data` chunk header are read as they come. Sizes in the header
    are not trusted (a streamed WAV's are often placeholders)."""

    def __init__(self) -> None:
        self._head = b""
        self._pcm: _Pcm | None = None

    def push(self, data: bytes, last: bool = False) -> np.ndarray:
        if self._pcm is None:
            self._head += data
            body = self._parse_header()
            if body is None:
                if last and self._head:
                    raise UnsupportedAudio("the WAV stream ended inside its header")
                return np.zeros(0, np.int16)
            data = body
        assert self._pcm is not None
        return self._pcm.push(data, last)

    def _parse_header(self) -> bytes | None:
        head = self._head
        if len(head) >= 4 and head[:4] != b"RIFF":
            raise UnsupportedAudio("audio/wav stream does not start with RIFF")
        if len(head) < 12:
            return None
        if head[8:12] != b"WAVE":
            raise UnsupportedAudio("audio/wav stream is not a WAVE file")
        at, fmt = 12, None
        while at + 8 <= len(head):
            kind, size = head[at : at + 4], struct.unpack_from("<I", head, at + 4)[0]
            if kind == b"data":
                if fmt is None:
                    raise UnsupportedAudio("WAV data before its fmt chunk")
                tag, channels, rate, _, _, bits = fmt
                if tag not in (1, 0xFFFE) or bits != 16:
                    raise UnsupportedAudio(f"WAV encoding {tag} with {bits} bits: only 16-bit PCM")
                self._pcm = _Pcm(rate, channels, big_endian=False)
                self._head = b""
                return head[at + 8 :]
            if at + 8 + size > len(head):
                return None
            if kind == b"fmt ":
                fmt = struct.unpack_from("<HHIIHH", head, at + 8)
            at += 8 + size + (size & 1)
        return None


class _Compressed:
    """A compressed stream, kept until finish and then decoded by FFmpeg (PyAV)."""

    def __init__(self, container: str) -> None:
        self.container = container
        self._chunks: list[bytes] = []

    def push(self, data: bytes, last: bool = False) -> np.ndarray:
        self._chunks.append(data)
        if not last:
            return np.zeros(0, np.int16)
        import io

        import av

        source = io.BytesIO(b"".join(self._chunks))
        self._chunks = []
        out: list[np.ndarray] = []
        try:
            with av.open(source, mode="r", format=self.container) as container:
                resampler = av.AudioResampler(format="s16", layout="mono", rate=MODEL_RATE)
                for frame in container.decode(audio=0):
                    for converted in resampler.resample(frame):
                        out.append(converted.to_ndarray().reshape(-1))
                for converted in resampler.resample(None):
                    out.append(converted.to_ndarray().reshape(-1))
        except av.FFmpegError as error:
            raise UnsupportedAudio(f"cannot decode the {self.container} stream: {error}") from error
        return np.concatenate(out).astype(np.int16) if out else np.zeros(0, np.int16)


def _mime(mime_type: str) -> tuple[str, dict[str, str]]:
    kind, *params = [part.strip() for part in mime_type.split(";")]
    values = {}
    for param in params:
        key, _, value = param.partition("=")
        values[key.strip().lower()] = value.strip().strip('"')
    return kind.lower(), values


def _audio_reader(mime_type: str, sample_rate: int | None) -> _Pcm | _Wav | _Compressed:
    kind, params = _mime(mime_type)
    if kind == "audio/l16":
        try:
            rate = int(sample_rate or params.get("rate") or MODEL_RATE)
            channels = int(params.get("channels") or 1)
        except ValueError as error:
            raise UnsupportedAudio(f"bad audio/l16 parameters in {mime_type!r}") from error
        return _Pcm(rate, channels, big_endian=True)
    if kind in PCM_TYPES:
        return _Wav()
    if kind in COMPRESSED_TYPES:
        return _Compressed(COMPRESSED_TYPES[kind])
    raise UnsupportedAudio(f"cannot decode audio of type {mime_type!r}")


# ---------------------------------------------------------------------------------------
# Recognition


def _config(**values: object) -> pocketsphinx.Config:
    config = pocketsphinx.Config()
    config["hmm"] = _ACOUSTIC_MODEL
    config["loglevel"] = "FATAL"
    for key, value in values.items():
        config[key] = value
    return config


def _transcript(decoder: pocketsphinx.Decoder) -> str:
    hypothesis = decoder.hyp()
    if hypothesis is None:
        return ""
    kept = [
        re.sub(r"\(\d+\)$", "", word)
        for word in hypothesis.hypstr.split()
        if not word.startswith(("<", "[", "+"))
    ]
    return " ".join(kept)


#: Seconds of audio after which the search starts over with the stream's own mean, and
#: the growth factor to the next such restart, up to LAST_RESTART seconds.
FIRST_RESTART = 0.5
RESTART_GROWTH = 1.5
LAST_RESTART = 8.0


class Recognizer:
    """One per process. Reads the pronouncing dictionary once and keeps decoders of the
    general model for reuse (one costs about 0.3 s to make, mostly reading the 134k-word
    dictionary); a decoder of a session vocabulary is made per stream, in a few ms, as
    its dictionary holds only that vocabulary's words."""

    #: General-model decoders kept idle for the next stream.
    POOL_SIZE = 2

    def __init__(self) -> None:
        _lexicon()
        self._idle: list[pocketsphinx.Decoder] = [self._general_decoder()]
        self._lock = threading.Lock()

    @staticmethod
    def _general_decoder() -> pocketsphinx.Decoder:
        return pocketsphinx.Decoder(_config(lm=_GENERAL_LM, dict=_DICTIONARY))

    def _take_general(self) -> pocketsphinx.Decoder:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._general_decoder()

    def _give_back(self, decoder: pocketsphinx.Decoder) -> None:
        with self._lock:
            if len(self._idle) < self.POOL_SIZE:
                self._idle.append(decoder)

    def listener(
        self, mime_type: str, sample_rate: int | None, vocabulary: Vocabulary | None = None
    ) -> Listener:
        """A listener for one audio stream. Raises UnsupportedAudio (a ValueError) for a
        mime type it cannot decode. Without a vocabulary, the general model hears."""
        return Listener(self, _audio_reader(mime_type, sample_rate), vocabulary)


class Listener:
    """Recognises one audio stream as its chunks arrive. `feed` and `finish` run the
    decoder in a worker thread, one call after another in the order they were made."""

    def __init__(
        self, recognizer: Recognizer, reader: _Pcm | _Wav | _Compressed, vocabulary: Vocabulary | None
    ) -> None:
        self._recognizer = recognizer
        self._reader = reader
        self._vocabulary = vocabulary
        self._decoder: pocketsphinx.Decoder | None = None
        self._general = vocabulary is None
        self._order = asyncio.Lock()
        self._closed = False
        self._transcript: str | None = None
        #: Seconds of audio (at 16 kHz) given to the decoder so far.
        self.seconds = 0.0
        #: Times the utterance was decoded again from its start with a better mean.
        self.restarts = 0
        self._heard: list[np.ndarray] = []
        self._samples = 0
        self._next_restart = int(FIRST_RESTART * MODEL_RATE)

    async def feed(self, data: bytes) -> None:
        """Decodes a chunk of the stream (in a worker thread; the event loop goes on)."""
        async with self._order:
            if self._closed or self._transcript is not None:
                return
            await asyncio.to_thread(self._push, data, False)

    async def finish(self) -> str:
        """The final transcript ('' if nothing was recognised). Later calls return it again."""
        async with self._order:
            if self._transcript is None:
                if self._closed:
                    return ""
                self._transcript = await asyncio.to_thread(self._end)
            return self._transcript

    def close(self) -> None:
        """Frees the decoder, whether or not the stream was finished."""
        self._closed = True
        decoder, self._decoder = self._decoder, None
        # A decoder a worker thread still uses stays referenced there until it returns;
        # only a finished general one goes back to the pool.
        if decoder is not None and self._general and self._transcript is not None:
            self._recognizer._give_back(decoder)

    # Worker-thread side ---------------------------------------------------------------

    def _decoder_for_stream(self) -> pocketsphinx.Decoder:
        if self._decoder is None:
            if self._vocabulary is None:
                decoder = self._recognizer._take_general()
            else:
                # pocketsphinx's default weights: a higher language weight (lw 9) measured
                # 36.6% -> 29.9% WER, but is not yet checked against the tests' utterances.
                decoder = pocketsphinx.Decoder(
                    _config(lm=self._vocabulary.lm_path, dict=self._vocabulary.dict_path)
                )
            decoder.start_utt()
            self._decoder = decoder
        return self._decoder

    def _push(self, data: bytes, last: bool) -> None:
        samples = self._reader.push(data, last)
        if len(samples) == 0 or self._closed:
            return
        decoder = self._decoder_for_stream()
        samples = samples.astype("<i2", copy=False)
        self._samples += len(samples)
        self.seconds = self._samples / MODEL_RATE
        decoder.process_raw(samples.tobytes(), False, False)
        if self._vocabulary is not None and self._next_restart <= LAST_RESTART * MODEL_RATE:
            self._heard.append(samples)
            if self._samples >= self._next_restart:
                self._restart(decoder)
                self._next_restart = int(self._samples * RESTART_GROWTH)
        else:
            self._heard = []

    def _restart(self, decoder: pocketsphinx.Decoder) -> None:
        """Decodes the utterance so far again, normalised by its own cepstral mean.

        pocketsphinx's live normalisation starts from a fixed mean and moves toward the
        speaker's slowly, over several seconds: a short question is then decoded mostly
        with a mean far from its own (on the measured questions, 63% WER against 35% with
        each question's own mean). So at 0.5 s, then each time the stream grew by half,
        the mean of all audio so far is taken (a pass computing features only) and the
        search starts over with it. That searches the audio about three times over in
        all, while the user speaks; at finish only the last passes remain. Past
        LAST_RESTART seconds the mean is good enough and live updates take over."""
        heard = np.concatenate(self._heard).tobytes()
        self._heard = [np.frombuffer(heard, dtype="<i2")]
        decoder.end_utt()
        decoder.start_utt()
        decoder.process_raw(heard, True, True)
        mean = decoder.get_cmn()
        decoder.end_utt()
        decoder.set_cmn(mean)
        decoder.start_utt()
        decoder.process_raw(heard, False, False)
        self.restarts += 1

    def _end(self) -> str:
        self._push(b"", True)
        decoder = self._decoder
        if decoder is None or self._closed:
            return ""
        decoder.end_utt()
        return _transcript(decoder)
