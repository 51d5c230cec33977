import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import wabtInit from 'wabt';
import { DOT_WASM_BASE64, VectorMatrix } from '../../src/stores/vectors/simd-dot.js';

/** A deterministic pseudo-random vector. */
function vector(seed: number, dimension: number): Float32Array {
  let x = seed >>> 0;
  return Float32Array.from({ length: dimension }, () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) / 16777216 - 0.5;
  });
}

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] as number) * (b[i] as number);
  return sum;
}

describe('SIMD dot products (VectorMatrix)', () => {
  it('embeds exactly the bytes that dot.wat assembles to', async () => {
    const wabt = await wabtInit();
    const parsed = wabt.parseWat('dot.wat', readFileSync('src/stores/vectors/dot.wat', 'utf8'), { simd: true });
    expect(Buffer.from(parsed.toBinary({}).buffer).toString('base64')).toBe(DOT_WASM_BASE64);
    parsed.destroy();
  });

  it('matches a plain dot product for every dimension, padding included', () => {
    for (const dimension of [1, 3, 7, 8, 9, 100, 256, 1023, 1024]) {
      const matrix = new VectorMatrix(dimension);
      const rows = Array.from({ length: 20 }, (_, i) => vector(i + dimension, dimension));
      rows.forEach((row, i) => matrix.set(i, row));
      const query = vector(999, dimension);
      matrix.setQuery(query);
      rows.forEach((row, i) => expect(matrix.dot(i)).toBeCloseTo(dot(row, query), 4));
      expect(Array.from(matrix.row(3))).toEqual(Array.from(rows[3] as Float32Array));
    }
  });

  it('keeps rows through growth, copies rows, and ignores what a longer earlier query left', () => {
    const matrix = new VectorMatrix(10);
    const rows = Array.from({ length: 5_000 }, (_, i) => vector(i, 10));
    rows.forEach((row, i) => matrix.set(i, row));
    matrix.copy(4_999, 0);
    const query = vector(7, 10);
    matrix.setQuery(query);
    expect(matrix.dot(0)).toBeCloseTo(dot(rows[4_999] as Float32Array, query), 4);
    expect(matrix.dot(2_500)).toBeCloseTo(dot(rows[2_500] as Float32Array, query), 4);
    // Padding stays zero: a row written over an older one with the same floats gives the same product.
    matrix.set(1, rows[1] as Float32Array);
    expect(matrix.dot(1)).toBeCloseTo(dot(rows[1] as Float32Array, query), 4);
  });
});
