import * as clack from "@clack/prompts";
import { type Prompter, WizardCancelledError } from "./prompter.ts";

function answered<T>(value: T): Exclude<T, symbol> {
  if (clack.isCancel(value)) throw new WizardCancelledError();
  return value as Exclude<T, symbol>;
}

/** `signal` (SIGTERM, SIGHUP) cancels an open question like Ctrl-C does. */
export function createClackPrompter(signal?: AbortSignal): Prompter {
  const common = signal ? { signal } : {};
  return {
    note: (message, title) => clack.note(message, title),
    select: async (q) =>
      answered(
        await clack.select({
          ...common,
          message: q.message,
          options: q.options.map((o) => ({ value: o.value, label: o.label, ...(o.hint ? { hint: o.hint } : {}) })) as never,
          ...(q.initialValue !== undefined ? { initialValue: q.initialValue } : {}),
        }),
      ) as never,
    text: async (q) =>
      answered(
        await clack.text({
          ...common,
          message: q.message,
          ...(q.initialValue !== undefined ? { initialValue: q.initialValue } : {}),
          ...(q.placeholder !== undefined ? { placeholder: q.placeholder } : {}),
          ...(q.validate ? { validate: (value: string | undefined) => q.validate!(value ?? "") } : {}),
        }),
      ),
    password: async (q) =>
      answered(
        await clack.password({
          ...common,
          message: q.message,
          ...(q.validate ? { validate: (value: string | undefined) => q.validate!(value ?? "") } : {}),
        }),
      ),
    confirm: async (q) => answered(await clack.confirm({ ...common, message: q.message, initialValue: q.initialValue ?? true })),
  };
}
