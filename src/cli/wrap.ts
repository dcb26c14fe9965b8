// Wraps our own text to the terminal width, so a long line continues under its own column
// ("files     12 runtime files ... (12" / "          new)") instead of at the frame's edge.

/** Where a wrapped line continues: under the text after a label ("run       "), a list marker ("1. ", "- ") or the indent. */
function continuationIndent(line: string): number {
  const marker = /^(\s*)(?:[a-z]+\s{2,}|\d+\.\s|-\s|→\s)?/i.exec(line)!;
  return Math.min(marker[0].length, 24);
}

export function wrapLine(line: string, width: number): string[] {
  if (line.length <= width || width < 20) return [line];
  const indent = " ".repeat(continuationIndent(line));
  const lines: string[] = [];
  let rest = line;
  let prefix = "";
  while ((prefix + rest).length > width) {
    const room = width - prefix.length;
    let cut = rest.lastIndexOf(" ", room);
    if (cut <= 0) cut = room; // one unbroken word (a URL, an id): split it
    lines.push(prefix + rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
    prefix = indent;
  }
  if (rest) lines.push(prefix + rest);
  return lines;
}

export function wrapText(text: string, width: number): string {
  return text
    .split("\n")
    .flatMap((line) => wrapLine(line, width))
    .join("\n");
}
