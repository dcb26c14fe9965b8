// An esbuild plugin for the bundles that carry ioredis: the parts the gateway never uses unless
// asked (Cluster with everything it needs, and node:tls for a `rediss://` URL) are evaluated only
// when something reaches for them. ioredis requires them when it loads, which cost every load of
// the extension (each pi start, setup's verification) ~5 ms. The build fails when ioredis's files
// no longer read as expected, rather than bundling them unchanged.
import { readFile } from "node:fs/promises";

const LAZY_TLS = ['const tls_1 = require("tls");', 'const tls_1 = { get connect() { return require("tls").connect; } };'];

const REWRITES = {
  "built/index.js": [['var cluster_1 = require("./cluster");', 'var cluster_1 = { get default() { return require("./cluster").default; } };']],
  "built/Redis.js": [
    ['const cluster_1 = require("./cluster");', ""],
    [
      "Redis.Cluster = cluster_1.default;",
      'Object.defineProperty(Redis, "Cluster", { configurable: true, enumerable: true, get: () => require("./cluster").default });',
    ],
  ],
  "built/connectors/StandaloneConnector.js": [LAZY_TLS],
  "built/connectors/SentinelConnector/index.js": [LAZY_TLS],
};

export function lazyIoredisParts() {
  return {
    name: "lazy-ioredis-parts",
    setup(build) {
      build.onLoad(
        {
          filter:
            /[\\/]node_modules[\\/]ioredis[\\/]built[\\/](index|Redis|connectors[\\/]StandaloneConnector|connectors[\\/]SentinelConnector[\\/]index)\.js$/,
        },
        async ({ path }) => {
          const file = path.replaceAll("\\", "/").replace(/^.*\/node_modules\/ioredis\//, "");
          let contents = await readFile(path, "utf8");
          for (const [from, to] of REWRITES[file]) {
            if (!contents.includes(from))
              throw new Error(`lazy-ioredis-parts: ${path} no longer contains ${JSON.stringify(from)}; update scripts/lazy-ioredis-parts.mjs`);
            contents = contents.replace(from, to);
          }
          return { contents, loader: "js" };
        },
      );
    },
  };
}
