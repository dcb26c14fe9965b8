// A TCP service that is not Redis, on a free port of 127.0.0.1: what a Redis URL with the wrong
// port reaches. `answer` runs on each connection once its first bytes (the first command) arrive.
import { createServer, type Socket } from "node:net";

export interface NotRedis {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** answers "HTTP/1.1 400 Bad Request" and hangs up, as a web server does */
export const asWebServer = (socket: Socket) => socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
/** hangs up without a word */
export const hangingUp = (socket: Socket) => socket.destroy();

export async function startNotRedis(answer: (socket: Socket) => void): Promise<NotRedis> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.once("data", () => answer(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
