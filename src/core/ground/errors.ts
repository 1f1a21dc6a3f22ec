import { printableLine, printableLines } from './printable.js';

/**
 * A machine-readable name for what went wrong, `area.what` (e.g. `engine.unreachable`,
 * `task.notFound`). Front ends switch on it to choose their own words and controls; it never
 * changes for the same cause, whatever the message says.
 */
export type ErrorCode = `${string}.${string}`;

/**
 * Something a person can do about an error, as data: each front end renders it in its own words
 * (the CLI names a command or flag, VS Code shows a button or a setting). The core never names a
 * CLI command, a flag or a VS Code command in an error's text.
 */
export type ErrorAction =
  /** Start (or install) the container engine, then retry. */
  | { kind: 'startEngine' }
  /** Check the engine, its runtimes and the images. */
  | { kind: 'runDoctor' }
  /** Run the task with this runtime instead. */
  | { kind: 'useRuntime'; runtime: 'runc' | 'runsc' }
  /** Review and accept the repository's policy for this workspace, which lifts the loosenings it held back. */
  | { kind: 'acceptPolicy'; workspace: string }
  /** Start a new task (this one has ended, or the start needs other settings). */
  | { kind: 'startTask' }
  /** Choose the folder to copy into a task. */
  | { kind: 'chooseWorkspace' }
  /** Show the tasks, to pick one by its id. */
  | { kind: 'listTasks' }
  /** Clean up what ended tasks left behind (expired tasks, stray containers and volumes). */
  | { kind: 'collectGarbage' }
  /** Show the change set again, reviewing the changes as they are now. */
  | { kind: 'reviewChanges'; task: string }
  /** Choose, for each named risky path, whether to apply it. */
  | { kind: 'chooseRiskyPaths'; task: string; paths: string[] }
  /** Show the approval requests waiting for a decision, to pick one by its id. */
  | { kind: 'listRequests' }
  /** Open a file at a position to fix it. */
  | { kind: 'openFile'; file: string; line?: number; column?: number }
  /** Change one task or policy setting (a CLI flag, a VS Code setting, a policy field); `value` when one value fixes it. */
  | { kind: 'changeSetting'; setting: TaskSettingName; value?: string }
  /** Undo the last apply on this task; `overwriteHostEdits` restores paths edited on the host since, too. */
  | { kind: 'undoApply'; task: string; overwriteHostEdits?: boolean }
  /** Push this task's changes again, to a branch (or remote) chosen anew when `change` names one. */
  | { kind: 'retryPush'; task: string; change?: 'branch' | 'remote' };

/** Settings an action may point at, by their policy-file name; front ends map them to flags or settings. */
export type TaskSettingName =
  | 'image' | 'runtime' | 'user' | 'allowRoot' | 'memory' | 'cpus' | 'pids' | 'ttlSeconds' | 'workspaceTmpfs' | 'gitDepth'
  | 'network' | 'network.allow' | 'network.allowCidr' | 'network.setup.allow' | 'env.passthrough' | 'env.allowSecret'
  | 'secretFiles.exclude' | 'maxStoreSize' | 'readOnlyRoot';

export interface ErrorDetails {
  code: ErrorCode;
  /** What to do, in words that fit every front end (no command or flag names). */
  hint?: string;
  /** The field or argument the error concerns, by its policy or input name. */
  field?: string;
  /** What a person can do about it, for front ends to render as buttons or commands. */
  actions?: readonly ErrorAction[];
}

/**
 * The one error type the core throws for anything a person can act on: a short description, a
 * code, the field or argument it concerns when there is one, what to do about it in neutral words,
 * and typed actions. Front ends print `message` and their own rendering of the hint and actions;
 * details (stacks, engine responses) belong in logs only.
 */
export class AirlockError extends Error {
  override readonly name = 'AirlockError';
  readonly code: ErrorCode;
  readonly hint?: string;
  readonly field?: string;
  readonly actions: readonly ErrorAction[];
  /**
   * Set when the message was given as lines (one problem each): a newline inside a line is then
   * data (a quoted key or value), shown as `\n`, never a line break of its own.
   */
  readonly lines?: readonly string[];
  constructor(message: string | readonly string[], details: ErrorDetails) {
    super(typeof message === 'string' ? message : message.join('\n'));
    if (typeof message !== 'string') this.lines = [...message];
    this.code = details.code;
    this.hint = details.hint;
    this.field = details.field;
    this.actions = details.actions ?? [];
  }

  static is(error: unknown): error is AirlockError {
    return error instanceof AirlockError;
  }
}

/** Thrown when an AbortSignal ends long work; front ends treat it as a quiet cancellation. */
export class CancelledError extends Error {
  override readonly name = 'CancelledError';
  constructor(message = 'cancelled') {
    super(message);
  }

  static is(error: unknown): error is CancelledError {
    return error instanceof CancelledError;
  }
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CancelledError();
}

/** A front end's own words for what the core says neutrally. */
export interface ErrorWording {
  /** The hint in this front end's terms (its commands, flags, settings), from the error's code and actions. */
  hint?: (error: AirlockError) => string | undefined;
  /**
   * This front end's name for an input field, where it has one of its own (the CLI's `--change-set`
   * for `changeSet`): a message that begins with its field (`changeSet: …`) is shown with this name.
   */
  field?: (field: string) => string | undefined;
}

/**
 * What a person reads: message plus hint, never a stack. Messages quote repository and box text
 * (a policy key, a file name, a setup command, an engine reply), and every front end prints this,
 * so it is made printable here, line by line: the message's own newlines (one problem per line)
 * stay, control characters and bidi overrides in a line are shown, not obeyed. `wording` lets a
 * front end word the hint, its actions and field names its own way (the CLI names its commands
 * and flags); a function is the hint's wording alone.
 */
export function describeError(error: unknown, wording: ErrorWording | ((error: AirlockError) => string | undefined) = {}): string {
  if (AirlockError.is(error)) {
    const { hint: hintFor = (coded: AirlockError) => coded.hint, field: fieldFor } = typeof wording === 'function' ? { hint: wording } : wording;
    const [first = '', ...rest] = error.lines ?? [error.message];
    const field = error.field;
    const label = field === undefined ? undefined : fieldFor?.(field);
    const opening = field !== undefined && label !== undefined && first.startsWith(`${field}: `) ? label + first.slice(field.length) : first;
    const message = error.lines ? [opening, ...rest].map(printableLine).join('\n') : printableLines(opening);
    const hint = hintFor(error);
    return hint ? `${message}\n  → ${printableLines(hint)}` : message;
  }
  if (CancelledError.is(error)) return 'cancelled';
  if (error instanceof Error) return printableLines(error.message);
  return printableLines(String(error));
}
