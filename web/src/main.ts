import {
  type DocumentStatusEvent,
  L16_SAMPLE_RATE,
  type Message,
  type RetrieveResult,
  type Session,
  VoiceHelperClient,
  wavFromL16,
} from '../../client/src/index.js';
import type { AuthResponse, ClusterView, PublicUser } from '../../protocol/http.js';
import { clusterCard } from './cluster-view.js';
import { formatBytes, h } from './dom.js';
import { LivePlayer, type Microphone, openMicrophone, RecentAudio, type Speaker } from './live-voice.js';

/**
 * The browser app served at `/`: sign-in, conversations with live messages, streaming
 * deltas and live voice (others heard as they speak, push-to-talk sent as it is spoken),
 * documents with live ingestion progress, retrieval, and for admins users, rate limits
 * and the audit log. Plain DOM and the client SDK; the page loads nothing but its own
 * script and style (the server's CSP allows nothing else).
 */

interface Auth {
  user: PublicUser;
  accessToken: string;
  refreshToken: string;
}

interface DocumentRow {
  id: string;
  title: string;
  status: string;
  chunkCount: number;
  fileSize: number | null;
}

const AUTH_KEY = 'voicehelper-auth';
const root = document.getElementById('app') as HTMLElement;
let auth: Auth | undefined = loadAuth();
let client: VoiceHelperClient | undefined;

function loadAuth(): Auth | undefined {
  const saved = sessionStorage.getItem(AUTH_KEY);
  return saved === null ? undefined : (JSON.parse(saved) as Auth);
}

function saveAuth(next: AuthResponse | undefined): void {
  auth =
    next === undefined
      ? undefined
      : { user: next.user, accessToken: next.accessToken, refreshToken: next.refreshToken };
  if (auth === undefined) sessionStorage.removeItem(AUTH_KEY);
  else sessionStorage.setItem(AUTH_KEY, JSON.stringify(auth));
}

/** A JSON call of the HTTP API; throws the server's error message. */
async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (auth !== undefined) headers['authorization'] = `Bearer ${auth.accessToken}`;
  if (body !== undefined && !(body instanceof FormData)) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    ...(body === undefined ? {} : { body: body instanceof FormData ? body : JSON.stringify(body) }),
  });
  if (response.status === 204) return undefined as T;
  const json = (await response.json()) as T & { error?: { code: string; message: string } };
  if (!response.ok)
    throw new Error(json.error === undefined ? `HTTP ${response.status}` : `${json.error.code}: ${json.error.message}`);
  return json;
}

async function refreshToken(): Promise<string> {
  if (auth === undefined) throw new Error('signed out');
  try {
    saveAuth(await api<AuthResponse>('POST', '/v1/auth/refresh', { refreshToken: auth.refreshToken }));
  } catch (error) {
    signOut();
    throw error;
  }
  return (auth as Auth).accessToken;
}

function signOut(): void {
  const refresh = auth?.refreshToken;
  saveAuth(undefined);
  client?.close();
  client = undefined;
  if (refresh !== undefined)
    void fetch('/v1/auth/logout', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refreshToken: refresh }),
    });
  render();
}

function render(): void {
  root.replaceChildren(auth === undefined ? authScreen() : shell(auth));
}

function authScreen(): HTMLElement {
  const email = h('input', { type: 'email', name: 'email', placeholder: 'Email', autocomplete: 'username' });
  const username = h('input', { type: 'text', name: 'username', placeholder: 'Name (to create an account)' });
  const password = h('input', {
    type: 'password',
    name: 'password',
    placeholder: 'Password',
    autocomplete: 'current-password',
  });
  const error = h('p', { class: 'error', role: 'alert' });
  const submit = (path: string, body: Record<string, string>) => async () => {
    error.textContent = '';
    try {
      saveAuth(await api<AuthResponse>('POST', path, body));
      render();
    } catch (e) {
      error.textContent = (e as Error).message;
    }
  };
  return h(
    'div',
    { class: 'auth card' },
    h('h1', {}, 'VoiceHelper'),
    email,
    username,
    password,
    h(
      'div',
      { class: 'row' },
      h(
        'button',
        {
          class: 'primary',
          onclick: () => void submit('/v1/auth/login', { email: email.value, password: password.value })(),
        },
        'Sign in',
      ),
      h(
        'button',
        {
          onclick: () =>
            void submit('/v1/auth/register', {
              email: email.value,
              username: username.value,
              password: password.value,
            })(),
        },
        'Create account',
      ),
    ),
    error,
  );
}

