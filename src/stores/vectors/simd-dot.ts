/**
 * `dot.wat` assembled (wabt, SIMD enabled). test/unit/simd-dot.test.ts assembles the
 * source again and fails when these bytes are stale.
 */
export const DOT_WASM_BASE64 =
  'AGFzbQEAAAABCAFgA39/fwF9AwIBAAUDAQABBxACBm1lbW9yeQIAA2RvdAAACnsBeQICewF/IAAgAkECdGohBQJAA0AgACAFTw0BIAMgAP0ABAAgAf0ABAD95gH95AEhAyAEIAD9AAQQIAH9AAQQ/eYB/eQBIQQgAEEgaiEAIAFBIGohAQwACwsgAyAE/eQBIQMgA/0fACAD/R8BkiAD/R8CIAP9HwOSkgs=';

const dotModule = new WebAssembly.Module(Buffer.from(DOT_WASM_BASE64, 'base64'));

const FLOAT_BYTES = 4;
const PAGE_BYTES = 65_536;

/**
 * Rows of float32 vectors in WebAssembly memory, for dot products with SIMD (about six
 * times as fast as the same loop in JavaScript). Each row takes `stride` floats, the
 * dimension rounded up to a multiple of 8 with zeros after it, so rows stay 16-byte
 * aligned and the padding adds nothing to a product. Slot 0 holds the query; row `r`
 * lives in slot `r + 1`.
 */
export class VectorMatrix {
  readonly stride: number;
  private readonly memory: WebAssembly.Memory;
  private readonly dotAt: (a: number, b: number, floats: number) => number;
  private floats: Float32Array;
  private capacity = 0;

  constructor(readonly dimension: number) {
    this.stride = Math.ceil(dimension / 8) * 8;
    const exports = new WebAssembly.Instance(dotModule, {}).exports as {
      memory: WebAssembly.Memory;
      dot: (a: number, b: number, floats: number) => number;
    };
    this.memory = exports.memory;
    this.dotAt = exports.dot;
    this.floats = new Float32Array(this.memory.buffer);
    this.reserve(0);
  }

  /** Makes room for `rows` rows (memory grows by doubling, and never shrinks). */
  reserve(rows: number): void {
    if (rows <= this.capacity) return;
    const wanted = Math.max(rows, this.capacity * 2, 64);
    const bytes = (wanted + 1) * this.stride * FLOAT_BYTES;
    const pages = Math.ceil(bytes / PAGE_BYTES) - this.memory.buffer.byteLength / PAGE_BYTES;
    if (pages > 0) this.memory.grow(pages);
    this.floats = new Float32Array(this.memory.buffer);
    this.capacity = Math.floor(this.memory.buffer.byteLength / FLOAT_BYTES / this.stride) - 1;
  }

  /** Writes a row (`vector` has `dimension` floats). */
  set(row: number, vector: Float32Array): void {
    this.reserve(row + 1);
    const at = (row + 1) * this.stride;
    this.floats.set(vector, at);
    this.floats.fill(0, at + this.dimension, at + this.stride);
  }

  /** Copies row `from` over row `to`. */
  copy(from: number, to: number): void {
    this.floats.copyWithin((to + 1) * this.stride, (from + 1) * this.stride, (from + 2) * this.stride);
  }

  /** The floats of a row (a view: copy it to keep it). */
  row(row: number): Float32Array {
    const at = (row + 1) * this.stride;
    return this.floats.subarray(at, at + this.dimension);
  }

  /** Sets the vector that `dot` multiplies rows with. */
  setQuery(vector: Float32Array): void {
    this.floats.set(vector, 0);
    this.floats.fill(0, this.dimension, this.stride);
  }

  /** The dot product of a row with the query. */
  dot(row: number): number {
    return this.dotAt((row + 1) * this.stride * FLOAT_BYTES, 0, this.stride);
  }
}
