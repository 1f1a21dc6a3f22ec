import * as os from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import * as path from 'node:path';
import { AirlockError, connectEngine, DEFAULT_IMAGE, DEFAULT_RECORD_RETENTION_MS, describeError, formatDoctor, formatZodError, planWorkspaceTask, policyFileSchema, printableJson, printableJsonText, printableLine, printableLines, printableStream, runDoctor, startWorkspaceTask, stateDir, TaskStore, type PolicyFileInput, type PolicyLayer, type TaskOverrides, type WarningDetails } from '../core/index.js';
import { abortOnSignals, action } from './serviceAction.js';
import { collect, decimal, duration, integer, keyValue } from './flagValues.js';
import { registerChangeCommands } from './changeCommands.js';
import { registerExecCommand } from './execCommand.js';
import { registerDaemonCommand } from './daemon/daemonCommand.js';
import { ensureDaemon } from './daemon/daemonLauncher.js';
import { registerRunCommand } from './runCommand.js';
import { registerMcpCommand } from './mcpCommand.js';
import { registerShellCommand } from './shell/shellCommand.js';
import { registerNetCommands } from './netCommands.js';
import { printWaiting, registerApprovalCommands } from './approvalCommands.js';
import { registerPolicyCommands } from './policyCommands.js';
import { registerPushCommand } from './pushCommand.js';
import { formatTaskList, shownTasks } from './taskTable.js';
import { cliWarning, cliWording } from './errorHints.js';
import { progressPrinter } from './progressLines.js';



/** The flags of `start` that set policy fields, as the user's layer: only what was given. */
function userLayerFromFlags(flags: Record<string, unknown>): PolicyLayer {
  const given = (name: string) => flags[name] !== undefined;
  const list = (name: string) => flags[name] as string[] | undefined;
  const cidrs = list('allowCidr');
  const input: PolicyFileInput = {
    ...(given('image') ? { image: flags.image as string } : {}),
    resources: { cpus: flags.cpus as number | undefined, memory: flags.memory as string | undefined, pids: flags.pids as number | undefined, ttlSeconds: flags.ttl as number | undefined, runtime: flags.runtime as 'runc' | 'runsc' | undefined },
    ...(given('user') ? { user: flags.user as string } : {}),
    ...(flags.allowRoot ? { allowRoot: true } : {}),
    network: {
      setup: { allow: list('setupAllow'), allowCidr: cidrs },
      agent: { allow: list('allow'), allowCidr: cidrs },
      deny: list('deny'),
      ...(flags.ask ? { ask: true } : {}),
      approvalTimeoutSeconds: flags.askTimeout as number | undefined,
    },
    setupCommands: list('setup'),
    commands: { allow: list('commandAllow'), ask: list('commandAsk'), deny: list('commandDeny'), default: flags.commandDefault as 'allow' | 'ask' | undefined, approvalTimeoutSeconds: flags.approvalTimeout as number | undefined },
    env: { passthrough: list('env'), set: flags.setEnv as Record<string, string> | undefined, allowSecret: list('allowSecretEnv') },
    secretFiles: { exclude: list('exclude') },
    riskyPaths: list('risky'),
  };
  const parsed = policyFileSchema.safeParse(dropUndefined(input));
  if (!parsed.success) throw new AirlockError(formatZodError(parsed.error).replace(/^[\w.]+(?=:)/gm, (field) => FLAG_FOR[field.replace(/\.\d+$/, '')] ?? field), { code: 'cli.invalidFlag', hint: 'Fix the named flag and try again.' });
  return parsed.data;
}

