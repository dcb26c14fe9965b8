// The heartbeat producer as one /bin/sh command line: it pushes a `cron.heartbeat` event with a
// fresh id and the current epoch-ms `ts` by the protocol (LPUSH + PUBLISH). The Redis password
// comes from the 0600 secrets file through REDISCLI_AUTH, never from the command line.
import { shellQuote } from "../../platform/shell.ts";
import { sessionKeys } from "../../runtime/protocol/keys.ts";

export interface HeartbeatCommandInput {
  redisCli: string;
  /** Redis URL without password */
  redisUrl: string;
  prefix: string;
  sessionId: string;
  secretsFile: string;
  source: string;
}

/**
 * redis-cli's connection arguments. A user name in the URL goes to --user: redis-cli would take
 * `user@` from the URL as the password and ignore REDISCLI_AUTH.
 */
export function redisCliArgs(redisUrl: string): string[] {
  const url = new URL(redisUrl);
  const user = decodeURIComponent(url.username);
  url.username = "";
  url.password = "";
  return ["-u", url.href.replace(/\/$/, ""), ...(user ? ["--user", user] : []), ...(url.protocol === "rediss:" ? ["--tls"] : [])];
}

/**
 * The script the scheduler runs (a single line, meant for `/bin/sh -c`). redis-cli exits 0 even on
 * an error reply (NOAUTH, WRONGPASS...), so the LPUSH reply must be a number; anything else is
 * printed to stderr with exit 1, where cron mail, launchd's log or the journal show it.
 */
export function heartbeatScript(input: HeartbeatCommandInput): string {
  if (!/^[A-Za-z0-9._-]+$/.test(input.source)) throw new Error(`invalid heartbeat source ${JSON.stringify(input.source)}`);
  const keys = sessionKeys(input.prefix, input.sessionId);
  const cli = [input.redisCli, ...redisCliArgs(input.redisUrl)].map(shellQuote).join(" ");
  // inside "...": \" is a literal quote, $id and $ts expand
  const event = `{\\"id\\":\\"$id\\",\\"type\\":\\"cron.heartbeat\\",\\"source\\":\\"${input.source}\\",\\"payload\\":{},\\"ts\\":$ts}`;
  const secrets = shellQuote(input.secretsFile);
  return (
    `set -a; [ -r ${secrets} ] && . ${secrets}; set +a; ` +
    `ts=$(date +%s)000; id="hb-$ts-$$"; ` +
    `reply=$(${cli} LPUSH ${keys.events} "${event}" 2>&1); ` +
    `case "$reply" in ''|*[!0-9]*) echo "gateway heartbeat: LPUSH ${keys.events} failed: $reply" >&2; exit 1;; esac; ` +
    `${cli} PUBLISH ${keys.notify} "$id" >/dev/null`
  );
}

/** `/bin/sh -c '<script>'`, the form every scheduler runs. */
export function heartbeatCommandLine(input: HeartbeatCommandInput): string {
  return `/bin/sh -c ${shellQuote(heartbeatScript(input))}`;
}

/** cron turns an unescaped % into a newline: escape every one. */
export function escapeForCron(command: string): string {
  return command.replace(/%/g, "\\%");
}

/** What cron does to a command line: \% becomes %, and the first unescaped % starts stdin. */
export function unescapeAsCron(line: string): string {
  let out = "";
  for (let i = 0; i < line.length; i++) {
    if (line[i] === "\\" && line[i + 1] === "%") {
      out += "%";
      i++;
    } else if (line[i] === "%") {
      break;
    } else {
      out += line[i];
    }
  }
  return out;
}
