// How a row's value and ratio read, in the bench's printed table and in the README's (plain
// JavaScript so that `node bench/readme-table.mjs` runs without a TypeScript loader).

/** @param {{ value: number, unit: string }} row */
export function formatValue({ value, unit }) {
  if (unit === "ms") return `${value.toFixed(value < 1 ? 3 : value < 10 ? 2 : value < 100 ? 1 : 0)} ms`;
  return `${Math.round(value).toLocaleString("en-US")} ${unit}`;
}

/** @param {number | undefined} ratio */
export const formatRatio = (ratio) => (ratio === undefined ? "" : `${ratio.toFixed(2)}x`);
