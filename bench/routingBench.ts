/**
 * Issue 17: the round trip of one routed command, `airlock run true` (the launcher's fast path
 * through the user's daemon), against `docker exec CONTAINER true` through the docker CLI, in the
 * same run with the samples interleaved (this machine's speed drifts). Also `airlock exec` on
 * the fast path, and both through the full CLI (node and the bundle) as the daemon's absence costs.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { percentile } from './stats.js';

const LAUNCHER = path.resolve('dist/airlock');
const DOCKER = fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

export async function benchRouting(image: string, rounds = 40): Promise<string[]> {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-run-state-'));
  const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-run-ws-'));
  fs.writeFileSync(path.join(workspace, 'README'), 'bench\n');
  const env = { ...process.env, AIRLOCK_STATE_DIR: state, AIRLOCK_IMAGE: image, AIRLOCK_DAEMON: '' };
  const airlock = (args: string[], extra: NodeJS.ProcessEnv = {}) => spawnSync(LAUNCHER, args, { cwd: workspace, env: { ...env, ...extra }, encoding: 'utf8' });
  const started = airlock(['start', '--json']);
  if (started.status !== 0) throw new Error(`bench: airlock start failed: ${started.stderr}`);
  const task = JSON.parse(started.stdout) as { id: string; container: string };
  try {
    // The start brought the daemon up; wait until it serves, then warm its runner and classifier.
    for (let tries = 0; tries < 100 && airlock(['daemon', 'status']).status !== 0; tries++) await new Promise((resolve) => setTimeout(resolve, 100));
    if (airlock(['daemon', 'status']).status !== 0) throw new Error('bench: the daemon did not start');
    airlock(['run', 'true']);
    const paths: Array<[string, () => unknown]> = [
      ['docker exec CONTAINER true (docker CLI)', () => spawnSync(DOCKER, ['exec', task.container, 'true'])],
      ['airlock run true (launcher → daemon)', () => airlock(['run', 'true'])],
      ['airlock exec ID -- true (launcher → daemon)', () => airlock(['exec', task.id, '--', 'true'])],
      ['airlock run true (full CLI, no daemon)', () => airlock(['run', 'true'], { AIRLOCK_DAEMON: '0' })],
      ['airlock exec ID -- true (full CLI, no daemon)', () => airlock(['exec', task.id, '--', 'true'], { AIRLOCK_DAEMON: '0' })],
    ];
    const samples = paths.map(() => [] as number[]);
    for (let round = 0; round < rounds; round++) {
      paths.forEach(([, work], index) => {
        // The full CLI is slow and its figure steadies quickly: a quarter of the rounds.
        if (index >= 3 && round % 4 !== 0) return;
        const start = process.hrtime.bigint();
        const result = work() as { status: number | null; stderr?: string };
        if (result.status !== 0) throw new Error(`bench: ${paths[index][0]} failed (${result.status}): ${result.stderr ?? ''}`);
        samples[index].push(Number(process.hrtime.bigint() - start) / 1e6);
      });
    }
    const docker = percentile(samples[0], 50);
    const out = [`\nRouted command round trip for \`true\` (issue 17; interleaved, n=${rounds}, full CLI n=${rounds / 4})`, `  ${'path'.padEnd(48)}${'p50'.padStart(10)}${'p90'.padStart(10)}${'vs docker CLI'.padStart(15)}`];
    paths.forEach(([name], index) => {
      const values = samples[index];
      out.push(`  ${name.padEnd(48)}${`${percentile(values, 50).toFixed(1)} ms`.padStart(10)}${`${percentile(values, 90).toFixed(1)} ms`.padStart(10)}${`${(percentile(values, 50) / docker).toFixed(2)}×`.padStart(15)}`);
    });
    const run = percentile(samples[1], 50) / docker;
    const exec = percentile(samples[2], 50) / docker;
    out.push(`  target: airlock run ≤ 0.70× docker exec → ${run.toFixed(2)}× ${run <= 0.7 ? '(met)' : '(NOT met)'}; airlock exec → ${exec.toFixed(2)}× ${exec <= 0.7 ? '(met)' : '(NOT met)'}`);
    return out;
  } finally {
    airlock(['daemon', 'stop']);
    airlock(['stop', task.id]);
    fs.rmSync(workspace, { recursive: true, force: true });
  }
}
