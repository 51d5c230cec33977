import { createServer, request as forward, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';

/**
 * A reverse proxy on a loopback port in front of one node, as nginx is in the compose
 * stack: it appends the client's address to `X-Forwarded-For` (here a made-up address the
 * test chooses per request, from the `x-test-client` header) and passes WebSocket upgrades.
 */
export class HttpProxy {
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /**
   * `localAddress`: the loopback address the proxy connects to the node from (any of
   * 127.0.0.0/8), so that the node can tell the proxy from clients connecting from 127.0.0.1.
   */
  static async start(
    target: { host: string; port: number },
    options: { localAddress?: string } = {},
  ): Promise<HttpProxy> {
    const local = options.localAddress === undefined ? {} : { localAddress: options.localAddress };
    const sockets = new Set<Socket>();
    const forwarded = (request: IncomingMessage) => {
      const client = String(request.headers['x-test-client'] ?? request.socket.remoteAddress ?? '');
      const prior = request.headers['x-forwarded-for'];
      return { ...request.headers, 'x-forwarded-for': prior === undefined ? client : `${String(prior)}, ${client}` };
    };
    const server = createServer((request, response) => {
      const upstream = forward(
        {
          host: target.host,
          port: target.port,
          ...local,
          method: request.method,
          path: request.url,
          headers: forwarded(request),
        },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        },
      );
      upstream.on('error', () => response.destroy());
      request.pipe(upstream);
    });
    server.on('upgrade', (request: IncomingMessage, client: Socket, head: Buffer) => {
      const upstream = connect({ port: target.port, host: target.host, ...local }, () => {
        const headers = Object.entries(forwarded(request)).map(
          ([name, value]) => `${name}: ${Array.isArray(value) ? value.join(', ') : String(value)}`,
        );
        upstream.write(`${request.method} ${request.url} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`);
        if (head.length > 0) upstream.write(head);
        client.pipe(upstream).pipe(client);
      });
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => sockets.delete(socket));
      }
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    server.on('close', () => sockets.forEach((s) => s.destroy()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const address = server.address();
    return new HttpProxy(server, typeof address === 'object' && address !== null ? address.port : 0);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
