/** Quotes a value for /bin/sh: plain words stay as they are, anything else goes in single quotes. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:@=+-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}