function shell(current: Auth): HTMLElement {
  client?.close();
  const sdk = new VoiceHelperClient({
    url: location.origin,
    token: (reason) => (reason === 'initial' ? current.accessToken : refreshToken()),
  });
  client = sdk;
  const status = h('span', { class: 'muted', 'data-testid': 'connection' }, 'connecting');
  sdk.on('state', (state) => (status.textContent = state));
  void sdk.connect();

  const tabs: [string, () => HTMLElement][] = [
    ['Conversations', () => conversations(sdk)],
    ['Documents', () => documents(sdk)],
    ['Retrieval', () => retrieval(sdk)],
  ];
  if (current.user.roles.includes('admin')) tabs.push(['Admin', () => admin()]);
  const body = h('section');
  const built = new Map<string, HTMLElement>();
  const buttons = tabs.map(([name, make]) =>
    h(
      'button',
      {
        onclick: () => {
          for (const b of buttons) b.classList.toggle('active', b.textContent === name);
          if (!built.has(name)) built.set(name, make());
          body.replaceChildren(built.get(name) as HTMLElement);
        },
      },
      name,
    ),
  );
  queueMicrotask(() => buttons[0]?.click());
  return h(
    'div',
    {},
    h(
      'header',
      {},
      h('h1', {}, 'VoiceHelper'),
      h('nav', {}, ...buttons),
      h('span', {}, current.user.email),
      status,
      h('button', { onclick: signOut }, 'Sign out'),
    ),
    body,
  );
}

