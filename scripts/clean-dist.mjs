// Empties dist/ before a build: tsc and the bundlers only add and overwrite, so a module moved or
// renamed since the last build would stay in dist/ and be packed into the published package.
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

rmSync(join(dirname(fileURLToPath(import.meta.url)), "../dist"), { recursive: true, force: true });
