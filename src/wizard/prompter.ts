// The wizard talks to the user only through this interface: clack in a terminal, a script in tests.

import { CancelledError } from "../core/errors.ts";
export interface Choice<T extends string> {
  value: T;
  label: string;
  hint?: string;
}

/** Every question has a stable id, so scripted runs and tests can answer and assert by id. */
export interface SelectQuestion<T extends string> {
  id: string;
  message: string;
  options: Choice<T>[];
  initialValue?: T;
}

export interface TextQuestion {
  id: string;
  message: string;
  initialValue?: string;
  placeholder?: string;
  /** returns an error message, or undefined when the value is acceptable */
  validate?: (value: string) => string | undefined;
}

export interface ConfirmQuestion {
  id: string;
  message: string;
  initialValue?: boolean;
}

export interface Prompter {
  note(message: string, title?: string): void;
  select<T extends string>(question: SelectQuestion<T>): Promise<T>;
  text(question: TextQuestion): Promise<string>;
  password(question: TextQuestion): Promise<string>;
  confirm(question: ConfirmQuestion): Promise<boolean>;
}

/** Ctrl-C / Escape at a prompt. Nothing has been written when this is thrown. */
export class WizardCancelledError extends CancelledError {
  constructor() {
    super("setup cancelled; nothing was changed");
  }
}
