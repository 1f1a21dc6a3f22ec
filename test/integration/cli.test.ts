import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import { BUNDLE_FILES, copyBundle } from '../helpers/cliBundle.js';
import { labelled, realEngine, TEST_IMAGE, tempDir } from '../helpers/realEngine.js';


/**
 * The CLI as users get it: the esbuild bundle, copied to a folder with no node_modules, so any
 * require of a file the bundle did not include (ssh2's optional natives among them) would fail.
 */
describe('the bundled `airlock` CLI (integration)', () => {
  let cli = '';
  let state = '';
  const airlock = (args: string[], env: NodeJS.ProcessEnv = {}, input?: string) =>
    spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', input, env: { ...process.env, AIRLOCK_STATE_DIR: state, AIRLOCK_IMAGE: TEST_IMAGE, ...env }, timeout: 120_000 });

  before(() => {
    cli = copyBundle(tempDir('cli-bundle'));
    state = tempDir('cli-state');
  });

  test('loads without node_modules and finds no natives to need', () => {
    const help = airlock(['--help']);
    assert.equal(help.status, 0, help.stderr);
    for (const command of ['start', 'exec', 'ls', 'stop', 'gc', 'audit', 'doctor']) assert.match(help.stdout, new RegExp(`\\b${command}\\b`));
    assert.deepEqual(fs.readdirSync(path.dirname(cli)).sort(), [...BUNDLE_FILES].sort());
  });

  test('an unreachable engine gives one clear message, never a stack trace (ssh transport loads from the bundle)', () => {
    // An agent socket is named (though nothing is there), so the ssh transport gets as far as dialling.
    for (const host of ['unix:///nonexistent/airlock.sock', 'ssh://nobody@127.0.0.1:1']) {
      const result = airlock(['ls'], { DOCKER_HOST: host, SSH_AUTH_SOCK: '/nonexistent/agent.sock' });
      assert.equal(result.status, 1);
      assert.match(result.stderr, /No container engine answered at/);
      assert.match(result.stderr, /DOCKER_HOST/);
      assert.doesNotMatch(result.stderr, /^\s+at /m);
    }
    // No agent and no key file: said before any connection, with what to do.
    const keyless = airlock(['ls'], { DOCKER_HOST: 'ssh://nobody@127.0.0.1:1', SSH_AUTH_SOCK: '', HOME: tempDir('cli-nokey') });
    assert.equal(keyless.status, 1);
    assert.match(keyless.stderr, /^airlock: DOCKER_HOST is an ssh:\/\/ engine, but no ssh agent is running/);
    assert.match(keyless.stderr, /ssh-add/);
    assert.doesNotMatch(keyless.stderr, /^\s+at /m);
  });

  test('doctor reports the engine, its runtimes and gVisor', async (t) => {
    if (!(await realEngine(t))) return;
    const result = airlock(['doctor', '--json']);
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    assert.match(report.engine.version, /^\d+\.\d+/);
    assert.ok(report.runtimes.includes('runc'));
    assert.equal(report.runsc.works, report.runtimes.includes('runsc'));
    assert.equal(report.images[0].name, TEST_IMAGE);
    assert.equal(report.images[0].present, true);
    // The engine is on this machine: where it keeps workspaces, and which of our folders share that disk.
    assert.equal(report.disk.local, true);
    assert.match(report.disk.dataRoot, /^\//);
    assert.ok(Array.isArray(report.disk.sharesWith) && report.disk.freeBytes > 0, JSON.stringify(report.disk));
    const text = airlock(['doctor']);
    assert.match(text.stdout, new RegExp(`^disk {7}workspaces live in ${report.disk.dataRoot.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(`, 'm'));
  });

  test('start, exec, ls, audit and stop work end to end', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const workspace = tempDir('cli-ws');
    fs.writeFileSync(path.join(workspace, 'hello.txt'), 'hello from the host\n');
    const started = airlock(['start', '--workspace', workspace, '--ttl', '600', '--memory', '512m', '--cpus', '1', '--pids', '256', '--json']);
    assert.equal(started.status, 0, started.stderr);
    const task = JSON.parse(started.stdout);
    for (const key of ['id', 'container', 'image', 'runtime']) assert.ok(task[key], `start --json must print ${key}`);
    assert.equal(task.image, TEST_IMAGE);
    assert.equal(task.runtime, 'runc');

    const cat = airlock(['exec', task.id, '--', 'cat', 'hello.txt']);
    assert.equal(cat.status, 0, cat.stderr);
    assert.equal(cat.stdout, 'hello from the host\n');
    assert.equal(airlock(['exec', task.id, '--', 'sh', '-c', 'echo oops >&2; exit 7']).status, 7);
    const inSub = airlock(['exec', task.id, '--cwd', '/tmp', '--', 'pwd']);
    assert.equal(inSub.stdout.trim(), '/tmp');
    const piped = airlock(['exec', '-i', task.id, '--', 'wc', '-c'], {}, 'twelve bytes');
    assert.equal(piped.stdout.trim(), '12');
    const slow = airlock(['exec', task.id, '--timeout', '1', '--', 'sleep', '30']);
    assert.equal(slow.status, 124);
    const runner = airlock(['exec', task.id, '--runner', '--timeout', '1', '--', 'sleep', '30']);
    assert.equal(runner.status, 124);

    const listed = airlock(['ls', '--json']);
    assert.equal(JSON.parse(listed.stdout).find((entry: { id: string }) => entry.id === task.id)?.state, 'running');
    const audit = airlock(['audit', task.id]);
    const records = audit.stdout.trim().split('\n').map((line) => JSON.parse(line));
    assert.equal(records[0].type, 'task.created');
    assert.ok(records.some((record) => record.type === 'command' && record.argv.join(' ') === 'sleep 30' && record.exitCode === 124 && record.timedOut));
    assert.equal(airlock(['stop', task.id]).status, 0);
    assert.deepEqual(await labelled(engine, task.id), { containers: 0, volumes: 0 });
    assert.equal(airlock(['exec', task.id, '--', 'true']).status, 125);
  });

  test('bad input names the argument and exits non-zero', async (t) => {
    if (!(await realEngine(t))) return;
    const missing = airlock(['start', '--workspace', '/nonexistent/airlock-ws']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^airlock: workspace: \/nonexistent\/airlock-ws does not exist/);
    const badMemory = airlock(['start', '--memory', 'lots']);
    assert.match(badMemory.stderr, /memory/);
    assert.equal(badMemory.status, 1);
    const badTtl = airlock(['start', '--ttl', 'soon']);
    assert.equal(badTtl.status, 2);
    assert.match(badTtl.stderr, /--ttl must be a whole number/);
    const noCommand = airlock(['exec', 'abc123']);
    assert.equal(noCommand.status, 2);
    const secret = airlock(['start', '--env', 'GITHUB_TOKEN'], { GITHUB_TOKEN: 'x' });
    assert.equal(secret.status, 1);
    assert.match(secret.stderr, /GITHUB_TOKEN looks like a secret/);
  });
});
