// What every part of the bench returns: rows with a value and its unit, a ratio where the row is
// measured against an anchor taken in the same run, and the target the issue sets. Timings are
// reported against their targets, never asserted: only lost or duplicated events fail the run.

export interface Row {
  name: string;
  value: number;
  unit: string;
  /** value / its anchor, paired run by run where the measure allows */
  ratio?: number;
  /** readable, e.g. "<= 1.2x node -e 0"; absent: reported, no target */
  target?: string;
  met?: boolean;
  /** a lost or duplicated count: the one kind of row that fails the run */
  correctness?: boolean;
}

export function median(values: readonly number[]): number {
  if (!values.length) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** The median of per-run ratios: each run of the measure is divided by the anchor taken beside it. */
export function pairedRatio(values: readonly number[], anchors: readonly number[]): number {
  return median(values.map((value, i) => value / anchors[i]!));
}

/** A row whose ratio must stay at or under `limit` (cold starts, setup, origin cost). */
export function atMost(row: Omit<Row, "target" | "met">, limit: number, anchor: string): Row {
  return { ...row, target: `<= ${limit}x ${anchor}`, met: row.ratio! <= limit };
}

/** A row whose ratio must reach `limit` (throughput against a physical limit). */
export function atLeast(row: Omit<Row, "target" | "met">, limit: number, anchor: string): Row {
  return { ...row, target: `>= ${limit}x ${anchor}`, met: row.ratio! >= limit };
}

/** Lost or duplicated events: 0 is the target, and anything else fails the run. */
export function countRow(name: string, count: number): Row {
  return { name, value: count, unit: "events", target: "0", met: count === 0, correctness: true };
}
