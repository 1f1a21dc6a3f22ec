import type { Command } from 'commander';
import { Option } from 'commander';
import { describeError, formatNetworkLog, hostGateway, NETWORK_PHASES, networkRecords, printableJson, printableLine, printableLines, resolverFromEnv, stateDir, TaskStore, connectEngine, type NetworkPhase } from '../core/index.js';
import { action } from './serviceAction.js';
import { cliWording } from './errorHints.js';

export function registerNetCommands(program: Command): void {
  program
    .command('net')
    .description("print a task's network log: every connection attempt, decision and byte count")
    .argument('<id>', 'task id (or a unique prefix)')
    .option('--json', 'print JSON (one array of audit records)')
    .option('--restart', 'start the gateway again if it is not running (agent phase rules; the byte budget carries on)')
    .action(
      action(async (service, id: string, flags: { json?: boolean; restart?: boolean }) => {
        if (flags.restart) {
          const outcome = await service.ensureGateway(id);
          process.stderr.write(`airlock: gateway ${outcome === 'running' ? 'was already running' : 'restarted'}\n`);
        }
        const record = service.store.resolve(id);
        const { records, unreadable } = networkRecords(service.store.audit(record.id));
        if (unreadable) process.stderr.write(`airlock: ${unreadable} line(s) of the task's audit log could not be read and are left out (a write cut short by a crash, or damage)\n`);
        if (flags.json) {
          process.stdout.write(printableJson(records) + '\n');
          return;
        }
        const mode = (record.options.network as string | undefined) ?? 'deny';
        let gateway = 'not running';
        if (mode === 'allowlist' && !record.destroyedAt) {
          gateway = await service.gatewayRequest(record.id, { op: 'status' }).then(
            (reply) => printableLine(`running (pid ${reply.pid}, phase ${reply.phase}, ${reply.connections} open)`),
            () => 'not running: the task has no network (restart it with `airlock net ID --restart`)',
          );
        }
        process.stdout.write(`network: ${mode === 'allowlist' ? `allowlist; gateway ${gateway}` : 'deny (loopback only)'}\n`);
        // Host names, reasons and approval subjects in the log were chosen in the box.
        process.stdout.write(printableLines(formatNetworkLog(records)));
      }),
    );

  // Started by `airlock start` as a detached process; not for people to run.
  program
    .command('gateway', { hidden: true })
    .argument('<id>')
    .addOption(new Option('--phase <phase>').choices([...NETWORK_PHASES]).default('agent'))
    .action(async (id: string, flags: { phase: NetworkPhase }) => {
      try {
        const engine = await connectEngine();
        const hosted = await hostGateway({ engine, store: new TaskStore(stateDir()), taskId: id, phase: flags.phase, resolve: resolverFromEnv() });
        // A failed stop also rejects `done`: it ends below with its message and exit code 1.
        const stop = () => void hosted.stop('gateway process signalled').catch(() => undefined);
        process.once('SIGTERM', stop).once('SIGINT', stop);
        process.on('SIGHUP', () => undefined);
        const reason = await hosted.done;
        process.stderr.write(`airlock gateway ${printableLine(id)}: ${printableLines(String(reason))}\n`);
        process.exit(0);
      } catch (error) {
        process.stderr.write(`airlock gateway ${printableLine(id)}: ${describeError(error, cliWording)}\n`);
        process.exit(1);
      }
    });
}
