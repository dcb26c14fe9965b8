// Tier 4's daemon: the embedded pi as the central session. It consumes `P:events:gateway` (and
// folds `main`) with the extension's own consumer, takes human inputs from its input sources, runs
// everything through one command queue and hands every reply to the sink. A Redis batch is
// acknowledged only once its reply was delivered: until then it stays in `processing`.
import { type ConsumerHost, type ConsumerState, HandOffDeferred, QueueConsumer } from "../consumer/consumer.ts";
import { TIER1_SESSION_ID } from "../extension/config.ts";
import { HeartbeatWatchdog, type LastHeartbeat, writeLastHeartbeat } from "../extension/heartbeat.ts";
import { batchMessage } from "../extension/message.ts";
import type { GatewayEvent } from "../protocol/event.ts";
import { CENTRAL_SESSION } from "../protocol/route.ts";
import { type Answer, CommandQueue, describeOrigin, type QueuedInput } from "./command-queue.ts";
import type { DaemonConfig } from "./config.ts";
import { openPiSession, type PiSession } from "./pi-session.ts";
import { type DaemonStatus, originKey, writeDaemonStatus } from "./status-file.ts";
import type { DaemonControl, DaemonInput, InputSource, ReplySink } from "./types.ts";

const REPLY_PREVIEW_CHARS = 80;

export interface DaemonDeps {
  /** human inputs (Telegram); each is read for its pending inputs first */
  inputs: InputSource[];
  /** where every reply and alert goes */
  sink: ReplySink;
  /** the process environment (GATEWAY_REDIS_URL / GATEWAY_REDIS_PASSWORD override the config) */
  env?: Record<string, string | undefined>;
  /** one line per notice; default stderr */
  log?: (line: string) => void;
}

export interface Daemon extends DaemonControl {
  readonly modelLabel: string;
  /**
   * Takes no new inputs, aborts the running turn without acknowledging it (it is answered after
   * the restart), closes the consumer and Redis, disposes the session; resolves when all is down.
   */
  shutdown(): Promise<void>;
}

/** Opens the embedded pi (throws when its model cannot be used), then starts consuming. */
/** how long changes gather before the status file is rewritten */
const STATUS_CHANGE_DELAY_MS = 200;

export async function startDaemon(config: DaemonConfig, deps: DaemonDeps): Promise<Daemon> {
  const log = deps.log ?? ((line: string) => process.stderr.write(`gateway daemon: ${line}\n`));
  const pi = await openPiSession({
    agentDir: config.agentDir,
    ...(config.cwd ? { cwd: config.cwd } : {}),
    ...(config.model ? { model: config.model } : {}),
    ...(config.sessionDir ? { sessionDir: config.sessionDir } : {}),
    log,
  });
  const daemon = new GatewayDaemon(config, deps, pi, log);
  try {
    await daemon.start();
  } catch (error) {
    await daemon.shutdown();
    throw error;
  }
  return daemon;
}

class GatewayDaemon implements Daemon, ConsumerHost {
  private readonly queue: CommandQueue;
  private readonly consumer: QueueConsumer;
  private readonly watchdog: HeartbeatWatchdog | undefined;
  private readonly startedAt = Date.now();
  private readonly timers: NodeJS.Timeout[] = [];
  /** the background batch with the queue: the consumer's hand-off waits for its reply */
  private pendingTake: { reject(error: Error): void } | undefined;
  private consumerState: ConsumerState = "stopped";
  private lastHeartbeatAt: number | undefined;
  /** the heartbeat of the background input with the queue, until it is answered */
  private heartbeatInTurn: LastHeartbeat | undefined;
  private readonly lastReplies: DaemonStatus["lastReplies"] = {};
  private statusQueued = false;
  private stopping = false;
  private stopped: Promise<void> | undefined;

