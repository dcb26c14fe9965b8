// `gateway-setup status`: what is installed, and what the queues look like right now.

import { ioredisInstalled } from "../components/extension/render.ts";
import { redisTargetFor } from "../components/redis/installed-target.ts";
import { connectRedis } from "../components/redis/probe.ts";
import type { Manifest } from "../core/manifest.ts";
import type { RedisClient } from "../core/redis.ts";
import { describeStoppedRun, type JournalOwner, readInterruptedInstall } from "../install/journal-file.ts";
import { ManifestError, readManifest } from "../install/manifest.ts";
import { displayPath, gatewayStateDir, installedManifestPath } from "../platform/paths.ts";
import { processAlive } from "../platform/process-alive.ts";
import { type DaemonStatus, readDaemonStatus } from "../runtime/daemon/status-file.ts";
// the modules themselves, not the folder's index: that one brings grammY, which status does not need
import { readTelegramHealth, type TelegramHealth } from "../runtime/daemon/telegram/health.ts";
import { telegramKeys } from "../runtime/daemon/telegram/keys.ts";
import { type LastHeartbeat, readLastHeartbeat } from "../runtime/extension/heartbeat.ts";
import { DEAD_LETTER_LIMITS, MAX_DEAD_LETTER_RAW, MAX_DEAD_LETTERS } from "../runtime/protocol/dead-letter.ts";
import { aliveKey, isValidSessionId, sessionKeys, sessionsRegistryKey } from "../runtime/protocol/keys.ts";
import { pruneDeadSessions } from "../runtime/protocol/sessions.ts";
import { EXIT_FAILED, EXIT_OK } from "./exit-codes.ts";
import { writeErrorReport } from "./json-error.ts";

export interface SessionStatus {
  id: string;
  registered: boolean;
  alive: boolean;
  listeners: number;
  pending: number;
  processing: number;
  deadLetters: number;
}

export interface StatusReport {
  installed: boolean;
  version?: string;
  tier?: number;
  installedAt?: string;
  updatedAt?: string;
  extensionDir?: string;
  ioredis?: string | null;
  redis?: { url: string; reachable: boolean; problem?: string };
  heartbeat?: { source: string; intervalSeconds: number; last?: LastHeartbeat };
  /** dead sessions removed from the registry while looking */
  pruned?: string[];
  /** tier 4: the daemon as its status file shows it, and the bot as the daemon last saw Telegram */
  daemon?: DaemonReport;
  /** a setup run that was killed midway left its journal (see doctor's interrupted-install) */
  interrupted?: JournalOwner & { running: boolean };
  sessions: SessionStatus[];
  /** what a session's dead-letter list keeps: its newest `keep` entries, each cut to `rawChars` characters (with its size and sha256) */
  deadLetterLimits?: { keep: number; rawChars: number };
}

export interface DaemonReport {
  running: boolean;
  status?: DaemonStatus;
  bot?: string;
  telegram?: TelegramHealth;
  /** per chat id: when the last reply was sent there */
  lastReplies?: Record<string, { at: number; chunks: number }>;
  /** inputs from Telegram not answered yet, replies not sent yet */
  inbox?: number;
  outbox?: number;
}

async function collectDaemon(settings: Manifest["settings"], client: RedisClient | undefined): Promise<DaemonReport> {
  const status = readDaemonStatus(settings.stateDir);
  const report: DaemonReport = {
    running: Boolean(status && status.stoppedAt === undefined && processAlive(status.pid)),
    ...(status ? { status } : {}),
    ...(settings.telegram?.bot ? { bot: `@${settings.telegram.bot.username}` } : {}),
  };
  if (!client) return report;
  const keys = telegramKeys(settings.prefix);
  const [health, replies, inbox, outbox] = await Promise.all([
    readTelegramHealth(client, settings.prefix),
    client.hgetall(keys.lastReply),
    client.llen(keys.inbox),
    client.llen(keys.outbox),
  ]);
  const lastReplies = Object.fromEntries(
    Object.entries(replies).flatMap(([chat, json]) => {
      try {
        return [[chat, JSON.parse(json) as { at: number; chunks: number }]];
      } catch {
        return [];
      }
    }),
  );
  return { ...report, ...(health ? { telegram: health } : {}), lastReplies, inbox, outbox };
}