function conversations(sdk: VoiceHelperClient): HTMLElement {
  const list = h('ul');
  const messages = h('div', { class: 'messages', 'data-testid': 'messages' });
  const streaming = h('div', { class: 'streaming' });
  const title = h('h2', {}, 'No session selected');
  const input = h('input', { type: 'text', placeholder: 'Say something', 'aria-label': 'Message' });
  const talk = h('button', { 'data-testid': 'talk' }, 'Talk');
  const error = h('p', { class: 'error', role: 'alert' });
  const speakers = h('div', { class: 'speakers', 'data-testid': 'speakers' });
  const live = h('span', { class: 'muted live', 'data-testid': 'live' });
  const bySession = new Map<string, Message[]>();
  const deltas = new Map<string, string>();
  let current: string | undefined;

  // Live voice: what the player does is on `live`'s data attributes (frames received and
  // scheduled, the AudioContext's state, the loudest sample), who speaks in `speakers`.
  const recent = new RecentAudio();
  const showSpeakers = () => {
    const heard = player.current().filter((speaker) => speaker.sessionId === current);
    speakers.replaceChildren(...heard.map((speaker) => h('span', speakerAttributes(speaker), speakerName(speaker))));
    showLive();
  };
  const player = new LivePlayer(showSpeakers);
  const showLive = () => {
    live.dataset['framesReceived'] = String(player.received);
    live.dataset['framesScheduled'] = String(player.scheduled);
    live.dataset['audioState'] = player.state;
    live.dataset['peak'] = player.peak.toFixed(3);
    live.dataset['hushed'] = String(player.hushed);
    if (player.assistantStart !== undefined) {
      live.dataset['assistantStream'] = player.assistantStart.streamId;
      live.dataset['assistantReceivedAt'] = player.assistantStart.receivedAt.toFixed(1);
      live.dataset['assistantPlaysAt'] = player.assistantStart.playsAt.toFixed(1);
    }
  };
  sdk.on('audio:started', (event) => player.started(event));
  sdk.on('audio:frame', (frame) => {
    recent.add(frame.streamId, frame.data, frame.dropped);
    // Only the open conversation is heard.
    if (frame.sessionId !== current) return;
    player.frame(frame);
    showLive();
  });
  sdk.on('audio:ended', (event) => {
    player.ended(event);
    if (event.discarded === true) recent.drop(event.streamId);
  });

  const bubble = (message: Message) => {
    const play = h(
      'button',
      {
        onclick: async () => {
          try {
            const src = await playableUrl(sdk, message, recent);
            const audio = h('audio', { controls: true, src, 'data-testid': 'player' });
            play.replaceWith(audio);
            await audio.play().catch(() => undefined);
          } catch (e) {
            error.textContent = (e as Error).message;
          }
        },
      },
      '▶ Play',
    );
    const bytes = typeof message.metadata['bytes'] === 'number' ? ` (${formatBytes(message.metadata['bytes'])})` : '';
    return h(
      'div',
      { class: `message ${message.role}`, 'data-seq': String(message.seq) },
      h(
        'div',
        { class: 'meta' },
        `#${message.seq} ${message.role}${message.contentType === 'audio' ? ` · audio${bytes}` : ''}`,
      ),
      h('div', {}, message.content),
      ...(message.contentType === 'audio' ? [play] : []),
    );
  };
  const show = () => {
    messages.replaceChildren(...(bySession.get(current ?? '') ?? []).map(bubble));
    messages.scrollTop = messages.scrollHeight;
  };
  sdk.on('message', (message) => {
    const log = bySession.get(message.sessionId) ?? [];
    bySession.set(message.sessionId, log);
    log.push(message);
    const streamId = message.metadata['streamId'];
    if (typeof streamId === 'string') deltas.delete(streamId);
    if (message.sessionId === current) {
      messages.append(bubble(message));
      messages.scrollTop = messages.scrollHeight;
      streaming.textContent = [...deltas.values()].join(' / ');
    }
  });
  // A service's transcript of an audio message becomes its text, here as in history.
  sdk.on('message:transcript', ({ sessionId, messageId, transcript }) => {
    const log = bySession.get(sessionId);
    const index = log?.findIndex((m) => m.id === messageId) ?? -1;
    if (log === undefined || index < 0) return;
    log[index] = { ...(log[index] as Message), content: transcript };
    if (sessionId === current) show();
  });
  sdk.on('delta', (delta) => {
    if (delta.sessionId !== current) return;
    // The first text of an answer after the user stopped talking (performance.now()).
    if (live.dataset['talkEndedAt'] !== undefined && live.dataset['firstDeltaAt'] === undefined)
      live.dataset['firstDeltaAt'] = performance.now().toFixed(1);
    deltas.set(delta.streamId, (deltas.get(delta.streamId) ?? '') + delta.delta);
    streaming.textContent = [...deltas.values()].join(' / ');
  });

  const open = async (session: Session) => {
    // A click: the moment the browser lets the page's audio play.
    player.unlock();
    current = session.id;
    showSpeakers();
    title.textContent = session.title || 'Untitled';
    for (const item of list.children)
      item.classList.toggle('active', (item as HTMLElement).dataset['id'] === session.id);
    if (sdk.lastSeq(session.id) === undefined) await sdk.join(session.id, { liveAudio: true });
    show();
  };
  const load = async () => {
    const { sessions } = await sdk.request('session:list', { limit: 50 });
    list.replaceChildren(
      ...sessions.map((s) => h('li', { 'data-id': s.id, onclick: () => void open(s) }, s.title || 'Untitled')),
    );
  };
  const create = async () => {
    const name = `Conversation ${new Date().toLocaleTimeString()}`;
    const { session } = await sdk.request('session:create', { title: name });
    await load();
    await open(session);
  };
  const send = async () => {
    if (current === undefined || input.value.trim() === '') return;
    const text = input.value;
    input.value = '';
    // Talking over the assistant: its speech stops here at once (and on its side when it hears this).
    player.hush(current);
    showLive();
    await sdk.send(current, text).catch((e: unknown) => (error.textContent = (e as Error).message));
  };
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') void send();
  });

  // Push to talk: the microphone goes out live, frame by frame, from the first press;
  // the second stores the utterance (audio:end).
  let talking: { stop: () => Promise<void> } | undefined;
  const stopTalking = async () => {
    const done = talking;
    talking = undefined;
    talk.classList.remove('recording');
    talk.textContent = 'Talk';
    // When the user stopped talking (audio:end goes out now): where voice-to-voice latency starts.
    if (done !== undefined) live.dataset['talkEndedAt'] = performance.now().toFixed(1);
    await done?.stop().catch((e: unknown) => (error.textContent = (e as Error).message));
  };
  talk.addEventListener('click', async () => {
    player.unlock();
    if (talking !== undefined) return stopTalking();
    if (current === undefined) return;
    error.textContent = '';
    player.hush(current);
    showLive();
    delete live.dataset['talkEndedAt'];
    delete live.dataset['firstDeltaAt'];
    // One stream at a time: no second press while the microphone and the stream open.
    talk.disabled = true;
    try {
      talking = await speak(sdk, current, recent, (e) => {
        error.textContent = (e as Error).message;
        void stopTalking();
      });
      talk.classList.add('recording');
      talk.textContent = '■ Stop';
    } catch (e) {
      error.textContent = (e as Error).message;
    } finally {
      talk.disabled = false;
    }
  });

  void sdk.connected().then(load);
  return h(
    'div',
    { class: 'layout' },
    h(
      'div',
      { class: 'card sessions' },
      h('button', { class: 'primary', onclick: () => void create() }, 'New session'),
      list,
    ),
    h(
      'div',
      { class: 'card' },
      title,
      messages,
      streaming,
      h('div', { class: 'row' }, speakers, live),
      h('div', { class: 'row' }, input, h('button', { class: 'primary', onclick: () => void send() }, 'Send'), talk),
      error,
    ),
  );
}