/** Flag names for policy fields, so errors name what the user typed. */
const FLAG_FOR: Record<string, string> = {
  image: '--image', user: '--user', 'resources.cpus': '--cpus', 'resources.memory': '--memory', 'resources.pids': '--pids', 'resources.ttlSeconds': '--ttl', 'resources.runtime': '--runtime',
  'network.agent.allow': '--allow', 'network.setup.allow': '--setup-allow', 'network.agent.allowCidr': '--allow-cidr', 'network.setup.allowCidr': '--allow-cidr', 'network.deny': '--deny', 'network.approvalTimeoutSeconds': '--ask-timeout',
  'commands.allow': '--command-allow', 'commands.ask': '--command-ask', 'commands.deny': '--command-deny', 'commands.approvalTimeoutSeconds': '--approval-timeout',
  'env.passthrough': '--env', 'env.allowSecret': '--allow-secret-env', 'secretFiles.exclude': '--exclude', setupCommands: '--setup',
};

/** Removes undefined values and objects left empty, so the layer says only what the user set. */
function dropUndefined<T>(value: T): T {
  if (Array.isArray(value) || value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>).map(([key, item]) => [key, dropUndefined(item)] as const).filter(([, item]) => item !== undefined && !(item && typeof item === 'object' && !Array.isArray(item) && Object.keys(item).length === 0));
  return Object.fromEntries(entries) as T;
}

function overridesFromFlags(flags: Record<string, unknown>): TaskOverrides {
  const limits: NonNullable<TaskOverrides['egressLimits']> = {};
  if (flags.maxConnections !== undefined) limits.maxConnections = flags.maxConnections as number;
  if (flags.idleTimeout !== undefined) limits.idleTimeoutSeconds = flags.idleTimeout as number;
  if (flags.maxNetBytes !== undefined) limits.maxBytes = flags.maxNetBytes as string;
  return {
    readOnlyRoot: Boolean(flags.readOnly),
    gitDepth: flags.gitDepth as number | undefined,
    workspaceTmpfs: flags.workspaceTmpfs as string | undefined,
    network: flags.network as 'deny' | 'allowlist' | undefined,
    egressLimits: limits,
    mirrorHostEdits: Boolean(flags.mirror),
  };
}

