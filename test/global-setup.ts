// Starts one private redis-server for the whole test run and checks the system tools exist.
import type { TestProject } from "vitest/node";
import { requireBinary, startRedisServer, type RunningRedis } from "./helpers/redis-server.ts";

let redis: RunningRedis | undefined;

export async function setup(project: TestProject): Promise<void> {
  requireBinary("tmux");
  redis = await startRedisServer();
  process.env.GATEWAY_TEST_REDIS_URL = redis.url;
  project.provide("redisUrl", redis.url);
}

export async function teardown(): Promise<void> {
  await redis?.stop();
}

declare module "vitest" {
  export interface ProvidedContext {
    redisUrl: string;
  }
}