function speakerName(speaker: Speaker): string {
  const started = speaker.started;
  if (started === undefined) return 'someone is speaking';
  if (started.role === 'assistant') return 'the assistant is speaking';
  return started.senderId === auth?.user.id ? 'you are speaking (another device)' : 'a user is speaking';
}

function speakerAttributes(speaker: Speaker): Record<string, string> {
  return {
    class: 'speaker',
    'data-stream': speaker.streamId,
    'data-role': speaker.started?.role ?? 'unknown',
    'data-sender': speaker.started?.senderId ?? '',
  };
}

/**
 * Sends the microphone live: 20 ms frames of 16 kHz audio/l16 through the SDK's audio
 * stream, each heard by the other members as it is acknowledged. Frames the link cannot
 * carry in time are skipped by the stream; a stream that fails stops the microphone and
 * calls `failed`.
 */
async function speak(
  sdk: VoiceHelperClient,
  sessionId: string,
  recent: RecentAudio,
  failed: (error: unknown) => void,
): Promise<{ stop: () => Promise<void> }> {
  const stream = await sdk.openAudioStream(sessionId, { mimeType: 'audio/l16', sampleRate: L16_SAMPLE_RATE });
  let microphone: Microphone | undefined;
  let stopped = false;
  try {
    microphone = await openMicrophone((frame) => {
      stream.write(frame).then(
        // What was sent is what the stored message holds: kept to play it back here.
        () => recent.add(stream.streamId, frame),
        (e: unknown) => {
          if (stream.error === undefined || stopped) return;
          stopped = true;
          microphone?.stop();
          failed(e);
        },
      );
    });
  } catch (e) {
    await stream.abort().catch(() => undefined);
    throw e;
  }
  return {
    stop: async () => {
      if (!stopped) microphone?.stop();
      stopped = true;
      if (stream.error === undefined) await stream.end();
    },
  };
}

/**
 * Where an audio message plays from. Raw PCM (`audio/l16`) needs a WAV header for an
 * `<audio>` element: from the audio this page spoke or heard live, else from a download
 * through `audio:url`, which the page's CSP allows when object storage is on its own origin
 * (the embedded store; S3 behind the same proxy).
 */
