"""Hearing with the real recognizer (pocketsphinx and its bundled English model) on real
speech (espeak-ng): formats, the session vocabulary against the general model, silence,
refusals and discarded streams."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess

import av
import numpy as np
import pytest

from voicehelper_assistant.hearing import (
    MODEL_RATE,
    Recognizer,
    UnsupportedAudio,
    Vocabulary,
    words,
)
from voicehelper_assistant.measure_hearing import DOCUMENT, speak

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")

FRAME = MODEL_RATE // 50 * 2  # 20 ms of 16 kHz l16


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer()


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return Vocabulary.build([DOCUMENT])


def espeak_wav(text: str) -> bytes:
    """espeak-ng's own WAV: 22050 Hz, little-endian (its sizes are placeholders)."""
    return subprocess.run(
        ["espeak-ng", "-v", "en-us", "--stdout", text], capture_output=True, check=True
    ).stdout


def samples_16k(text: str) -> np.ndarray:
    return np.frombuffer(speak(text), dtype=">i2").astype(np.int16)


def proper_wav(samples: np.ndarray, rate: int) -> bytes:
    body = samples.astype("<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(body)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return header + b"data" + struct.pack("<I", len(body)) + body


def ogg_opus(samples: np.ndarray) -> bytes:
    out = io.BytesIO()
    with av.open(out, mode="w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=48000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = MODEL_RATE
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


async def hear(listener, data: bytes, chunk: int = FRAME) -> str:
    try:
        for at in range(0, len(data), chunk):
            await listener.feed(data[at : at + chunk])
        return await listener.finish()
    finally:
        listener.close()


def key_words_heard(transcript: str, key: str) -> int:
    heard = set(words(transcript))
    return sum(word in heard for word in key.split())


QUESTION = "Who leads the support team?"
KEY = "leads support team"


async def test_l16_big_endian_in_20ms_frames(recognizer, vocabulary):
    audio = speak(QUESTION)  # big-endian, as the browser app streams it
    transcript = await hear(recognizer.listener("audio/l16", 16000, vocabulary), audio)
    assert key_words_heard(transcript, KEY) == 3, transcript


async def test_l16_at_another_rate_is_resampled(recognizer, vocabulary):
    wav = espeak_wav(QUESTION)
    at = wav.find(b"data", 12)
    samples = np.frombuffer(wav[at + 8 :][: (len(wav) - at - 8) // 2 * 2], dtype="<i2")
    audio = samples.astype(">i2").tobytes()
    # 441 samples = 20 ms at 22050 Hz; the rate also comes as a mime parameter.
    listener = recognizer.listener("audio/l16; rate=22050", None, vocabulary)
    transcript = await hear(listener, audio, chunk=882)
    assert key_words_heard(transcript, KEY) == 3, transcript


async def test_wav_with_its_header_split_across_chunks(recognizer, vocabulary):
    wav = proper_wav(samples_16k("Who manages the billing team?"), MODEL_RATE)
    listener = recognizer.listener("audio/wav", None, vocabulary)
    # 7-byte chunks cut the header anywhere; odd sizes cut samples in half.
    try:
        for at in range(0, 60, 7):
            await listener.feed(wav[at : min(at + 7, 60)])
        for at in range(60, len(wav), 999):
            await listener.feed(wav[at : at + 999])
        transcript = await listener.finish()
    finally:
        listener.close()
    assert key_words_heard(transcript, "who manages billing") == 3, transcript


async def test_espeak_wav_as_it_streams_at_22050(recognizer, vocabulary):
    # espeak-ng writing to a pipe leaves placeholder sizes in its header.
    transcript = await hear(
        recognizer.listener("audio/wav", None, vocabulary), espeak_wav(QUESTION), chunk=1000
    )
    assert key_words_heard(transcript, KEY) == 3, transcript


async def test_ogg_opus_through_ffmpeg(recognizer, vocabulary):
    data = ogg_opus(samples_16k(QUESTION))
    transcript = await hear(recognizer.listener("audio/ogg", None, vocabulary), data, chunk=500)
    assert key_words_heard(transcript, KEY) == 3, transcript


async def test_session_vocabulary_hears_document_questions_better(recognizer, vocabulary):
    cases = [
        ("Who leads the support team?", "who leads support team"),
        ("Who manages the billing team?", "who manages billing"),
        ("When was the company founded?", "when company founded"),
    ]
    session = general = 0
    for question, key in cases:
        audio = speak(question)
        with_vocabulary = await hear(recognizer.listener("audio/l16", 16000, vocabulary), audio)
        without = await hear(recognizer.listener("audio/l16", 16000), audio)
        session += key_words_heard(with_vocabulary, key)
        general += key_words_heard(without, key)
    total = sum(len(key.split()) for _, key in cases)
    assert session >= total - 1
    assert session > general


async def test_general_model_hears_without_a_vocabulary(recognizer):
    transcript = await hear(recognizer.listener("audio/l16", 16000), speak("Where is the office?"))
    assert "where" in words(transcript), transcript


async def test_silence_and_nothing_give_an_empty_transcript(recognizer, vocabulary):
    silence = bytes(2 * MODEL_RATE)  # one second of zeros
    assert await hear(recognizer.listener("audio/l16", 16000, vocabulary), silence) == ""
    empty = recognizer.listener("audio/l16", 16000, vocabulary)
    assert await empty.finish() == ""
    empty.close()
    wav_without_data = recognizer.listener("audio/wav", None)
    assert await wav_without_data.finish() == ""
    wav_without_data.close()


def test_unknown_mime_types_are_refused(recognizer):
    for mime in ("text/plain", "audio/x-unknown", "video/mp4", ""):
        with pytest.raises(ValueError):
            recognizer.listener(mime, 16000)
    with pytest.raises(UnsupportedAudio):
        recognizer.listener("audio/l16; channels=x", 16000)


async def test_a_wav_stream_that_is_not_wav_fails_its_feed(recognizer):
    listener = recognizer.listener("audio/wav", None)
    with pytest.raises(UnsupportedAudio):
        await listener.feed(b"OggS" + bytes(100))
    listener.close()


async def test_close_after_a_discarded_stream(recognizer, vocabulary):
    audio = speak(QUESTION)
    listener = recognizer.listener("audio/l16", 16000, vocabulary)
    for at in range(0, len(audio) // 2, FRAME):
        await listener.feed(audio[at : at + FRAME])
    listener.close()
    listener.close()
    await listener.feed(audio[:FRAME])  # a late frame is ignored
    assert await listener.finish() == ""
    # The recognizer goes on serving other streams.
    transcript = await hear(recognizer.listener("audio/l16", 16000, vocabulary), audio)
    assert key_words_heard(transcript, KEY) == 3, transcript


def test_vocabulary_reads_numbers_and_skips_unknown_words():
    vocabulary = Vocabulary.build(["The team has 42 members since 2015 and a zqxjv badge."])
    assert {"forty", "two", "twenty", "fifteen", "badge", "who"} <= vocabulary.words
    assert "zqxjv" in vocabulary.skipped
    assert "zqxjv" not in vocabulary.words
    empty = Vocabulary.build([])
    assert "what" in empty.words
