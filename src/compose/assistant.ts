import type { AddressInfo } from 'node:net';
import { Passwords } from '../auth/passwords.js';
import { AssistantAccount } from '../services/assistant-account.js';
import { Supervisor } from '../util/supervisor.js';
import type { NodeBase, Services } from './services.js';

/**
 * How the child starts the assistant: a thread exits the process as soon as its stdin (a
 * pipe from the node, never written to) ends, which happens when the node is gone however
 * it went, SIGKILL included; then `python -m voicehelper_assistant` with the arguments given.
 */
const BOOTSTRAP = [
  'import os, runpy, sys, threading',
  'def _watch():',
  // The descriptor itself: a daemon thread blocked in sys.stdin's buffered reader would hold
  // its lock and make the interpreter's shutdown fail.
  '    while os.read(0, 4096): pass',
  '    os._exit(0)',
  'threading.Thread(target=_watch, daemon=True).start()',
  "sys.argv = ['voicehelper_assistant', *sys.argv[1:]]",
  "runpy.run_module('voicehelper_assistant', run_name='__main__', alter_sys=True)",
].join('\n');

/** The reference assistant a node starts once it listens, and stops first when it closes. */
export interface AssistantPart {
  /**
   * Makes the assistant's key and starts it against this node's address. Never throws: a
   * node whose assistant cannot start (its account disabled, PostgreSQL failing) serves
   * anyway, and says why in its log.
   */
  start(address: AddressInfo): Promise<void>;
  /** Stops the assistant (SIGTERM, then SIGKILL) and revokes its key. */
  stop(): Promise<void>;
  /** The pid of the running assistant, if one runs. */
  readonly pid: number | undefined;
}

/** The URL a child on this machine reaches the node at: loopback when it listens on every interface. */
function localUrl(address: AddressInfo): string {
  const host =
    address.address === '0.0.0.0' || address.address === '::'
      ? '127.0.0.1'
      : address.family === 'IPv6'
        ? `[${address.address}]`
        : address.address;
  return `http://${host}:${address.port}`;
}

/**
 * The node's part in running the reference assistant (ASSISTANT=on): a supervised child
 * process `ASSISTANT_PYTHON -m voicehelper_assistant`, registered for the agent sessions get
 * by default, signed in with a key the node makes for it at each start. Undefined when the
 * assistant is off, or wanted but without a Python to run it (logged).
 *
 * `environment` is what the child inherits: the node's environment without the server's
 * own variables (`withoutServerVariables`), so PATH, HOME, locale and the assistant's own
 * variables (LLM_BASE_URL, LLM_API_KEY, LLM_MODEL) reach it and the node's secrets do not.
 */
export function composeAssistant(
  base: NodeBase,
  services: Services,
  environment: Readonly<Record<string, string>>,
): AssistantPart | undefined {
  const { config, logger, stores, metrics } = base;
  const settings = config.assistant;
  if (settings.mode === 'off') return undefined;
  if (settings.mode === 'unavailable') {
    logger.warn(
      'the reference assistant is on by default but ASSISTANT_PYTHON is unset: not starting it (npm start makes its venv and sets it; ASSISTANT=off says it is meant)',
    );
    return undefined;
  }
  const log = logger.child({ component: 'assistant' });
  const account = new AssistantAccount(
    {
      users: stores.db.users,
      apiKeys: services.accounts.apiKeys,
      passwords: new Passwords(config.passwordHashing),
      audit: stores.db.audit,
      logger: log,
    },
    { nodeId: config.nodeId, onlyNode: config.embeddedDefault },
  );
  let supervisor: Supervisor | undefined;
  let keyId: string | undefined;
  let starting: Promise<void> | undefined;
  return {
    get pid() {
      return supervisor?.pid;
    },
    start(address) {
      starting ??= (async () => {
        try {
          const user = await account.account();
          if (user === undefined) return;
          const key = await account.freshKey(user);
          keyId = key.keyId;
          supervisor = new Supervisor({
            name: 'assistant',
            command: settings.python,
            args: ['-c', BOOTSTRAP, '--agent', settings.agent],
            env: {
              ...environment,
              VOICEHELPER_URLS: localUrl(address),
              VOICEHELPER_API_KEY: key.key,
              PYTHONUNBUFFERED: '1',
            },
            logger: log,
            minBackoffMs: 1_000,
            maxBackoffMs: 30_000,
            healthyAfterMs: 60_000,
            // Out of the drain's time: the hard stop comes SHUTDOWN_TIMEOUT_MS + 5 s after SIGTERM.
            stopGraceMs: Math.max(500, Math.min(5_000, Math.floor(config.shutdownTimeoutMs / 4))),
            onChange: (running) => {
              if (running) metrics.assistantStarts.inc();
              metrics.assistantUp.set(running ? 1 : 0);
            },
          });
          supervisor.start();
        } catch (error) {
          log.error({ err: error }, 'the assistant could not be started; the node serves without it');
        }
      })();
      return starting;
    },
    async stop() {
      await starting;
      await supervisor?.stop();
      if (keyId === undefined) return;
      await account
        .revoke(keyId)
        .catch((error: unknown) => log.warn({ err: error }, "could not revoke the assistant's key"));
    },
  };
}
