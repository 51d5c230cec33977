import { setTimeout as sleep } from 'node:timers/promises';
import { io, type Socket } from 'socket.io-client';
import { waitUntil } from '../src/util/timeout.js';

/** The reference document: its entities come back from the graph half of every whole answer. */
const REFERENCE =
  'OpenAI trains GPT-4 on Microsoft Azure. OpenAI sells GPT-4 through an API. Microsoft Azure hosts GPT-4.';
const QUESTION = 'Where is GPT-4 trained?';
const PROBE_EVERY_MS = 250;
/** A client's ack timeout: the server bounds a retrieval at RETRIEVE_TIMEOUT_MS (3 s) plus the embedding. */
const ANSWER_TIMEOUT_MS = 10_000;

type RetrieveAck =
  | { ok: true; data: { chunks: Array<{ documentId: string }>; entities: unknown[]; degraded?: string[] } }
  | { ok: false; error: { code: string } };

/** One probe's outcome: whole (chunks of the document and entities), degraded (named parts), or an error code. */
type Outcome = { at: number; node: number; whole: boolean; degraded: string[]; error?: string };

/** What the round saw of retrieval. */
export interface RetrievalReport {
  /** Probes answered in the round. */
  probes: number;
  /** Answers that named a degraded part, by part. */
  degraded: Record<string, number>;
  /** Probes answered with an error (or not at all), by code. */
  failed: Record<string, number>;
  /** From the heal until every node answered whole, ms (Infinity: never within the bound). */
  wholeAfterMs: number;
  /**
   * The documents of the round by what became of them: uploaded just before the fault (their
   * jobs queued or running when it hit) and one uploaded while it was on. Each must end
   * `ready` and retrievable; the others are `failed`, `stuck` (neither within the bound, or
   * never accepted) or `unretrievable` (ready, but a search restricted to it misses it).
   */
  documents: Record<DocumentFate, number>;
}

type DocumentFate = 'ready' | 'failed' | 'stuck' | 'unretrievable';

/** A document of 120 sentences (about 10 KB): with one ingestion at a time per node, a batch of them is still queued when the fault hits. */
function documentText(label: string): string {
  return Array.from(
    { length: 120 },
    (_, i) => `Kubernetes schedules ${label} container ${i}. Kubernetes restarts ${label} pod ${i} near Node ${i % 7}.`,
  ).join(' ');
}

/**
 * Retrieval as a good client uses it through faults: one user with one reference document
 * asks `retrieve` on every node every 250 ms; it uploads a batch of documents just before
 * the fault and one while the fault is on (retrying an upload until it is accepted), then
 * follows each until it is ready. The report says whether retrieval degraded (rather than
 * failed) while a store was down, how soon every node answered whole again, and what
 * became of the documents.
 */
export class RetrievalProbe {
  private outcomes: Outcome[] = [];
  private running = false;
  private closed = false;
  private loops: Promise<void>[] = [];

  private constructor(
    private readonly token: string,
    private readonly documentId: string,
    private readonly sockets: Socket[],
    private readonly nodeUrls: string[],
    private readonly up: (node: number) => boolean,
  ) {}

  /** Uploads the reference document through the first node and waits for it to be ready. */
  static async create(token: string, nodeUrls: string[], up: (node: number) => boolean): Promise<RetrievalProbe> {
    const first = nodeUrls[0] as string;
    const documentId = await upload(first, token, REFERENCE, 'reference.txt');
    const state = await followDocument(() => [first], token, documentId, 60_000);
    if (state !== 'ready') throw new Error(`the reference document did not become ready (${state})`);
    const probe = new RetrievalProbe(token, documentId, [], nodeUrls, up);
    for (const node of nodeUrls.keys()) probe.connect(node);
    const whole = await waitUntil(
      async () => (await Promise.all(nodeUrls.map((_, i) => probe.ask(i)))).every((o) => o.whole),
      30_000,
      250,
    );
    if (!whole) throw new Error('retrieval is not whole on every node before any fault');
    return probe;
  }

  close(): void {
    this.closed = true;
    for (const socket of this.sockets) socket.close();
  }

  /**
   * Keeps a socket to `node` open as a good client does: Socket.IO does not reconnect by
   * itself after a refused handshake (a node that is starting answers one), so any failure
   * or disconnect is followed by a fresh connection 300 ms later.
   */
  private connect(node: number): void {
    if (this.closed) return;
    const socket = io(this.nodeUrls[node] as string, {
      transports: ['websocket'],
      auth: { token: this.token },
      reconnection: false,
      forceNew: true,
      timeout: 5_000,
    });
    this.sockets[node] = socket;
    let retried = false;
    const retry = () => {
      if (retried) return;
      retried = true;
      socket.close();
      setTimeout(() => this.connect(node), 300);
    };
    socket.on('connect_error', retry);
    socket.on('disconnect', retry);
  }

  /** Stops probing (a round cut short; `finish` does it otherwise). */
  halt(): void {
    this.running = false;
  }

  /** Starts probing every node. */
  start(): void {
    this.outcomes = [];
    this.running = true;
    this.loops = this.sockets.map(async (_, node) => {
      while (this.running) {
        const asked = Date.now();
        if (this.up(node)) this.outcomes.push(await this.ask(node));
        await sleep(Math.max(0, PROBE_EVERY_MS - (Date.now() - asked)));
      }
    });
  }

