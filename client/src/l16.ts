/**
 * `audio/l16`, the live voice format the SDK and the browser app use: signed 16-bit PCM,
 * mono, in network byte order (big-endian, as RFC 2586 defines audio/L16), at the stream's
 * `sampleRate` (16 kHz recommended) in frames of 20 ms (640 bytes at 16 kHz). Raw PCM needs
 * no codec on either side and any frame can be played the moment it arrives.
 */

/** The recommended live voice format: 16 kHz, 20 ms frames. */
export const L16_SAMPLE_RATE = 16_000;
export const L16_FRAME_MS = 20;

/** Samples in [-1, 1] as audio/l16 bytes (clipped). */
export function encodeL16(samples: Float32Array): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(samples.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i] ?? 0));
    view.setInt16(i * 2, Math.round(s < 0 ? s * 0x8000 : s * 0x7fff), false);
  }
  return bytes;
}

/** audio/l16 bytes as samples in [-1, 1]; a trailing odd byte is ignored. */
export function decodeL16(bytes: Uint8Array): Float32Array<ArrayBuffer> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const samples = new Float32Array(bytes.byteLength >> 1);
  for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(i * 2, false) / 0x8000;
  return samples;
}

/**
 * A WAV file (little-endian PCM) of audio/l16 bytes, so that a stored `audio/l16` message
 * plays in an `<audio>` element, which does not know raw PCM.
 */
export function wavFromL16(parts: readonly Uint8Array[], sampleRate: number): Uint8Array<ArrayBuffer> {
  const dataBytes = parts.reduce((sum, part) => sum + (part.byteLength & ~1), 0);
  const wav = new Uint8Array(44 + dataBytes);
  const view = new DataView(wav.buffer);
  const ascii = (offset: number, text: string) => {
    for (let i = 0; i < text.length; i++) wav[offset + i] = text.charCodeAt(i);
  };
  ascii(0, 'RIFF');
  view.setUint32(4, 36 + dataBytes, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  ascii(36, 'data');
  view.setUint32(40, dataBytes, true);
  let offset = 44;
  for (const part of parts) {
    // Each sample's two bytes swap: l16 is big-endian, WAV little-endian.
    for (let i = 0; i + 1 < part.byteLength; i += 2) {
      wav[offset++] = part[i + 1] as number;
      wav[offset++] = part[i] as number;
    }
  }
  return wav;
}

/**
 * Turns what a microphone captures (float samples at the device's rate, in buffers of any
 * size) into audio/l16 frames of `frameMs` at `outputRate`. Each output sample is the mean
 * of the input samples it covers, a low-pass that keeps speech clear of aliasing.
 */
export class L16Framer {
  private readonly ratio: number;
  private readonly frame: Float32Array;
  private filled = 0;
  /** Input position (in input samples, relative to the next input buffer) of the next output sample. */
  private position = 0;
  /** The partial sum of the output sample that straddles two input buffers. */
  private carrySum = 0;
  private carryCount = 0;

  constructor(options: {
    /** The capture rate (an AudioContext's `sampleRate`). */
    inputRate: number;
    /** Default 16 000. */
    outputRate?: number;
    /** Default 20. */
    frameMs?: number;
  }) {
    const outputRate = options.outputRate ?? L16_SAMPLE_RATE;
    if (options.inputRate < outputRate) throw new Error('L16Framer only downsamples');
    this.ratio = options.inputRate / outputRate;
    this.frame = new Float32Array(Math.round((outputRate * (options.frameMs ?? L16_FRAME_MS)) / 1000));
  }

  /** The frames completed by these samples (often none or one). */
  push(input: Float32Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    let start = 0;
    for (;;) {
      const end = this.position + this.ratio;
      const last = Math.min(input.length, Math.ceil(end));
      for (let i = start; i < last; i++) this.carrySum += input[i] ?? 0;
      this.carryCount += Math.max(0, last - start);
      if (end > input.length) {
        this.position -= input.length;
        return frames;
      }
      this.frame[this.filled++] = this.carryCount === 0 ? 0 : this.carrySum / this.carryCount;
      this.carrySum = 0;
      this.carryCount = 0;
      start = last;
      this.position = end;
      if (this.filled === this.frame.length) {
        frames.push(encodeL16(this.frame));
        this.filled = 0;
      }
    }
  }

  /** The last, shorter frame (when the capture stops), if any samples wait. */
  flush(): Uint8Array | undefined {
    if (this.filled === 0) return undefined;
    const rest = encodeL16(this.frame.subarray(0, this.filled));
    this.filled = 0;
    return rest;
  }
}
