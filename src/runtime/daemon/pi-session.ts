// The daemon's pi, embedded through its SDK: the user's agent dir (models.json, auth, settings,
// extensions, skills, prompt templates) as the pi CLI sees it, except the gateway's own bridge
// extension (the daemon consumes the queue itself: one consumer per queue). The only module that
// imports the pi package, which is being renamed upstream.
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import {
  type AgentSession,
  type AgentSessionEvent,
  type AgentSessionRuntime,
  AuthStorage,
  createAgentSessionFromServices,
  createAgentSessionRuntime,
  createAgentSessionServices,
  ModelRegistry,
  SessionManager,
  SettingsManager,
} from "@mariozechner/pi-coding-agent";

/** where the bridge extension is installed, under the agent dir (global) or a project's `.pi` (project scope) */
const BRIDGE_EXTENSION_GLOB = "extensions/gateway/**";

export interface PiSessionOptions {
  /** pi's agent dir (`~/.pi/agent`) */
  agentDir: string;
  /** the session's working directory (project-local settings and context files come from here); default HOME */
  cwd?: string;
  /** `provider/id`; default: defaultProvider/defaultModel of the agent dir's settings.json */
  model?: string;
  /** where the conversation persists across restarts; default <agentDir>/gateway-daemon/sessions */
  sessionDir?: string;
  /** diagnostics of loading the user's extensions and resources */
  log?: (line: string) => void;
}

export interface TurnResult {
  /** the assistant's text of this turn ("" when it gave none) */
  reply: string;
  /** the turn was aborted (by abort() or the signal) */
  aborted: boolean;
}

export interface PiSession {
  /** `provider/id` of the model in use */
  readonly modelLabel: string;
  /** One turn: waits until pi is idle, prompts with the text verbatim, resolves when the turn ended. Throws when the model failed. */
  runTurn(text: string, options?: { signal?: AbortSignal }): Promise<TurnResult>;
  /** aborts the running turn, if any */
  abort(): Promise<void>;
  /** a fresh conversation (extensions see session_shutdown and session_start) */
  newSession(): Promise<void>;
  /** session_shutdown to the extensions, then the session goes */
  dispose(): Promise<void>;
}

/** The daemon's model cannot be used: what is wrong and what to do. */
export class DaemonModelError extends Error {
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
    this.name = "DaemonModelError";
  }
}

export interface ResolvedModel {
  provider: string;
  id: string;
  /** `provider/id` */
  label: string;
}

interface ModelSources {
  registry: ModelRegistry;
  settings: SettingsManager;
  settingsFile: string;
}

function pickModel(spec: string | undefined, { registry, settings, settingsFile }: ModelSources) {
  let provider: string | undefined;
  let id: string | undefined;
  if (spec !== undefined) {
    const slash = spec.indexOf("/");
    if (slash <= 0 || slash === spec.length - 1)
      throw new DaemonModelError(`the daemon's model "${spec}" is not provider/id`, "Pass --model as provider/id, e.g. anthropic/claude-sonnet-4-5.");
    provider = spec.slice(0, slash);
    id = spec.slice(slash + 1);
  } else {
    provider = settings.getDefaultProvider();
    id = settings.getDefaultModel();
    if (!provider || !id)
      throw new DaemonModelError(
        `no model for the daemon: --model was not given and ${settingsFile} has no defaultProvider/defaultModel`,
        "Pick one with `gateway-setup --tier 4 --model provider/id`, or choose a default model in pi (/model) first.",
      );
  }
  const label = `${provider}/${id}`;
  const loadError = registry.getError();
  const model = registry.find(provider, id);
  if (!model)
    throw new DaemonModelError(
      `the daemon's model ${label} is not one pi knows${loadError ? ` (models.json: ${loadError})` : ""}`,
      "Check the spelling against `pi --list-models`, or add the model to models.json in pi's agent dir.",
    );
  if (!registry.hasConfiguredAuth(model))
    throw new DaemonModelError(
      `the daemon's model ${label} has no credentials`,
      `Log in once with pi (/login ${provider}) or put the provider's API key in auth.json or models.json; a service does not see your shell's environment.`,
    );
  return { model, resolved: { provider, id, label } satisfies ResolvedModel };
}

/**
 * The daemon's model, as doctor checks it: resolves `provider/id` (or pi's default) against the
 * agent dir's models.json and auth. Throws DaemonModelError. Models that extensions register are
 * not seen here (nothing is loaded); the daemon itself sees them.
 */
export function resolveDaemonModel(options: { agentDir: string; model?: string; cwd?: string }): ResolvedModel {
  // read, never written: AuthStorage.create would create auth.json in the user's agent dir
  const authFile = join(options.agentDir, "auth.json");
  const auth = AuthStorage.inMemory(existsSync(authFile) ? (JSON.parse(readFileSync(authFile, "utf8")) as Parameters<typeof AuthStorage.inMemory>[0]) : {});
  const registry = ModelRegistry.create(auth, join(options.agentDir, "models.json"));
  const settings = SettingsManager.create(options.cwd ?? homedir(), options.agentDir);
  return pickModel(options.model, { registry, settings, settingsFile: join(options.agentDir, "settings.json") }).resolved;
}

/**
 * The agent dir's settings, with the bridge extension left out of pi's extension discovery, so it
 * is never even imported (its factory has side effects, e.g. it sets GATEWAY_SESSION_ID). pi reads
 * `!pattern` entries of `extensions` as exclusions, for the agent dir and for a project's `.pi`
 * alike. Only what pi reads is changed: the settings files are never written with it.
 */