  constructor(
    private readonly config: DaemonConfig,
    private readonly deps: DaemonDeps,
    private readonly pi: PiSession,
    private readonly log: (line: string) => void,
  ) {
    this.queue = new CommandQueue({
      turns: pi,
      sink: deps.sink,
      stuckTurnMs: config.stuckTurnMs,
      log,
      onAnswered: (answer) => this.answered(answer),
      onChange: () => this.statusChanged(),
    });
    this.consumer = new QueueConsumer(
      { ...config, sessionId: CENTRAL_SESSION },
      this,
      deps.env ?? process.env,
      // the tier-1 queue stays a way in: scripts that push to `main` reach the daemon
      { announceDefault: true, inboxes: [TIER1_SESSION_ID] },
    );
    if (config.heartbeat) {
      const heartbeat = config.heartbeat;
      this.watchdog = new HeartbeatWatchdog(heartbeat, (silentForMs) => {
        const minutes = Math.max(1, Math.round(silentForMs / 60_000));
        void this.queue.alert(
          `[gateway watchdog] No heartbeat has arrived for ${minutes} min (expected every ${heartbeat.intervalSeconds} s): ` +
            "the heartbeat source may have stopped. Run `gateway-setup doctor` on the machine.",
        );
      });
    }
  }

  get modelLabel(): string {
    return this.pi.modelLabel;
  }

  async start(): Promise<void> {
    for (const source of this.deps.inputs) await this.listen(source);
    this.consumer.start();
    const watchdog = this.watchdog;
    // only the owner of the session id hears heartbeats, so only it may miss them
    if (watchdog) this.timers.push(setInterval(() => this.consumer.owner && watchdog.check(), watchdog.checkEveryMs).unref());
    // not unref'd: the daemon's process lives until shutdown(), whatever else is open
    this.timers.push(setInterval(() => this.writeStatus(), this.config.statusEveryMs));
    this.writeStatus();
  }

  /** The source's persisted inputs first (older), then what arrives meanwhile and later. */
  private async listen(source: InputSource): Promise<void> {
    let arrived: DaemonInput[] | undefined = [];
    source.onInput((input) => (arrived ? arrived.push(input) : this.enqueueHuman(source, input)));
    const pending = await source.pending();
    for (const input of [...pending, ...arrived]) this.enqueueHuman(source, input);
    arrived = undefined;
  }

  private enqueueHuman(source: InputSource, input: DaemonInput): void {
    this.queue.enqueue({ input, ack: () => source.ack(input) });
  }

  // --- DaemonControl ---

  status(): string {
    const { queued, running } = this.queue.snapshot();
    const now = Date.now();
    const heartbeat = !this.config.heartbeat
      ? "off"
      : this.lastHeartbeatAt
        ? `${duration(now - this.lastHeartbeatAt)} ago`
        : `none since the start ${duration(now - this.startedAt)} ago`;
    return [
      `model ${this.pi.modelLabel} · up ${duration(now - this.startedAt)} · Redis ${this.consumerState}`,
      `queue: ${queued.telegram} telegram, ${queued.background} background, ${queued.heartbeat} heartbeat`,
      running ? `running: ${describeOrigin(running.origin)} for ${duration(now - running.startedAt)}` : "running: nothing",
      `last heartbeat: ${heartbeat}`,
    ].join("\n");
  }

  stop(): Promise<boolean> {
    return this.queue.stopTurn();
  }

  newSession(): Promise<void> {
    return this.queue.runExclusive(() => this.pi.newSession());
  }

  shutdown(): Promise<void> {
    this.stopped ??= this.shutDown();
    return this.stopped;
  }

  private async shutDown(): Promise<void> {
    this.stopping = true;
    for (const timer of this.timers) clearInterval(timer);
    await this.queue.stop();
    // the batch was not answered: it stays in `processing` for the next start
    this.pendingTake?.reject(new HandOffDeferred("the daemon is shutting down"));
    this.pendingTake = undefined;
    await this.consumer.stop();
    await this.pi.dispose().catch((error: Error) => this.log(`closing the pi session: ${error.message}`));
    this.writeStatus(Date.now());
  }

  // --- ConsumerHost ---

  canTake(): boolean {
    return !this.stopping && !this.pendingTake;
  }

