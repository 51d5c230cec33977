import { AppError } from '../../errors/app-error.js';

/** The errors of `StreamBuffer.append`, shared by both implementations. */
export const streamErrors = {
  gap: (expectedIndex: number) =>
    new AppError('VALIDATION', {
      message: 'deltas must arrive in index order',
      details: { field: 'index', expectedIndex },
    }),
  tooLarge: (maxBytes: number) =>
    new AppError('PAYLOAD_TOO_LARGE', {
      message: `a stream holds at most ${maxBytes} bytes`,
      details: { limit: maxBytes },
    }),
  notOwner: () => new AppError('FORBIDDEN', { message: 'the stream belongs to another user' }),
  /** Cut by a barge-in; `messageId` is its stored turn, unknown while that is being stored. */
  interrupted: (messageId: string | undefined) =>
    messageId === undefined
      ? AppError.because('stream_interrupted_storing', { message: 'the stream was interrupted: its turn is stored' })
      : AppError.because('stream_interrupted', {
          message: 'the stream was interrupted: its turn is stored',
          details: { messageId },
        }),
};
