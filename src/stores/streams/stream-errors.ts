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
  interrupted: (messageId: string | undefined) =>
    new AppError('CONFLICT', {
      message: 'the stream was interrupted: its turn is stored',
      ...(messageId === undefined ? {} : { details: { messageId } }),
    }),
};
