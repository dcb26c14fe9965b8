// gateway-setup's crontab block merged into 240 generated crontabs of every odd shape.
import { describe, expect, it } from "vitest";
import { BLOCK_BEGIN, BLOCK_END, findBlocks, mergeCronBlock, readCronEntries, removeCronBlock } from "../src/components/crontab/block.ts";
import { cronSchedule, nearestCronSchedule, parseInterval } from "../src/components/heartbeat/interval.ts";

function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

const FRAGMENTS = [
  "# m h  dom mon dow   command",
  "MAILTO=me@example.com",
  "PATH=/usr/local/bin:/usr/bin:/bin",
  "SHELL=/bin/bash",
  "0 3 * * * /usr/local/bin/backup --full >/dev/null 2>&1",
  "*/5 * * * * date +%Y-%m-%d >> /tmp/stamps",
  "@reboot /home/me/bin/start-things",
  "",
  "   ",
  "# >>> conda initialize >>>",
  "# !! Contents within this block are managed by 'conda init' !!",
  "# <<< conda initialize <<<",
  "# BEGIN ANSIBLE MANAGED BLOCK",
  "15 * * * * /opt/job.sh",
  "# END ANSIBLE MANAGED BLOCK",
  "not even a valid cron line",
  "\t# tabbed comment",
  "30 2 * * 1-5 echo 'weekday' % with percent",
];

function generateCrontab(rng: () => number): string {
  const count = Math.floor(rng() * 12);
  const eol = rng() < 0.25 ? "\r\n" : "\n";
  const lines = Array.from({ length: count }, () => FRAGMENTS[Math.floor(rng() * FRAGMENTS.length)]!);
  const text = lines.join(eol);
  return count === 0 ? "" : rng() < 0.3 ? text : text + eol;
}

const entry = (n: number) => ({ schedule: cronSchedule(parseInterval("15m")), command: `/bin/sh -c 'echo heartbeat ${n} date +\\%s'` });

describe("the crontab block", () => {
  const rng = random(42);
  const crontabs = Array.from({ length: 240 }, () => generateCrontab(rng));

  it("generates the shapes that matter", () => {
    expect(crontabs.some((c) => c.includes("\r\n"))).toBe(true);
    expect(crontabs.some((c) => c.length > 0 && !c.endsWith("\n"))).toBe(true);
    expect(crontabs.some((c) => c === "")).toBe(true);
    expect(crontabs.some((c) => c.includes("conda initialize"))).toBe(true);
  });

  it.each(crontabs.map((crontab, i) => [i, crontab]))("crontab #%i: merge, re-merge and removal are exact", (_i, original) => {
    const merged = mergeCronBlock(original, [entry(1)]);
    expect(merged.startsWith(original)).toBe(true);
    expect(findBlocks(merged).blocks).toHaveLength(1);
    expect(readCronEntries(merged)).toEqual([entry(1)]);
    expect(mergeCronBlock(merged, [entry(1)])).toBe(merged);
    const updated = mergeCronBlock(merged, [entry(2)]);
    expect(findBlocks(updated).blocks).toHaveLength(1);
    expect(readCronEntries(updated)).toEqual([entry(2)]);
    expect(removeCronBlock(updated)).toBe(original);
    const eol = original.includes("\r\n") ? "\r\n" : "\n";
    expect(
      merged
        .slice(original.length)
        .split(eol)
        .filter(Boolean)
        .every((line) => !line.includes("\r")),
    ).toBe(true);
  });

  it("holds no environment line: the user's PATH stays the one for every line after the block", () => {
    const original = "PATH=/opt/tools/bin:/usr/bin\n0 1 * * * mytool\n";
    const merged = mergeCronBlock(original, [entry(1)]);
    const after = merged.slice(original.length).split("\n");
    expect(after).toEqual([`${BLOCK_BEGIN}`, expect.stringMatching(/^# heartbeat/), `*/15 * * * * ${entry(1).command}`, BLOCK_END, ""]);
  });

  it("refuses to touch a damaged block", () => {
    const damaged = `0 1 * * * x\n${BLOCK_BEGIN}\n*/15 * * * * y\n`;
    expect(() => mergeCronBlock(damaged, [entry(1)])).toThrow(/damaged gateway-setup block.*crontab -e/);
  });

  it("maps intervals to cron schedules, and says which ones cron cannot do", () => {
    expect(cronSchedule(parseInterval("1m"))).toBe("* * * * *");
    expect(cronSchedule(parseInterval("15m"))).toBe("*/15 * * * *");
    expect(cronSchedule(parseInterval("1h"))).toBe("0 * * * *");
    expect(cronSchedule(parseInterval("6h"))).toBe("0 */6 * * *");
    expect(() => cronSchedule(parseInterval("7m"))).toThrow(/cron cannot run every 7m/);
    expect(() => cronSchedule(parseInterval("30s"))).toThrow(/cron cannot run every 30s/);
    expect(() => parseInterval("soon")).toThrow(/invalid interval/);
    expect(nearestCronSchedule(parseInterval("7m"))).toBe("*/6 * * * *");
    expect(nearestCronSchedule(parseInterval("30s"))).toBe("* * * * *");
    expect(nearestCronSchedule(parseInterval("5h"))).toBe("0 */4 * * *");
    expect(nearestCronSchedule(parseInterval("72h"))).toBe("0 */24 * * *");
  });
});
