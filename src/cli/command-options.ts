// The options of the commands that scripts and users run most (setup, push, status, doctor), once:
// commander declares them (src/cli/main.ts) and the quick entry parses them (quick-entry.ts), so
// the two can never disagree on a flag.

export interface CommandOption {
  /**
   * commander's flags: `--name <value>` takes a value, `--name` alone is a switch, `-n, --name` has a
   * short form, `--no-name` sets `name` to false
   */
  flags: string;
  description: string;
  /** comma-separated or repeated, read into one list (commander's `collect` below) */
  list?: boolean;
  /** the only values it takes */
  choices?: readonly string[];
}

/** Setup is the program itself: `gateway-setup --tier 1 --yes`. */
export const SETUP_OPTIONS: readonly CommandOption[] = [
  { flags: "--tier <n>", description: "tier to install: 1 notification bridge, 2 always-on + heartbeat, 3 multi-session, 4 full gateway (daemon + Telegram)" },
  { flags: "--goal <goal>", description: "what pi should do (maps to a tier)", choices: ["notifications", "always-on", "full-gateway"] },
  { flags: "--sessions <n>", description: "concurrent pi sessions", choices: ["one", "several"] },
  {
    flags: "--redis-url <url>",
    description: "Redis URL, redis:// or rediss:// (default redis://127.0.0.1:6379); put the password in GATEWAY_REDIS_PASSWORD, not here",
  },
  { flags: "--prefix <prefix>", description: "Redis key prefix (default agent)" },
  { flags: "--scope <scope>", description: "install the extension for every project (global) or one project", choices: ["global", "project"] },
  { flags: "--project-dir <dir>", description: "the project for --scope project (default: current directory)" },
  {
    flags: "--heartbeat <source>",
    description: "tier 2: what pushes the heartbeat (default: launchd on macOS, systemd where available, else cron)",
    choices: ["cron", "launchd", "systemd", "inngest", "none"],
  },
  { flags: "--heartbeat-every <interval>", description: "tier 2: heartbeat interval, e.g. 15m, 1h (cron: whole minutes dividing the hour)" },
  { flags: "--heartbeat-file <path>", description: "tier 2: the HEARTBEAT.md checklist (default: <agent dir>/HEARTBEAT.md)" },
  { flags: "--service <manager>", description: "tier 2: what keeps the central session alive (detected)", choices: ["launchd", "systemd", "none"] },
  { flags: "--service-label <label>", description: "tier 2: launchd label / systemd unit name (default dev.gateway-setup.pi-central)" },
  {
    flags: "--telegram-allow <ids>",
    description: "tier 4: Telegram user ids that may talk to the bot, comma-separated or repeated; the first is the owner (ask @userinfobot)",
    list: true,
  },
  {
    flags: "--telegram-pairing <on|off>",
    description: "tier 4: answer unknown users with a one-time code for `gateway-setup pair` (default: on when no id is given)",
    choices: ["on", "off"],
  },
  { flags: "--telegram-notify <ids>", description: "tier 4: where replies to background events go (default: the owner)", list: true },
  { flags: "--telegram-api-root <url>", description: "tier 4: another Bot API server, e.g. a self-hosted telegram-bot-api (also TELEGRAM_API_ROOT)" },
  { flags: "--model <provider/id>", description: "tier 4: the daemon's model (default: pi's own default model)" },
  { flags: "--install-redis", description: "install and start Redis with brew/apt if none answers (implied by --yes)" },
  { flags: "--no-install-redis", description: "never install Redis" },
  { flags: "-y, --yes", description: "accept defaults for every unanswered question and apply without asking" },
  { flags: "--dry-run", description: "print the plan and change nothing" },
  { flags: "--verbose", description: "show every command of the plan whole (long ones are cut otherwise)" },
  { flags: "--json", description: "print one JSON document (plan, what was done, verification) and nothing else" },
];

export const PUSH_OPTIONS: readonly CommandOption[] = [
  { flags: "--payload <json>", description: "event payload, a JSON object (default {}); - reads it from standard input" },
  { flags: "--payload-file <path>", description: "read the payload from this file (up to the 256 KB an event may be)" },
  { flags: "--source <source>", description: "who sends it (default gateway-setup)" },
  {
    flags: "--origin <session>",
    description: "the session that started the work; it gets the event too, with the central one (default: $GATEWAY_SESSION_ID, set inside pi sessions)",
  },
  { flags: "--id <id>", description: "event id (default: a fresh UUID); the same id is delivered only once" },
  { flags: "--redis-url <url>", description: "Redis URL (default: $GATEWAY_REDIS_URL, else the installed one); password in GATEWAY_REDIS_PASSWORD" },
  { flags: "--prefix <prefix>", description: "key prefix (default: the installed one, or agent)" },
  { flags: "--json", description: "print { ok, event, targets } and nothing else" },
];

export const STATUS_OPTIONS: readonly CommandOption[] = [{ flags: "--json", description: "print one JSON document" }];

export const DOCTOR_OPTIONS: readonly CommandOption[] = [
  { flags: "--json", description: "print { ok, checks: [{ id, status, message, fix }] } and nothing else" },
  {
    flags: "--fix",
    description:
      "apply the safe repairs (restore drifted files and the extension's bundle, file modes, prune dead sessions, delete a bot's webhook), then check again",
  },
  { flags: "--only <ids>", description: "run only these checks (comma-separated or repeated)", list: true },
  { flags: "--skip <ids>", description: "skip these checks (comma-separated or repeated)", list: true },
];

/** A list option's values so far, and the next occurrence's comma-separated ones. */
export function collect(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(",")
      .map((v) => v.trim())
      .filter(Boolean),
  ];
}

export interface OptionNames {
  /** the long flag without its dashes: `payload-file`, `no-install-redis` */
  name: string;
  /** the flags' key, as commander names it: `payloadFile`; `installRedis` for `--no-install-redis` */
  key: string;
  short?: string;
  takesValue: boolean;
  /** `--no-<key>`: sets the key to false */
  negated: boolean;
}

/**
 * `-y, --yes` -> { name: "yes", key: "yes", short: "y", takesValue: false, negated: false }, as
 * commander names it. String operations, no regular expressions: this runs in a quick command's
 * cold start, where compiling them cost ~0.5 ms.
 */
export function optionNames(option: CommandOption): OptionNames {
  const { flags } = option;
  const long = flags.indexOf("--") + "--".length;
  const end = flags.indexOf(" ", long);
  const name = flags.slice(long, end < 0 ? undefined : end);
  const negated = name.startsWith("no-");
  const words = (negated ? name.slice("no-".length) : name).split("-");
  return {
    name,
    key: words.map((word, i) => (i === 0 ? word : word.charAt(0).toUpperCase() + word.slice(1))).join(""),
    ...(flags[0] === "-" && flags[1] !== "-" && flags[2] === "," ? { short: flags[1] } : {}),
    takesValue: flags.includes("<") || flags.includes("["),
    negated,
  };
}