function describeDaemon(daemon: DaemonReport, heartbeats: boolean): string[] {
  const ago = (at: number | undefined) => (at === undefined ? "never" : `${Math.round((Date.now() - at) / 1000)} s ago`);
  const status = daemon.status;
  const up = status ? Math.round((Date.now() - status.startedAt) / 60_000) : 0;
  const lines = [
    `daemon     ${daemon.running && status ? `running (pid ${status.pid}, model ${status.model}, up ${up} min, Redis ${status.consumer})` : "NOT running"}`,
  ];
  if (status) {
    const queued = Object.entries(status.queued)
      .filter(([, n]) => n > 0)
      .map(([source, n]) => `${n} ${source}`);
    const turn = status.running ? `; a ${status.running.origin.kind} turn runs for ${ago(status.running.startedAt).replace(" ago", "")}` : "";
    lines.push(`queue      ${queued.length ? queued.join(", ") : "empty"}${turn}`);
    if (heartbeats) lines.push(`heartbeat  last handed to the daemon ${ago(status.lastHeartbeatAt)}`);
  }
  const telegram = daemon.telegram;
  const error = telegram?.lastError ? `; last error ${telegram.lastError.code} ${telegram.lastError.description} ${ago(telegram.lastError.at)}` : "";
  const polling = telegram ? `${telegram.polling ? "polling" : "NOT polling"}, last poll ${ago(telegram.lastPollOkAt)}${error}` : "no poll yet";
  lines.push(`telegram   ${daemon.bot ?? "the bot"}: ${polling}`);
  lines.push(`           ${daemon.inbox ?? 0} message(s) waiting for an answer, ${daemon.outbox ?? 0} repl(ies) waiting to be sent`);
  for (const [chat, reply] of Object.entries(daemon.lastReplies ?? {})) lines.push(`           last reply to chat ${chat}: ${ago(reply.at)}`);
  return lines;
}

export async function collectStatus(env: NodeJS.ProcessEnv): Promise<StatusReport> {
  const stopped = readInterruptedInstall(gatewayStateDir(env));
  const interrupted = stopped ? { interrupted: { ...stopped.owner, running: stopped.running } } : {};
  const manifest = readManifest(installedManifestPath(env));
  if (!manifest) return { installed: false, sessions: [], ...interrupted };
  const { settings } = manifest;
  const report: StatusReport = {
    ...interrupted,
    installed: true,
    version: manifest.version,
    tier: settings.tier,
    installedAt: manifest.installedAt,
    updatedAt: manifest.updatedAt,
    extensionDir: settings.extensionDir,
    ioredis: ioredisInstalled(settings.extensionDir) ?? null,
    sessions: [],
    deadLetterLimits: { keep: MAX_DEAD_LETTERS, rawChars: MAX_DEAD_LETTER_RAW },
  };
  if (settings.heartbeat) {
    const last = readLastHeartbeat(settings.heartbeat.lastHeartbeatFile);
    report.heartbeat = { source: settings.heartbeat.source, intervalSeconds: settings.heartbeat.intervalSeconds, ...(last ? { last } : {}) };
  }
  const { probe, client } = await connectRedis(redisTargetFor(manifest, env));
  report.redis = { url: settings.redisUrl, reachable: Boolean(client), ...("message" in probe ? { problem: probe.message } : {}) };
  if (settings.daemon) report.daemon = await collectDaemon(settings, client);
  if (!client) return report;
  try {
    report.pruned = await pruneDeadSessions(client, settings.prefix);
    const registered = (await client.smembers(sessionsRegistryKey(settings.prefix))).filter(isValidSessionId);
    for (const id of [...new Set([settings.sessionId, ...registered])].sort()) {
      const keys = sessionKeys(settings.prefix, id);
      const [pending, processing, deadLetters, alive, numsub] = await Promise.all([
        client.llen(keys.events),
        client.llen(keys.processing),
        client.llen(keys.deadLetter),
        client.exists(aliveKey(settings.prefix, id)),
        client.pubsub("NUMSUB", keys.notify) as Promise<(string | number)[]>,
      ]);
      report.sessions.push({
        id,
        registered: registered.includes(id),
        alive: alive === 1,
        listeners: Number(numsub[1] ?? 0),
        pending,
        processing,
        deadLetters,
      });
    }
  } finally {
    client.disconnect();
  }
  return report;
}

