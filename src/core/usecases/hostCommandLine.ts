import * as fs from 'node:fs';
import type { GateOptions } from '../gate/commandGate.js';
import type { CommandRequest, TaskService } from '../task/taskService.js';
import { adaptClaudeCodeLine } from './claudeCodeLine.js';
import { hostPathFor, taskForFolder } from './folderTask.js';
import { runShellLine, type ShellLineResult } from './shellLine.js';

export interface HostCommandLineRequest extends Pick<CommandRequest, 'stdin' | 'signal' | 'onStdout' | 'onStderr' | 'timeoutMs' | 'env' | 'backend'> {
  /** One shell command line, as an agent's tool or a person wrote it on the host. */
  commandLine: string;
  /** The host folder it was run from: its place in the task's copy is where it runs. */
  hostCwd: string;
  /** The task; else the newest live task whose workspace holds `hostCwd`. */
  task?: string;
  gate?: Omit<GateOptions, 'signal'>;
  /** Called with the task once it is known, before anything runs (the daemon lets host edits land). */
  beforeRun?: (taskId: string) => Promise<void>;
}

export interface HostCommandLineResult extends ShellLineResult {
  task: string;
}

/**
 * `airlock run`: a host command line run in the task for its folder, with the folder mapped,
 * the gate applied and the line audited. Claude Code's prefixed form is understood: its host shell
 * snapshot stays on the host, and its cwd file is written on the host, with the host's path.
 */
export async function runHostCommandLine(service: TaskService, request: HostCommandLineRequest): Promise<HostCommandLineResult> {
  const { commandLine, hostCwd, task, gate, beforeRun, ...io } = request;
  const folder = await taskForFolder(service, hostCwd, task);
  await beforeRun?.(folder.record.id);
  const adapted = adaptClaudeCodeLine(commandLine);
  const result = await runShellLine(service, folder.record.id, { ...io, line: adapted.line, cwd: folder.boxCwd, followCwd: Boolean(adapted.cwdFile), gate: { ...gate, signal: request.signal } });
  if (adapted.cwdFile && result.exitCode === 0) {
    // Outside the workspace copy there is no host folder to follow: Claude goes back to the workspace.
    writeCwdFile(adapted.cwdFile, (result.cwd && hostPathFor(folder.record, result.cwd)) ?? folder.record.workspace);
  }
  return { ...result, task: folder.record.id };
}

/** As `>|` would, but never through a symlink someone left in the temp folder. */
function writeCwdFile(file: string, hostPath: string): void {
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o600);
  try {
    fs.writeSync(fd, `${hostPath}\n`);
  } finally {
    fs.closeSync(fd);
  }
}
