// tsc's rewriteRelativeImportExtensions turns `./x.ts` into `./x.js` in the emitted JavaScript but
// not in the emitted declaration files, and TypeScript before 5.0 cannot read a `.ts` specifier:
// point the declarations at `.js` too, as the JavaScript next to them.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const dist = fileURLToPath(new URL("../dist/", import.meta.url));
const relativeTsSpecifier = /((?:from|import)\s*\(?\s*["']\.{1,2}\/[^"']*)\.ts(["'])/g;

for (const file of readdirSync(dist, { recursive: true })) {
  if (!String(file).endsWith(".d.ts")) continue;
  const path = join(dist, String(file));
  const text = readFileSync(path, "utf8");
  const rewritten = text.replace(relativeTsSpecifier, "$1.js$2");
  if (rewritten !== text) writeFileSync(path, rewritten);
}
