import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { copyBundle } from '../helpers/cliBundle.js';
import { type CliResult, launchNode } from '../helpers/cliProcess.js';
import { realEngine, TEST_IMAGE } from '../helpers/realEngine.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';

/**
 * Issue 13 §5: a repository whose policy files are hostile (a symlink to /dev/zero, a FIFO, a
 * sparse multi-gigabyte file) made `airlock policy show` grow to 16.8 GB in a minute, and the same
 * read sat in `start`, in the running task's gate and in the editor's monitor. Through the bundled
 * CLI: each ends at once in one message naming the file, and a running task keeps its last good
 * rules when its file turns hostile.
 */

const SLOW = { timeout: 180_000 };
const HOOK = { timeout: 300_000 };
/** What "at once" means here: node's startup and the bundle's load dominate. */
const QUICK_MS = 5_000;
/** Peak memory of one CLI run; the unbounded read passed this within a second. */
const MAX_RSS_BYTES = 300 * 1024 * 1024;
const GNU_TIME = '/usr/bin/time';

let cli = '';
let state = '';
const tasks = new Set<string>();

const env = (): NodeJS.ProcessEnv => ({ AIRLOCK_STATE_DIR: state, AIRLOCK_IMAGE: TEST_IMAGE, AIRLOCK_MACHINE_POLICY: '' });

const airlock = (args: string[], { timeoutMs = 120_000, extraEnv = {} }: { timeoutMs?: number; extraEnv?: NodeJS.ProcessEnv } = {}): Promise<CliResult> =>
  launchNode([cli, ...args], { env: { ...env(), ...extraEnv }, timeoutMs, cwd: state }).result;

/**
 * One CLI run with its peak RSS, measured by GNU time when the machine has it (Debian's `time`
 * package). Killed after 20 s, so an unbounded read fails the test instead of taking the host.
 */
