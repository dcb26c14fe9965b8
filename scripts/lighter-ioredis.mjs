// An esbuild plugin for the bundles that carry ioredis, for a cheaper load of it (each pi start,
// setup's self-test, the daemon's start):
// - the parts the gateway never uses unless asked (Cluster with everything it needs, and node:tls
//   for a `rediss://` URL) are evaluated only when something reaches for them (~3 ms);
// - Commander's prototype is put in dictionary mode before its ~580 command methods are added:
//   added one by one to a prototype in V8's fast mode, each copies all those before it (~10 ms);
//   calls cost the same after.
// The build fails when ioredis's files no longer read as expected, rather than bundling them
// unchanged.
import { readFile } from "node:fs/promises";

const LAZY_TLS = ['const tls_1 = require("tls");', 'const tls_1 = { get connect() { return require("tls").connect; } };'];
const COMMANDS = 'const commands = commands_1.list.filter((command) => command !== "monitor");';

const REWRITES = {
  "built/index.js": [['var cluster_1 = require("./cluster");', 'var cluster_1 = { get default() { return require("./cluster").default; } };']],
  "built/Redis.js": [
    ['const cluster_1 = require("./cluster");', ""],
    [
      "Redis.Cluster = cluster_1.default;",
      'Object.defineProperty(Redis, "Cluster", { configurable: true, enumerable: true, get: () => require("./cluster").default });',
    ],
  ],
  "built/utils/Commander.js": [[COMMANDS, `Commander.prototype.__dictionaryMode = 0;\ndelete Commander.prototype.__dictionaryMode;\n${COMMANDS}`]],
  "built/connectors/StandaloneConnector.js": [LAZY_TLS],
  "built/connectors/SentinelConnector/index.js": [LAZY_TLS],
};

/** the files REWRITES names, under ioredis's folder in node_modules */
const FILES = /[\\/]node_modules[\\/]ioredis[\\/]built[\\/](index|Redis|utils[\\/]Commander|connectors[\\/]\w+(?:[\\/]index)?)\.js$/;

export function lighterIoredis() {
  return {
    name: "lighter-ioredis",
    setup(build) {
      build.onLoad({ filter: FILES }, async ({ path }) => {
        const file = path.replaceAll("\\", "/").replace(/^.*\/node_modules\/ioredis\//, "");
        const rewrites = REWRITES[file];
        if (!rewrites) return undefined;
        let contents = await readFile(path, "utf8");
        for (const [from, to] of rewrites) {
          if (!contents.includes(from)) {
            throw new Error(`lighter-ioredis: ${path} no longer contains ${JSON.stringify(from)}; update scripts/lighter-ioredis.mjs`);
          }
          contents = contents.replace(from, to);
        }
        return { contents, loader: "js" };
      });
    },
  };
}
