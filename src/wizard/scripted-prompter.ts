// A Prompter that answers from a script, for tests and for replaying a wizard run.
import { type Prompter, WizardCancelledError } from "./prompter.ts";

export const CANCEL = Symbol("cancel");
export type ScriptedAnswer = string | boolean | typeof CANCEL;

export interface ScriptedPrompter extends Prompter {
  /** question ids in the order they were asked */
  readonly asked: string[];
  /** notes shown */
  readonly shown: string[];
}

/**
 * Answers by question id. A missing answer takes the question's initial value; a question
 * without one fails the test loudly. CANCEL behaves like Ctrl-C.
 */
export function createScriptedPrompter(script: Record<string, ScriptedAnswer | ScriptedAnswer[]>): ScriptedPrompter {
  const asked: string[] = [];
  const shown: string[] = [];
  const next = (id: string, fallback: string | boolean | undefined): string | boolean => {
    asked.push(id);
    const entry = script[id];
    const value = Array.isArray(entry) ? entry.shift() : entry;
    if (value === CANCEL) throw new WizardCancelledError();
    if (value !== undefined) return value;
    if (fallback !== undefined) return fallback;
    throw new Error(`scripted prompter has no answer for question "${id}"`);
  };
  const validated = (id: string, value: string, validate?: (v: string) => string | undefined) => {
    const problem = validate?.(value);
    if (problem) throw new Error(`scripted answer ${JSON.stringify(value)} for "${id}" is invalid: ${problem}`);
    return value;
  };
  return {
    asked,
    shown,
    note: (message, title) => void shown.push(title ? `${title}: ${message}` : message),
    select: async (q) => {
      const value = String(next(q.id, q.initialValue));
      if (!q.options.some((o) => o.value === value)) throw new Error(`"${value}" is not an option of "${q.id}"`);
      return value as never;
    },
    text: async (q) => validated(q.id, String(next(q.id, q.initialValue)), q.validate),
    password: async (q) => validated(q.id, String(next(q.id, undefined)), q.validate),
    confirm: async (q) => Boolean(next(q.id, q.initialValue)),
  };
}
