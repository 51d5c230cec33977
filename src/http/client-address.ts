import type { IncomingMessage } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';

/** Decides whether a peer address is a proxy whose `X-Forwarded-For` is believed. */
export type TrustProxy = (address: string, hop: number) => boolean;

/**
 * The trust function for `TRUST_PROXY`: addresses and CIDRs of the proxies in front of the
 * nodes, or proxy-addr's names `loopback`, `linklocal`, `uniquelocal`. Nothing is trusted
 * when the list is empty, so `X-Forwarded-For` from anyone else is ignored.
 */
export function trustProxy(list: readonly string[]): TrustProxy {
  if (list.length === 0) return () => false;
  return proxyAddr.compile([...list]);
}

/**
 * The client's address of a request or handshake: the peer itself, or the nearest address
 * in `X-Forwarded-For` not set by a trusted proxy (the same rule Fastify's `request.ip`
 * follows with the same trust function).
 */
export function clientAddress(request: IncomingMessage, trust: TrustProxy): string {
  return proxyAddr(request, trust);
}
