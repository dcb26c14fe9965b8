// A TCP proxy in front of the test Redis that passes everything through, except that it can be
// told to lose one reply: the command goes to Redis and runs there, but the connection breaks
// before its answer reaches the client, as when a network path or a proxy resets a connection.
import { createServer, type Socket, connect as tcpConnect } from "node:net";

export interface ReplyDroppingRedis {
  url: string;
  /**
   * The next command sent whose bytes contain `marker` runs in Redis; its reply is dropped and
   * the client's connection closed. Resolves once that happened.
   */
  dropReplyTo(marker: string): Promise<void>;
  close(): Promise<void>;
}

export async function startReplyDroppingRedis(redisUrl: string): Promise<ReplyDroppingRedis> {
  const target = new URL(redisUrl);
  const sockets = new Set<Socket>();
  let armed: { marker: string; dropped: () => void } | undefined;
  const server = createServer((client) => {
    const upstream = tcpConnect(Number(target.port), target.hostname);
    let dropNextReply: (() => void) | undefined;
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
      socket.on("error", () => {});
    }
    client.on("data", (chunk: Buffer) => {
      if (armed && chunk.includes(armed.marker)) {
        dropNextReply = armed.dropped;
        armed = undefined;
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (!dropNextReply) return void client.write(chunk);
      client.destroy();
      dropNextReply();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `redis://127.0.0.1:${port}`,
    dropReplyTo: (marker) => new Promise((resolve) => (armed = { marker, dropped: resolve })),
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
