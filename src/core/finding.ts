// What a check reports: one line a person can read, and the exact command that fixes it.
export type CheckStatus = "ok" | "warn" | "fail" | "skip";

export interface Finding {
  id: string;
  status: CheckStatus;
  message: string;
  fix?: string;
}

export const ok = (id: string, message: string): Finding => ({ id, status: "ok", message });
export const warn = (id: string, message: string, fix?: string): Finding => ({ id, status: "warn", message, ...(fix ? { fix } : {}) });
export const fail = (id: string, message: string, fix?: string): Finding => ({ id, status: "fail", message, ...(fix ? { fix } : {}) });
export const skip = (id: string, message: string): Finding => ({ id, status: "skip", message });