async function measured(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<CliResult & { maxRssBytes?: number }> {
  const timed = fs.existsSync(GNU_TIME);
  const started = Date.now();
  const child = timed
    ? spawn(GNU_TIME, ['-f', 'airlock-test-maxrss=%M', process.execPath, cli, ...args], { cwd: state, env: { ...process.env, ...env(), ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, [cli, ...args], { cwd: state, env: { ...process.env, ...env(), ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const [status, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (code, sig) => resolve([code, sig])));
  clearTimeout(timer);
  let stderr = Buffer.concat(err).toString('utf8');
  let maxRssBytes: number | undefined;
  const rss = /^airlock-test-maxrss=(\d+)\n?$/m.exec(stderr);
  if (rss) {
    maxRssBytes = Number(rss[1]) * 1024;
    stderr = stderr.replace(/^Command exited with non-zero status \d+\n/m, '').replace(rss[0], '');
  }
  return { status, signal, stdout: Buffer.concat(out).toString('utf8'), stderr, ms: Date.now() - started, maxRssBytes };
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const lines = (text: string) => text.split('\n').filter((line) => line !== '');

/** Ended at once, exit 1, one message (and its hint) whose first line names `file`, small throughout. */
function assertRefusedAtOnce(result: CliResult & { maxRssBytes?: number }, file: string, reason: RegExp): void {
  assert.equal(result.signal, null, `killed after 20 s: the read did not end (stderr: ${result.stderr})`);
  assert.ok(result.ms < QUICK_MS, `took ${result.ms} ms`);
  assert.equal(result.status, 1, result.stderr);
  assert.equal(result.stdout, '');
  const [first, hint, ...rest] = lines(result.stderr);
  assert.match(first ?? '', new RegExp(`^airlock: ${escape(file)}:1:1: ${reason.source}; Airlock did not read it$`), result.stderr);
  assert.match(hint ?? '', /^ {2}→ Replace it with a regular file/, result.stderr);
  assert.deepEqual(rest, [], `one message: ${result.stderr}`);
  if (result.maxRssBytes !== undefined) assert.ok(result.maxRssBytes < MAX_RSS_BYTES, `peak RSS ${result.maxRssBytes} bytes`);
}

before(() => {
  cli = copyBundle(makeTempDir('airlock-hostile-bundle-'));
  state = makeTempDir('airlock-hostile-state-');
}, { timeout: 30_000 });

after(async () => {
  for (const id of [...tasks]) await airlock(['stop', id], { timeoutMs: 60_000 }).catch(() => undefined);
  removeTempDirs();
}, HOOK);

describe('hostile policy files through the bundled CLI', () => {
  test('policy show: .airlock.json as a symlink to /dev/zero ends at once with one message naming it, without growing', async () => {
    const ws = makeTempDir('airlock-hostile-ws-');
    fs.symlinkSync('/dev/zero', path.join(ws, '.airlock.json'));
    const result = await measured(['policy', 'show', '--workspace', ws]);
    assertRefusedAtOnce(result, path.join(ws, '.airlock.json'), new RegExp(`resolves outside ${escape(ws)} \\(to /dev/zero\\)`));
    // --json carries the same as a problem at 1:1 of the file (what editors mark).
    const json = await measured(['policy', 'show', '--workspace', ws, '--json']);
    assert.equal(json.status, 1, json.stderr);
    const shown = JSON.parse(json.stdout) as { error: string; problems: Array<{ field: string; line: number; column: number; message: string }> };
    assert.deepEqual(shown.problems.map(({ field, line, column }) => ({ field, line, column })), [{ field: '', line: 1, column: 1 }]);
    assert.match(shown.problems[0].message, /resolves outside .* \(to \/dev\/zero\); Airlock did not read it/);
  });

  test('policy show: a FIFO .airlock.json ends at once (nothing waits for a writer)', async () => {
    const ws = makeTempDir('airlock-hostile-ws-');
    execFileSync('mkfifo', [path.join(ws, '.airlock.json')]);
    const result = await measured(['policy', 'show', '--workspace', ws]);
    assertRefusedAtOnce(result, path.join(ws, '.airlock.json'), /is not a regular file \(a FIFO\)/);
  });

  test('policy show: a 2 GB sparse .airlock.json is refused by its size', async () => {
    const ws = makeTempDir('airlock-hostile-ws-');
    fs.writeFileSync(path.join(ws, '.airlock.json'), '');
    fs.truncateSync(path.join(ws, '.airlock.json'), 2 * 1024 ** 3);
    const result = await measured(['policy', 'show', '--workspace', ws]);
    assertRefusedAtOnce(result, path.join(ws, '.airlock.json'), /is 2147483648 bytes, more than the 1048576 allowed/);
  });

  test('a devcontainer.json symlinked to /dev/zero: policy show refuses the path, policy validate refuses the file, both at once', async () => {
    const ws = makeTempDir('airlock-hostile-ws-');
    writeFiles(ws, { '.airlock.json': '{ "devcontainer": { "path": ".devcontainer/devcontainer.json" } }\n' });
    fs.mkdirSync(path.join(ws, '.devcontainer'));
    const devFile = path.join(ws, '.devcontainer', 'devcontainer.json');
    fs.symlinkSync('/dev/zero', devFile);
    const shown = await measured(['policy', 'show', '--workspace', ws]);
    assert.equal(shown.signal, null);
    assert.ok(shown.ms < QUICK_MS, `took ${shown.ms} ms`);
    assert.equal(shown.status, 1);
    assert.match(shown.stderr, new RegExp(`^airlock: ${escape(path.join(ws, '.airlock.json'))}:1:\\d+: devcontainer\\.path: must be a file inside the workspace`, 'm'));
    // `policy validate` reads the devcontainer.json itself, with no .airlock.json check in front.
    const validated = await measured(['policy', 'validate', devFile]);
    assertRefusedAtOnce(validated, devFile, new RegExp(`resolves outside ${escape(ws)} \\(to /dev/zero\\)`));
  });

  test('a FIFO devcontainer.json inside the workspace: policy show ends at once naming it', async () => {
    const ws = makeTempDir('airlock-hostile-ws-');
    writeFiles(ws, { '.airlock.json': '{ "devcontainer": { "path": ".devcontainer/devcontainer.json" } }\n' });
    fs.mkdirSync(path.join(ws, '.devcontainer'));
    const devFile = path.join(ws, '.devcontainer', 'devcontainer.json');
    execFileSync('mkfifo', [devFile]);
    assertRefusedAtOnce(await measured(['policy', 'show', '--workspace', ws]), devFile, /is not a regular file \(a FIFO\)/);
  });

  test('a devcontainer Dockerfile that is a FIFO or a sparse 2 GB file: policy show ends at once naming the Dockerfile', async () => {
    for (const [make, reason] of [
      [(file: string) => execFileSync('mkfifo', [file]), /is not a regular file \(a FIFO\)/],
      [(file: string) => (fs.writeFileSync(file, ''), fs.truncateSync(file, 2 * 1024 ** 3)), /is 2147483648 bytes, more than the 1048576 allowed/],
    ] as const) {
      const ws = makeTempDir('airlock-hostile-ws-');
      writeFiles(ws, {
        '.airlock.json': '{ "devcontainer": { "path": ".devcontainer/devcontainer.json" } }\n',
        '.devcontainer/devcontainer.json': '{ "build": { "dockerfile": "Dockerfile" } }\n',
      });
      const dockerfile = path.join(ws, '.devcontainer', 'Dockerfile');
      make(dockerfile);
      assertRefusedAtOnce(await measured(['policy', 'show', '--workspace', ws]), dockerfile, reason);
    }
  });

  test('a machine floor (AIRLOCK_MACHINE_POLICY) that is /dev/zero or a dangling symlink fails closed at once', async () => {
    const ws = makeTempDir('airlock-hostile-ws-');
    const zero = await measured(['policy', 'show', '--workspace', ws], { AIRLOCK_MACHINE_POLICY: '/dev/zero' });
    assertRefusedAtOnce(zero, '/dev/zero', /is not a regular file \(a device\)/);
    const dangling = path.join(makeTempDir('airlock-hostile-floor-'), 'policy.json');
    fs.symlinkSync('/nonexistent/airlock-floor.json', dangling);
    const gone = await measured(['policy', 'show', '--workspace', ws], { AIRLOCK_MACHINE_POLICY: dangling });
    assertRefusedAtOnce(gone, dangling, /is a symlink to something that does not exist/);
  });
});

describe('a running task whose .airlock.json turns hostile keeps its last good rules (integration)', () => {
  test('start refuses a /dev/zero .airlock.json at once; a task whose file is then replaced by /dev/zero or a FIFO still denies what it denied', SLOW, async (t: TestContext) => {
    if (!(await realEngine(t))) return;
    const hostile = makeTempDir('airlock-hostile-ws-');
    writeFiles(hostile, { 'README.md': 'x\n' });
    fs.symlinkSync('/dev/zero', path.join(hostile, '.airlock.json'));
    const refused = await measured(['start', '--workspace', hostile, '--ttl', '900']);
    assertRefusedAtOnce(refused, path.join(hostile, '.airlock.json'), /resolves outside .* \(to \/dev\/zero\)/);
    const listed = await airlock(['ls', '-a', '--json']);
    assert.deepEqual((JSON.parse(listed.stdout) as Array<{ workspace: string }>).filter((task) => task.workspace === hostile), [], 'no task was created');

    const ws = makeTempDir('airlock-hostile-ws-');
    writeFiles(ws, { 'README.md': 'x\n', '.airlock.json': '{ "commands": { "deny": ["echo"] } }\n' });
    const started = await airlock(['start', '--workspace', ws, '--ttl', '900', '--approval-timeout', '3'], { timeoutMs: 240_000 });
    assert.equal(started.status, 0, started.stderr);
    const id = started.stdout.trim();
    assert.match(id, /^[0-9a-f]{12}$/);
    tasks.add(id);

    const file = path.join(ws, '.airlock.json');
    for (const [replace, reason] of [
      [() => fs.symlinkSync('/dev/zero', file), /resolves outside .* \(to \/dev\/zero\)/],
      [() => execFileSync('mkfifo', [file]), /is not a regular file \(a FIFO\)/],
    ] as const) {
      fs.rmSync(file);
      replace();
      const echo = await airlock(['exec', id, '--', 'echo', 'hi'], { timeoutMs: 30_000 });
      assert.equal(echo.status, 126, `the deny rule must stay: ${echo.stderr}`);
      assert.equal(echo.stdout, '');
      assert.match(echo.stderr, /deny rule "echo"/);
      assert.ok(echo.ms < 15_000, `the gate took ${echo.ms} ms`);
      const other = await airlock(['exec', id, '--', 'true'], { timeoutMs: 30_000 });
      assert.equal(other.status, 0, `what was allowed stays allowed: ${other.stderr}`);

      const live = await measured(['policy', 'show', '--task', id, '--json']);
      assert.equal(live.signal, null);
      assert.equal(live.status, 1, live.stderr);
      const shown = JSON.parse(live.stdout) as { rules: { commands: { deny: string[] } }; error?: string };
      assert.deepEqual(shown.rules.commands.deny, ['echo'], 'the last good rules are the live ones');
      assert.match(shown.error ?? '', new RegExp(`${escape(file)}:1:1: ${reason.source}; Airlock did not read it`));
    }
    const audit = await airlock(['audit', id]);
    assert.equal(audit.status, 0, audit.stderr);
    const invalid = lines(audit.stdout).map((line) => JSON.parse(line) as { type: string; error?: string }).filter((record) => record.type === 'policy.invalid');
    assert.ok(invalid.some((record) => /to \/dev\/zero/.test(record.error ?? '')), JSON.stringify(invalid));
    assert.ok(invalid.some((record) => /a FIFO/.test(record.error ?? '')), JSON.stringify(invalid));

    const stopped = await airlock(['stop', id], { timeoutMs: 60_000 });
    assert.equal(stopped.status, 0, stopped.stderr);
    tasks.delete(id);
  });
});
