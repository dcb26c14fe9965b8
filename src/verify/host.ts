// A stand-in for pi that implements the part of the ExtensionAPI the gateway uses (anything else
// throws, so a new dependency on pi shows up here), and setup's self-test of an installed extension
// on it. Tests load an installed extension exactly as pi does (`loadInstalledExtension`: jiti
// compiles index.ts, which imports the bundle gateway-extension.mjs, ioredis inside); the self-test
// checks that index.ts is byte for byte what setup rendered and imports the bundle natively with
// the settings that index.ts hands it, which costs no TypeScript compiler at setup.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { ExtensionAPI, ExtensionContext } from "@mariozechner/pi-coding-agent";
import { BUNDLE_NAME, type ExtensionEntry, installedBundlePath } from "../components/extension/render.ts";
import { connectRedis } from "../components/redis/probe.ts";
import { parseRedisUrl } from "../components/redis/url.ts";
import type { RedisClient } from "../core/redis.ts";
import { pause } from "../platform/abort.ts";
import { REPAIR_IN_PLACE } from "../runtime/consumer/consumer.ts";
import type { GatewayConfig } from "../runtime/extension/config.ts";
import { createEvent } from "../runtime/protocol/event.ts";
import { sessionKeys, sessionStateKeys, sessionsRegistryKey, smokeAckKey } from "../runtime/protocol/keys.ts";
import { pushToSession } from "../runtime/protocol/push.ts";

type Handler = (event: unknown, ctx: ExtensionContext) => unknown;
type Factory = (pi: ExtensionAPI) => unknown;

export interface SentMessage {
  text: string;
  options?: { deliverAs?: "steer" | "followUp" };
  /** performance.now() when the extension handed it over */
  at: number;
}

export interface InstalledExtensionModule {
  gatewayConfig: GatewayConfig;
  createGatewayExtension(config: Partial<GatewayConfig>, env?: Record<string, string | undefined>): Factory;
}

/** Loads `<extensionDir>/index.ts` the way pi's loader does (jiti compiles index.ts and imports the .mjs bundle natively). */
export async function loadInstalledExtension(extensionDir: string): Promise<InstalledExtensionModule> {
  const { createJiti } = await import("jiti");
  const jiti = createJiti(import.meta.url, { moduleCache: false });
  return (await jiti.import(join(extensionDir, "index.ts"))) as InstalledExtensionModule;
}

type BundleModule = Pick<InstalledExtensionModule, "createGatewayExtension">;

/**
 * The installed extension as setup rendered it: its index.ts must be `entry.contents`, byte for
 * byte (what pi then does with that text, compile it and hand `entry.config` to the bundle, the
 * tests prove with the real pi); its bundle is imported natively, as index.ts imports it. A problem
 * is returned in the words pi would show, not thrown.
 */
async function loadRenderedExtension(extensionDir: string, entry: ExtensionEntry): Promise<BundleModule | { problem: string }> {
  const index = join(extensionDir, "index.ts");
  let installed: string | undefined;
  try {
    installed = readFileSync(index, "utf8");
  } catch {
    // said below
  }
  if (installed !== entry.contents) return { problem: `${index} is ${installed === undefined ? "missing" : "not the file setup rendered"}` };
  let bundle: Partial<BundleModule>;
  try {
    bundle = await import(pathToFileURL(installedBundlePath(extensionDir)).href);
  } catch (error) {
    // as index.ts says it in pi
    const why = String((error as Error)?.message ?? error).split("\n")[0];
    return { problem: `gateway: cannot load ./${BUNDLE_NAME} (${why}), so Redis events are not delivered.` };
  }
  if (typeof bundle.createGatewayExtension !== "function") return { problem: `${installedBundlePath(extensionDir)} does not export createGatewayExtension` };
  return bundle as BundleModule;
}

