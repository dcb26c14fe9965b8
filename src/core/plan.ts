// The Plan is plain data: every file to write and every command to run, decided before anything
// happens. --dry-run prints it, --json emits it, apply runs it, the manifest records it.
import type { Answers, Tier } from "./answers.ts";

export interface FileStep {
  kind: "file";
  component: string;
  description: string;
  path: string;
  contents: string;
  mode: number;
  /** contents are a secret: never printed, never in --json */
  secret?: boolean;
  /** the user's to edit (e.g. HEARTBEAT.md): written only when absent, never reported as drift */
  createOnly?: boolean;
  /** built code (the extension's bundle): a change is shown as a replaced file, never as a diff */
  built?: boolean;
}

export interface CommandStep {
  kind: "command";
  component: string;
  description: string;
  argv: string[];
  cwd?: string;
  /**
   * paths the command creates or changes (node_modules, package-lock.json): removed again on
   * rollback; one that existed before is copied aside first and put back instead, and uninstall
   * puts back what was there before the first install
   */
  creates?: string[];
  /** scratch directories the command writes (e.g. npm's cache): removed as soon as it finished, whatever the outcome */
  scratch?: string[];
  /** let the user see (and answer) the command, e.g. sudo or a package manager */
  interactive?: boolean;
  timeoutMs?: number;
  /** decided when planning: what the command would do is already done, so apply skips it */
  satisfied?: boolean;
  /** a failure is expected and harmless (e.g. unloading something not loaded) */
  mayFail?: boolean;
  /** how to take the command back: run on rollback and by uninstall */
  undoArgv?: string[];
  /**
   * undoArgv only puts back what was there before this run (e.g. reload a service that an upgrade
   * stopped): run on rollback, never by uninstall, so it is not recorded in the manifest
   */
  rollbackOnly?: boolean;
}

/** gateway-setup's marked block in the user's crontab (see components/crontab/block.ts) */
export interface CrontabStep {
  kind: "crontab";
  component: string;
  description: string;
  /** the name in the block's markers (settings.crontabBlock); absent: the default agent dir's */
  block?: string;
  entries: { schedule: string; command: string }[];
}

/** Waits (bounded) until Redis answers PING, e.g. after installing it. */
export interface RedisReadyStep {
  kind: "redis-ready";
  component: string;
  description: string;
  timeoutMs: number;
}

/** A directory something else needs (e.g. launchd's log folder); removed again only while empty. */
export interface DirStep {
  kind: "dir";
  component: string;
  description: string;
  path: string;
}

/**
 * Taking back what the previous install (its manifest) left where this plan puts nothing: the
 * extension moved to another scope or project, a file a newer version no longer writes, a service
 * or crontab block no longer used. Decided when planning, from the manifest, so --dry-run and
 * --json show it; applied after every other step, inside the transaction (a rollback puts it all
 * back). The actions are uninstall's (see install/uninstall.ts), plus `unload`.
 */
export type TakeBackStep = { kind: "take-back"; component: string; description: string } & TakeBackAction;

/** What uninstall does to take an install back (and a re-install to take back what it no longer wants). */
export type UninstallStep =
  /** `undoArgv`: what puts back what the command took away, should the uninstall be rolled back */
  | { kind: "run"; argv: string[]; description: string; mayFail?: boolean; undoArgv?: string[] }
  /** `block`: the name in its markers (absent: the default agent dir's); a block the user edited is kept, no longer marked as ours */
  | { kind: "remove-crontab-block"; block?: string }
  | { kind: "remove-file"; path: string }
  /** put back the file that was there before gateway-setup first wrote it (its copy in `backup`) */
  | { kind: "restore-file"; path: string; backup: string }
  /** `keptAs`: the edited file is renamed (the extension's entry, which pi would load without what it imports) */
  | { kind: "keep-file"; path: string; reason: string; keptAs?: string; backup?: string; missingBackup?: boolean }
  | { kind: "remove-tree"; path: string }
  /** put back what a command's output replaced (the user's own node_modules), from its copy in `backup` */
  | { kind: "restore-tree"; path: string; backup: string }
  | { kind: "remove-dirs-if-empty"; paths: string[] };

/** uninstall's removals as take-back actions, plus `unload` */
export type TakeBackAction =
  /** run `argv` (the previous install's undo command); on rollback run `reloadArgv` again */
  { action: "unload"; argv: string[]; reloadArgv: string[] } | AsAction<Exclude<UninstallStep, { kind: "run" }>>;

type AsAction<Step> = Step extends { kind: infer Kind } ? Omit<Step, "kind"> & { action: Kind } : never;

export type PlanStep = FileStep | CommandStep | RedisReadyStep | CrontabStep | DirStep | TakeBackStep;

export interface PlanSettings {
  tier: Tier;
  /** "single" (tier 1), "central" (tier 2), "multi" (tier 3): see extension/config.ts */
  mode: "single" | "central" | "multi";
  sessionId: string;
  prefix: string;
  /** without password */
  redisUrl: string;
  redisPasswordSet: boolean;
  scope: Answers["scope"];
  agentDir: string;
  extensionDir: string;
  stateDir: string;
  manifestPath: string;
  /**
   * tier 2: the name in the markers of this install's crontab block, an 8-hex tag of an agent dir
   * other than ~/.pi/agent (which, like installs before the names, has none: its block is `heartbeat`)
   */
  crontabBlock?: string;
  /** tier 2 */
  heartbeat?: {
    source: "cron" | "launchd" | "systemd" | "inngest" | "none";
    intervalSeconds: number;
    checklistFile: string;
    lastHeartbeatFile: string;
  };
  service?: {
    manager: "launchd" | "systemd" | "none";
    /** launchd label / systemd unit name */
    name: string;
    tmuxSession: string;
    /** the central session's own tmux server (`tmux -L <socket>`); absent: the default server (older installs) */
    tmuxSocket?: string;
    wrapperPath: string;
    /** launchd: where the jobs' StandardOutPath/StandardErrorPath go (the logs are ours to remove) */
    logDir?: string;
  };
  /** tier 4: the daemon the service runs instead of pi in tmux */
  daemon?: {
    /** its config file (0600; no secrets) */
    configPath: string;
    /** what the service runs: node and this package's CLI, absolute, as they were at install */
    nodePath: string;
    cliPath: string;
    /** provider/id; absent: pi's own default model */
    model?: string;
    /** where its conversation persists */
    sessionDir: string;
  };
  /** tier 4: the bot (the token is in the secrets file only) */
  telegram?: {
    apiRoot: string;
    allow: number[];
    pairing: boolean;
    notify?: number[];
    /** getMe's answer when setup checked the token */
    bot?: { id: number; username: string };
  };
}

export interface Plan {
  tool: "gateway-setup";
  version: string;
  settings: PlanSettings;
  steps: PlanStep[];
  /** the install this plan replaces (from its manifest), whose leftovers the take-back steps remove */
  replaces?: { version: string; extensionDir: string };
  /** what the user still has to do (e.g. start the wrapper where no service manager exists) */
  notes: string[];
  /** what is checked after applying, in order */
  verification: string[];
}

/** what stands in --json and --dry-run for a secret file's contents */
export const REDACTED = "<redacted>";
