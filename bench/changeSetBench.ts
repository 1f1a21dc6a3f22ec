/**
 * Change-set time for 20 changed files in generated workspaces of 10k, 50k and 100k files, side by
 * side with copying the whole workspace out of the container (the engine's archive endpoint, what
 * `docker cp` does), and `airlock diff --json` as a user runs it (a process of its own, so nothing
 * is cached between looks). Targets (performance issue): ≤ 150 ms p50 at 100k files, and flat:
 * 100k ≤ 1.3× 10k, for the change set and for the CLI.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { median } from './stats.js';
import type { Readable } from 'node:stream';
import { ChangeService } from '../src/core/changes/changeService.js';
import { scannerSessions } from '../src/core/changes/scannerSessions.js';
import type { TaskService } from '../src/core/task/taskService.js';

const SIZES = [10_000, 50_000, 100_000];
const FILE_BYTES = 512;

function generate(files: number): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-changes-'));
  const block = Buffer.alloc(FILE_BYTES, 'a');
  for (let index = 0; index < files; index++) {
    const dir = path.join(root, `d${String(Math.floor(index / 100)).padStart(4, '0')}`);
    if (index % 100 === 0) fs.mkdirSync(dir);
    block.write(`${index}\n`, 0);
    fs.writeFileSync(path.join(dir, `f${index}.txt`), block);
  }
  return root;
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export async function benchChangeSet(service: TaskService, image: string, runs = 5): Promise<string[]> {
  const changes = new ChangeService(service);
  const rows: string[] = [];
  const diffBySize = new Map<number, number>();
  const cliBySize = new Map<number, number>();
  const coldBySize = new Map<number, number>();
  const cli = path.resolve('dist/cli.js');
  for (const size of SIZES) {
    const workspace = generate(size);
    const task = await service.start({ workspace, image });
    try {
      // 20 changed files: 10 edited, 5 new, 5 deleted, spread over the tree.
      const script = [
        ...Array.from({ length: 10 }, (_, i) => `echo changed >> d${String(i * 7).padStart(4, '0')}/f${i * 700}.txt`),
        ...Array.from({ length: 5 }, (_, i) => `echo new > d${String(i * 11).padStart(4, '0')}/new${i}.txt`),
        ...Array.from({ length: 5 }, (_, i) => `rm d${String(i * 13 + 1).padStart(4, '0')}/f${(i * 13 + 1) * 100 + 5}.txt`),
      ].join(' && ');
      const result = await service.exec(task.id, { argv: ['sh', '-c', script] });
      if (result.exitCode !== 0) throw new Error(`setting up the changes failed (exit ${result.exitCode})`);
      const first = await changes.changes(task.id);
      if (first.changeSet.files.length !== 20) throw new Error(`expected 20 changes, found ${first.changeSet.files.length}`);
      const diffTimes: number[] = [];
      for (let run = 0; run < runs; run++) diffTimes.push(await timed(() => changes.changes(task.id)));
      // A look with no scanner kept in the box: what the first diff after a quiet spell pays.
      const coldTimes: number[] = [];
      for (let run = 0; run < runs; run++) {
        scannerSessions.closeAll();
        coldTimes.push(await timed(() => changes.changes(task.id)));
      }
      const container = service.engine.docker.getContainer(task.containerId);
      const copyTimes: number[] = [];
      for (let run = 0; run < runs; run++) {
        copyTimes.push(
          await timed(async () => {
            const stream = (await container.getArchive({ path: '/workspace/.' })) as unknown as Readable;
            for await (const _chunk of stream) void _chunk;
          }),
        );
      }
      const cliTimes: number[] = [];
      for (let run = 0; run < runs; run++) {
        cliTimes.push(
          await timed(async () => {
            const result = spawnSync(process.execPath, [cli, 'diff', task.id, '--json'], { env: { ...process.env, AIRLOCK_STATE_DIR: service.store.root, AIRLOCK_DAEMON: '0' }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
            if (result.status !== 0) throw new Error(`airlock diff --json failed: ${result.stderr}`);
          }),
        );
      }
      const diff = median(diffTimes);
      const copy = median(copyTimes);
      const viaCli = median(cliTimes);
      const cold = median(coldTimes);
      coldBySize.set(size, cold);
      diffBySize.set(size, diff);
      cliBySize.set(size, viaCli);
      rows.push(`  ${String(size).padStart(7)} files   change set p50 ${diff.toFixed(0).padStart(5)} ms (new scanner ${cold.toFixed(0).padStart(4)} ms)   whole copy-out p50 ${copy.toFixed(0).padStart(5)} ms   ${(copy / diff).toFixed(1).padStart(5)}× faster   airlock diff --json p50 ${viaCli.toFixed(0).padStart(5)} ms`);
    } finally {
      await service.stop(task.id);
      fs.rmSync(workspace, { recursive: true, force: true });
    }
  }
  const [small, , large] = SIZES;
  const flat = (times: Map<number, number>) => `${(times.get(large)! / times.get(small)!).toFixed(2)}×`;
  rows.push(`  100k against 10k: change set ${flat(diffBySize)} (new scanner ${flat(coldBySize)}), airlock diff --json ${flat(cliBySize)} (target ≤ 1.30× each); change set at 100k ${diffBySize.get(large)!.toFixed(0)} ms against the 150 ms target (${(diffBySize.get(large)! / 150).toFixed(2)}×)`);
  return [`\nChange set for 20 changed files vs copying the whole workspace out, and the CLI's diff --json (n=${runs} each, ${FILE_BYTES}-byte files)`, ...rows];
}
