import type { Command } from 'commander';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { PassThrough } from 'node:stream';
import { CommandRefused, Emitter, gateCommand, hostPathFor, runShellLine, shellSessionFolder, taskForFolder, type FolderTask, type TaskService, type TerminalSize } from '../../core/index.js';
import { waitingLine } from '../approvalCommands.js';
import { writeOutput } from '../cliOutput.js';
import { EXIT_AIRLOCK_ERROR } from '../runCommand.js';
import { action } from '../serviceAction.js';
import { TerminalLineInput } from './lineInput.js';
import { SequenceFilter } from './sequenceFilter.js';
import { ShellMarks } from './shellMarks.js';

/** What a shell reports for a command ended by Ctrl-C. */
const EXIT_CANCELLED = 130;
const EXIT_LINE = /^\s*exit(?:\s+(\d{1,3}))?\s*;?\s*$/;

/**
 * Turns output processing off on this terminal until setRawMode(false) puts back the settings
 * libuv saved. The box's own terminal already made each newline CR LF, and libuv's raw mode keeps
 * ONLCR, so the host would add a second CR: every line end reached VS Code (and an agent reading
 * it through execution.read()) as "\r\r\n", and a bare LF from a full-screen program in the box
 * gained a carriage return. `docker exec -t` clears OPOST the same way. Without stty, output keeps
 * the extra CR and nothing else changes.
 */
function passOutputThrough(): void {
  spawnSync('stty', ['-opost'], { stdio: ['inherit', 'ignore', 'ignore'] });
}

export function registerShellCommand(program: Command): void {
  program
    .command('shell')
    .description("an interactive shell in a task (default: the task for this folder): every line is gated and audited, and runs in the task's copy of this folder")
    .argument('[id]', 'task id (or a unique prefix)')
    .action(action(async (service, id: string | undefined) => new BoxShell(service, await taskForFolder(service, process.cwd(), id)).run(), EXIT_AIRLOCK_ERROR));
}

/**
 * `airlock shell`: the host reads each line (with editing and history), gates it, and runs it in
 * the box under a terminal of its own, carrying exports, functions, aliases and the folder from
 * line to line. Shell integration marks come from here, never from the box.
 */
class BoxShell {
  private readonly marks = ShellMarks.fromEnv();
  private readonly session = shellSessionFolder();
  private readonly resized = new Emitter<TerminalSize>();
  private boxCwd: string;
  private lastExit = 0;
  private readonly stop = new AbortController();

  constructor(private readonly service: TaskService, private readonly folder: FolderTask) {
    this.boxCwd = folder.boxCwd;
  }

  private get terminal(): boolean {
    return Boolean(process.stdin.isTTY && process.stdout.isTTY);
  }

  private size(): TerminalSize {
    return { rows: process.stdout.rows || 24, cols: process.stdout.columns || 80 };
  }

  private say(text: string): void {
    process.stderr.write(`${text}\r\n`);
  }

  async run(): Promise<number> {
    const ending = () => this.stop.abort();
    for (const signal of ['SIGHUP', 'SIGTERM'] as const) process.once(signal, ending);
    process.stdout.on('resize', () => this.resized.fire(this.size()));
    this.say(`airlock: a shell in task ${this.folder.record.id} (${this.folder.record.workspace}): each line is gated and audited; \`exit\` ends it`);
    process.stdout.write(this.marks.richDetection());
    const lines = this.terminal ? undefined : readline.createInterface({ input: process.stdin, terminal: false })[Symbol.asyncIterator]();
    const input = this.terminal ? new TerminalLineInput(process.stdin, process.stdout) : undefined;
    while (!this.stop.signal.aborted) {
      process.stdout.write(this.marks.cwd(this.hostCwd()) + this.marks.promptStart());
      const prompt = `${this.promptText()}${this.marks.promptEnd()}`;
      let line: string | undefined;
      if (input) line = await input.read(prompt, '> ', () => undefined);
      else {
        process.stdout.write(prompt);
        const next = await lines!.next();
        line = next.done ? undefined : next.value;
      }
      if (line === undefined) break;
      if (!line.trim()) continue;
      process.stdout.write(this.marks.commandLine(line) + this.marks.executed());
      const exit = EXIT_LINE.exec(line);
      if (exit) {
        process.stdout.write(this.marks.finished(0));
        return exit[1] ? Number(exit[1]) & 255 : this.lastExit;
      }
      this.lastExit = await this.runLine(line);
      process.stdout.write(this.marks.finished(this.lastExit));
    }
    return this.lastExit;
  }

  private promptText(): string {
    const rel = path.posix.relative('/workspace', this.boxCwd);
    const where = rel === '' ? path.basename(this.folder.record.workspace) : rel.startsWith('..') ? this.boxCwd : `${path.basename(this.folder.record.workspace)}/${rel}`;
    return `airlock:${where}$ `;
  }

  /** The folder VS Code shows and opens links against: the host's, where there is one. */
  private hostCwd(): string {
    return hostPathFor(this.folder.record, this.boxCwd) ?? this.boxCwd;
  }

  private async runLine(line: string): Promise<number> {
    const commandStop = new AbortController();
    const onEnd = () => commandStop.abort();
    this.stop.signal.addEventListener('abort', onEnd);
    const stdin = new PassThrough();
    let gated = true;
    const onData = (data: Buffer) => {
      // While a reviewer decides, Ctrl-C withdraws the request; once running, keys go to the box.
      if (gated) {
        if (data.includes(0x03)) commandStop.abort();
        return;
      }
      stdin.write(data);
    };
    if (this.terminal) {
      process.stdin.setRawMode(true);
      passOutputThrough();
      process.stdin.on('data', onData).resume();
    }
    const filter = new SequenceFilter();
    try {
      await gateCommand(this.service.store, this.folder.record, { line }, this.boxCwd, { signal: commandStop.signal, onWaiting: (request) => this.say(waitingLine(request)), stdinIsData: !this.terminal });
      gated = false;
      const result = await runShellLine(this.service, this.folder.record.id, {
        line,
        cwd: this.boxCwd,
        session: this.session,
        followCwd: true,
        gate: false,
        tty: this.terminal,
        terminal: this.terminal ? { size: () => this.size(), onResize: this.resized.event } : undefined,
        stdin: this.terminal ? stdin : undefined,
        signal: commandStop.signal,
        onStdout: (chunk) => writeOutput(process.stdout, filter.push(chunk)),
        onStderr: (chunk) => writeOutput(process.stderr, chunk),
      });
      const tail = filter.flush();
      if (tail.length) process.stdout.write(tail);
      if (result.cwd) this.boxCwd = result.cwd;
      if (result.timedOut) this.say('airlock: the command timed out and was killed');
      return result.exitCode;
    } catch (error) {
      if (error instanceof CommandRefused) {
        this.say(`airlock: ${error.message}`);
        return error.exitCode;
      }
      if (commandStop.signal.aborted && !this.stop.signal.aborted) {
        this.say('airlock: withdrawn; nothing ran');
        return EXIT_CANCELLED;
      }
      // The task has gone (or the engine): this shell has nowhere left to run anything.
      throw error;
    } finally {
      this.stop.signal.removeEventListener('abort', onEnd);
      stdin.end();
      if (this.terminal) {
        process.stdin.off('data', onData);
        process.stdin.setRawMode(false);
        process.stdin.pause();
      }
    }
  }
}
