"""Measures hearing: word error rate of the general model and of a session vocabulary on
fixed spoken questions about a fixed document, and how long recognition takes.

    python -m voicehelper_assistant.measure_hearing [--voices N] [--json]

Each question is spoken by espeak-ng (two voices: en-us at 160 words a minute, pitch 50,
and en-us+m3 faster and lower), resampled to 16 kHz, and streamed as `audio/l16` in 20 ms
frames through `Listener.feed`, as the worker does with live frames (without waiting
for real time between frames). Printed: WER per model, finish latency (last frame fed ->
transcript) p50/p99, real-time factor (decoding time / audio time), and the time to
build the vocabulary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import time

import numpy as np
import soxr

from .hearing import MODEL_RATE, Recognizer, Vocabulary, words

#: The sample document the questions are about.
DOCUMENT = """\
Acme Support Handbook.
Maria Lopez leads the support team. The support team answers customer tickets from
Monday to Friday, between eight in the morning and six in the evening.
The billing team is managed by David Chen. Invoices are sent on the first day of every
month, and customers can pay by card or by bank transfer.
The office is in Berlin, on the third floor of the harbour building.
New employees get a laptop and a badge on their first day. The security badge opens the
main door and the parking garage.
Refunds are approved by the billing team within five working days.
The company has forty two employees and was founded in 2015.
Urgent incidents are reported to the on call engineer by phone.
The weekly team meeting is on Tuesday at ten o'clock.
Holiday requests must be sent to your manager two weeks in advance.
"""

#: Spoken questions, with what a perfect transcript says.
QUESTIONS = [
    "Who leads the support team?",
    "When does the support team answer tickets?",
    "Who manages the billing team?",
    "When are invoices sent?",
    "How can customers pay?",
    "Where is the office?",
    "What do new employees get on their first day?",
    "What does the security badge open?",
    "Who approves refunds?",
    "How many employees does the company have?",
    "When was the company founded?",
    "How are urgent incidents reported?",
    "When is the weekly team meeting?",
    "Where do I send holiday requests?",
    "How long does a refund take?",
]

#: espeak-ng voices: (voice, words per minute, pitch).
VOICES = [("en-us", 160, 50), ("en-us+m3", 185, 35)]


def speak(text: str, voice: str = "en-us", speed: int = 160, pitch: int = 50) -> bytes:
    """`text` spoken by espeak-ng as 16 kHz audio/l16 (big-endian 16-bit mono)."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
        capture_output=True,
        check=True,
    ).stdout
    at = wav.find(b"data", 12)
    body = wav[at + 8 :]
    samples = np.frombuffer(body[: len(body) - len(body) % 2], dtype="<i2")
    rate = int.from_bytes(wav[24:28], "little")
    resampled = soxr.resample(samples, rate, MODEL_RATE)
    return resampled.astype(">i2").tobytes()


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance in words, reference length)."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[len(hyp)], len(ref)


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def _hear(recognizer: Recognizer, audio: bytes, vocabulary: Vocabulary | None):
    listener = recognizer.listener("audio/l16", MODEL_RATE, vocabulary)
    try:
        frame = MODEL_RATE // 50 * 2
        started = time.perf_counter()
        for at in range(0, len(audio), frame):
            await listener.feed(audio[at : at + frame])
        fed = time.perf_counter()
        transcript = await listener.finish()
        done = time.perf_counter()
    finally:
        listener.close()
    return transcript, done - fed, done - started


async def measure(voices: int, verbose: bool) -> dict[str, object]:
    started = time.perf_counter()
    recognizer = Recognizer()
    recognizer_seconds = time.perf_counter() - started
    started = time.perf_counter()
    vocabulary = await asyncio.to_thread(Vocabulary.build, [DOCUMENT])
    build_seconds = time.perf_counter() - started
    clips = [
        (question, speak(question, *voice)) for voice in VOICES[:voices] for question in QUESTIONS
    ]
    audio_seconds = sum(len(audio) / 2 / MODEL_RATE for _, audio in clips)
    results: dict[str, object] = {
        "questions": len(clips),
        "audio_seconds": round(audio_seconds, 1),
        "recognizer_seconds": round(recognizer_seconds, 2),
        "vocabulary_build_seconds": round(build_seconds, 3),
        "vocabulary_words": len(vocabulary.words),
    }
    for name, vocab in (("general", None), ("session", vocabulary)):
        errors = total = 0
        finish: list[float] = []
        busy = 0.0
        for question, audio in clips:
            transcript, finish_seconds, all_seconds = await _hear(recognizer, audio, vocab)
            e, n = word_errors(question, transcript)
            errors, total = errors + e, total + n
            finish.append(finish_seconds)
            busy += all_seconds
            if verbose:
                print(f"  {name:8} {e}/{n}  {question!r} -> {transcript!r}")
        results[name] = {
            "wer": round(errors / total, 3),
            "finish_p50_ms": round(_percentile(finish, 50) * 1000),
            "finish_p99_ms": round(_percentile(finish, 99) * 1000),
            "real_time_factor": round(busy / audio_seconds, 3),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", type=int, default=len(VOICES), choices=range(1, len(VOICES) + 1))
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    args = parser.parse_args()
    results = asyncio.run(measure(args.voices, verbose=not args.json))
    print(json.dumps(results, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
