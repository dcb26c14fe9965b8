// Stand-ins around tier 4's daemon core for tests: a reply sink that records what it is given, an
// input source kept in memory (persisted until acknowledged, like the Telegram inbox), and a
// hermetic agent dir and daemon config pointed at the fake model and the suite's redis-server.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DaemonConfig, parseDaemonConfig } from "../../src/runtime/daemon/config.ts";
import type { DaemonInput, InputSource, Origin, ReplySink } from "../../src/runtime/daemon/types.ts";
import type { FakeModel } from "./fake-model.ts";
import { writeFakeAgentDir } from "./fake-model.ts";
import { waitFor } from "./wait.ts";

// the embedded pi runs in the test's own process: keep it offline and quiet
process.env.PI_OFFLINE = "1";
process.env.PI_TELEMETRY = "0";

export interface Delivery {
  origin: Origin;
  text: string;
}

export class RecordingSink implements ReplySink {
  readonly deliveries: Delivery[] = [];
  readonly typed: Origin[] = [];
  /** runs inside deliver(), before the delivery is recorded (e.g. to look at Redis at that moment) */
  beforeDeliver: ((origin: Origin, text: string) => Promise<void> | void) | undefined;

  async deliver(origin: Origin, text: string): Promise<void> {
    await this.beforeDeliver?.(origin, text);
    this.deliveries.push({ origin, text });
  }

  typing(origin: Origin): void {
    this.typed.push(origin);
  }

  async waitForDelivery(match: (delivery: Delivery) => boolean, what: string, timeoutMs = 15_000): Promise<Delivery> {
    await waitFor(
      () => this.deliveries.some(match),
      () => `${what}; delivered so far: ${JSON.stringify(this.deliveries)}`,
      timeoutMs,
    );
    return this.deliveries.find(match)!;
  }

  to(chatId: number): string[] {
    return this.deliveries.filter((d) => d.origin.kind === "telegram" && d.origin.chatId === chatId).map((d) => d.text);
  }

  ofKind(kind: Origin["kind"]): string[] {
    return this.deliveries.filter((d) => d.origin.kind === kind).map((d) => d.text);
  }
}

/** Human inputs kept in memory until acknowledged; one store can outlive a daemon, as Redis does. */
export class MemoryInputSource implements InputSource {
  readonly stored = new Map<string, DaemonInput>();
  readonly acked: string[] = [];
  private readonly listeners: ((input: DaemonInput) => void)[] = [];

  async pending(): Promise<DaemonInput[]> {
    return [...this.stored.values()];
  }

  onInput(listener: (input: DaemonInput) => void): void {
    this.listeners.push(listener);
  }

  async ack(input: DaemonInput): Promise<void> {
    this.acked.push(input.id);
    this.stored.delete(input.id);
  }

  /** persists the input, then tells the listeners (as the Telegram bridge does) */
  push(input: DaemonInput): void {
    this.stored.set(input.id, input);
    for (const listener of this.listeners) listener(input);
  }

  /** a new source for the next daemon, holding what this one did not acknowledge */
  reopen(): MemoryInputSource {
    const next = new MemoryInputSource();
    for (const [id, input] of this.stored) next.stored.set(id, input);
    return next;
  }
}

let updateId = 1000;

/** A Telegram message as the bridge would turn it into an input. */
export function telegramInput(chatId: number, text: string): DaemonInput {
  const id = updateId++;
  return { id: `tg:${id}`, origin: { kind: "telegram", chatId, userId: chatId, updateId: id }, text, priority: "human" };
}

export interface DaemonHome {
  root: string;
  agentDir: string;
  config: DaemonConfig;
  cleanup(): void;
}

/** A temp pi agent dir for the fake model (pi's retries off: a failing model fails at once) and a daemon config for the prefix. */
export function daemonHome(model: FakeModel, options: { prefix: string; redisUrl: string; config?: Partial<DaemonConfig>; settings?: object }): DaemonHome {
  const root = mkdtempSync(join(tmpdir(), "gw-daemon-"));
  const agentDir = join(root, "agent");
  const modelArg = writeFakeAgentDir(agentDir, model);
  writeFileSync(join(agentDir, "settings.json"), JSON.stringify({ retry: { enabled: false }, ...options.settings }));
  const cwd = join(root, "cwd");
  mkdirSync(cwd);
  const config = {
    ...parseDaemonConfig({
      prefix: options.prefix,
      redisUrl: options.redisUrl,
      agentDir,
      stateDir: join(root, "state"),
      cwd,
      model: modelArg,
      pollIntervalMs: 1000,
    }),
    ...options.config,
  };
  return { root, agentDir, config, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** An extension file under the agent dir that writes `marker` when pi loads it, and registers /<command> that writes `<marker>.command`. */
export function writeMarkerExtension(path: string, marker: string, command: string): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(
    path,
    [
      `import { writeFileSync } from "node:fs";`,
      `export default function (pi: any) {`,
      `  writeFileSync(${JSON.stringify(marker)}, "loaded");`,
      `  pi.on("session_start", () => writeFileSync(${JSON.stringify(`${marker}.session`)}, "started"));`,
      `  pi.registerCommand(${JSON.stringify(command)}, { description: "test", handler: async () => ` +
        `writeFileSync(${JSON.stringify(`${marker}.command`)}, "ran") });`,
      `}`,
      "",
    ].join("\n"),
  );
}
