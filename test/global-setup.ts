// Starts one private redis-server for the whole test run and checks the system tools exist. Also
// gives the run a temp dir of its own, and removes it at the end: see setup().
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { type RunningRedis, requireBinary, startRedisServer } from "./helpers/redis-server.ts";

let redis: RunningRedis | undefined;
let runTmpDir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  requireBinary("tmux");
  // Every temp dir the tests make (mkdtemp under os.tmpdir(): sandboxes, installs, extension dirs,
  // tmux sockets, redis-servers' data) and whatever the programs they run make there goes into
  // this run's own dir inside the temp dir the run was given: the test workers start after this
  // with TMPDIR pointing at it, and the sandboxes pass it on to the CLI. Teardown removes it whole,
  // and only it: never a concurrent run's dirs or the user's. What may outlive the run (the npm
  // cache, see helpers/cli.ts) goes into GATEWAY_TEST_CACHE_DIR, the temp dir the run was given.
  process.env.GATEWAY_TEST_CACHE_DIR ??= tmpdir();
  runTmpDir = mkdtempSync(join(tmpdir(), "gw-run-"));
  process.env.TMPDIR = runTmpDir;
  redis = await startRedisServer();
  process.env.GATEWAY_TEST_REDIS_URL = redis.url;
  project.provide("redisUrl", redis.url);
}

export async function teardown(): Promise<void> {
  await redis?.stop();
  if (runTmpDir) rmSync(runTmpDir, { recursive: true, force: true });
}

declare module "vitest" {
  export interface ProvidedContext {
    redisUrl: string;
  }
}
