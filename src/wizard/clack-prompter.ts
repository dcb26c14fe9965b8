import * as clack from "@clack/prompts";
import { type Prompter, WizardCancelledError } from "./prompter.ts";

function answered<T>(value: T): Exclude<T, symbol> {
  if (clack.isCancel(value)) throw new WizardCancelledError();
  return value as Exclude<T, symbol>;
}

/**
 * Each question gets a signal of its own, aborted with the run's: clack leaves its listener on the
 * signal it is given, and a run's signal outlives a dozen questions (Node warns past ten).
 */
function questionSignal(run: AbortSignal | undefined): { common: { signal?: AbortSignal }; done(): void } {
  if (!run) return { common: {}, done: () => {} };
  const question = new AbortController();
  const forward = () => question.abort();
  if (run.aborted) question.abort();
  else run.addEventListener("abort", forward, { once: true });
  return { common: { signal: question.signal }, done: () => run.removeEventListener("abort", forward) };
}

/** `signal` (SIGTERM, SIGHUP) cancels an open question like Ctrl-C does. */
export function createClackPrompter(signal?: AbortSignal): Prompter {
  const asking = async <T>(ask: (common: { signal?: AbortSignal }) => Promise<T>): Promise<T> => {
    const { common, done } = questionSignal(signal);
    try {
      return await ask(common);
    } finally {
      done();
    }
  };
  return {
    note: (message, title) => clack.note(message, title),
    select: async (q) =>
      answered(
        await asking((common) =>
          clack.select({
            ...common,
            message: q.message,
            options: q.options.map((o) => ({ value: o.value, label: o.label, ...(o.hint ? { hint: o.hint } : {}) })) as never,
            ...(q.initialValue !== undefined ? { initialValue: q.initialValue } : {}),
          }),
        ),
      ) as never,
    text: async (q) =>
      answered(
        await asking((common) =>
          clack.text({
            ...common,
            message: q.message,
            ...(q.initialValue !== undefined ? { initialValue: q.initialValue } : {}),
            ...(q.placeholder !== undefined ? { placeholder: q.placeholder } : {}),
            ...(q.validate ? { validate: (value: string | undefined) => q.validate!(value ?? "") } : {}),
          }),
        ),
      ),
    password: async (q) =>
      answered(
        await asking((common) =>
          clack.password({
            ...common,
            message: q.message,
            ...(q.validate ? { validate: (value: string | undefined) => q.validate!(value ?? "") } : {}),
          }),
        ),
      ),
    confirm: async (q) => answered(await asking((common) => clack.confirm({ ...common, message: q.message, initialValue: q.initialValue ?? true }))),
  };
}
