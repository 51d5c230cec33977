import type { IncomingHttpHeaders } from 'node:http';

/**
 * Whether a browser request may come from its `Origin`: requests without one (not from a
 * browser, or a same-origin GET) and same-origin requests always may; another origin only
 * when it is listed in `CORS_ORIGINS` (`*` lists every origin).
 */
export function originAllowed(headers: IncomingHttpHeaders, allowed: ReadonlySet<string>): boolean {
  const origin = headers.origin;
  if (origin === undefined || allowed.has('*') || allowed.has(origin)) return true;
  try {
    return new URL(origin).host === headers.host;
  } catch {
    return false;
  }
}
