import cliProgress from 'cli-progress';

/** Progress of one counted task. */
export interface Progress {
  increment(by?: number): void;
  /** A new total (when it is learnt on the way). */
  setTotal(total: number): void;
  stop(): void;
}

const PLAIN_EVERY_MS = 2_000;

/**
 * A bar with counts and ETA on a terminal (cli-progress, on stderr so stdout stays
 * parseable), plain `label: done/total` lines when stderr is not a terminal (logs, CI),
 * at most every 2 s and at the end.
 */
export function startProgress(label: string, total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (stream.isTTY === true) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label.padEnd(22)} [{bar}] {value}/{total} {percentage}% ETA {eta_formatted}`,
        stream,
        hideCursor: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0);
    return {
      increment: (by = 1) => bar.increment(by),
      setTotal: (value) => bar.setTotal(value),
      stop: () => bar.stop(),
    };
  }
  let done = 0;
  let max = total;
  let last = 0;
  const started = Date.now();
  const line = () => {
    const elapsed = (Date.now() - started) / 1000;
    const eta = done > 0 && max > done ? ` eta ${Math.round((elapsed / done) * (max - done))}s` : '';
    stream.write(`${label}: ${done}/${max}${eta}\n`);
  };
  return {
    increment(by = 1) {
      done += by;
      if (Date.now() - last >= PLAIN_EVERY_MS) {
        last = Date.now();
        line();
      }
    },
    setTotal(value) {
      max = value;
    },
    stop() {
      line();
    },
  };
}
