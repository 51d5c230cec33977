import type { Config } from '../../config/config.js';
import type { Embedder } from './embedder.js';
import { LocalEmbedder } from './local-embedder.js';
import { OpenAiEmbedder } from './openai-embedder.js';

/** Text to vectors: the OpenAI-compatible endpoint of EMBEDDINGS_URL, or the built-in local embedder. */
export function openEmbedder(config: Config): Embedder {
  const { embeddings } = config;
  return embeddings.url === undefined
    ? new LocalEmbedder(embeddings.dim)
    : new OpenAiEmbedder({
        url: embeddings.url,
        model: embeddings.model,
        apiKey: embeddings.apiKey,
        dimension: embeddings.dim,
      });
}