  /** One background input for the batch; resolves (the consumer acknowledges) once its reply was delivered. */
  take(events: GatewayEvent[]): Promise<void> {
    if (!this.canTake()) return Promise.reject(new HandOffDeferred("a batch is with the daemon already"));
    const { text, heartbeat } = batchMessage(events, CENTRAL_SESSION, this.config.heartbeat?.checklistFile);
    if (heartbeat) this.heartbeatArrived({ eventId: heartbeat.id, ts: heartbeat.ts, deliveredAt: Date.now() });
    const input: DaemonInput = { id: events[0]!.id, origin: { kind: heartbeat ? "heartbeat" : "background" }, text, priority: "background" };
    return new Promise<void>((resolve, reject) => {
      const take = { reject };
      this.pendingTake = take;
      const entry: QueuedInput = {
        input,
        ack: () => {
          if (this.pendingTake === take) this.pendingTake = undefined;
          resolve();
        },
      };
      // not queued: answered before in this process (then ack() ran), or shutting down
      if (!this.queue.enqueue(entry) && this.stopping) {
        this.pendingTake = undefined;
        reject(new HandOffDeferred("the daemon is shutting down"));
      }
    });
  }

  stateChanged(state: ConsumerState, detail?: string): void {
    if (state !== this.consumerState) this.log(`Redis consumer: ${state}${detail ? ` (${detail})` : ""}`);
    this.consumerState = state;
    this.statusChanged();
  }

  notify(message: string, type: "info" | "warning" | "error"): void {
    this.log(message);
    if (type === "error") void this.queue.alert(message);
  }

  // --- bookkeeping ---

  private heartbeatArrived(record: LastHeartbeat): void {
    this.heartbeatInTurn = record;
    this.lastHeartbeatAt = record.deliveredAt;
    this.watchdog?.heartbeat();
    this.writeHeartbeatRecord(record);
  }

  private answered({ input, reply, delivered }: Answer): void {
    if (delivered !== undefined) this.lastReplies[originKey(input.origin)] = { at: Date.now(), preview: delivered.slice(0, REPLY_PREVIEW_CHARS) };
    if (input.origin.kind !== "heartbeat") return;
    const heartbeat = this.heartbeatInTurn;
    this.heartbeatInTurn = undefined;
    // a reply of only HEARTBEAT_OK, which is why nothing was delivered
    if (heartbeat && reply !== undefined && delivered === undefined) this.writeHeartbeatRecord({ ...heartbeat, acknowledgedAt: Date.now() });
  }

  private writeHeartbeatRecord(record: LastHeartbeat): void {
    const file = this.config.heartbeat?.lastHeartbeatFile;
    if (!file) return;
    try {
      writeLastHeartbeat(file, record);
    } catch (error) {
      this.log(`cannot write ${file} (${(error as Error).message}); the tripwire will think heartbeats stopped`);
    }
  }

  /** Changes are written together a moment later, off the path of the turn that caused them (the file is for status and doctor). */
  private statusChanged(): void {
    if (this.statusQueued) return;
    this.statusQueued = true;
    setTimeout(() => {
      this.statusQueued = false;
      if (!this.stopped) this.writeStatus();
    }, STATUS_CHANGE_DELAY_MS);
  }

  private writeStatus(stoppedAt?: number): void {
    const { queued, running } = this.queue.snapshot();
    const status: DaemonStatus = {
      pid: process.pid,
      startedAt: this.startedAt,
      lastLoopTickAt: Date.now(),
      model: this.pi.modelLabel,
      consumer: this.consumerState,
      queued,
      ...(running ? { running } : {}),
      ...(this.lastHeartbeatAt ? { lastHeartbeatAt: this.lastHeartbeatAt } : {}),
      ...(stoppedAt ? { stoppedAt } : {}),
      lastReplies: this.lastReplies,
    };
    try {
      writeDaemonStatus(this.config.stateDir, status);
    } catch (error) {
      this.log(`cannot write the status file in ${this.config.stateDir}: ${(error as Error).message}`);
    }
  }
}

function duration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 120) return `${seconds} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 120) return `${minutes} min`;
  return `${Math.round(minutes / 60)} h`;
}
