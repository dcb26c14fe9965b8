// Tier 4's daemon in the bench: the real `gateway-setup daemon` in its own process, as the service
// runs it, against the fake Bot API and the fake model (answering at once) in this process, and the
// bench's redis-server. One message at a time: Telegram update -> model request, model reply ->
// sendMessage, Redis event -> model request (timestamps taken in this process), and after each
// message the bare model round trip that the daemon's added time is measured against: the daemon's
// own request, sent straight to the model by a process that does nothing else (bare-client.mjs).
// Timings are reported, never enforced.

import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { openPiSession } from "../src/runtime/daemon/pi-session.ts";
import { createEvent } from "../src/runtime/protocol/event.ts";
import { pushToSession } from "../src/runtime/protocol/push.ts";
import { type DaemonRun, installDaemon, startDaemonCli } from "../test/helpers/daemon-cli.ts";
import { randomPrefix } from "../test/helpers/extension-dir.ts";
import { type ChatRequest, newestUserTexts, startFakeModel } from "../test/helpers/fake-model.ts";
import { startFakeTelegram } from "../test/helpers/fake-telegram.ts";
import { extensionEventToRequest } from "./extension-in-pi.ts";
import { quantile, type Row } from "./rows.ts";

const BARE_CLIENT = join(dirname(fileURLToPath(import.meta.url)), "bare-client.mjs");
const MESSAGES = 200;
const WARM_UP = 20;
const OWNER = 111;
const ADDED_TARGET_MS = 5;

type Figures = { p50: number; p99: number };

const figures = (samples: number[]): Figures => ({ p50: quantile(samples, 0.5), p99: quantile(samples, 0.99) });

export async function daemonRows(redisUrl: string): Promise<Row[]> {
  // the embedded pi runs in this process: offline and quiet
  process.env.PI_OFFLINE = "1";
  process.env.PI_TELEMETRY = "0";
  /** when the model answered each token: its reply is written right after this runs */
  const repliedAt = new Map<string, number>();
  const model = await startFakeModel({
    reply: (request: ChatRequest) => {
      const token =
        newestUserTexts(request)
          .join("\n")
          .match(/TOKEN-[\w-]+/)?.[0] ?? "none";
      repliedAt.set(token, performance.now());
      return `re ${token}`;
    },
  });
  const fake = await startFakeTelegram();
  const install = installDaemon(model, fake, { prefix: randomPrefix(), redisUrl, telegram: { allow: [OWNER], pairing: false } });
  fake.knowChat(OWNER);
  const redis = new Redis(redisUrl);
  let running: DaemonRun | undefined;
  const bare = startBareClient(model.baseUrl);
  try {
    running = await startDaemonCli(install);
    const reply = async (token: string, send: () => unknown): Promise<{ started: number; answered: number }> => {
      const before = fake.sent.length;
      const started = performance.now();
      await send();
      await fake.waitForSent((sent) => sent.length > before && sent.at(-1)!.text === `re ${token}`, 30_000);
      return { started, answered: performance.now() };
    };
    const telegram = (token: string) => reply(token, () => fake.injectMessage({ userId: OWNER, text: `bench ${token}` }));
    const event = (token: string) =>
      reply(token, () =>
        pushToSession(redis, { prefix: install.prefix, sessionId: "gateway", event: createEvent({ type: "bench", source: "bench", payload: { token } }) }),
      );

    for (let i = 0; i < WARM_UP; i++) {
      await telegram(`TOKEN-warm-${i}`);
      await bare.roundTrip(model.requests.at(-1)!);
    }
    const updateToRequest: number[] = [];
    const replyToSend: number[] = [];
    const endToEnd: number[] = [];
    const bareRoundTrips: number[] = [];
    for (let i = 0; i < MESSAGES; i++) {
      const token = `TOKEN-tg-${i}`;
      const { started, answered } = await telegram(token);
      updateToRequest.push(repliedAt.get(token)! - started);
      replyToSend.push(answered - repliedAt.get(token)!);
      endToEnd.push(answered - started);
      // interleaved, so that both see the machine equally busy
      bareRoundTrips.push(await bare.roundTrip(model.requests.at(-1)!));
    }
    const eventToRequest: number[] = [];
    for (let i = 0; i < MESSAGES; i++) {
      const token = `TOKEN-ev-${i}`;
      const { started } = await event(token);
      eventToRequest.push(repliedAt.get(token)! - started);
    }
    await stopDaemon(running);
    running = undefined;
    const piAlone = await piTurns(install.agentDir, repliedAt);
    const extension = figures(await extensionEventToRequest(redisUrl, model, repliedAt, { events: MESSAGES, warmUp: WARM_UP }));

    const update = figures(updateToRequest);
    const send = figures(replyToSend);
    const total = figures(endToEnd);
    const events = figures(eventToRequest);
    const roundTrip = figures(bareRoundTrips);
    const piRequest = figures(piAlone.toRequest);
    const piTurn = figures(piAlone.turn);
    const added = total.p50 - roundTrip.p50;
    const ms = (name: string, value: number, extra: Partial<Row> = {}): Row => ({ name, value, unit: "ms", ...extra });
    return [
      ms(`daemon: Telegram update -> model request p50 (${MESSAGES} messages)`, update.p50),
      ms("daemon: Telegram update -> model request p99", update.p99),
      ms("daemon: model reply -> sendMessage p50", send.p50),
      ms("daemon: model reply -> sendMessage p99", send.p99),
      ms("daemon: Redis event -> model request p50", events.p50),
      ms("daemon: Redis event -> model request p99", events.p99),
      ms("tier-1 extension in pi (RPC mode): Redis event -> model request p50", extension.p50),
      ms("tier-1 extension in pi (RPC mode): Redis event -> model request p99", extension.p99),
      ms("daemon: Telegram update -> sendMessage p50", total.p50),
      ms("bare model round trip p50 (the daemon's request, from another process, after each message)", roundTrip.p50),
      ms("pi alone: prompt -> model request p50 (its SDK, no daemon)", piRequest.p50),
      ms("pi alone: one turn p50 (prompt -> reply read)", piTurn.p50),
      ms("daemon: added p50 over pi's own turn", total.p50 - piTurn.p50),
      ms("daemon: added p50 over the bare model round trip", added, { target: `<= ${ADDED_TARGET_MS} ms`, met: added <= ADDED_TARGET_MS }),
    ];
  } finally {
    if (running) await stopDaemon(running);
    bare.close();
    redis.disconnect();
    await fake.close();
    await model.close();
    install.cleanup();
  }
}

