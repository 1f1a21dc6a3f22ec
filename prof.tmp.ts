import * as fs from 'node:fs'; import * as os from 'node:os'; import * as path from 'node:path';
import { connectEngine } from './src/core/engine/locateEngine';
import { TaskService } from './src/core/task/taskService';
import { TaskStore } from './src/core/task/taskStore';
import { ChangeService } from './src/core/changes/changeService';
async function main() {
  const engine = await connectEngine();
  const service = new TaskService(engine, new TaskStore(fs.mkdtempSync(path.join(os.tmpdir(), 'st-'))));
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'prof-ws-'));
  const block = Buffer.alloc(512, 'a');
  for (let i = 0; i < 100000; i++) { const d = path.join(root, `d${Math.floor(i/100)}`); if (i % 100 === 0) fs.mkdirSync(d); fs.writeFileSync(path.join(d, `f${i}.txt`), block); }
  let t = Date.now();
  const task = await service.start({ workspace: root, image: 'airlock-test:bookworm' });
  console.log('start', Date.now() - t, task.id);
  await service.exec(task.id, { argv: ['sh', '-c', 'echo x >> d1/f100.txt'] });
  const cs = new ChangeService(service);
  for (let i = 0; i < 3; i++) { t = Date.now(); const c = await cs.changes(task.id); console.log('changes', Date.now() - t, c.changeSet.scan); }
  const c = service.engine.docker.getContainer(task.containerId);
  fs.writeFileSync('/tmp/prof-task', task.id + ' ' + task.containerId + ' ' + root);
  service.dispose();
}
main();
