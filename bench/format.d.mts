export function formatValue(row: { value: number; unit: string }): string;
export function formatRatio(ratio: number | undefined): string;
