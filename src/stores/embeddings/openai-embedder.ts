import { AppError } from '../../errors/app-error.js';
import { sleep } from '../../util/timeout.js';
import type { Embedder } from './embedder.js';

/** Settings of an OpenAI-compatible embeddings endpoint. */
export interface OpenAiEmbedderOptions {
  /** Base URL, e.g. `http://host:8080/v1`; requests go to `<url>/embeddings`. */
  url: string;
  model: string;
  apiKey: string | undefined;
  dimension: number;
  /** Texts per request. Default 64. */
  batchSize?: number;
  /** Attempts per batch on 429, 5xx and network errors. Default 3. */
  attempts?: number;
  /** Timeout of one request. Default 30000 ms. */
  timeoutMs?: number;
}

/** Longest `Retry-After` the embedder waits out between attempts; a longer one fails the batch now. */
const MAX_RETRY_AFTER_MS = 30_000;

/** A `Retry-After` header in ms (seconds or an HTTP date), undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** A refusal the endpoint asked to be retried, after `waitMs` when it said. */
class Retryable extends Error {
  constructor(
    message: string,
    readonly waitMs: number | undefined,
  ) {
    super(message);
  }
}

interface EmbeddingsResponse {
  data?: { index?: number; embedding?: unknown }[];
}

/**
 * Any `/v1/embeddings` endpoint in the OpenAI format (OpenAI, vLLM, TEI, Ollama, ...):
 * batched, retried on 429, 5xx and network errors (after the endpoint's Retry-After when it
 * gives one, else with exponential backoff), with a timeout
 * per request, and every vector checked for the configured dimension.
 */
export class OpenAiEmbedder implements Embedder {
  readonly name: string;
  readonly dimension: number;

  constructor(private readonly options: OpenAiEmbedderOptions) {
    this.name = `openai:${options.model}`;
    this.dimension = options.dimension;
  }

  async embed(texts: readonly string[]): Promise<number[][]> {
    const size = this.options.batchSize ?? 64;
    const out: number[][] = [];
    for (let i = 0; i < texts.length; i += size) out.push(...(await this.batch(texts.slice(i, i + size))));
    return out;
  }

  private async batch(texts: readonly string[]): Promise<number[][]> {
    const attempts = this.options.attempts ?? 3;
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const response = await fetch(`${this.options.url.replace(/\/$/, '')}/embeddings`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(this.options.apiKey === undefined ? {} : { authorization: `Bearer ${this.options.apiKey}` }),
          },
          body: JSON.stringify({ model: this.options.model, input: texts }),
          signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
        });
        if (response.status === 429 || response.status >= 500)
          throw new Retryable(
            `embeddings endpoint answered ${response.status}`,
            retryAfterMs(response.headers.get('retry-after')),
          );
        if (!response.ok) {
          throw new AppError('UNAVAILABLE', {
            message: `embeddings endpoint refused the request (${response.status})`,
          });
        }
        return this.parse((await response.json()) as EmbeddingsResponse, texts.length);
      } catch (error) {
        if (error instanceof AppError) throw error;
        lastError = error;
        if (attempt === attempts) break;
        // The endpoint's own Retry-After (429, 503) over our backoff; one past any sensible
        // wait fails the batch now, as a caller's deadline would.
        const asked = error instanceof Retryable ? error.waitMs : undefined;
        if (asked !== undefined && asked > MAX_RETRY_AFTER_MS) break;
        await sleep(asked ?? 200 * 2 ** (attempt - 1));
      }
    }
    throw new AppError('UNAVAILABLE', { message: 'the embeddings endpoint is unavailable', cause: lastError });
  }

  private parse(body: EmbeddingsResponse, expected: number): number[][] {
    const data = [...(body.data ?? [])].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
    if (data.length !== expected)
      throw new AppError('UNAVAILABLE', {
        message: `embeddings endpoint returned ${data.length} vectors for ${expected} texts`,
      });
    return data.map((item) => {
      const vector = item.embedding;
      if (
        !Array.isArray(vector) ||
        vector.length !== this.dimension ||
        !vector.every((x) => typeof x === 'number' && Number.isFinite(x))
      ) {
        throw new AppError('UNAVAILABLE', {
          message: `embeddings endpoint returned a vector that is not ${this.dimension} numbers`,
        });
      }
      return vector as number[];
    });
  }
}
