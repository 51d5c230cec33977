import {
  type AudioEndedEvent,
  type AudioFrame,
  type AudioStartedEvent,
  decodeL16,
  L16_SAMPLE_RATE,
  L16Framer,
  wavFromL16,
} from '../../client/src/index.js';

/**
 * Live voice in the browser: other members' `audio/l16` frames played through Web Audio as
 * they arrive, and the microphone captured as 20 ms frames of 16 kHz `audio/l16`.
 */

/** Audio held before a stream's first frame (and after an underrun) plays: evens out arrival. */
const JITTER_S = 0.08;
/** Audio further behind than this is skipped until the stream is live again (after a stall). */
const MAX_DELAY_S = 0.5;
/** A speaker silent this long is no longer shown: its `audio:ended` may have been lost in a reconnect. */
const SILENT_MS = 3_000;

/** A stream being heard. */
export interface Speaker {
  sessionId: string;
  streamId: string;
  /** Unknown for a stream that started while this page was not listening. */
  started: AudioStartedEvent | undefined;
  lastFrameAt: number;
  /** When its next frame starts, in AudioContext time (0: nothing scheduled yet). */
  nextTime: number;
  /** What is scheduled and not played yet: stopped when the user talks over it. */
  sources: Set<AudioBufferSourceNode>;
  /** Talked over: the rest of the stream is not played. */
  muted: boolean;
}

/** When the page first heard an assistant's stream, and when its first frame plays (performance.now() times). */
export interface AssistantStart {
  streamId: string;
  receivedAt: number;
  playsAt: number;
}

/**
 * Plays the live streams of other members. Each frame is scheduled right behind the one
 * before; a stream starts (and, after an underrun, starts again) JITTER_S after its frame
 * arrived, which absorbs uneven arrival without adding noticeable delay. Streams in formats
 * other than `audio/l16` (or whose `audio:started` this page missed) are shown, not played.
 */
export class LivePlayer {
  private context: AudioContext | undefined;
  private readonly speakers = new Map<string, Speaker>();
  private sweep: ReturnType<typeof setTimeout> | undefined;
  /** Frames received, and frames handed to Web Audio to play. */
  received = 0;
  scheduled = 0;
  /** The loudest sample scheduled so far (0-1): shows that speech, not silence, arrives. */
  peak = 0;
  /** The latest assistant stream's first frame: when it came and when it plays. */
  assistantStart: AssistantStart | undefined;
  /** Assistant streams stopped because the user talked over them. */
  hushed = 0;

  constructor(private readonly changed: () => void) {}

  /** Creates or resumes the AudioContext; browsers let it play only once the user acted on the page. */
  unlock(): void {
    if (this.context === undefined) {
      this.context = new AudioContext();
      this.context.addEventListener('statechange', this.changed);
    }
    if (this.context.state === 'suspended') void this.context.resume();
  }

  get state(): AudioContextState | 'none' {
    return this.context?.state ?? 'none';
  }

  /** The streams heard now (of every joined session). */
  current(): Speaker[] {
    return [...this.speakers.values()];
  }

  started(event: AudioStartedEvent): void {
    this.speakers.set(event.streamId, {
      sessionId: event.sessionId,
      streamId: event.streamId,
      started: event,
      lastFrameAt: Date.now(),
      nextTime: 0,
      sources: new Set(),
      muted: false,
    });
    this.watch();
    this.changed();
  }

  frame(frame: AudioFrame): void {
    this.received++;
    let speaker = this.speakers.get(frame.streamId);
    if (speaker === undefined) {
      speaker = {
        sessionId: frame.sessionId,
        streamId: frame.streamId,
        started: undefined,
        lastFrameAt: 0,
        nextTime: 0,
        sources: new Set(),
        muted: false,
      };
      this.speakers.set(frame.streamId, speaker);
      this.watch();
      this.changed();
    }
    speaker.lastFrameAt = Date.now();
    if (speaker.started?.mimeType === 'audio/l16') this.schedule(speaker, frame.data);
  }

  ended(event: AudioEndedEvent): void {
    const speaker = this.speakers.get(event.streamId);
    // An interrupted stream stops at once; a finished one plays out what is scheduled.
    if (speaker !== undefined && event.reason === 'interrupted') this.stop(speaker);
    if (this.speakers.delete(event.streamId)) this.changed();
  }

  /**
   * The user talks over the assistant: what the page scheduled of the assistant's streams
   * in this session stops now, and the rest of them is not played (the assistant stops on
   * its side too, when it hears the user). `hushed` counts the streams stopped.
   */
  hush(sessionId: string): void {
    for (const speaker of this.speakers.values()) {
      if (speaker.sessionId !== sessionId || speaker.started?.role !== 'assistant' || speaker.muted) continue;
      this.stop(speaker);
      this.hushed++;
    }
  }

