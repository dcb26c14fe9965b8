// gateway-setup's block in a user's crontab: added at the end between marker lines, removed to the
// byte, and nothing else in the crontab is touched (comments, env lines, CRLF, other tools' blocks).
//
// cron applies an assignment like PATH=... to every later line, so the block sets the PATH its
// command needs and, if the crontab had its own PATH line before, sets that one again afterwards.

export const BLOCK_BEGIN = "# >>> gateway-setup heartbeat >>>";
export const BLOCK_END = "# <<< gateway-setup heartbeat <<<";
/** marks a block whose line break before it was added by gateway-setup (the crontab had no final newline) */
const JOINED_FLAG = " (newline added)";
export const CRON_PATH = "/usr/bin:/bin";

export interface CronEntry {
  schedule: string;
  command: string;
}

function splitLines(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

const bare = (line: string) => line.replace(/\r?\n$/, "");

export interface FoundBlock {
  start: number;
  end: number;
  joined: boolean;
}

/** Every gateway-setup block, as line index ranges [start, end]. An unterminated block is a problem. */
export function findBlocks(text: string): { blocks: FoundBlock[]; problems: string[] } {
  const lines = splitLines(text);
  const blocks: FoundBlock[] = [];
  const problems: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = bare(lines[i]!);
    if (!line.startsWith(BLOCK_BEGIN)) continue;
    const end = lines.findIndex((candidate, j) => j > i && bare(candidate) === BLOCK_END);
    if (end < 0) {
      problems.push(`line ${i + 1}: "${BLOCK_BEGIN}" has no matching "${BLOCK_END}"`);
      break;
    }
    blocks.push({ start: i, end, joined: line.endsWith(JOINED_FLAG) });
    i = end;
  }
  return { blocks, problems };
}

/** The crontab without gateway-setup's blocks, exactly as it was before they were added. */
export function removeCronBlock(text: string): string {
  const { blocks, problems } = findBlocks(text);
  if (problems.length) throw new Error(`the crontab has a damaged gateway-setup block (${problems.join("; ")}); fix it with crontab -e`);
  const lines = splitLines(text);
  for (const block of [...blocks].reverse()) {
    lines.splice(block.start, block.end - block.start + 1);
    if (block.joined && block.start > 0) lines[block.start - 1] = bare(lines[block.start - 1]!);
  }
  return lines.join("");
}

export function renderCronBlock(entries: CronEntry[], crontabWithoutBlock: string, eol: string, joined: boolean): string {
  const previousPath = splitLines(crontabWithoutBlock)
    .map(bare)
    .filter((line) => /^\s*PATH\s*=/.test(line))
    .at(-1);
  const lines = [
    `${BLOCK_BEGIN}${joined ? JOINED_FLAG : ""}`,
    "# heartbeat for the pi gateway; managed by gateway-setup (remove with: gateway-setup uninstall)",
    `PATH=${CRON_PATH}`,
    ...entries.map((entry) => `${entry.schedule} ${entry.command}`),
    ...(previousPath ? [previousPath] : []),
    BLOCK_END,
  ];
  return lines.map((line) => line + eol).join("");
}

/** Adds (or replaces) the block at the end; every other byte stays where it was. */
export function mergeCronBlock(text: string, entries: CronEntry[]): string {
  if (entries.some((entry) => /[\r\n]/.test(entry.command + entry.schedule))) throw new Error("a crontab entry must be a single line");
  const without = removeCronBlock(text);
  const eol = without.includes("\r\n") ? "\r\n" : "\n";
  const joined = without.length > 0 && !without.endsWith("\n");
  return without + (joined ? eol : "") + renderCronBlock(entries, without, eol, joined);
}

/** The entries inside the block, if there is exactly one block. */
export function readCronEntries(text: string): CronEntry[] | undefined {
  const { blocks } = findBlocks(text);
  if (blocks.length !== 1) return undefined;
  const lines = splitLines(text)
    .slice(blocks[0]!.start + 1, blocks[0]!.end)
    .map(bare);
  const jobs = lines.filter((line) => /^\s*[^#\s]/.test(line) && !/^\s*[A-Za-z_][A-Za-z0-9_]*\s*=/.test(line));
  return jobs.flatMap((job) => {
    const match = /^\s*((?:\S+\s+){5})(.*)$/.exec(job);
    return match ? [{ schedule: match[1]!.trim(), command: match[2]! }] : [];
  });
}
