import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import type { ExecResult } from '../exec/execTypes.js';
import type { CommandRequest, TaskService } from '../task/taskService.js';

/**
 * Runs the typed line in the box. `$1` is the line, `$2` a session folder whose saved shell state
 * (exports, functions, aliases) is loaded first and saved after, `$3` a file to receive the folder
 * the line ended in, `$4` the terminal's size as stty words. bash when the image has it (agents
 * write bash), else sh. AIRLOCK_CMD is this
 * command's kill marker: a saved one from an earlier line must not replace it, or the tree kill of
 * this command would miss what it started.
 */
const LINE_SCRIPT = [
  // The engine sizes an exec's terminal only after it has started (ConsoleSize needs API 1.42):
  // set it first unless the engine got there (a resize may already have landed, and is newer).
  'if [ -n "$4" ] && [ "$(stty size 2>/dev/null)" = "0 0" ]; then stty $4 2>/dev/null; fi',
  '__airlock_cmd=$AIRLOCK_CMD; __airlock_dir=$PWD',
  'if [ -n "$2" ]; then mkdir -p "$2" 2>/dev/null; if [ -f "$2/env" ]; then . "$2/env" >/dev/null 2>&1; fi; fi',
  'AIRLOCK_CMD=$__airlock_cmd; export AIRLOCK_CMD; cd -- "$__airlock_dir" 2>/dev/null',
  '[ -n "$BASH_VERSION" ] && shopt -s expand_aliases 2>/dev/null',
  // A handler, not `trap '' INT`: an ignored signal would stay ignored in what the line runs.
  '[ -n "$2" ] && trap : INT',
  'eval "$1"',
  '__airlock_status=$?',
  'if [ -n "$2" ]; then { export -p; [ -n "$BASH_VERSION" ] && declare -f; alias -p 2>/dev/null; } > "$2/env" 2>/dev/null; fi',
  'if [ -n "$3" ]; then pwd -P > "$3" 2>/dev/null; fi',
  'exit $__airlock_status',
].join('\n');

/** `sh -c` that hands LINE_SCRIPT ($0) and its arguments to bash when there is one. */
const CHOOSE_SHELL = 'if command -v bash >/dev/null 2>&1; then exec bash -c "$0" airlock "$@"; fi; exec sh -c "$0" airlock "$@"';

export interface ShellLineRequest extends Omit<CommandRequest, 'argv' | 'line' | 'cwd' | 'bookkeeping'> {
  line: string;
  /** Inside the box, absolute. */
  cwd: string;
  /**
   * A shell session's folder in the box (`shellSessionFolder`): exports, functions and aliases
   * carry from one line to the next, as in one interactive shell.
   */
  session?: string;
  /** Learn the folder the line ended in (after a `cd`). */
  followCwd?: boolean;
}

export interface ShellLineResult extends ExecResult {
  /** Where the line left the shell, inside the box (with `followCwd`). */
  cwd?: string;
}

/** A fresh session folder in the box's /tmp (the sandbox user's, on every image). */
export function shellSessionFolder(): string {
  return `/tmp/.airlock-shell-${randomBytes(6).toString('hex')}`;
}

/**
 * One command line in a task, as a shell runs it: gated and audited as the line itself, run by
 * the image's bash (or sh), optionally carrying shell state between lines and reporting the
 * folder it ended in.
 */
export async function runShellLine(service: TaskService, taskId: string, request: ShellLineRequest): Promise<ShellLineResult> {
  const { line, session, followCwd, ...rest } = request;
  const cwdFile = followCwd ? `/tmp/.airlock-cwd-${randomBytes(6).toString('hex')}` : '';
  const now = rest.tty ? rest.terminal?.size() : undefined;
  const size = now ? `rows ${now.rows} cols ${now.cols}` : '';
  const result = await service.exec(taskId, { ...rest, argv: ['/bin/sh', '-c', CHOOSE_SHELL, LINE_SCRIPT, line, session ?? '', cwdFile, size], line });
  if (!cwdFile) return result;
  // The folder file is Airlock's own bookkeeping: read and removed in one look, never audited.
  const chunks: Buffer[] = [];
  await service
    .exec(taskId, { argv: ['sh', '-c', 'cat -- "$1" 2>/dev/null; rm -f -- "$1"', 'airlock-cwd', cwdFile], cwd: '/', bookkeeping: true, backend: rest.backend, onStdout: (chunk) => void chunks.push(chunk), signal: request.signal })
    .catch(() => undefined);
  const ended = Buffer.concat(chunks).toString('utf8').replace(/\n$/, '');
  return { ...result, cwd: path.posix.isAbsolute(ended) && !ended.includes('\n') ? ended : undefined };
}
