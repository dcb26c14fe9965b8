// Biome's formatter keeps lines within lineWidth except where it cannot break them (long string
// literals, regexes, comments): report every source line still over the limit, and fail if any.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";

const maxLineWidth = 160;
const checkedDirectories = ["src", "test", "bench", "scripts"];
const checkedExtensions = new Set([".ts", ".mjs", ".cjs", ".js"]);

const root = fileURLToPath(new URL("..", import.meta.url));

function candidateFiles() {
  const output = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", ...checkedDirectories], {
    cwd: root,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  const files = new Set(output.split("\0").filter((path) => path !== "" && checkedExtensions.has(extname(path))));
  return [...files].sort();
}

function readIfPresent(path) {
  try {
    return readFileSync(join(root, path), "utf8");
  } catch (error) {
    // A tracked file deleted in the working tree has no lines to check.
    if (error.code === "ENOENT") return undefined;
    throw error;
  }
}

const overlongLines = [];
for (const path of candidateFiles()) {
  const text = readIfPresent(path);
  if (text === undefined) continue;
  const lines = text.split(/\r?\n/);
  for (const [index, line] of lines.entries()) {
    const width = [...line].length;
    if (width > maxLineWidth) overlongLines.push(`${path}:${index + 1}: ${width} characters`);
  }
}

if (overlongLines.length > 0) {
  console.error(overlongLines.join("\n"));
  console.error(`${overlongLines.length} line(s) longer than ${maxLineWidth} characters`);
  process.exit(1);
}
