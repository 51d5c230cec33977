import { destination, type Logger, pino } from 'pino';

export type { Logger };

/** JSON logs on stdout (or `destination`: 2 is stderr). Paths that could carry secrets are redacted. */
export function createLogger(options: { level: string; nodeId: string; destination?: 1 | 2 }): Logger {
  const settings = {
    level: options.level,
    base: { node: options.nodeId },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        'password',
        '*.password',
        'token',
        '*.token',
        'accessToken',
        '*.accessToken',
        'authorization',
        '*.authorization',
        'req.headers.authorization',
        'req.headers.cookie',
        '*.secretKey',
        '*.url',
      ],
      censor: '[redacted]',
    },
  };
  return options.destination === 2 ? pino(settings, destination({ dest: 2, sync: true })) : pino(settings);
}
