// Builds the pi extension's code into one ESM file, ioredis included, at package build time:
// setup copies it into the user's pi (src/components/extension/render.ts), so an install needs no
// npm install and no network, and pi compiles no TypeScript of ours. The daemon
// (src/runtime/daemon) runs from dist/ and is not in it.
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { lighterIoredis } from "./lighter-ioredis.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
// the tests build one from the current sources into a temp dir of theirs, with a source map so
// stack traces name ioredis's own files (test/helpers/extension-dir.ts): `build-runtime.mjs <outfile> --sourcemap`
const [outfile] = process.argv.slice(2).filter((arg) => !arg.startsWith("--"));
const BUNDLE = resolve(outfile ?? join(ROOT, "dist/runtime/gateway-extension.mjs"));
const version = (path) => JSON.parse(readFileSync(join(ROOT, path), "utf8")).version;

await build({
  entryPoints: [join(ROOT, "src/runtime/extension/gateway.ts")],
  outfile: BUNDLE,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  banner: {
    js: [
      // read back by status and doctor (bundledIoredisVersion)
      `// gateway-setup ${version("package.json")} pi extension, built with ioredis ${version("node_modules/ioredis/package.json")}`,
      // ioredis and its dependencies are CommonJS: their require() of node builtins needs a real require
      'import { createRequire as __gatewayCreateRequire } from "node:module";',
      "const require = __gatewayCreateRequire(import.meta.url);",
    ].join("\n"),
  },
  legalComments: "eof",
  plugins: [lighterIoredis()],
  sourcemap: process.argv.includes("--sourcemap"),
  logLevel: "warning",
});
if (!outfile) console.log(`built ${relative(ROOT, BUNDLE)}`);
