import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { realEngine, TEST_IMAGE, tempDir } from '../helpers/realEngine.js';
import { until } from '../helpers/until.js';

/**
 * `airlock run` and `airlock shell`, as agents reach them: through the launcher (dist/airlock)
 * that users and the routing settings run, with and without the daemon, on images with and
 * without node.
 */
const LAUNCHER = path.resolve('dist/airlock');
const NO_NODE_IMAGE = 'airlock-test:no-node';

describe('agents’ commands routed into the task (integration)', () => {
  let state = '';
  let workspace = '';
  let task = '';
  const env = (extra: NodeJS.ProcessEnv = {}) => ({ ...process.env, AIRLOCK_STATE_DIR: state, AIRLOCK_IMAGE: TEST_IMAGE, AIRLOCK_DAEMON: '0', ...extra });
  const airlock = (args: string[], options: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv } = {}) =>
    spawnSync(LAUNCHER, args, { cwd: options.cwd ?? workspace, encoding: 'utf8', input: options.input ?? '', env: env(options.env), timeout: 120_000 });
  const auditLines = () =>
    fs
      .readFileSync(path.join(state, 'tasks', task, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; line?: string; exitCode?: number; command?: string; decision?: string });

  before(async (t) => {
    assert.ok(fs.existsSync(LAUNCHER), 'dist/airlock is missing: run `npm run build` first');
    if (!(await realEngine(t as TestContext))) return;
    state = tempDir('agent-state');
    workspace = fs.realpathSync(tempDir('agent-ws'));
    fs.mkdirSync(path.join(workspace, 'src', 'deep'), { recursive: true });
    fs.writeFileSync(path.join(workspace, 'src', 'deep', 'note.txt'), 'from the host\n');
    const started = airlock(['start', '--ttl', '900', '--command-deny', 'curl', '--command-ask', 'make deploy', '--approval-timeout', '60']);
    assert.equal(started.status, 0, started.stderr);
    task = started.stdout.trim();
  });

  after(() => {
    if (!task) return;
    airlock(['daemon', 'stop']);
    airlock(['stop', task]);
  });

  test('run: exit codes, the host folder mapped into the copy, stdin, and one audited line', async (t) => {
    if (!(await realEngine(t))) return;
    const deep = path.join(workspace, 'src', 'deep');
    const result = airlock(['run', 'pwd; cat note.txt; id -u; echo err >&2; exit 7'], { cwd: deep });
    assert.equal(result.status, 7, result.stderr);
    assert.equal(result.stdout, '/workspace/src/deep\nfrom the host\n1000\n');
    assert.equal(result.stderr, 'err\n');
    // Several words are one line, as `sh -c "$*"` would have it.
    assert.equal(airlock(['run', 'echo', '$((6*7))']).stdout, '42\n');
    assert.equal(airlock(['run', 'wc -c'], { input: 'twelve bytes' }).stdout.trim(), '12');
    const audited = auditLines().filter((entry) => entry.type === 'command' && entry.line?.includes('exit 7'));
    assert.equal(audited.length, 1);
    assert.equal(audited[0].line, 'pwd; cat note.txt; id -u; echo err >&2; exit 7');
    assert.equal(audited[0].exitCode, 7);
  });

  test('run: a denied line is refused with one line and 126, and never runs', async (t) => {
    if (!(await realEngine(t))) return;
    const result = airlock(['run', 'touch /tmp/ran-it && curl http://127.0.0.1:9/']);
    assert.equal(result.status, 126);
    assert.equal(result.stderr.trim().split('\n').length, 1);
    assert.match(result.stderr, /^airlock: refused: .*curl/);
    assert.equal(airlock(['run', 'test -e /tmp/ran-it']).status, 1, 'nothing of a refused line runs');
  });

  test('run: Claude Code’s prefixed line: its host snapshot stays out, its cwd file is written on the host with the host path', async (t) => {
    if (!(await realEngine(t))) return;
    const home = tempDir('claude-home');
    const snapshots = path.join(home, '.claude', 'shell-snapshots');
    fs.mkdirSync(snapshots, { recursive: true });
    const snapshot = path.join(snapshots, 'snapshot-bash-1755042239230-87cw6n.sh');
    fs.writeFileSync(snapshot, 'export HOST_SECRET=from-the-host-profile\n');
    const cwdFile = path.join(os.tmpdir(), `claude-${Math.random().toString(16).slice(2, 6)}-cwd`);
    // Exactly the shapes Claude Code gives CLAUDE_CODE_SHELL_PREFIX, as one argument.
    const shapes = [
      `source ${snapshot} && eval 'cd src/deep && cat note.txt && echo "[\${HOST_SECRET:-unset}]"' \\< /dev/null && pwd -P >| ${cwdFile}`,
      `source ${snapshot} 2>/dev/null || true && setopt NO_EXTENDED_GLOB 2>/dev/null || true && eval 'cd src/deep && cat note.txt && echo "[\${HOST_SECRET:-unset}]"' < /dev/null && pwd -P >| ${cwdFile}`,
    ];
    for (const line of shapes) {
      fs.rmSync(cwdFile, { force: true });
      const result = airlock(['run', line], { env: { HOME: home } });
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, 'from the host\n[unset]\n', 'the snapshot is not sourced in the box');
      assert.equal(fs.readFileSync(cwdFile, 'utf8').trim(), path.join(workspace, 'src', 'deep'), 'the cwd file holds the host path');
    }
    // A failing command leaves the cwd file alone, as `&& pwd -P >|` does.
    fs.writeFileSync(cwdFile, 'before\n');
    const failed = airlock(['run', `source ${snapshot} && eval 'cd src && false' \\< /dev/null && pwd -P >| ${cwdFile}`], { env: { HOME: home } });
    assert.equal(failed.status, 1);
    assert.equal(fs.readFileSync(cwdFile, 'utf8'), 'before\n');
    fs.rmSync(cwdFile, { force: true });
  });

  test('run and exec through the daemon: the same output and codes, gated and audited the same', async (t) => {
    if (!(await realEngine(t))) return;
    const fast = { AIRLOCK_DAEMON: '' };
    airlock(['run', 'true'], { env: fast }); // starts the daemon for the next calls
    assert.ok(await until('the daemon serving', () => airlock(['daemon', 'status'], { env: fast }).status === 0, 20_000));
    const served = airlock(['run', 'pwd; echo err >&2; exit 5'], { cwd: path.join(workspace, 'src'), env: fast });
    assert.equal(served.status, 5, served.stderr);
    assert.equal(served.stdout, '/workspace/src\n');
    assert.equal(served.stderr, 'err\n');
    assert.equal(airlock(['run', 'cat'], { env: fast, input: 'piped in' }).stdout, 'piped in');
    const refused = airlock(['run', 'curl http://127.0.0.1:9/'], { env: fast });
    assert.equal(refused.status, 126);
    assert.match(refused.stderr, /^airlock: refused: /);
    const exec = airlock(['exec', task, '--cwd', 'src', '--', 'sh', '-c', 'pwd; exit 3'], { env: fast });
    assert.equal(exec.status, 3);
    assert.equal(exec.stdout, '/workspace/src\n');
    // A flag only the full CLI has comes back to it, with the same result.
    assert.equal(airlock(['exec', '-i', task, '--', 'wc', '-c'], { env: fast, input: 'four' }).stdout.trim(), '4');
    assert.ok(auditLines().some((entry) => entry.type === 'command' && entry.line === 'pwd; echo err >&2; exit 5' && entry.exitCode === 5));
  });

  test('run: the daemon stops the command when the client is killed', async (t) => {
    if (!(await realEngine(t))) return;
    const fast = { AIRLOCK_DAEMON: '' };
    assert.equal(airlock(['daemon', 'status'], { env: fast }).status, 0);
    const child = spawn(LAUNCHER, ['run', 'echo started; sleep 60; touch /tmp/outlived'], { cwd: workspace, env: env(fast), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await until('the command started', () => out.includes('started'), 20_000);
    child.kill('SIGKILL');
    assert.ok(await until('the box command ended', () => !airlock(['run', 'ps -eo args'], { env: fast }).stdout.includes('sleep 60'), 20_000));
    assert.equal(airlock(['run', 'test -e /tmp/outlived']).status, 1);
  });

  test('shell: OSC 633 marks in order with real exit codes, state from line to line, gated lines, resize', async (t) => {
    if (!(await realEngine(t))) return;
    const transcript = await driveShell(workspace, env({ TERM_PROGRAM: 'vscode', VSCODE_NONCE: 'nonce-1' }), [
      { send: 'cd src && export GREETING=hello\r', until: /633;D;0/ },
      { send: 'pwd; echo "$GREETING"; printf "\\033]633;D;0\\007"; exit 3\r', until: /633;D;3/ },
      // Resized while a command runs: the box's terminal follows at once.
      // The resize is sent once the command has started: it must reach the box during the sleep,
      // which a loaded machine can take seconds to do.
      { send: 'sleep 5; stty size\r', until: /633;C/ },
      { resize: [33, 101], until: /33 101[\s\S]*633;D;0/ },
      { send: 'stty size\r', until: /E;stty size;[\s\S]*?633;D;0/ },
      { send: 'curl http://127.0.0.1:9/\r', until: /633;D;126/ },
      { send: 'exit\r' },
    ]);
    const marks = [...transcript.matchAll(/\x1b\]633;([^\x07]*)\x07/g)].map((match) => match[1]);
    const commands = marks.filter((mark) => /^[ECD]/.test(mark));
    assert.deepEqual(commands.slice(0, 9), [
      'E;cd src && export GREETING=hello;nonce-1',
      'C',
      'D;0',
      'E;pwd\\x3b echo "$GREETING"\\x3b printf "\\\\033]633\\x3bD\\x3b0\\\\007"\\x3b exit 3;nonce-1',
      'C',
      'D;3',
      'E;sleep 5\\x3b stty size;nonce-1',
      'C',
      'D;0',
    ]);
    assert.match(transcript.slice(transcript.lastIndexOf('E;stty size')), /33 101/, 'the next command starts at the new size');
    assert.ok(marks.includes(`P;Cwd=${path.join(workspace, 'src')}`), 'the folder VS Code follows is the host’s');
    assert.match(transcript, /\/workspace\/src\r?\r\nhello/);
    // The box printed a fake "ended with 0": it never reaches the terminal.
    assert.equal(marks.filter((mark) => mark === 'D;0').length, marks.filter((mark) => mark.startsWith('E;')).length - 2, 'one D per command, none forged');
    assert.match(transcript, /airlock: refused: .*curl/);
    assert.ok(auditLines().some((entry) => entry.type === 'command' && entry.line === 'stty size' && entry.exitCode === 0), 'each typed line is audited');
    assert.ok(auditLines().some((entry) => entry.type === 'command.gated' && entry.command?.includes('curl') && entry.decision === 'deny'));
  });

  test('shell: an ask line shows its request and where to decide, and runs only once approved', async (t) => {
    if (!(await realEngine(t))) return;
    let requestId = '';
    const transcript = await driveShell(workspace, env({ TERM_PROGRAM: 'vscode' }), [
      {
        send: 'make deploy; echo deployed-$?\r',
        until: /waiting for approval (\w+)/,
        then: (text) => {
          requestId = /waiting for approval (\w+)/.exec(text)![1]!;
          assert.doesNotMatch(text, /deployed-\d/, 'nothing runs while a reviewer decides');
          const approved = airlock(['approve', requestId]);
          assert.equal(approved.status, 0, approved.stderr);
        },
      },
      { until: /deployed-\d+[\s\S]*633;D/ },
      { send: 'exit\r' },
    ]);
    assert.match(transcript, /approve in the Airlock panel or with `airlock approve \w+`/);
    assert.match(transcript, /deployed-127/, 'it ran in the box once approved (no make there: 127)');
  });

  test('start --mirror: the daemon carries host edits in, and a run right after an edit sees it', async (t) => {
    if (!(await realEngine(t))) return;
    const fast = { AIRLOCK_DAEMON: '' };
    const mirrored = fs.realpathSync(tempDir('agent-mirror-ws'));
    fs.writeFileSync(path.join(mirrored, 'app.js'), 'v1\n');
    const started = airlock(['start', '--mirror', '--ttl', '300'], { cwd: mirrored, env: fast });
    assert.equal(started.status, 0, started.stderr);
    const id = started.stdout.trim();
    try {
      await until('the daemon mirroring the task', () => fs.existsSync(path.join(state, 'daemon', 'daemon.log')) && fs.readFileSync(path.join(state, 'daemon', 'daemon.log'), 'utf8').includes(`task ${id}: mirroring`), 30_000);
      for (const version of ['v2', 'v3']) {
        fs.writeFileSync(path.join(mirrored, 'app.js'), `${version}\n`);
        const seen = airlock(['run', 'cat app.js'], { cwd: mirrored, env: fast });
        assert.equal(seen.stdout, `${version}\n`, 'the command waited for the edit to land');
      }
      fs.writeFileSync(path.join(mirrored, '.env'), 'TOKEN=never-in-the-box\n');
      assert.equal(airlock(['run', 'sleep 1; test -e .env'], { cwd: mirrored, env: fast }).status, 1, 'a secret file never crosses');
      const changes = airlock(['diff', id, '--json'], { env: fast });
      assert.equal(changes.status, 0, changes.stderr);
      assert.doesNotMatch(changes.stdout, /app\.js/, 'host edits are the base, not the box’s changes');
    } finally {
      airlock(['stop', id]);
    }
  });

  test('an image without node: run and shell both work', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    execFileSync('docker', ['build', '-q', '-t', NO_NODE_IMAGE, '-'], { input: `FROM ${TEST_IMAGE}\nRUN rm -f /usr/bin/node /usr/bin/nodejs\n` });
    const started = airlock(['start', '--image', NO_NODE_IMAGE, '--ttl', '300']);
    assert.equal(started.status, 0, started.stderr);
    const bare = started.stdout.trim();
    try {
      const result = airlock(['run', '--task', bare, 'command -v node || echo no-node; cat src/deep/note.txt']);
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, 'no-node\nfrom the host\n');
      const transcript = await driveShell(workspace, env({ TERM_PROGRAM: 'vscode' }), [{ send: 'id -u; exit 4\r', until: /633;D;4/ }, { send: 'exit\r' }], bare);
      assert.match(transcript, /1000/);
    } finally {
      airlock(['stop', bare]);
    }
  });
});

