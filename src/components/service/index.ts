import { existsSync } from "node:fs";
import type { Component } from "../../core/component.ts";
import { serviceCheck, tmuxCheck } from "./check.ts";
import { forgetRemovedUnits } from "./jobs.ts";
import { planService, serviceArtifacts, withCentralRestart } from "./plan.ts";
import { attachCommand, centralTmuxArgv } from "./wrapper.ts";

/** The central pi session in tmux, kept alive by launchd, a systemd user unit, or by hand. */
export const service: Component = {
  id: "service",
  // tier 4 runs the daemon in its place
  applies: (settings) => Boolean(settings.service) && !settings.daemon,
  plan: planService,
  gather: withCentralRestart,
  removal: ({ settings }) => {
    const central = settings.service!;
    return {
      // the service manager stops the wrapper; the tmux session (and the central pi in it) goes too
      stop: [
        {
          kind: "run",
          argv: centralTmuxArgv(central, "kill-session", "-t", `=${central.tmuxSession}`),
          description: "stop the central pi session",
          mayFail: true,
        },
      ],
      cleanUp: [
        ...serviceArtifacts(settings)
          .filter((path) => existsSync(path))
          .map((path) => ({ kind: "remove-file" as const, path })),
        ...forgetRemovedUnits(settings),
      ],
    };
  },
  checks: [serviceCheck, tmuxCheck],
  consumer: ({ service }) =>
    service!.manager === "none"
      ? {
          howToStart: "start the central session (see the note below) to receive events",
          intro: [`Once you start the central pi session (see the note), look at it with: ${attachCommand(service!)}`],
          reachIt: "Any script can reach it:",
        }
      : {
          howToStart: `${service!.manager} is starting the central session; gateway-setup doctor shows when it is up`,
          intro: [`The central pi session runs in tmux; look at it with: ${attachCommand(service!)}`],
          reachIt: "Any script can reach it:",
        },
};