  private stop(speaker: Speaker): void {
    speaker.muted = true;
    for (const source of speaker.sources) source.stop();
    speaker.sources.clear();
  }

  private schedule(speaker: Speaker, data: Uint8Array): void {
    const context = this.context;
    // Audio scheduled before the context runs would all play late, at once.
    if (context === undefined || context.state !== 'running' || speaker.muted) return;
    const samples = decodeL16(data);
    if (samples.length === 0) return;
    const now = context.currentTime;
    if (speaker.nextTime < now) speaker.nextTime = now + JITTER_S;
    else if (speaker.nextTime > now + MAX_DELAY_S) return;
    const buffer = context.createBuffer(1, samples.length, speaker.started?.sampleRate ?? L16_SAMPLE_RATE);
    buffer.copyToChannel(samples, 0);
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(context.destination);
    source.start(speaker.nextTime);
    speaker.sources.add(source);
    source.addEventListener('ended', () => speaker.sources.delete(source));
    if (speaker.started?.role === 'assistant' && this.assistantStart?.streamId !== speaker.streamId) {
      const nowMs = performance.now();
      this.assistantStart = {
        streamId: speaker.streamId,
        receivedAt: nowMs,
        playsAt: nowMs + (speaker.nextTime - now) * 1000,
      };
    }
    speaker.nextTime += buffer.duration;
    this.scheduled++;
    for (const sample of samples) if (Math.abs(sample) > this.peak) this.peak = Math.abs(sample);
  }

  private watch(): void {
    this.sweep ??= setTimeout(() => {
      this.sweep = undefined;
      const before = Date.now() - SILENT_MS;
      let gone = false;
      for (const [streamId, speaker] of this.speakers)
        if (speaker.lastFrameAt < before) gone = this.speakers.delete(streamId) || gone;
      if (this.speakers.size > 0) this.watch();
      if (gone) this.changed();
    }, SILENT_MS);
  }
}

/** The microphone, delivering 20 ms `audio/l16` frames at 16 kHz until stopped. */
export interface Microphone {
  stop(): void;
}

export async function openMicrophone(onFrame: (frame: Uint8Array) => void): Promise<Microphone> {
  const media = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  });
  const context = new AudioContext();
  const source = context.createMediaStreamSource(media);
  // A ScriptProcessorNode (deprecated, yet in every browser) rather than an AudioWorklet:
  // a worklet is a module of its own, a second script file the server would have to serve
  // under the page's CSP. 1024 samples at 48 kHz is about one 20 ms frame per callback.
  const processor = context.createScriptProcessor(1024, 1, 1);
  const framer = new L16Framer({ inputRate: context.sampleRate });
  processor.onaudioprocess = (event) => {
    for (const frame of framer.push(event.inputBuffer.getChannelData(0))) onFrame(frame);
  };
  source.connect(processor);
  // The processor runs only while connected to an output; it writes nothing, so nothing is heard.
  processor.connect(context.destination);
  return {
    stop: () => {
      processor.onaudioprocess = null;
      source.disconnect();
      processor.disconnect();
      for (const track of media.getTracks()) track.stop();
      const rest = framer.flush();
      if (rest !== undefined) onFrame(rest);
      void context.close();
    },
  };
}

/** At most this much audio of recent streams is kept (about nine minutes of 16 kHz l16). */
const RECENT_MAX_BYTES = 16 * 1024 * 1024;

/**
 * The `audio/l16` of the streams this page spoke or heard live, by stream id, so that their
 * stored messages play (as WAV) without a download. The oldest streams go first.
 */
export class RecentAudio {
  private readonly streams = new Map<string, { parts: Uint8Array[]; bytes: number }>();
  private bytes = 0;

  add(streamId: string, data: Uint8Array, dropped = 0): void {
    const stream = this.streams.get(streamId) ?? { parts: [], bytes: 0 };
    this.streams.set(streamId, stream);
    // Frames lost on the way (a slow reader) become silence of the same length.
    const parts = dropped > 0 ? [new Uint8Array(dropped * data.byteLength), data] : [data];
    for (const part of parts) {
      stream.parts.push(part);
      stream.bytes += part.byteLength;
      this.bytes += part.byteLength;
    }
    for (const id of this.streams.keys()) {
      if (this.bytes <= RECENT_MAX_BYTES || id === streamId) break;
      this.drop(id);
    }
  }

  drop(streamId: string): void {
    const stream = this.streams.get(streamId);
    if (stream === undefined) return;
    this.streams.delete(streamId);
    this.bytes -= stream.bytes;
  }

  /** The stream as a WAV file, if this page has it. */
  wav(streamId: string, sampleRate: number): Uint8Array<ArrayBuffer> | undefined {
    const stream = this.streams.get(streamId);
    return stream === undefined ? undefined : wavFromL16(stream.parts, sampleRate);
  }
}
