import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PolicyMonitor, type PolicyReport } from '../../src/core/policy/policyMonitor.js';
import { watchPolicyFiles } from '../../src/core/policy/policyWatcher.js';
import { launchNode } from '../helpers/cliProcess.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';

after(removeTempDirs);

/**
 * The editor's monitor (what the extension's policy view runs) reads through the same checks as
 * the CLI and the gate: a .airlock.json swapped for a symlink to /dev/zero is reported as invalid at
 * 1:1 of that file, and the last good policy stays the one new tasks get.
 */
describe('the policy monitor and a hostile .airlock.json', () => {
  test('a .airlock.json replaced by a symlink to /dev/zero is reported on the file, and the last good policy stays', async () => {
    const workspace = makeTempDir('airlock-monitor-ws-');
    const stateDir = makeTempDir('airlock-monitor-state-');
    writeFiles(workspace, { '.airlock.json': '{ "commands": { "deny": ["curl"] } }\n' });
    const reports: PolicyReport[] = [];
    const monitor = new PolicyMonitor({ workspace, stateDir, trusted: () => true, env: { AIRLOCK_MACHINE_POLICY: '' }, onReport: (report) => reports.push(report) });
    const first = monitor.start();
    try {
      assert.equal(first.invalid, undefined);
      assert.deepEqual(first.state?.effective.policy.commands.deny.includes('curl'), true);

      const file = path.join(workspace, '.airlock.json');
      // chokidar needs a moment to have its watch in place before the swap.
      await new Promise((resolve) => setTimeout(resolve, 300));
      fs.rmSync(file);
      fs.symlinkSync('/dev/zero', file);
      const deadline = Date.now() + 10_000;
      while (!reports.some((report) => report.invalid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      const report = reports.find((each) => each.invalid);
      assert.ok(report, 'the swap was reported');
      assert.equal(report.invalid!.file, file);
      assert.deepEqual(report.invalid!.problems.map(({ field, line, column }) => ({ field, line, column })), [{ field: '', line: 1, column: 1 }]);
      assert.match(report.invalid!.problems[0].message, /resolves outside .* \(to \/dev\/zero\); Airlock did not read it/);
      assert.ok(report.state?.effective.policy.commands.deny.includes('curl'), 'the last good policy stays');
    } finally {
      await monitor.close();
    }
  });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check() && Date.now() < deadline) await sleep(50);
  assert.ok(check(), what);
}

describe('the policy watcher and hostile names', () => {
  test('a .airlock.json symlinked to a big folder (/usr) is watched as a link, not walked', async () => {
    const workspace = makeTempDir('airlock-watch-ws-');
    fs.symlinkSync('/usr', path.join(workspace, '.airlock.json'));
    fs.symlinkSync('/usr', path.join(workspace, '.devcontainer.json'));
    // Followed, this watch walked /usr for minutes at full CPU; the child is killed after 20 s.
    const run = launchNode(['--import', 'tsx', path.resolve('test/fixtures/untrusted/watchInChild.ts'), '1500', path.join(workspace, '.airlock.json'), path.join(workspace, '.devcontainer.json')], { timeoutMs: 20_000 });
    const result = await run.result;
    assert.equal(result.signal, null, `the watch did not settle within 20 s; stderr: ${result.stderr}`);
    assert.equal(result.status, 0, result.stderr);
    const cost = JSON.parse(result.stdout) as { rssBytes: number; cpuMs: number };
    assert.ok(cost.rssBytes < 300 * 1024 * 1024, `the watcher grew to ${cost.rssBytes} bytes`);
    assert.ok(cost.cpuMs < 5_000, `the watcher used ${cost.cpuMs} ms of CPU`);
  });

  test('editing the target of a legitimate in-workspace symlink is still noticed, and so is swapping the link', async () => {
    const workspace = makeTempDir('airlock-watch-ws-');
    writeFiles(workspace, { 'config/airlock.json': '{}\n' });
    const link = path.join(workspace, '.airlock.json');
    fs.symlinkSync('config/airlock.json', link);
    let changes = 0;
    const watch = watchPolicyFiles([link], () => changes++, { debounceMs: 50 });
    try {
      await sleep(300);
      fs.writeFileSync(path.join(workspace, 'config', 'airlock.json'), '{ "commands": { "deny": ["curl"] } }\n');
      await eventually(() => changes >= 1, 'an edit of the link target was noticed');
      const seen = changes;
      fs.rmSync(link);
      fs.symlinkSync('/dev/zero', link);
      await eventually(() => changes > seen, 'swapping the link was noticed');
    } finally {
      await watch.close();
    }
  });
});
