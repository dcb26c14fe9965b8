// Bundles the CLI (src/cli/main.ts) into ES module chunks in dist/cli-bundle/, split at every
// `await import()`: a command loads its own chunk and the few it shares, not each module of ours one
// file at a time, nor commander as CommonJS. Then renders the program's --help with commander
// itself, which bin/gateway-setup.js prints without loading commander or the CLI.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
// two levels under the package root, like every module of ours: src/platform/package-root.ts counts on it
const OUT = join(ROOT, "dist/cli-bundle");
// What stays in node_modules: the pi SDK and grammY (the daemon's; as shipped, with their own files),
// and jiti (it loads its own files by path). plist and diff are required where they are used
// (createRequire), so no chunk holds them; the daemon's `await import("ioredis")` is a chunk of its own.
const EXTERNAL = ["@mariozechner/*", "grammy", "jiti"];

const { metafile, outputFiles } = await build({
  entryPoints: { main: join(ROOT, "src/cli/main.ts") },
  outdir: OUT,
  bundle: true,
  splitting: true,
  platform: "node",
  target: "node20",
  format: "esm",
  external: EXTERNAL,
  metafile: true,
  write: false,
  logLevel: "warning",
});

// commander and clack's dependencies are CommonJS: esbuild's __require, which their require() of
// node builtins goes through, needs a real require in its chunk; a chunk without one is spared the
// import and the createRequire (~0.1 ms each, and a command loads 15-20 chunks)
const REQUIRE = 'import { createRequire as __gatewayCreateRequire } from "node:module";\nconst require = __gatewayCreateRequire(import.meta.url);\n';
mkdirSync(OUT, { recursive: true });
for (const { path, text } of outputFiles) writeFileSync(path, /\brequire\b/.test(text) ? REQUIRE + text : text);

const chunks = Object.keys(metafile.outputs).map((path) => relative(OUT, join(ROOT, path)));
if (chunks.some((chunk) => chunk.includes("/"))) throw new Error(`every chunk must sit in ${OUT} itself: ${chunks.join(", ")}`);

// which sources each chunk holds: test/cold-start.test.ts names what a command loaded from it
const inputs = Object.fromEntries(
  Object.entries(metafile.outputs).map(([path, output]) => [
    relative(OUT, join(ROOT, path)),
    Object.entries(output.inputs)
      .filter(([, input]) => input.bytesInOutput > 0)
      .map(([input]) => input),
  ]),
);
writeFileSync(join(OUT, "inputs.json"), `${JSON.stringify(inputs, null, 1)}\n`);

const { buildProgram } = await import(pathToFileURL(join(OUT, "main.js")).href);
let help = "";
buildProgram()
  .configureOutput({ writeOut: (text) => (help += text) })
  .outputHelp();
writeFileSync(join(OUT, "help.txt"), help);

// what an earlier build left (chunks are named by their content)
const built = new Set([...chunks, "inputs.json", "help.txt"]);
for (const file of readdirSync(OUT)) if (!built.has(file)) rmSync(join(OUT, file), { force: true });
console.log(`built ${relative(ROOT, OUT)}/: ${chunks.length} chunks`);