async function playableUrl(sdk: VoiceHelperClient, message: Message, recent: RecentAudio): Promise<string> {
  const { url } = await sdk.audioUrl(message.id);
  if (message.metadata['mimeType'] !== 'audio/l16') return url;
  const rate = message.metadata['sampleRate'];
  const sampleRate = typeof rate === 'number' ? rate : L16_SAMPLE_RATE;
  const streamId = message.metadata['streamId'];
  let wav = typeof streamId === 'string' ? recent.wav(streamId, sampleRate) : undefined;
  if (wav === undefined) {
    const response = await fetch(url).catch(() => undefined);
    if (response?.ok !== true) throw new Error('this recording is raw PCM that this page cannot download here');
    wav = wavFromL16([new Uint8Array(await response.arrayBuffer())], sampleRate);
  }
  return URL.createObjectURL(new Blob([wav], { type: 'audio/wav' }));
}

function documents(sdk: VoiceHelperClient): HTMLElement {
  const file = h('input', { type: 'file', 'aria-label': 'Document' });
  const rows = h('tbody');
  const error = h('p', { class: 'error', role: 'alert' });
  const progress = new Map<string, DocumentStatusEvent>();

  const row = (doc: DocumentRow) => {
    const event = progress.get(doc.id);
    const status = event?.status ?? doc.status;
    const percent = event?.percent ?? (doc.status === 'ready' ? 100 : 0);
    return h(
      'tr',
      { 'data-id': doc.id },
      h('td', {}, doc.title),
      h('td', { 'data-testid': 'status' }, event?.stage ?? status),
      h('td', {}, h('progress', { max: 100, value: percent })),
      h('td', {}, String(doc.chunkCount)),
      h('td', {}, doc.fileSize === null ? '' : formatBytes(doc.fileSize)),
    );
  };
  let shown: DocumentRow[] = [];
  const draw = () => rows.replaceChildren(...shown.map(row));
  const load = async () => {
    shown = (await api<{ documents: DocumentRow[] }>('GET', '/v1/documents?limit=50')).documents;
    draw();
  };
  sdk.on('document:status', (event) => {
    progress.set(event.documentId, event);
    if (event.status !== 'processing') void load();
    else draw();
  });
  const upload = async () => {
    const chosen = file.files?.[0];
    if (chosen === undefined) return;
    error.textContent = '';
    const form = new FormData();
    form.append('file', chosen, chosen.name);
    try {
      await api('POST', '/v1/documents', form);
      file.value = '';
      await load();
    } catch (e) {
      error.textContent = (e as Error).message;
    }
  };
  void load();
  return h(
    'div',
    { class: 'card' },
    h('h2', {}, 'Documents'),
    h('div', { class: 'row' }, file, h('button', { class: 'primary', onclick: () => void upload() }, 'Upload')),
    error,
    h(
      'table',
      {},
      h('thead', {}, h('tr', {}, ...['Title', 'Status', 'Progress', 'Chunks', 'Size'].map((t) => h('th', {}, t)))),
      rows,
    ),
  );
}

