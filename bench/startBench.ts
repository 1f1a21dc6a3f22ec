/**
 * Task start (issue 18), side by side in one run on the same tree:
 * - a first start (no base for the workspace yet) and a repeat start (the workspace's base is
 *   there; only what changed is copied), through the API and through the `airlock start` CLI;
 * - the naive private copy: `docker create` + `docker cp` of the tree + `docker start`;
 * - a bind-mount start (`docker run -d -v tree:/workspace`): the floor, which is not private.
 * Every start is followed by a stop that is not timed. Ratios against the naive copy are what
 * count: absolute times drift by 2× between runs on this shared machine.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { EngineConnection } from '../src/core/engine/locateEngine.js';
import { TaskStore } from '../src/core/state/taskStore.js';
import { TaskService } from '../src/core/task/taskService.js';
import { median } from './stats.js';

const DOCKER = fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

function docker(args: string[]): string {
  const result = spawnSync(DOCKER, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`docker ${args[0]} failed: ${result.stderr}`);
  return result.stdout.trim();
}

const elapsed = (since: bigint) => Number(process.hrtime.bigint() - since) / 1e6;

async function timed(work: () => unknown): Promise<number> {
  const start = process.hrtime.bigint();
  await work();
  return elapsed(start);
}

/** Removes the base volumes a throwaway state folder made, so first starts stay first. */
async function dropBases(engine: EngineConnection, stateRoot: string): Promise<void> {
  const volumes = (await engine.docker.listVolumes({ filters: { label: [`airlock.state=${stateRoot}`] } })).Volumes ?? [];
  for (const volume of volumes) await engine.docker.getVolume(volume.Name).remove().catch(() => undefined);
}

export interface StartBenchOptions {
  workspace: string;
  image: string;
  runs?: number;
  label: string;
}

export async function benchStart(engine: EngineConnection, { workspace, image, runs = 5, label }: StartBenchOptions): Promise<string[]> {
  const cli = path.resolve('dist/cli.js');
  const naive: number[] = [];
  const bind: number[] = [];
  const first: number[] = [];
  const repeat: number[] = [];
  const cliFirst: number[] = [];
  const cliRepeat: number[] = [];
  const whole: number[] = [];
  const repeatState = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-start-'));
  const repeatService = new TaskService(engine, new TaskStore(repeatState));
  const wholeState = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-start-'));
  const wholeService = new TaskService(engine, new TaskStore(wholeState), () => undefined, { layers: false });
  // The repeat service's base, made once before anything is counted.
  await repeatService.stop((await repeatService.start({ workspace, image })).id);
  const cliEnv = (state: string) => ({ ...process.env, AIRLOCK_STATE_DIR: state, AIRLOCK_DAEMON: '0' });
  const cliStart = (state: string) => {
    const result = spawnSync(process.execPath, [cli, 'start', '--image', image, '--workspace', workspace, '--json'], { env: cliEnv(state), encoding: 'utf8', cwd: workspace });
    if (result.status !== 0) throw new Error(`airlock start failed: ${result.stderr}`);
    return (JSON.parse(result.stdout) as { id: string }).id;
  };
  const cliStop = (state: string, id: string) => spawnSync(process.execPath, [cli, 'stop', id], { env: cliEnv(state) });
  const cliRepeatState = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-start-'));
  cliStop(cliRepeatState, cliStart(cliRepeatState));
  try {
    // Interleaved, so a slow minute on the shared disk lands on every column alike.
    for (let run = 0; run <= runs; run++) {
      const counted = run > 0; // the first round warms the page cache and is not counted
      let container = '';
      const naiveMs = await timed(() => {
        container = docker(['create', '--network', 'none', image, 'sleep', '600']);
        docker(['cp', `${workspace}/.`, `${container}:/workspace`]);
        docker(['start', container]);
      });
      docker(['rm', '-f', container]);
      const bindMs = await timed(() => (container = docker(['run', '-d', '--network', 'none', '-v', `${workspace}:/workspace`, image, 'sleep', '600'])));
      docker(['rm', '-f', container]);

      const firstState = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-start-'));
      const firstService = new TaskService(engine, new TaskStore(firstState));
      let id = '';
      const firstMs = await timed(async () => (id = (await firstService.start({ workspace, image })).id));
      await firstService.stop(id);
      firstService.dispose();
      await dropBases(engine, firstState);
      fs.rmSync(firstState, { recursive: true, force: true });

      const repeatMs = await timed(async () => (id = (await repeatService.start({ workspace, image })).id));
      await repeatService.stop(id);
      const wholeMs = await timed(async () => (id = (await wholeService.start({ workspace, image })).id));
      await wholeService.stop(id);

      const cliState = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-start-'));
      const cliFirstMs = await timed(() => (id = cliStart(cliState)));
      cliStop(cliState, id);
      await dropBases(engine, cliState);
      fs.rmSync(cliState, { recursive: true, force: true });
      const cliRepeatMs = await timed(() => (id = cliStart(cliRepeatState)));
      cliStop(cliRepeatState, id);
      if (!counted) continue;
      naive.push(naiveMs);
      bind.push(bindMs);
      first.push(firstMs);
      repeat.push(repeatMs);
      whole.push(wholeMs);
      cliFirst.push(cliFirstMs);
      cliRepeat.push(cliRepeatMs);
    }
  } finally {
    repeatService.dispose();
    wholeService.dispose();
    for (const state of [repeatState, wholeState, cliRepeatState]) {
      await dropBases(engine, state);
      fs.rmSync(state, { recursive: true, force: true });
    }
  }
  const naiveP50 = median(naive);
  const row = (name: string, values: number[], goal = '') => `  ${name.padEnd(52)}${`${median(values).toFixed(0)} ms`.padStart(10)}${`${(median(values) / naiveP50).toFixed(2)}×`.padStart(10)}${goal ? `   ${goal}` : ''}`;
  return [
    `\nTask start, ${label} (n=${runs} each, interleaved; p50; × = against the naive private copy)`,
    row('naive private copy: docker create + cp + start', naive),
    row('bind mount (docker run -v; the floor, not private)', bind),
    row('API, first start (no base yet)', first, 'goal ≤ 1000 ms'),
    row('API, repeat start (base there)', repeat, 'goal ≤ 400 ms'),
    row('API, whole copy (layers off, the former path)', whole),
    row('`airlock start` CLI, first start', cliFirst, 'goal ≤ 0.43×'),
    row('`airlock start` CLI, repeat start', cliRepeat),
  ];
}