export class VerificationHost {
  readonly sent: SentMessage[] = [];
  readonly notices: { message: string; type?: string }[] = [];
  readonly statuses = new Map<string, string | undefined>();
  /** every status text set, in order */
  readonly statusHistory: string[] = [];
  readonly commands = new Map<string, (args: string, ctx: ExtensionContext) => unknown>();
  private readonly handlers = new Map<string, Handler[]>();
  /** the running turn's abort signal, as pi's ctx.signal */
  private turn: AbortController | undefined;
  private waiters: (() => void)[] = [];
  /** simulate pi's turn after each sendUserMessage (agent_start, the message's message_start and context, agent_end) */
  autoTurn = true;
  /** what the simulated model answers in each turn */
  reply = "OK";
  readonly ctx: ExtensionContext;
  readonly api: ExtensionAPI;

  constructor() {
    const ui = {
      notify: (message: string, type?: string) => {
        this.notices.push({ message, ...(type ? { type } : {}) });
        this.changed();
      },
      setStatus: (key: string, text: string | undefined) => {
        this.statuses.set(key, text);
        if (text !== undefined) this.statusHistory.push(text);
        this.changed();
      },
    };
    const ctxTarget = {
      ui: notImplemented(ui, "ctx.ui"),
      hasUI: true,
      cwd: process.cwd(),
      isIdle: () => !this.turn,
      hasPendingMessages: () => false,
    };
    Object.defineProperty(ctxTarget, "signal", { get: () => this.turn?.signal, enumerable: true });
    this.ctx = notImplemented(ctxTarget, "ctx") as unknown as ExtensionContext;
    const apiTarget = {
      on: (event: string, handler: Handler) => {
        this.handlers.set(event, [...(this.handlers.get(event) ?? []), handler]);
      },
      sendUserMessage: (text: string, options?: SentMessage["options"]) => {
        this.sent.push({ text, ...(options ? { options } : {}), at: performance.now() });
        this.changed();
        if (this.autoTurn) setImmediate(() => void this.runTurn(text));
      },
      registerCommand: (name: string, options: { handler: (args: string, ctx: ExtensionContext) => unknown }) => {
        this.commands.set(name, options.handler);
      },
    };
    this.api = notImplemented(apiTarget, "pi") as unknown as ExtensionAPI;
  }

  async load(factory: Factory): Promise<void> {
    await factory(this.api);
  }

  async emit(event: string, payload: unknown = {}): Promise<void> {
    for (const handler of this.handlers.get(event) ?? []) await handler(payload, this.ctx);
  }

  startSession(reason = "startup"): Promise<void> {
    return this.emit("session_start", { type: "session_start", reason });
  }

  shutdown(): Promise<void> {
    return this.emit("session_shutdown", { type: "session_shutdown", reason: "quit" });
  }

  /** One simulated agent turn: what pi does with a user message (`text`), or a turn of the user's own (none). */
  async runTurn(text?: string): Promise<void> {
    this.turn = new AbortController();
    await this.emit("agent_start", { type: "agent_start" });
    const user = { role: "user", content: [{ type: "text", text: text ?? "a prompt of the user's" }], timestamp: Date.now() };
    await this.emit("message_start", { type: "message_start", message: user });
    await this.emit("context", { type: "context", messages: [user] });
    this.turn = undefined;
    const messages = [{ role: "assistant", content: [{ type: "text", text: this.reply }] }];
    await this.emit("agent_end", { type: "agent_end", messages });
  }

  async runCommand(name: string, args = ""): Promise<void> {
    const command = this.commands.get(name);
    if (!command) throw new Error(`no command /${name} was registered`);
    await command(args, this.ctx);
  }

  /** Resolves when `predicate` holds, checked after every message, notice and status change. */
  waitFor(predicate: () => boolean, timeoutMs: number, what = "condition", signal?: AbortSignal): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.waiters = this.waiters.filter((w) => w !== check);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const onAbort = () => {
        done();
        reject(new Error("cancelled"));
      };
      const check = () => {
        if (!predicate()) return;
        done();
        resolve();
      };
      this.waiters.push(check);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  private changed(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

function notImplemented<T extends object>(target: T, name: string): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      if (typeof property === "symbol" || property in object || property === "then") return Reflect.get(object, property, receiver);
      throw new Error(`${name}.${property} is not implemented by the gateway-setup verification host`);
    },
  });
}