function retrieval(sdk: VoiceHelperClient): HTMLElement {
  const query = h('input', { type: 'text', placeholder: 'Ask your documents', 'aria-label': 'Query' });
  const results = h('div', { 'data-testid': 'results' });
  const search = async () => {
    try {
      const result: RetrieveResult = await sdk.retrieve(query.value, { topK: 5, graphDepth: 2 });
      results.replaceChildren(
        h(
          'p',
          { class: 'timings' },
          ...Object.entries(result.timings).map(([k, v]) => h('span', {}, `${k} ${v} ms`)),
          ...(result.degraded === undefined
            ? []
            : [h('span', { class: 'error' }, `degraded: ${result.degraded.join(', ')}`)]),
        ),
        h('h3', {}, 'Chunks'),
        h(
          'table',
          {},
          h(
            'tbody',
            {},
            ...result.chunks.map((c) =>
              h('tr', { class: 'chunk' }, h('td', {}, c.score.toFixed(3)), h('td', {}, c.content)),
            ),
          ),
        ),
        h('h3', {}, 'Entities'),
        h(
          'table',
          {},
          h(
            'tbody',
            {},
            ...result.entities.map((e) =>
              h(
                'tr',
                { class: 'entity' },
                h('td', {}, e.name),
                h('td', {}, e.type),
                h('td', {}, `distance ${e.distance}`),
              ),
            ),
          ),
        ),
      );
    } catch (e) {
      results.replaceChildren(h('p', { class: 'error' }, (e as Error).message));
    }
  };
  query.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') void search();
  });
  return h(
    'div',
    { class: 'card' },
    h('h2', {}, 'Retrieval'),
    h('div', { class: 'row' }, query, h('button', { class: 'primary', onclick: () => void search() }, 'Search')),
    results,
  );
}

function admin(): HTMLElement {
  const users = h('tbody');
  const audit = h('tbody', { 'data-testid': 'audit' });
  const limits = h('textarea', { 'aria-label': 'Rate limits' });
  const note = h('p', { class: 'muted', role: 'status' });
  const loadUsers = async () => {
    const page = await api<{ users: (PublicUser & { status: string })[] }>('GET', '/v1/admin/users?limit=50');
    users.replaceChildren(
      ...page.users.map((u) => {
        const role = h(
          'select',
          {},
          ...['user', 'service', 'admin'].map((r) =>
            h('option', { value: r, selected: u.roles.includes(r as never) }, r),
          ),
        );
        return h(
          'tr',
          {},
          h('td', {}, u.email),
          h('td', {}, u.status),
          h('td', {}, role),
          h(
            'td',
            {},
            h(
              'button',
              {
                onclick: async () => {
                  await api('PUT', `/v1/admin/users/${u.id}/roles`, { roles: [role.value] });
                  note.textContent = `${u.email} is now ${role.value}`;
                },
              },
              'Save role',
            ),
          ),
        );
      }),
    );
  };
  const loadLimits = async () => {
    try {
      limits.value = JSON.stringify(
        (await api<{ config: { value: unknown } }>('GET', '/v1/admin/configs/rate_limits')).config.value,
        null,
        2,
      );
    } catch {
      limits.value = '{}';
    }
  };
  const saveLimits = async () => {
    try {
      await api('PUT', '/v1/admin/configs/rate_limits', { value: JSON.parse(limits.value) });
      note.textContent = 'rate limits saved';
      await loadAudit();
    } catch (e) {
      note.textContent = (e as Error).message;
    }
  };
  const loadAudit = async () => {
    const { entries } = await api<{
      entries: {
        createdAt: string;
        action: string;
        userId: string | null;
        resourceType: string;
        resourceId: string | null;
      }[];
    }>('GET', '/v1/admin/audit-logs?limit=50');
    audit.replaceChildren(
      ...entries.map((e) =>
        h(
          'tr',
          {},
          h('td', {}, e.createdAt),
          h('td', {}, e.action),
          h('td', {}, e.resourceType),
          h('td', {}, e.resourceId ?? ''),
        ),
      ),
    );
  };
  void loadUsers();
  void loadLimits();
  void loadAudit();
  return h(
    'div',
    {},
    clusterCard(() => api<ClusterView>('GET', '/v1/admin/cluster')),
    h('div', { class: 'card' }, h('h2', {}, 'Users and roles'), h('table', {}, users), note),
    h(
      'div',
      { class: 'card' },
      h('h2', {}, 'Rate limits'),
      h('p', { class: 'muted' }, 'Overrides by limit name: { "message:send": { "limit": 20, "windowMs": 10000 } }'),
      limits,
      h('div', { class: 'row' }, h('button', { class: 'primary', onclick: () => void saveLimits() }, 'Save limits')),
    ),
    h('div', { class: 'card' }, h('h2', {}, 'Audit log'), h('table', {}, audit)),
  );
}

render();
