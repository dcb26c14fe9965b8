// The ordered registry: the only list of installable parts. Building a plan, uninstalling and
// doctoring are loops over it, in this order; adding a part is adding a folder and a line here.
import type { Component } from "../core/component.ts";
import { crontab } from "./crontab/index.ts";
import { daemon } from "./daemon/index.ts";
import { extension } from "./extension/index.ts";
import { heartbeat } from "./heartbeat/index.ts";
import { pi } from "./pi/index.ts";
import { queues } from "./queues/index.ts";
import { redis } from "./redis/index.ts";
import { service } from "./service/index.ts";
import { state } from "./state/index.ts";
import { telegram } from "./telegram/index.ts";
import { watchdog } from "./watchdog/index.ts";

export const COMPONENTS: Component[] = [redis, extension, queues, pi, service, daemon, telegram, heartbeat, watchdog, crontab, state];
