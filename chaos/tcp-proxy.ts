import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP forwarder on a loopback port, to cut a node off from a real service and give it
 * back: `down()` drops every open connection and refuses new ones, as a stopped server
 * would; `up()` listens again on the same port. `stall()` keeps every connection open but
 * forwards nothing either way (new ones are accepted too), as a hung server or network
 * does; `unstall()` lets what was held through.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private stalled = false;
  private readonly held: Array<() => void> = [];
  port = 0;

  private constructor(private readonly target: { host: string; port: number }) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(target);
    await proxy.up();
    return proxy;
  }

  async up(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      this.forward(client, upstream);
      this.forward(upstream, client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    this.port = typeof address === 'object' && address !== null ? address.port : 0;
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.held.length = 0;
    this.stalled = false;
    for (const socket of this.sockets) socket.destroy();
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Forwards nothing from now on, on open and new connections alike. */
  stall(): void {
    this.stalled = true;
  }

  /** Forwards again, what was held first. */
  unstall(): void {
    this.stalled = false;
    for (const release of this.held.splice(0)) release();
  }

  private forward(from: Socket, to: Socket): void {
    from.on('data', (chunk: Buffer) => {
      if (this.stalled) this.held.push(() => to.write(chunk));
      else to.write(chunk);
    });
  }
}

/** A proxy in front of the service behind a connection URL, and that URL pointed at the proxy. */
export async function proxyFor(url: string): Promise<{ proxy: TcpProxy; url: string }> {
  const parsed = new URL(url);
  const proxy = await TcpProxy.start({ host: parsed.hostname, port: Number(parsed.port) });
  parsed.port = String(proxy.port);
  return { proxy, url: parsed.toString() };
}
