// gateway-setup's blocks in a user's crontab: added at the end between marker lines, removed to the
// byte, and nothing else in the crontab is touched (comments, env lines, CRLF, other tools' blocks).
//
// Each install (each agent dir) has a block of its own, told apart by the name in its markers:
// `heartbeat` for the default agent dir ~/.pi/agent (and every install made before the names),
// an 8-hex tag of the agent dir for any other. The block holds no environment line: cron applies
// one to every later line of the crontab, the user's own jobs below the block too, so each of our
// commands carries its PATH itself (see jobs.ts).

/** the name in the markers of the default agent dir's block */
export const DEFAULT_BLOCK = "heartbeat";
export const blockBegin = (name: string = DEFAULT_BLOCK) => `# >>> gateway-setup ${name} >>>`;
export const blockEnd = (name: string = DEFAULT_BLOCK) => `# <<< gateway-setup ${name} <<<`;
export const BLOCK_BEGIN = blockBegin();
export const BLOCK_END = blockEnd();
/** the markers of a block uninstall found edited: kept where it was, and no longer gateway-setup's */
export const KEPT_BEGIN = "# gateway-setup block kept by uninstall (you edited it); gateway-setup no longer manages these lines";
export const KEPT_END = "# end of the kept gateway-setup block";
/** marks a block whose line break before it was added by gateway-setup (the crontab had no final newline) */
const JOINED_FLAG = " (newline added)";
const ANY_BEGIN = /^# >>> gateway-setup (\S+) >>>/;

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

/** Every block called `name`, as line index ranges [start, end]. An unterminated block is a problem. */
export function findBlocks(text: string, name: string = DEFAULT_BLOCK): { blocks: FoundBlock[]; problems: string[] } {
  const lines = splitLines(text);
  const blocks: FoundBlock[] = [];
  const problems: string[] = [];
  const [begin, end] = [blockBegin(name), blockEnd(name)];
  for (let i = 0; i < lines.length; i++) {
    const line = bare(lines[i]!);
    if (line !== begin && line !== begin + JOINED_FLAG) continue;
    const last = lines.findIndex((candidate, j) => j > i && bare(candidate) === end);
    if (last < 0) {
      problems.push(`line ${i + 1}: "${begin}" has no matching "${end}"`);
      break;
    }
    blocks.push({ start: i, end: last, joined: line.endsWith(JOINED_FLAG) });
    i = last;
  }
  return { blocks, problems };
}

/** The names of every gateway-setup block in the crontab (every install's). */
export function blockNames(text: string): string[] {
  return [...new Set(splitLines(text).flatMap((line) => ANY_BEGIN.exec(bare(line))?.slice(1, 2) ?? []))];
}

function blocksOrThrow(text: string, name: string): FoundBlock[] {
  const { blocks, problems } = findBlocks(text, name);
  if (problems.length) throw new Error(`the crontab has a damaged gateway-setup block (${problems.join("; ")}); fix it with crontab -e`);
  return blocks;
}

/** The crontab without the blocks called `name`, exactly as it was before they were added. */
export function removeCronBlock(text: string, name: string = DEFAULT_BLOCK): string {
  const lines = splitLines(text);
  for (const block of [...blocksOrThrow(text, name)].reverse()) {
    lines.splice(block.start, block.end - block.start + 1);
    if (block.joined && block.start > 0) lines[block.start - 1] = bare(lines[block.start - 1]!);
  }
  return lines.join("");
}

/** The block called `name`, its markers renamed: the lines stay where they are, as the user's. */
export function keepCronBlock(text: string, name: string = DEFAULT_BLOCK): string {
  const lines = splitLines(text);
  const eolOf = (line: string) => line.slice(bare(line).length);
  for (const block of blocksOrThrow(text, name)) {
    lines[block.start] = KEPT_BEGIN + eolOf(lines[block.start]!);
    lines[block.end] = KEPT_END + eolOf(lines[block.end]!);
  }
  return lines.join("");
}

export function renderCronBlock(entries: CronEntry[], eol: string, joined: boolean, name: string = DEFAULT_BLOCK): string {
  const lines = [
    `${blockBegin(name)}${joined ? JOINED_FLAG : ""}`,
    "# heartbeat for the pi gateway; managed by gateway-setup (remove with: gateway-setup uninstall)",
    ...entries.map((entry) => `${entry.schedule} ${entry.command}`),
    blockEnd(name),
  ];
  return lines.map((line) => line + eol).join("");
}

/**
 * Adds the block called `name` at the end, or replaces it where it is (another install's block
 * after it stays after it); every other byte stays where it was.
 */
export function mergeCronBlock(text: string, entries: CronEntry[], name: string = DEFAULT_BLOCK): string {
  if (entries.some((entry) => /[\r\n]/.test(entry.command + entry.schedule))) throw new Error("a crontab entry must be a single line");
  const blocks = blocksOrThrow(text, name);
  if (blocks.length === 1) {
    const [{ start, end, joined }] = blocks as [FoundBlock];
    const lines = splitLines(text);
    const eol = lines[start]!.endsWith("\r\n") ? "\r\n" : "\n";
    lines.splice(start, end - start + 1, renderCronBlock(entries, eol, joined, name));
    return lines.join("");
  }
  const without = removeCronBlock(text, name);
  const eol = without.includes("\r\n") ? "\r\n" : "\n";
  const joined = without.length > 0 && !without.endsWith("\n");
  return without + (joined ? eol : "") + renderCronBlock(entries, eol, joined, name);
}

/** The entries inside the block called `name`, if there is exactly one such block. */
export function readCronEntries(text: string, name: string = DEFAULT_BLOCK): CronEntry[] | undefined {
  const { blocks } = findBlocks(text, name);
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

const sameEntries = (a: CronEntry[] | undefined, b: CronEntry[] | undefined) => JSON.stringify(a) === JSON.stringify(b);

/** The block called `name` holds exactly the entries an install wrote. */
export function blockAsInstalled(text: string, entries: CronEntry[] | undefined, name: string = DEFAULT_BLOCK): boolean {
  return sameEntries(readCronEntries(text, name), entries);
}

/**
 * Takes an install's block out of the crontab: removed when it holds what the install wrote (or
 * cannot be read as one block), kept with its markers renamed when the user edited its entries.
 */
export function retireCronBlock(text: string, installed: CronEntry[] | undefined, name: string = DEFAULT_BLOCK): { text: string; kept: boolean } {
  const current = readCronEntries(text, name);
  if (current && installed && !sameEntries(current, installed)) return { text: keepCronBlock(text, name), kept: true };
  return { text: removeCronBlock(text, name), kept: false };
}

/**
 * Rollback of one crontab change whose result (`after`) was changed since (by hand, or by an
 * install for another agent dir): only the blocks that change touched go back to how they were.
 */
export function restoreCronBlocks(now: string, before: string, after: string): string {
  let text = now;
  for (const name of new Set([...blockNames(before), ...blockNames(after)])) {
    const was = readCronEntries(before, name);
    if (sameEntries(was, readCronEntries(after, name))) continue;
    text = was ? mergeCronBlock(text, was, name) : removeCronBlock(text, name);
  }
  return text;
}