function settingsWithoutBridge(cwd: string, agentDir: string): SettingsManager {
  const settings = SettingsManager.create(cwd, agentDir);
  const exclude = <T extends { extensions?: string[] }>(scoped: T): T => ({
    ...scoped,
    extensions: [...(scoped.extensions ?? []), `!${BRIDGE_EXTENSION_GLOB}`],
  });
  const global = settings.getGlobalSettings.bind(settings);
  const project = settings.getProjectSettings.bind(settings);
  settings.getGlobalSettings = () => exclude(global());
  settings.getProjectSettings = () => exclude(project());
  return settings;
}

export async function openPiSession(options: PiSessionOptions): Promise<PiSession> {
  const { agentDir } = options;
  const cwd = options.cwd ?? homedir();
  const log = options.log ?? (() => {});
  // pi's auth.json as the pi CLI keeps it (refreshed logins are written back); without one, the
  // daemon does not create it in the user's agent dir: keys from models.json or the environment serve
  const authFile = join(agentDir, "auth.json");
  const authStorage = existsSync(authFile) ? AuthStorage.create(authFile) : AuthStorage.inMemory();
  const modelRegistry = ModelRegistry.create(authStorage, join(agentDir, "models.json"));
  const settingsManager = settingsWithoutBridge(cwd, agentDir);
  let label = "";
  const runtime = await createAgentSessionRuntime(
    async ({ cwd: sessionCwd, sessionManager, sessionStartEvent }) => {
      const services = await createAgentSessionServices({ cwd: sessionCwd, agentDir, authStorage, settingsManager, modelRegistry });
      for (const diagnostic of services.diagnostics) log(`pi ${diagnostic.type}: ${diagnostic.message}`);
      for (const failure of services.resourceLoader.getExtensions().errors) log(`pi extension ${failure.path}: ${failure.error}`);
      // after the services: extensions may register the provider
      const { model, resolved } = pickModel(options.model, {
        registry: modelRegistry,
        settings: settingsManager,
        settingsFile: join(agentDir, "settings.json"),
      });
      label = resolved.label;
      const created = await createAgentSessionFromServices({ services, sessionManager, model, ...(sessionStartEvent ? { sessionStartEvent } : {}) });
      return { ...created, services, diagnostics: services.diagnostics };
    },
    { cwd, agentDir, sessionManager: SessionManager.continueRecent(cwd, options.sessionDir ?? join(agentDir, "gateway-daemon", "sessions")) },
  );
  await bind(runtime.session, log);
  return new EmbeddedPi(runtime, () => label, log);
}

/** session_start reaches the extensions only now; ctx.ui is a no-op without a UI, so errors go to the log. */
async function bind(session: AgentSession, log: (line: string) => void): Promise<void> {
  await session.bindExtensions({ onError: (error) => log(`pi extension ${error.extensionPath} (${error.event}): ${error.error}`) });
  passContextWithoutCopy(session);
}

/**
 * pi copies the whole conversation (structuredClone) before every model request so that extensions'
 * `context` handlers may change it; with none registered the copy is thrown away, and it grows with
 * the daemon's long-lived history (about 1 ms a turn at 400 messages). The handlers are asked at
 * each request, so an extension that registers one later still gets its copy.
 */
function passContextWithoutCopy(session: AgentSession): void {
  const { agent } = session;
  const transform = agent.transformContext;
  if (!transform) return;
  agent.transformContext = (messages, signal) => (session.extensionRunner?.hasHandlers("context") ? transform(messages, signal) : Promise.resolve(messages));
}

interface AssistantMessage {
  role: "assistant";
  content: { type: string; text?: string }[];
  stopReason?: string;
  errorMessage?: string;
}

function isAssistant(message: unknown): message is AssistantMessage {
  return (message as { role?: unknown })?.role === "assistant";
}

function textOf(message: AssistantMessage): string {
  return message.content
    .filter((part) => part.type === "text")
    .map((part) => part.text ?? "")
    .join("")
    .trim();
}

class EmbeddedPi implements PiSession {
  private turn: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly runtime: AgentSessionRuntime,
    private readonly label: () => string,
    private readonly log: (line: string) => void,
  ) {}

  get modelLabel(): string {
    return this.label();
  }

  async runTurn(text: string, options: { signal?: AbortSignal } = {}): Promise<TurnResult> {
    const session = this.runtime.session;
    await session.agent.waitForIdle();
    options.signal?.throwIfAborted();
    // the assistant messages that end during this prompt are this turn's; a compaction may rewrite the history meanwhile
    const ended: AssistantMessage[] = [];
    const unsubscribe = session.subscribe((event: AgentSessionEvent) => {
      if (event.type === "message_end" && isAssistant(event.message)) ended.push(event.message);
      // an abort that came while pi was still preparing the prompt (nothing ran yet to abort)
      if (event.type === "turn_start" && options.signal?.aborted) void session.abort();
    });
    const onAbort = () => void session.abort();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const running = session.prompt(text, { expandPromptTemplates: false, source: "rpc" });
    this.turn = running.catch(() => {});
    try {
      await running;
    } finally {
      unsubscribe();
      options.signal?.removeEventListener("abort", onAbort);
    }
    const last = ended.at(-1);
    const aborted = options.signal?.aborted === true || last?.stopReason === "aborted";
    if (!aborted && last?.stopReason === "error") throw new Error(last.errorMessage ?? "the model request failed");
    return { reply: last ? textOf(last) : "", aborted };
  }

  async abort(): Promise<void> {
    await this.runtime.session.abort();
  }

  async newSession(): Promise<void> {
    await this.turn;
    await this.runtime.session.agent.waitForIdle();
    await this.runtime.newSession();
    await bind(this.runtime.session, this.log);
  }

  async dispose(): Promise<void> {
    await this.runtime.dispose();
  }
}