  /**
   * Stops probing once every node has answered whole after `healedAt` (or `boundMs` passed)
   * and reports what the probes saw; `documents` comes from `follow`.
   */
  async finish(healedAt: number, boundMs: number): Promise<Omit<RetrievalReport, 'documents'>> {
    const wholeOn = (node: number) => this.outcomes.find((o) => o.node === node && o.at >= healedAt && o.whole)?.at;
    await waitUntil(() => this.sockets.every((_, node) => wholeOn(node) !== undefined), boundMs, 100);
    this.running = false;
    await Promise.all(this.loops);
    const times = this.sockets.map((_, node) => wholeOn(node));
    const wholeAfterMs = times.every((t) => t !== undefined)
      ? Math.max(...times.map((t) => (t as number) - healedAt), 0)
      : Number.POSITIVE_INFINITY;
    const degraded: Record<string, number> = {};
    const failed: Record<string, number> = {};
    for (const o of this.outcomes) {
      for (const part of o.degraded) degraded[part] = (degraded[part] ?? 0) + 1;
      if (o.error !== undefined) failed[o.error] = (failed[o.error] ?? 0) + 1;
    }
    return { probes: this.outcomes.length, degraded, failed, wholeAfterMs };
  }

  /**
   * Follows each of the `uploaded` documents for up to `boundMs` and counts what became of
   * them. Their statuses are followed together, the searches one at a time (a dozen at once
   * would queue up in milvus-lite past RETRIEVE_TIMEOUT_MS and answer degraded).
   */
  async follow(uploaded: Array<string | undefined>, boundMs: number): Promise<Record<DocumentFate, number>> {
    const documents: Record<DocumentFate, number> = { ready: 0, failed: 0, stuck: 0, unretrievable: 0 };
    const states = await Promise.all(
      uploaded.map((id) => (id === undefined ? 'stuck' : followDocument(() => this.upUrls(), this.token, id, boundMs))),
    );
    for (const [i, state] of states.entries())
      documents[state === 'ready' ? await this.retrievable(uploaded[i] as string) : state]++;
    return documents;
  }

  /** Uploads a document as a good client does (retrying until accepted, for 90 s), through whichever node is up. */
  async upload(label: string): Promise<string | undefined> {
    const deadline = Date.now() + 90_000;
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      const url = this.upUrls()[attempt % this.upUrls().length] as string;
      try {
        return await upload(url, this.token, documentText(label), `${label}.txt`);
      } catch {
        await sleep(500);
      }
    }
    return undefined;
  }

  private upUrls(): string[] {
    const up = this.nodeUrls.filter((_, i) => this.up(i));
    return up.length > 0 ? up : this.nodeUrls;
  }

  /** Whether a search restricted to the (ready) document finds it. */
  private async retrievable(documentId: string): Promise<'ready' | 'unretrievable'> {
    // A degraded answer (a half past RETRIEVE_TIMEOUT_MS on a loaded node) or a node that is
    // down says nothing: ask the nodes that are up until one answers whole, for 20 s.
    let found = false;
    let node = 0;
    const answered = await waitUntil(
      async () => {
        node = (node + 1) % this.nodeUrls.length;
        if (!this.up(node)) return false;
        const answer = await this.retrieve(node, documentId);
        if (!answer.ok || (answer.data.degraded ?? []).length > 0) return false;
        found = answer.data.chunks.some((c) => c.documentId === documentId);
        return true;
      },
      20_000,
      250,
    );
    return answered && found ? 'ready' : 'unretrievable';
  }

  private async ask(node: number): Promise<Outcome> {
    const answer = await this.retrieve(node, this.documentId);
    const at = Date.now();
    if (!answer.ok) return { at, node, whole: false, degraded: [], error: answer.error.code };
    const degraded = answer.data.degraded ?? [];
    const whole =
      degraded.length === 0 &&
      answer.data.chunks.some((c) => c.documentId === this.documentId) &&
      answer.data.entities.length > 0;
    return { at, node, whole, degraded };
  }

  private async retrieve(node: number, documentId: string): Promise<RetrieveAck> {
    const socket = this.sockets[node] as Socket;
    if (!socket.connected) return { ok: false, error: { code: 'disconnected' } };
    try {
      return (await socket.timeout(ANSWER_TIMEOUT_MS).emitWithAck('retrieve', {
        query: QUESTION,
        topK: 1,
        graphDepth: 1,
        documentIds: [documentId],
      })) as RetrieveAck;
    } catch {
      return { ok: false, error: { code: 'no answer' } };
    }
  }
}

/** `POST /v1/documents`; resolves with the document id on 202, throws otherwise. */
async function upload(url: string, token: string, text: string, filename: string): Promise<string> {
  const form = new FormData();
  form.append('file', new Blob([text], { type: 'text/plain' }), filename);
  const response = await fetch(`${url}/v1/documents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: form,
    signal: AbortSignal.timeout(10_000),
  });
  if (response.status !== 202) throw new Error(`upload answered ${response.status}`);
  return ((await response.json()) as { document: { id: string } }).document.id;
}

/** Polls the document until it is ready or failed; 'stuck' when neither within `timeoutMs`. */
async function followDocument(
  urls: () => string[],
  token: string,
  documentId: string,
  timeoutMs: number,
): Promise<'ready' | 'failed' | 'stuck'> {
  let status = 'unknown';
  let attempt = 0;
  await waitUntil(
    async () => {
      // A node or store that is down throws here: waitUntil asks again.
      const url = urls()[attempt++ % urls().length] as string;
      const response = await fetch(`${url}/v1/documents/${documentId}`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(5_000),
      });
      if (response.status === 200)
        status = ((await response.json()) as { document: { status: string } }).document.status;
      return status === 'ready' || status === 'failed';
    },
    timeoutMs,
    250,
  );
  return status === 'ready' || status === 'failed' ? status : 'stuck';
}
