/**
 * The CLI's own stdout and stderr: output written with backpressure, and a reader that goes away
 * (`airlock … | head -1`) ending the CLI quietly, as other CLIs do.
 */

/**
 * Exit status once stdout's reader has gone (`airlock … | head -1`): what a shell reports for a
 * process killed by SIGPIPE (128 + 13), as `seq`, `cat` or `git log` give in the same place. Not 0:
 * the output was cut short (and under `set -o pipefail` that should show); not 125/1: nothing failed.
 */
export const EXIT_BROKEN_PIPE = 141;

let outputClosed = false;
let installed = false;
const onOutputClosed = new Set<() => void>();

/** True once stdout's reader has gone; later output is dropped. */
export function stdoutClosed(): boolean {
  return outputClosed;
}

/**
 * Work that must be stopped before exiting (a command in a task) registers here; without any, the
 * CLI exits at once with EXIT_BROKEN_PIPE, as a process killed by SIGPIPE would. Returns the undo.
 */
export function whenStdoutCloses(stop: () => void): () => void {
  onOutputClosed.add(stop);
  return () => onOutputClosed.delete(stop);
}

/**
 * Node ignores SIGPIPE, so a reader that goes away surfaces as an EPIPE 'error' on process.stdout,
 * which, unhandled, is a stack trace. Installed for every subcommand: exec, diff, audit, ls alike.
 */
export function quietOnBrokenPipe(): void {
  if (installed) return;
  installed = true;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (outputClosed) return;
    outputClosed = true;
    if (error.code !== 'EPIPE') process.stderr.write(`airlock: cannot write the output: ${error.message}\n`);
    const code = error.code === 'EPIPE' ? EXIT_BROKEN_PIPE : 1;
    if (onOutputClosed.size === 0) process.exit(code);
    process.exitCode = code;
    for (const stop of onOutputClosed) stop();
  });
  // Nowhere is left to report a failure to write stderr itself.
  process.stderr.on('error', () => undefined);
}
// On import: serviceAction.ts (which every command module loads) imports this before any output is written.
quietOnBrokenPipe();

/**
 * Writes a command's output with backpressure: the promise (when the stream's buffer is full)
 * settles once it drains or the stream is gone, so a slow reader slows the box, never fills memory.
 */
export function writeOutput(stream: NodeJS.WriteStream, chunk: Buffer): Promise<void> | undefined {
  if ((stream === process.stdout && outputClosed) || stream.destroyed) return undefined;
  if (stream.write(chunk)) return undefined;
  return new Promise<void>((resolve) => {
    const done = () => {
      stream.off('drain', done).off('close', done).off('error', done);
      resolve();
    };
    stream.on('drain', done).on('close', done).on('error', done);
  });
}

