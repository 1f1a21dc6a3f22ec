import { printableLine, printableLines } from './printable.js';

/**
 * The one error type the core throws for anything a person can act on: a short description, the
 * field or argument it concerns when there is one, and what to do about it. Front ends print
 * `message` and `hint`; details (stacks, engine responses) belong in logs only.
 */
export class AirlockError extends Error {
  override readonly name = 'AirlockError';
  /**
   * Set when the message was given as lines (one problem each): a newline inside a line is then
   * data (a quoted key or value), shown as `\n`, never a line break of its own.
   */
  readonly lines?: readonly string[];
  constructor(
    message: string | readonly string[],
    readonly hint?: string,
    readonly field?: string,
  ) {
    super(typeof message === 'string' ? message : message.join('\n'));
    if (typeof message !== 'string') this.lines = [...message];
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

/**
 * What a person reads: message plus hint, never a stack. Messages quote repository and box text
 * (a policy key, a file name, a setup command, an engine reply), and every front end prints this,
 * so it is made printable here, line by line: the message's own newlines (one problem per line)
 * stay, control characters and bidi overrides in a line are shown, not obeyed.
 */
export function describeError(error: unknown): string {
  if (AirlockError.is(error)) {
    const message = error.lines ? error.lines.map(printableLine).join('\n') : printableLines(error.message);
    return error.hint ? `${message}\n  → ${printableLines(error.hint)}` : message;
  }
  if (CancelledError.is(error)) return 'cancelled';
  if (error instanceof Error) return printableLines(error.message);
  return printableLines(String(error));
}
