// A doctor check belongs to a component; it reads the manifest and the live system, never prompts,
// and may offer a safe repair for `doctor --fix`.
import type { Finding } from "./finding.ts";
import type { UndoEntry } from "./journal.ts";
import type { Manifest } from "./manifest.ts";
import type { PlanStep } from "./plan.ts";
import type { RedisClient, RedisProbe, RedisTarget } from "./redis.ts";

export interface DoctorContext {
  env: Record<string, string | undefined>;
  manifest: Manifest;
  target: RedisTarget;
  redisProbe: RedisProbe;
  /** open when Redis answered; checks that need it are skipped otherwise */
  redis?: RedisClient;
  /** session ids to inspect: the manifest's own plus every registered one */
  sessionIds: string[];
  /**
   * while doctor --fix repairs, under the install journal: a repair writes the undo of each change
   * down here before it makes it, so a repair killed midway is rolled back by the next run
   */
  recordUndo?: (entry: UndoEntry) => void;
  /** every component's steps planned again for the manifest's settings (what a repair may write back) */
  replan: () => PlanStep[];
}

export interface DoctorCheck {
  id: string;
  needsRedis?: boolean;
  /** checks of parts this install does not have (e.g. tier 2 on tier 1) are left out of the report */
  applies?(manifest: Manifest): boolean;
  run(ctx: DoctorContext): Promise<Finding>;
  /** a safe repair for a non-ok finding; returns what it did */
  repair?(ctx: DoctorContext, finding: Finding): Promise<string>;
}
