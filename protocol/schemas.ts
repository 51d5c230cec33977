import { z } from 'zod';

/**
 * Runtime schemas of every client-to-server payload, one per event. Handlers receive only
 * what these produce (unknown keys stripped), and the payload types derive from them.
 */
export const payloadSchemas = {
  /** Round trip to this node; answers `{ nodeId, serverTime }`. An addition to PROTOCOL v1. */
  'sys:ping': z.object({}).strict().optional(),
} as const;

export type ClientEventName = keyof typeof payloadSchemas;
export type PayloadOf<E extends ClientEventName> = z.output<(typeof payloadSchemas)[E]>;
