// A TCP proxy in front of the test Redis that lets every connection through but the installed
// extension's during setup's verification (its clients name themselves gateway:verify-<id>):
// those it holds, answering nothing, so setup waits in its verification for as long as a test
// needs to send it a signal or kill it. `stalled` tells when the extension is waiting there.
import { createServer, type Socket, connect as tcpConnect } from "node:net";

export interface StallingRedis {
  url: string;
  /** true once the extension's client is held */
  stalled(): boolean;
  close(): Promise<void>;
}

const VERIFY_CLIENT = /gateway:verify-/;

export async function startStallingRedis(redisUrl: string): Promise<StallingRedis> {
  const target = new URL(redisUrl);
  const sockets = new Set<Socket>();
  let stalled = false;
  const server = createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => {});
    client.once("data", (first) => {
      if (VERIFY_CLIENT.test(first.toString("latin1"))) {
        stalled = true;
        return;
      }
      const upstream = tcpConnect(Number(target.port), target.hostname);
      sockets.add(upstream);
      upstream.on("close", () => {
        sockets.delete(upstream);
        client.destroy();
      });
      upstream.on("error", () => client.destroy());
      client.on("close", () => upstream.destroy());
      upstream.write(first);
      client.pipe(upstream).pipe(client);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `redis://127.0.0.1:${port}`,
    stalled: () => stalled,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