export function buildProgram(): Command {
  const program = new Command('airlock')
    .description('A hardened container per coding-agent task.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .enablePositionalOptions()
    .exitOverride();

  program
    .command('start')
    .description('start a task: a hardened container with a private copy of the workspace')
    .option('--workspace <dir>', 'folder to copy into the task', process.cwd())
    .option('--image <image>', `container image (default: $AIRLOCK_IMAGE or ${DEFAULT_IMAGE})`)
    .addOption(new Option('--runtime <runtime>', 'OCI runtime').choices(['runc', 'runsc']))
    .option('--ttl <seconds>', 'destroy the task after this many seconds', integer('--ttl'))
    .option('--memory <size>', 'memory limit, e.g. 1g (no swap)')
    .option('--cpus <n>', 'CPU limit', decimal('--cpus'))
    .option('--pids <n>', 'process limit', integer('--pids'))
    .option('--user <uid[:gid]>', 'user inside the container (default 1000:1000)')
    .option('--allow-root', 'allow --user 0 (still without capabilities)')
    .option('--read-only', 'read-only root filesystem (writable /tmp, home and /workspace)')
    .option('--env <name>', 'pass a host variable through by name (repeatable)', collect)
    .option('--set-env <name=value>', 'set a variable inside the task (repeatable)', keyValue)
    .option('--allow-secret-env <name>', 'allow a secret-looking variable name (repeatable)', collect)
    .option('--exclude <pattern>', 'extra secret-file pattern to leave out of the copy (repeatable)', collect)
    .option('--risky <glob>', 'flag changes to matching files as risky in review, on top of the built-in list (repeatable)', collect)
    .option('--workspace-tmpfs <size>', 'keep the workspace copy in memory, at most this size (e.g. 2g): faster to start, bounded')
    .option('--git-depth <n>', 'copy only this many commits of history', integer('--git-depth'))
    .option('--mirror', "carry host edits (yours, or an agent's edit tools') into the task's copy while it runs; secrets never cross (the Airlock daemon does it)")
    .addOption(new Option('--network <mode>', 'deny: loopback only; allowlist: only destinations the rules allow (default: allowlist when --allow/--allow-cidr/--setup-allow/--ask is given, else deny)').choices(['deny', 'allowlist']))
    .option('--allow <host[:port]>', 'agent phase may reach this host; *.example.com for subdomains (repeatable)', collect)
    .option('--allow-cidr <cidr>', 'admit this address range (both phases): IPs in it, and allowed names resolving into it (repeatable)', collect)
    .option('--deny <host|cidr>', 'never reach this, whatever allows it (both phases; repeatable)', collect)
    .option('--setup-allow <host[:port]>', 'setup phase may reach this host (repeatable)', collect)
    .option('--setup <command>', 'shell command to run before the agent phase, under the setup rules (repeatable)', collect)
    .option('--ask', 'ask on the terminal of `airlock exec` about destinations no rule decides, instead of refusing them')
    .option('--ask-timeout <seconds>', 'refuse an unanswered destination after this long (default 120)', integer('--ask-timeout'))
    .option('--max-connections <n>', 'open connections at once (default 64)', integer('--max-connections'))
    .option('--idle-timeout <seconds>', 'close a connection idle this long (default 300)', integer('--idle-timeout'))
    .option('--max-net-bytes <size>', 'network bytes both ways over the task, e.g. 2g (default 8g)')
    .option('--command-allow <pattern>', 'commands that run without asking, e.g. "npm test" (repeatable)', collect)
    .option('--command-ask <pattern>', 'commands that wait for a reviewer, e.g. "npm run publish-*" (repeatable)', collect)
    .option('--command-deny <pattern>', 'commands that are refused, e.g. "curl" (repeatable)', collect)
    .addOption(new Option('--command-default <decision>', 'decision for commands no rule names (default allow)').choices(['allow', 'ask']))
    .option('--approval-timeout <seconds>', 'refuse a gated command nobody decided after this long (default 600)', integer('--approval-timeout'))
    .option('--json', 'print the task as JSON')
    .action(
      action(async (service, flags: Record<string, unknown>) => {
        const workspace = path.resolve(flags.workspace as string);
        const userLayer = userLayerFromFlags(flags);
        const plan = planWorkspaceTask(service.store.root, { workspace, userLayer, overrides: overridesFromFlags(flags), trusted: true, defaultImage: process.env.AIRLOCK_IMAGE || DEFAULT_IMAGE });
        const controller = abortOnSignals();
        // Progress lines and warnings quote the repository (setup commands, ignored loosenings,
        // build output): each progress step is one line, a warning keeps only its own line breaks.
        const onProgress = flags.json ? undefined : progressPrinter();
        // Setup output is escaped too, unlike `exec`'s: the commands run without a terminal, so
        // nothing legitimate in them drives one, and they are the repository's (or its image's)
        // choice, not the user's, printed among Airlock's own lines.
        const setupText = { stdout: printableStream(), stderr: printableStream() };
        const onSetupOutput = (chunk: Buffer, stream: 'stdout' | 'stderr' = 'stderr') => process.stderr.write(setupText[stream](chunk));
        const onWarning = (message: string, details?: WarningDetails) => process.stderr.write(`airlock: ${printableLines(cliWarning(message, details))}\n`);
        const record = await startWorkspaceTask(service, plan, { signal: controller.signal, onProgress, onWarning, onSetupOutput, onWaiting: printWaiting });
        // The daemon makes the first `airlock run` fast, and it is what mirrors host edits.
        ensureDaemon(service.store.root);
        if (flags.json) {
          const { env: _env, options: _options, ...summary } = record;
          process.stdout.write(printableJson({ ...summary, container: record.containerName }) + '\n');
        } else {
          if (record.snapshot.excluded.length > 0) process.stderr.write(`airlock: left out as secrets: ${record.snapshot.excluded.map(printableLine).join(', ')}\n`);
          // Paths that are secrets only in older commits (deleted since) would otherwise go unmentioned.
          const historyOnly = (record.snapshot.historyExcluded ?? []).filter((rel) => !record.snapshot.excluded.includes(rel));
          if (historyOnly.length > 0) process.stderr.write(`airlock: left out of the git history as secrets: ${historyOnly.map(printableLine).join(', ')}\n`);
          process.stdout.write(`${record.id}\n`);
        }
      }),
    );

  registerExecCommand(program);
  registerRunCommand(program);
  registerShellCommand(program);
  registerDaemonCommand(program);
  registerMcpCommand(program);

  program
    .command('ls')
    .description('list live tasks (running or stopped)')
    .option('-a, --all', 'list ended tasks too')
    .option('--json', 'print JSON')
    .action(
      action(async (service, flags: { all?: boolean; json?: boolean }) => {
        const tasks = await service.list();
        if (flags.json) process.stdout.write(printableJson(shownTasks(tasks, Boolean(flags.all)).map(({ record, state }) => ({ id: record.id, state, container: record.containerName, image: record.image, runtime: record.runtime, workspace: record.workspace, createdAt: record.createdAt, expiresAt: record.expiresAt, destroyedAt: record.destroyedAt, destroyReason: record.destroyReason }))) + '\n');
        else process.stdout.write(formatTaskList(tasks, Boolean(flags.all)));
      }),
    );

  program
    .command('stop')
    .description('destroy a task: its container and its workspace volume')
    .argument('<id>', 'task id (or a unique prefix)')
    .action(
      action(async (service, id: string) => {
        const record = await service.stop(id);
        process.stdout.write(`${record.id} destroyed\n`);
      }),
    );

  program
    .command('gc')
    .description('remove expired tasks, anything Airlock left behind, and the records of tasks ended long ago')
    .option('--keep-ended <duration>', `keep the records of ended tasks (and undo) this long, e.g. 7d, 36h, 90m; 0 removes them all (default ${DEFAULT_RECORD_RETENTION_MS / 86_400_000}d)`, duration('--keep-ended'))
    .action(
      action(async (service, flags: { keepEnded?: number }) => {
        const report = await service.gc({ keepEndedMs: flags.keepEnded ?? DEFAULT_RECORD_RETENTION_MS });
        const total = report.containers.length + report.volumes.length + report.records.length + report.pruned.length;
        process.stdout.write(total === 0 ? 'nothing to clean up\n' : `removed ${report.containers.length} container(s), ${report.volumes.length} volume(s); expired ${report.records.length} task(s); pruned ${report.pruned.length} ended task record(s)\n`);
      }),
    );

  registerChangeCommands(program);
  registerNetCommands(program);
  registerApprovalCommands(program);
  registerPolicyCommands(program);
  registerPushCommand(program);

  program
    .command('audit')
    .description("print a task's audit log (JSON lines)")
    .argument('<id>', 'task id (or a unique prefix)')
    .action(async (id: string) => {
      try {
        const store = new TaskStore(stateDir());
        // JSON lines as written, with control and bidi characters as \u escapes: the same JSON.
        process.stdout.write(printableJsonText(store.audit(store.resolve(id).id).read()));
      } catch (error) {
        process.stderr.write(`airlock: ${describeError(error, cliWording)}\n`);
        process.exitCode = 1;
      }
    });

  program
    .command('doctor')
    .description('check the container engine, runtimes and images')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }) => {
      try {
        const engine = await connectEngine();
        const images = [process.env.AIRLOCK_IMAGE || DEFAULT_IMAGE];
        const report = await runDoctor(engine, images, { 'state folder': stateDir(), home: os.homedir() });
        process.stdout.write(flags.json ? printableJson(report, 2) + '\n' : printableLines(formatDoctor(report)) + '\n');
      } catch (error) {
        if (flags.json) process.stdout.write(printableJson({ error: describeError(error, cliWording) }) + '\n');
        process.stderr.write(`airlock: ${describeError(error, cliWording)}\n`);
        process.exitCode = 1;
      }
    });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? 0 : 2;
      return;
    }
    process.stderr.write(`airlock: ${describeError(error, cliWording)}\n`);
    process.exitCode = 1;
  }
}

void main(process.argv);
