import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { IN_BOX_PATH } from '../../src/core/exec/inBoxProgram.js';
import { sandboxProgram } from '../../src/core/exec/sandboxPrograms.js';
import { OUTPUT_WINDOW, type HostMessage, type RunnerMessage } from '../../src/core/exec/supervisorProtocol.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

after(removeTempDirs);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Running and not a zombie (killed children of an exited parent wait for init to reap them). */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

async function until(what: string, probe: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** The host's end of the protocol, talking to the runner started the way inBoxProgram starts it. */
class Runner {
  readonly child: ChildProcessWithoutNullStreams;
  readonly messages: RunnerMessage[] = [];
  readonly exited: Promise<number | null>;
  private rest = '';

  constructor() {
    this.child = spawn('env', ['-i', `PATH=${IN_BOX_PATH}`, process.execPath, '-e', sandboxProgram('supervisor')]);
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
    this.child.stdout.setEncoding('utf8').on('data', (text: string) => {
      const lines = (this.rest + text).split('\n');
      this.rest = lines.pop()!;
      for (const line of lines) this.messages.push(JSON.parse(line) as RunnerMessage);
    });
  }

  send(message: HostMessage): void {
    this.child.stdin.write(JSON.stringify(message) + '\n');
  }

  async next<T extends RunnerMessage['t']>(t: T, id?: string, timeoutMs = 5000): Promise<Extract<RunnerMessage, { t: T }>> {
    let found: RunnerMessage | undefined;
    await until(`a ${t} message`, () => Boolean((found = this.messages.find((m) => m.t === t && (id === undefined || ('id' in m && m.id === id))))), timeoutMs);
    return found as Extract<RunnerMessage, { t: T }>;
  }

  /** The command's output so far, per fd. */
  output(id: string, fd: 1 | 2): Buffer {
    return Buffer.concat(this.messages.filter((m) => m.t === 'out' && m.id === id && m.fd === fd).map((m) => Buffer.from((m as { d: string }).d, 'base64')));
  }

  /** Runs a command to its end (every output byte acknowledged at once). */
  async run(argv: string[], extra: Partial<Extract<HostMessage, { t: 'run' }>> = {}): Promise<{ id: string; end: Extract<RunnerMessage, { t: 'exit' | 'fail' }> }> {
    const id = randomUUID();
    this.send({ t: 'run', id, argv, cwd: '/', env: { PATH: IN_BOX_PATH }, ...extra });
    await until('the command to end', () => this.messages.some((m) => (m.t === 'exit' || m.t === 'fail') && m.id === id));
    return { id, end: this.messages.find((m) => (m.t === 'exit' || m.t === 'fail') && m.id === id) as Extract<RunnerMessage, { t: 'exit' | 'fail' }> };
  }

  stop(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

function withRunner(body: (runner: Runner) => Promise<void>): () => Promise<void> {
  return async () => {
    const runner = new Runner();
    try {
      await runner.next('ready');
      await body(runner);
    } finally {
      runner.stop();
    }
  };
}

describe('the in-box supervisor, under host node', () => {
  test('says ready with its pid, then runs a command: its stdout, stderr and exit code', withRunner(async (runner) => {
    const ready = await runner.next('ready');
    // env execs node: the runner is the process spawned.
    assert.equal(ready.pid, runner.child.pid);
    const { id, end } = await runner.run(['sh', '-c', 'printf out; printf err >&2; exit 3']);
    assert.deepEqual(end, { t: 'exit', id, code: 3, signal: null });
    assert.equal(runner.output(id, 1).toString(), 'out');
    assert.equal(runner.output(id, 2).toString(), 'err');
  }));

  test('a command gets exactly the environment sent, plus its marker, in the folder asked for', withRunner(async (runner) => {
    const dir = makeTempDir();
    const { id, end } = await runner.run(['sh', '-c', 'env; pwd'], { env: { PATH: IN_BOX_PATH, ONLY: 'this' }, cwd: dir });
    assert.equal(end.t, 'exit');
    const lines = runner.output(id, 1).toString().trim().split('\n');
    assert.equal(lines.pop(), dir);
    // sh adds PWD (and some shells SHLVL, _) of its own.
    const env = lines.filter((line) => !/^(PWD|SHLVL|_)=/.test(line)).sort();
    assert.deepEqual(env, [`AIRLOCK_CMD=${id}`, 'ONLY=this', `PATH=${IN_BOX_PATH}`]);
  }));

  test('a missing program fails with 127, anything else that cannot start with 126', withRunner(async (runner) => {
    const missing = await runner.run(['airlock-no-such-program']);
    assert.deepEqual(missing.end, { t: 'fail', id: missing.id, code: 127, message: 'airlock-no-such-program: command not found' });
    const notExecutable = `${makeTempDir()}/script`;
    fs.writeFileSync(notExecutable, '#!/bin/sh\n', { mode: 0o644 });
    const refused = await runner.run([notExecutable]);
    assert.equal(refused.end.t, 'fail');
    assert.equal(refused.end.t === 'fail' && refused.end.code, 126);
  }));

  test('stdin reaches the command and each piece is confirmed once it is in the pipe', withRunner(async (runner) => {
    const id = randomUUID();
    runner.send({ t: 'run', id, argv: ['cat'], cwd: '/', env: { PATH: IN_BOX_PATH }, stdin: true });
    runner.send({ t: 'in', id, d: Buffer.from('hello ').toString('base64') });
    runner.send({ t: 'in', id, d: Buffer.from('box').toString('base64') });
    await until('both confirmations', () => runner.messages.filter((m) => m.t === 'inack' && m.id === id).length === 2);
    assert.deepEqual(runner.messages.filter((m) => m.t === 'inack' && m.id === id).map((m) => (m as { n: number }).n), [6, 3]);
    runner.send({ t: 'eof', id });
    assert.deepEqual(await runner.next('exit', id), { t: 'exit', id, code: 0, signal: null });
    assert.equal(runner.output(id, 1).toString(), 'hello box');
  }));

  test('output stops at the credit window until the host acknowledges, without holding up other commands', withRunner(async (runner) => {
    const total = 4 * OUTPUT_WINDOW;
    const id = randomUUID();
    runner.send({ t: 'run', id, argv: ['head', '-c', String(total), '/dev/zero'], cwd: '/', env: { PATH: IN_BOX_PATH } });
    // Wait until nothing more comes: the runner has stopped reading the command's pipe.
    let seen = -1;
    while (seen !== runner.output(id, 1).length) {
      seen = runner.output(id, 1).length;
      await sleep(300);
    }
    assert.ok(seen >= OUTPUT_WINDOW, `only ${seen} bytes before the stall`);
    // One pipe read may cross the window; no more than that.
    assert.ok(seen <= OUTPUT_WINDOW + 64 * 1024, `${seen} bytes sent without credit`);
    assert.equal(runner.messages.some((m) => m.t === 'exit' && m.id === id), false);

    const other = await runner.run(['echo', 'meanwhile']);
    assert.equal(runner.output(other.id, 1).toString(), 'meanwhile\n');

    let acked = 0;
    while (!runner.messages.some((m) => m.t === 'exit' && m.id === id)) {
      const received = runner.output(id, 1).length;
      if (received > acked) {
        runner.send({ t: 'ack', id, n: received - acked });
        acked = received;
      }
      await sleep(5);
    }
    assert.equal(runner.output(id, 1).length, total);
    assert.deepEqual(await runner.next('exit', id), { t: 'exit', id, code: 0, signal: null });
  }));

  test('kill ends the command, its children and a grandchild that left the session', withRunner(async (runner) => {
    const id = randomUUID();
    const script = 'sleep 1000 & echo $!; setsid sh -c \'echo $$; exec sleep 1000\' & wait';
    runner.send({ t: 'run', id, argv: ['sh', '-c', script], cwd: '/', env: { PATH: IN_BOX_PATH } });
    await until('two pids', () => runner.output(id, 1).toString().trim().split('\n').length === 2);
    const pids = runner.output(id, 1).toString().trim().split('\n').map(Number);
    await until('both sleeps running', () => pids.every(alive));
    runner.send({ t: 'kill', id });
    const end = await runner.next('exit', id);
    assert.deepEqual(end, { t: 'exit', id, code: null, signal: 'SIGKILL' });
    await until('every process of the command gone', () => !pids.some(alive));
  }));

  test('bye kills what runs and ends the runner; so does the host closing its stdin', async () => {
    for (const leave of ['bye', 'close'] as const) {
      const runner = new Runner();
      try {
        await runner.next('ready');
        const id = randomUUID();
        runner.send({ t: 'run', id, argv: ['sh', '-c', 'echo $$; exec sleep 1000'], cwd: '/', env: { PATH: IN_BOX_PATH } });
        await until('the pid', () => runner.output(id, 1).toString().endsWith('\n'));
        const pid = Number(runner.output(id, 1).toString().trim());
        assert.ok(alive(pid));
        if (leave === 'bye') runner.send({ t: 'bye' });
        else runner.child.stdin.end();
        assert.equal(await runner.exited, 0, leave);
        await until(`the command gone after ${leave}`, () => !alive(pid));
      } finally {
        runner.stop();
      }
    }
  });
});