export interface VerifyOptions {
  extensionDir: string;
  /** what setup rendered into its index.ts */
  entry: ExtensionEntry;
  /** without password */
  redisUrl: string;
  redisPassword?: string;
  prefix: string;
  timeoutMs: number;
  /** aborting stops the self-test (problem "cancelled") and cleans up */
  signal?: AbortSignal;
}

export interface VerifyResult {
  ok: boolean;
  sessionId: string;
  eventId: string;
  ms: number;
  problem?: string;
}

/**
 * Loads the installed extension on a throw-away session id, pushes one event the way a shell
 * producer does, and passes only when that event reached sendUserMessage and the queue is empty.
 * The throw-away keys are deleted afterwards. Expected failures are returned, not thrown.
 */
export async function verifyInstalledExtension(options: VerifyOptions): Promise<VerifyResult> {
  const started = Date.now();
  const sessionId = `verify-${randomUUID().slice(0, 8)}`;
  const event = createEvent({ type: "gateway.verify", source: "gateway-setup", payload: { note: "installer self-test" } });
  const result = (problem?: string): VerifyResult => ({
    ok: !problem,
    sessionId,
    eventId: event.id,
    ms: Date.now() - started,
    ...(problem ? { problem } : {}),
  });
  const target = parseRedisUrl(options.redisUrl, options.redisPassword);
  const { probe, client } = await connectRedis(target, 2000, options.signal);
  if (!client) return result("message" in probe ? probe.message : "Redis is not reachable");
  const host = new VerificationHost();
  const keys = sessionKeys(options.prefix, sessionId);
  try {
    const mod = await loadRenderedExtension(options.extensionDir, options.entry);
    if ("problem" in mod) return result(mod.problem);
    await host.load(
      mod.createGatewayExtension(
        {
          ...options.entry.config,
          // the self-test consumes its own throw-away queue whatever role this process has
          mode: "single",
          heartbeat: undefined,
          announceDefault: false,
          sessionId,
          redisUrl: options.redisUrl,
          ...(options.redisPassword ? { redisPassword: options.redisPassword } : {}),
          pollIntervalMs: 500,
        },
        {},
      ),
    );
    await host.startSession();
    // a refused password is an error notice, an outage or a missing bundle a warning: either ends the wait with its reason
    const complaint = () => host.notices.find((n) => n.type === "warning" || n.type === "error");
    const connected = () => host.statuses.get("gateway")?.startsWith("gateway: listening") === true || complaint() !== undefined;
    await host.waitFor(connected, options.timeoutMs, "the extension to connect", options.signal);
    const warning = complaint();
    // the advice to repair in place is for a pi user; the installer rolls back instead
    if (warning) return result(warning.message.replace(REPAIR_IN_PLACE, "").trim());
    await pushToSession(client, { prefix: options.prefix, sessionId, event });
    await host.waitFor(() => host.sent.some((m) => m.text.includes(event.id)), options.timeoutMs, `event ${event.id} to reach sendUserMessage`, options.signal);
    const deadline = Date.now() + options.timeoutMs;
    while ((await client.llen(keys.events)) + (await client.llen(keys.processing)) > 0) {
      if (Date.now() > deadline) return result(`event ${event.id} was delivered but ${keys.events} is not empty`);
      await pause(20, options.signal);
    }
    return result();
  } catch (error) {
    return result((error as Error).message);
  } finally {
    await host.shutdown().catch(() => {});
    await cleanUpSession(client, options.prefix, sessionId, event.id).catch(() => {});
    client.disconnect();
  }
}

/** Deletes the throw-away session's keys by name (no KEYS scan: it blocks a large Redis, and managed ones forbid it). */
async function cleanUpSession(redis: RedisClient, prefix: string, sessionId: string, eventId: string): Promise<void> {
  const keys = sessionKeys(prefix, sessionId);
  await redis.del(...sessionStateKeys(prefix, sessionId), keys.seenPrefix + eventId);
  await redis.srem(sessionsRegistryKey(prefix), sessionId);
}

/** True once a live session acknowledged the smoke event `eventId`. */
export async function waitForSmokeAck(redis: RedisClient, prefix: string, eventId: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await redis.exists(smokeAckKey(prefix, eventId))) return true;
    await pause(100, signal);
  }
  return false;
}
