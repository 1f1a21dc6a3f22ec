import type { Command } from 'commander';
import { alive, daemonFiles, readPid } from './daemonFiles.js';
import { BUILD } from './daemonLauncher.js';
import { serveDaemon } from './daemonServer.js';
import { action, storeAction } from '../serviceAction.js';

/** Ends itself after this long without a request. */
const IDLE_MS = 15 * 60 * 1000;

export function registerDaemonCommand(program: Command): void {
  const daemon = program.command('daemon').description("the background helper that makes `airlock run` fast (started on demand; ends itself when idle)");
  daemon
    .command('serve', { isDefault: true, hidden: true })
    .action(
      action(async (service) => {
        await serveDaemon({ stateRoot: service.store.root, build: BUILD, idleMs: IDLE_MS, service }, (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`));
      }),
    );
  daemon
    .command('status')
    .description('say whether the daemon is serving')
    .action(
      storeAction((store) => {
        const current = readPid(daemonFiles(store.root).pidFile);
        const serving = current && alive(current.pid);
        process.stdout.write(serving ? `serving: pid ${current.pid}, build ${current.build}${current.build === BUILD ? '' : ' (another build; it is replaced on next use)'}\n` : 'not running (the next `airlock run` starts it)\n');
        return serving ? 0 : 3;
      }),
    );
  daemon
    .command('stop')
    .description('stop the daemon once it has finished what it is serving')
    .action(
      storeAction((store) => {
        const current = readPid(daemonFiles(store.root).pidFile);
        if (!current || !alive(current.pid)) {
          process.stdout.write('not running\n');
          return 0;
        }
        process.kill(current.pid, 'SIGTERM');
        process.stdout.write(`asked daemon ${current.pid} to stop\n`);
        return 0;
      }),
    );
}