interface ShellStep {
  send?: string;
  resize?: [number, number];
  until?: RegExp;
  then?: (transcript: string) => void;
}

/** Types into `airlock shell` on a real terminal (test/helpers/ptyDriver.py), step by step. */
async function driveShell(cwd: string, env: NodeJS.ProcessEnv, steps: ShellStep[], task?: string): Promise<string> {
  const child = spawn('python3', [path.resolve('test/helpers/ptyDriver.py'), LAUNCHER, 'shell', ...(task ? [task] : [])], { cwd, env, stdio: ['pipe', 'pipe', 'inherit', 'pipe'] });
  let transcript = '';
  child.stdout!.on('data', (chunk: Buffer) => (transcript += chunk.toString('utf8')));
  const control = child.stdio[3] as NodeJS.WritableStream;
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  try {
    await until('the first prompt', () => transcript.includes('633;B') || transcript.includes('airlock:'), 30_000);
    for (const step of steps) {
      const seen = transcript.length;
      if (step.resize) control.write(`resize ${step.resize[0]} ${step.resize[1]}\n`);
      if (step.send) child.stdin!.write(step.send);
      if (step.until) {
        await until(`${step.until} after ${JSON.stringify(step.send)}`, () => step.until!.test(transcript.slice(seen)), 60_000).catch((error: Error) => {
          throw new Error(`${error.message}; the terminal showed: ${JSON.stringify(transcript.slice(-600))}`);
        });
      }
      step.then?.(transcript);
    }
    child.stdin!.end();
    await exited;
    return transcript;
  } finally {
    clearTimeout(timer);
    // A step that timed out leaves the terminal running: end it, or its open pipes keep this test file alive.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
