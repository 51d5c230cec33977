/** `value` rounded to `decimals` decimal places. */
export function roundTo(value: number, decimals: number): number {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}

/** Milliseconds since `started` (a `performance.now()` reading), to a hundredth. */
export function elapsedMs(started: number): number {
  return roundTo(performance.now() - started, 2);
}
