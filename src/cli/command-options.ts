// The options of the commands that scripts and users run most (push, status, doctor), once:
// commander declares them (src/cli/main.ts) and the quick entry parses them (quick-entry.ts), so
// the two can never disagree on a flag.

export interface CommandOption {
  /** commander's flags: `--name <value>` takes a value, `--name` alone is a switch */
  flags: string;
  description: string;
  /** comma-separated or repeated, read into one list (commander's `collect` below) */
  list?: boolean;
}

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

/** `--payload-file <path>` -> { name: "payload-file", key: "payloadFile", takesValue: true }, as commander names it */
export function optionNames(option: CommandOption): { name: string; key: string; takesValue: boolean } {
  const [flag, value] = option.flags.split(" ");
  const name = flag!.replace(/^--/, "");
  return { name, key: name.replace(/-(\w)/g, (_, letter: string) => letter.toUpperCase()), takesValue: value !== undefined };
}
