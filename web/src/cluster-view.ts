import type { ClusterView } from '../../protocol/http.js';
import { formatBytes, h } from './dom.js';

/** How often the admin's cluster view asks again while it is on screen. */
const REFRESH_MS = 2_000;

/**
 * The admin's live view of the cluster (`GET /v1/admin/cluster`): the nodes, and each live
 * session's members by node and its assistant. Refreshes while it is on the page.
 */
export function clusterCard(load: () => Promise<ClusterView>): HTMLElement {
  const nodes = h('tbody', { 'data-testid': 'cluster-nodes' });
  const sessions = h('tbody', { 'data-testid': 'cluster-sessions' });
  const note = h('p', { class: 'muted', 'data-testid': 'cluster-note' });
  const card = h(
    'div',
    { class: 'card' },
    h('h2', {}, 'Cluster'),
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['Node', 'Version', 'Up since', 'Sockets', 'Sessions', 'Workers', 'Loop p99', 'Memory'].map((t) =>
            h('th', {}, t),
          ),
        ),
      ),
      nodes,
    ),
    h(
      'table',
      {},
      h('thead', {}, h('tr', {}, ...['Session', 'Members by node', 'Assistant'].map((t) => h('th', {}, t)))),
      sessions,
    ),
    note,
  );
  const show = (view: ClusterView) => {
    nodes.replaceChildren(
      ...view.nodes.map((n) =>
        h(
          'tr',
          {},
          h('td', {}, n.draining ? `${n.nodeId} (draining)` : n.nodeId),
          h('td', {}, n.version),
          h('td', {}, new Date(n.startedAt).toLocaleTimeString()),
          h('td', {}, String(n.sockets)),
          h('td', {}, String(n.sessions)),
          h('td', {}, String(n.workers)),
          h('td', {}, `${n.eventLoopDelayMs.p99} ms`),
          h('td', {}, formatBytes(n.memory.rssBytes)),
        ),
      ),
    );
    sessions.replaceChildren(
      ...view.sessions.map((s) =>
        h(
          'tr',
          {},
          h('td', { title: s.sessionId }, s.sessionId.slice(0, 8)),
          h(
            'td',
            {},
            s.members
              .map(
                (m) => `${m.nodeId}: ${m.role} ${m.userId.slice(0, 8)}${m.connections > 1 ? ` ×${m.connections}` : ''}`,
              )
              .join(', '),
          ),
          h(
            'td',
            {},
            s.assistant === undefined
              ? ''
              : s.assistant.state === 'waiting'
                ? `${s.assistant.agent}: waiting`
                : `${s.assistant.agent}: ${s.assistant.workerId?.slice(0, 8)} on ${s.assistant.nodeId ?? '?'}`,
          ),
        ),
      ),
    );
    note.textContent = [
      `${view.nodes.length} node(s), ${view.sessions.length} live session(s)`,
      view.truncated ? 'only the busiest sessions are listed' : '',
      view.unanswered ? 'a node did not answer in time' : '',
      `updated ${new Date().toLocaleTimeString()}`,
    ]
      .filter((part) => part !== '')
      .join('; ');
  };
  const refresh = async () => {
    try {
      show(await load());
    } catch (error) {
      note.textContent = (error as Error).message;
    }
    // Until the admin leaves the screen.
    if (card.isConnected) setTimeout(() => void refresh(), REFRESH_MS);
  };
  // Once the card is on the page.
  setTimeout(() => void refresh(), 0);
  return card;
}
