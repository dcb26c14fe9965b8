#!/usr/bin/env node
// The CLI's front door: the build makes it bin/gateway-setup.js, one CommonJS file, the cheapest
// node starts. `--help` and `--version` alone are answered here: the help as commander rendered it
// at build time (scripts/build-cli.mjs), the version from package.json. Anything else is one entry's
// build in dist/cli-bundle/, compiled with the code cache: push-entry.ts for `push`, quick-entry.ts
// for setup, status and doctor; either hands what it cannot read to the full CLI (main.ts).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeToStandardOutput } from "./closed-reader.ts";
import { cacheCompiledChunks } from "./compile-cache.ts";

/** the built chunks, from the bin's folder (__dirname in the build; import.meta.url would cost a start node's URL code) */
const CHUNKS = join(import.meta.dirname, "../dist/cli-bundle");

const args = process.argv.slice(2);
const only = args.length === 1 ? args[0] : undefined;

if (only === "--help" || only === "-h") writeToStandardOutput(readFileSync(join(CHUNKS, "help.txt"), "utf8"));
else if (only === "--version" || only === "-v") writeToStandardOutput(`${packageVersion()}\n`);
else {
  // node 22's switch for its own compile cache turns this one off too
  if (!process.env.NODE_DISABLE_COMPILE_CACHE) cacheCompiledChunks(CHUNKS);
  const entry = args[0] === "push" ? import("./push-entry.ts") : import("./quick-entry.ts");
  void entry.then(({ main }) => main(args, async () => (await import("./main.ts")).main()));
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(import.meta.dirname, "../package.json"), "utf8")) as { version: string }).version;
}
