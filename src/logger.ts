import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout. Paths that could carry secrets are redacted. */
export function createLogger(options: { level: string; nodeId: string }): Logger {
  return pino({
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
  });
}
