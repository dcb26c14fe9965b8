import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describePlan } from "../src/plan/describe.ts";
import type { Plan } from "../src/plan/plan.ts";

const home = mkdtempSync(join(tmpdir(), "gw-describe-"));
const env = { HOME: home };
const plan: Plan = {
  tool: "gateway-setup",
  version: "0",
  settings: {
    tier: 1,
    mode: "single", sessionId: "main", prefix: "agent", redisUrl: "redis://127.0.0.1:6379", redisPasswordSet: true, scope: "global",
    agentDir: join(home, ".pi/agent"), extensionDir: join(home, ".pi/agent/extensions/gateway"), stateDir: join(home, ".pi/agent/gateway"),
    manifestPath: join(home, ".pi/agent/gateway/manifest.json"),
  },
  steps: [
    { kind: "file", component: "extension", description: "entry", path: join(home, "a/index.ts"), contents: "one\ntwo\nTHREE\n", mode: 0o644 },
    { kind: "file", component: "extension", description: "new", path: join(home, "a/new.ts"), contents: "x\n", mode: 0o644 },
    { kind: "file", component: "redis", description: "secret", path: join(home, "a/secrets.env"), contents: "PW='new-secret'\n", mode: 0o600, secret: true },
    { kind: "command", component: "extension", description: "npm", argv: ["npm", "install"], cwd: join(home, "a") },
  ],
  notes: [],
  verification: ["PING"],
};

describe("describePlan", () => {
  it("lists every file and command, with a diff for a file it would change and never for a secret", () => {
    mkdirSync(join(home, "a"), { recursive: true });
    writeFileSync(join(home, "a/index.ts"), "one\ntwo\nthree\n");
    writeFileSync(join(home, "a/secrets.env"), "PW='old-secret'\n", { mode: 0o600 });
    const text = describePlan(plan, env);
    expect(text).toMatch(/changed\s+~\/a\/index\.ts \(644\)/);
    expect(text).toMatch(/-three\n\s+\+THREE/);
    expect(text).toMatch(/new\s+~\/a\/new\.ts/);
    expect(text).toMatch(/changed\s+~\/a\/secrets\.env \(600\)/);
    expect(text).not.toContain("secret'");
    expect(text).toMatch(/run\s+npm install\n\s+in ~\/a\n/);
    expect(text).toContain("(password stored in a 0600 file)");
  });
});
