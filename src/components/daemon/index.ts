import { existsSync } from "node:fs";
import { dirname } from "node:path";
import type { Component } from "../../core/component.ts";
import { forgetRemovedUnits } from "../service/jobs.ts";
import { daemonCheck, modelCheck } from "./check.ts";
import { daemonArtifacts, planDaemon, stopDaemonByHand } from "./plan.ts";

/**
 * Tier 4's central session: the daemon embeds pi, consumes the event queue and talks Telegram; the
 * service manager keeps it running in place of tier 2's pi in tmux.
 */
export const daemon: Component = {
  id: "daemon",
  applies: (settings) => Boolean(settings.daemon),
  plan: planDaemon,
  removal: ({ settings }) => ({
    stop: stopDaemonByHand(settings),
    cleanUp: [
      ...daemonArtifacts(settings).map((path) => ({ kind: "remove-file" as const, path })),
      // the daemon's conversation, and the folder it made for it
      ...(existsSync(settings.daemon!.sessionDir) ? [{ kind: "remove-tree" as const, path: settings.daemon!.sessionDir }] : []),
      { kind: "remove-dirs-if-empty" as const, paths: [dirname(settings.daemon!.sessionDir)] },
      ...forgetRemovedUnits(settings),
    ],
  }),
  checks: [daemonCheck, modelCheck],
  consumer: (settings) =>
    settings.service!.manager === "none"
      ? { howToStart: "start the daemon (see the note below) to receive events", intro: [], reachIt: "Any script can reach it:" }
      : {
          howToStart: `${settings.service!.manager} is starting the daemon; gateway-setup doctor shows when it is up`,
          intro: [`The daemon runs pi for you and answers on Telegram as @${settings.telegram!.bot?.username ?? "your bot"}; its health: gateway-setup doctor`],
          reachIt: "Any script can reach it:",
        },
};