async function stopDaemon(run: DaemonRun): Promise<void> {
  run.child.kill("SIGTERM");
  await run.exited;
}

/**
 * The model's round trip without the daemon: the daemon's own request body, sent and read to its
 * end by another process that does nothing else (the daemon, too, talks to the model from its own
 * process; a request this process sent to itself would skip that hop).
 */
function startBareClient(baseUrl: string): { roundTrip(request: ChatRequest): Promise<number>; close(): void } {
  const child = spawn(process.execPath, [BARE_CLIENT, `${baseUrl}/chat/completions`], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  return {
    roundTrip: (request) =>
      new Promise((resolve, reject) => {
        child.once("message", (answer) => (typeof answer === "number" ? resolve(answer) : reject(new Error(`bare client: ${String(answer)}`))));
        child.send(JSON.stringify(request));
      }),
    close: () => child.kill(),
  };
}

/** pi's own turn through the same SDK wrapper the daemon uses, without the daemon: what the daemon's figures are measured against. */
async function piTurns(agentDir: string, repliedAt: Map<string, number>): Promise<{ toRequest: number[]; turn: number[] }> {
  const pi = await openPiSession({ agentDir, model: "fake/fake-1", sessionDir: join(agentDir, "bench-pi-alone") });
  const toRequest: number[] = [];
  const turn: number[] = [];
  try {
    for (let i = 0; i < WARM_UP + MESSAGES; i++) {
      const token = `TOKEN-pi-${i}`;
      const started = performance.now();
      await pi.runTurn(`bench ${token}`);
      if (i < WARM_UP) continue;
      toRequest.push(repliedAt.get(token)! - started);
      turn.push(performance.now() - started);
    }
  } finally {
    await pi.dispose();
  }
  return { toRequest, turn };
}
