// The package as a library: resolvable by require as well as import, declarations readable by
// TypeScript before 5.0, and the Redis parameter structural (any client with eval/evalsha).
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import { createEvent, defaultSessionKey, pushEvent, pushToSession, type ScriptClient } from "../src/index.ts";
import { sessionKeys } from "../src/runtime/protocol/keys.ts";
import { REPO_ROOT } from "./helpers/cli.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";

const redis = new Redis(inject("redisUrl"));
afterAll(() => redis.disconnect());

describe("the gateway-setup package", () => {
  it("resolves for require() too, to the built entry", () => {
    const require = createRequire(join(REPO_ROOT, "package.json"));
    expect(require.resolve("gateway-setup")).toBe(join(REPO_ROOT, "dist/index.js"));
  });

  it("emits declarations whose relative imports end in .js, not .ts", () => {
    const dist = join(REPO_ROOT, "dist");
    const declarations = readdirSync(dist, { recursive: true })
      .map(String)
      .filter((file) => file.endsWith(".d.ts"));
    expect(declarations).toContain("index.d.ts");
    const withTs = declarations.filter((file) => /(?:from|import)\s*\(?\s*["']\.{1,2}\/[^"']*\.ts["']/.test(readFileSync(join(dist, file), "utf8")));
    expect(withTs).toEqual([]);
  });

  it("pushes with any client that has eval and evalsha (as ioredis 5 and 6 both do)", async () => {
    const prefix = randomPrefix();
    // nothing else: calling any other method would throw
    const minimal: ScriptClient = { eval: (...args) => redis.eval(...args), evalsha: (...args) => redis.evalsha(...args) };
    await redis.set(defaultSessionKey(prefix), "gateway");
    const routed = await pushEvent(minimal, { prefix, event: createEvent({ type: "job.done", source: "lib" }) });
    await pushToSession(minimal, { prefix, sessionId: "main", event: createEvent({ type: "job.done", source: "lib" }) });
    expect(routed.targets.map((t) => t.sessionId)).toEqual(["gateway"]);
    expect(await redis.llen(sessionKeys(prefix, "gateway").events)).toBe(1);
    expect(await redis.llen(sessionKeys(prefix, "main").events)).toBe(1);
  });
});
