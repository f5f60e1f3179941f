/**
 * A TCP proxy on 127.0.0.1 that a test controls, for network faults between
 * the agent and the control plane. It forwards raw bytes (TLS passes through
 * untouched, so mutual TLS is still end to end) and has three modes:
 *
 * - `pass`: new connections are forwarded to the target.
 * - `blackhole`: every connection, open or new, is kept open but its bytes are
 *   swallowed in both directions and nothing is ever answered: a dead route or
 *   a firewall that drops packets. Only keepalives and timeouts can notice it.
 * - `partition`: open connections are reset and new ones are accepted and
 *   reset at once: the peer is known to be unreachable.
 *
 * A connection once black-holed stays black-holed after the mode goes back to
 * `pass` (packets lost are lost); the peer has to notice and reconnect. The
 * target can be moved (`retarget`) for a server that restarts on another port.
 */
import { connect, createServer, type Server, type Socket } from "node:net";

/** How the proxy treats connections; see the module comment. */
export type ProxyMode = "pass" | "blackhole" | "partition";

/** Counters a test can assert on, so it knows the fault really happened. */
export interface ProxyStats {
  /** Connections accepted since start. */
  accepted: number;
  /** Connections forwarded to the target. */
  forwarded: number;
  /** Connections reset by `partition`. */
  reset: number;
  /** Bytes swallowed by `blackhole`, both directions. */
  swallowedBytes: number;
  /** Connections open now. */
  open: number;
}

/** A running proxy. */
export interface TcpProxy {
  readonly port: number;
  mode(): ProxyMode;
  /** Switches mode; open connections are reset (`partition`) or silenced (`blackhole`) at once. */
  setMode(mode: ProxyMode): void;
  /** Forwards later connections to another port of 127.0.0.1. */
  retarget(port: number): void;
  stats(): ProxyStats;
  /** Closes the listener and destroys every connection. */
  close(): Promise<void>;
}

interface Conn {
  client: Socket;
  upstream: Socket | null;
  silenced: boolean;
}

/** Starts a proxy on 127.0.0.1 (free port) forwarding to 127.0.0.1:`targetPort`. */
export async function startTcpProxy(targetPort: number, initial: ProxyMode = "pass"): Promise<TcpProxy> {
  if (!Number.isInteger(targetPort) || targetPort < 1 || targetPort > 65535) {
    throw new Error(`proxy target port must be 1..65535, got ${targetPort}`);
  }
  let mode: ProxyMode = initial;
  let target = targetPort;
  const conns = new Set<Conn>();
  const stats = { accepted: 0, forwarded: 0, reset: 0, swallowedBytes: 0 };

  const drop = (c: Conn) => {
    conns.delete(c);
    c.client.destroy();
    c.upstream?.destroy();
  };
  const reset = (c: Conn) => {
    stats.reset++;
    conns.delete(c);
    c.client.resetAndDestroy();
    c.upstream?.resetAndDestroy();
  };
  const silence = (c: Conn) => {
    c.silenced = true;
    // Stop reading from the target so nothing it sends reaches the client; keep both sockets open.
    c.upstream?.pause();
  };

  const server: Server = createServer((client) => {
    stats.accepted++;
    const c: Conn = { client, upstream: null, silenced: false };
    conns.add(c);
    client.on("error", () => drop(c));
    client.on("close", () => drop(c));
    client.on("data", (chunk: Buffer) => {
      if (c.silenced) stats.swallowedBytes += chunk.length;
      else c.upstream?.write(chunk);
    });
    if (mode === "partition") {
      reset(c);
      return;
    }
    if (mode === "blackhole") {
      c.silenced = true;
      return;
    }
    stats.forwarded++;
    // Reading is paused until the target answers, so no early byte is lost.
    client.pause();
    const upstream = connect({ host: "127.0.0.1", port: target });
    c.upstream = upstream;
    upstream.on("connect", () => {
      if (!c.silenced) client.resume();
    });
    upstream.on("data", (chunk: Buffer) => {
      if (c.silenced) stats.swallowedBytes += chunk.length;
      else client.write(chunk);
    });
    upstream.on("error", () => drop(c));
    upstream.on("close", () => {
      // A silenced connection stays open on the client side, as a real black hole would.
      if (!c.silenced) drop(c);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("proxy has no TCP address");

  return {
    port: address.port,
    mode: () => mode,
    setMode(next) {
      mode = next;
      for (const c of [...conns]) {
        if (next === "partition") reset(c);
        else if (next === "blackhole") {
          silence(c);
          // Bytes the client sends from now on are counted and dropped by the data handler.
          c.client.resume();
        }
      }
    },
    retarget(port) {
      target = port;
    },
    stats: () => ({ ...stats, open: conns.size }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of [...conns]) drop(c);
        server.close(() => resolve());
      }),
  };
}
