// The contract between the daemon's parts (tier 4): inputs carry their origin, replies go back
// there. The command queue runs one input per turn; Telegram is one input source and the reply sink.

/** Where an input came from, and so where its reply goes. */
export type Origin =
  /** a message in a private chat with the bot: answered in that chat */
  | { kind: "telegram"; chatId: number; userId: number; updateId: number }
  /** a batch of Redis events: answered to the owner chat(s) */
  | { kind: "background" }
  /** a heartbeat turn: answered to the owner chat(s) unless the model says HEARTBEAT_OK */
  | { kind: "heartbeat" }
  /** the daemon's own watchdog or error notices: to the owner chat(s) */
  | { kind: "alert" };

export interface DaemonInput {
  /** unique per input: `tg:<update_id>`, or the Redis batch's first event id */
  id: string;
  origin: Origin;
  /** what the model gets, verbatim (Telegram text never expands prompt templates or commands) */
  text: string;
  /** human inputs go before background ones */
  priority: "human" | "background";
}

/** Where replies go: Telegram in production, a recorder in tests. */
export interface ReplySink {
  /** resolves once the reply is durably on its way (in the outbox); long texts are split by the sink */
  deliver(origin: Origin, text: string): Promise<void>;
  /** a typing indicator while a turn for this origin runs (best effort) */
  typing?(origin: Origin): void;
}

/** A source of human inputs that are persisted before their source is told they arrived. */
export interface InputSource {
  /** every persisted input not yet acknowledged (read once at start, after a crash or restart) */
  pending(): Promise<DaemonInput[]>;
  /** called for each new input, after it was persisted */
  onInput(listener: (input: DaemonInput) => void): void;
  /** the reply was delivered (or suppressed): forget the input */
  ack(input: DaemonInput): Promise<void>;
}

/** What Telegram's own commands (/status, /stop, /new) ask of the daemon; they bypass the queue. */
export interface DaemonControl {
  /** one short plain-text report: queue by source, model, uptime, last heartbeat */
  status(): string;
  /** aborts the running turn; false when none ran */
  stop(): Promise<boolean>;
  /** starts a fresh pi session (after the running turn, if any) */
  newSession(): Promise<void>;
}
