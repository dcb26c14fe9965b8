// The cold row's session, in a process of its own so that nothing of the extension ran before:
// loads the installed extension as pi does, starts the session, prints "ready <prefix>" once it
// listens, and prints the wall-clock time (ms, sub-millisecond) at which the first event reached
// sendUserMessage. Run by bench/latency.ts: cold-event.ts <redis url>
import { loadHost } from "./host.ts";

const bench = await loadHost(process.argv[2]!);
try {
  await bench.start();
  process.stdout.write(`ready ${bench.prefix}\n`);
  await bench.host.waitFor(() => bench.host.sent.length > 0, 30_000, "the first event");
  process.stdout.write(`${performance.timeOrigin + bench.host.sent[0]!.at}\n`);
} finally {
  await bench.close();
}
