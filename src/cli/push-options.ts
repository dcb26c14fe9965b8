// `push`'s options, once: commander declares them (src/cli/main.ts) and push's own entry parses
// them (push-entry.ts), so the two can never disagree on a flag.

export interface PushOption {
  /** commander's flags: `--name <value>` takes a value, `--name` alone is a switch */
  flags: string;
  description: string;
}

export const PUSH_OPTIONS: readonly PushOption[] = [
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

/** `--payload-file <path>` -> { name: "payload-file", key: "payloadFile", takesValue: true }, as commander names it */
export function pushOptionNames(option: PushOption): { name: string; key: string; takesValue: boolean } {
  const [flag, value] = option.flags.split(" ");
  const name = flag!.replace(/^--/, "");
  return { name, key: name.replace(/-(\w)/g, (_, letter: string) => letter.toUpperCase()), takesValue: value !== undefined };
}