function describeHeartbeat(heartbeat: NonNullable<StatusReport["heartbeat"]>): string {
  if (heartbeat.source === "none") return "none installed (--heartbeat none)";
  const every = `${heartbeat.source}, every ${heartbeat.intervalSeconds} s`;
  if (!heartbeat.last) return `${every}; none handed to pi yet`;
  const ago = Math.round((Date.now() - heartbeat.last.deliveredAt) / 1000);
  return `${every}; last handed to pi ${ago} s ago${heartbeat.last.acknowledgedAt ? " (HEARTBEAT_OK)" : ""}`;
}

function describeInterrupted({ running, ...owner }: NonNullable<StatusReport["interrupted"]>): string {
  return running
    ? `setup      gateway-setup (pid ${owner.pid}) is changing this install right now`
    : `setup      ${describeStoppedRun(owner)}; gateway-setup doctor --fix sets it right`;
}

export function formatStatus(report: StatusReport, env: NodeJS.ProcessEnv): string {
  const interrupted = report.interrupted ? [describeInterrupted(report.interrupted)] : [];
  if (!report.installed) return ["Not installed. Run: npx gateway-setup", ...interrupted].join("\n");
  const lines = [
    ...interrupted,
    `gateway-setup ${report.version}, tier ${report.tier}, installed ` +
      `${report.installedAt}${report.updatedAt !== report.installedAt ? `, updated ${report.updatedAt}` : ""}`,
    `extension  ${displayPath(report.extensionDir!, env)} (ioredis ${report.ioredis ?? "MISSING"})`,
    `redis      ${report.redis!.url} ${report.redis!.reachable ? "reachable" : `NOT reachable: ${report.redis!.problem}`}`,
    `heartbeat  ${report.heartbeat ? describeHeartbeat(report.heartbeat) : "none (tier 1)"}`,
    ...(report.daemon ? describeDaemon(report.daemon, Boolean(report.heartbeat && report.heartbeat.source !== "none")) : []),
  ];
  if (report.pruned?.length) lines.push(`pruned     ${report.pruned.length} dead session(s): ${report.pruned.join(", ")}`);
  if (report.sessions.length) {
    lines.push("", "session          alive  listening  pending  in-flight  dead-letters");
    for (const s of report.sessions) {
      const columns = [s.id.padEnd(16), (s.alive ? "yes" : "no").padEnd(6), String(s.listeners).padEnd(10), String(s.pending).padEnd(8)];
      lines.push(`${columns.join(" ")} ${String(s.processing).padEnd(10)} ${s.deadLetters}`);
    }
    lines.push(`dead letters kept: ${DEAD_LETTER_LIMITS}`);
  }
  return lines.join("\n");
}

export async function runStatusCommand(flags: { json?: boolean }, env = process.env): Promise<number> {
  let report: StatusReport;
  try {
    report = await collectStatus(env);
  } catch (error) {
    if (!(error instanceof ManifestError)) throw error;
    if (flags.json) writeErrorReport(error.message, error.fix);
    else process.stderr.write(`gateway-setup status: ${error.message}\n  fix: ${error.fix}\n`);
    return EXIT_FAILED;
  }
  process.stdout.write((flags.json ? JSON.stringify(report, null, 2) : formatStatus(report, env)) + "\n");
  return report.installed && report.redis?.reachable ? EXIT_OK : EXIT_FAILED;
}
