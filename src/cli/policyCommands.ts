import * as path from 'node:path';
import * as readline from 'node:readline/promises';
import { type Command, Option } from 'commander';
import { AirlockError, CommandClassifier, commandSettingsSchema, DEFAULT_IMAGE, describeError, describeFinding, formatZodError, loadMachineFloor, PolicyAcceptances, POLICY_FILE, policyForWorkspace, policyJsonSchema, printableJson, printableLine, printableLines, readDevcontainer, readLiveState, refreshLiveRules, type TaskStore, type Verdict, type WorkspacePolicyState, validateDocument, readJsonc, policyFileSchema, SourceFileError, type Loosening, refusalLine, type DevcontainerRefusal } from '../core/index.js';
import { storeAction } from './serviceAction.js';
import { collect } from './flagValues.js';
import { cliWording } from './errorHints.js';

/** `policy check` exits with the decision: 0 allow, 1 ask, 2 deny. */
const EXIT_FOR = { allow: 0, ask: 1, deny: 2 } as const;

export function formatVerdict(verdict: Verdict): string {
  const lines: string[] = [verdict.decision];
  for (const finding of verdict.findings) lines.push(`  ${finding.decision}: ${describeFinding(finding)}`);
  if (verdict.findings.length === 0) lines.push(verdict.commands.length ? `  no rule gates ${verdict.commands.join(', ')}` : '  nothing to run');
  return lines.map(printableLine).join('\n') + '\n';
}

const workspaceState = (store: TaskStore, workspace: string) => policyForWorkspace({ workspace: path.resolve(workspace), stateDir: store.root, trusted: true, defaultImage: process.env.AIRLOCK_IMAGE || DEFAULT_IMAGE });

const describeLoosening = (item: Loosening) => `${item.field}: ${item.value} (${item.why})`;

function formatPolicy(workspace: string, state: WorkspacePolicyState): string {
  const { effective, repo } = state;
  const lines = [`policy for ${workspace}`];
  lines.push(repo ? `  repository: ${repo.file} (${state.accepted ? 'accepted' : effective.loosenings.length ? 'not accepted: its loosenings are ignored' : 'only tightens; nothing to accept'}, digest ${repo.digest.slice(0, 12)})` : `  repository: no ${POLICY_FILE}`);
  lines.push(`  machine floors: ${state.floors.length ? state.floors.map((floor) => floor.source).join(', ') : 'none'}`);
  const width = Math.min(40, Math.max(...effective.sources.map((row) => row.field.length)));
  lines.push('', `${'FIELD'.padEnd(width)}  ${'SET BY'.padEnd(7)}  VALUE`);
  for (const row of effective.sources) lines.push(`${row.field.padEnd(width)}  ${row.layer.padEnd(7)}  ${row.value}`);
  if (effective.ignored.length) lines.push('', `ignored until you accept the repository policy (airlock policy accept):`, ...effective.ignored.map((item) => `  ${describeLoosening(item)}`));
  if (effective.refusals.length) lines.push('', `devcontainer fields refused (${effective.policy.devcontainerRefusals === 'strip' ? 'left out' : 'a task will not start'}):`, ...effective.refusals.map((refusal) => `  ${refusalLine(refusal)}`));
  if (effective.notes.length) lines.push('', 'notes:', ...effective.notes.map((note) => `  ${note}`));
  return lines.map(printableLine).join('\n') + '\n';
}

/** Refused devcontainer fields as `file:line:col` lines, the way editors and terminals link them. */
function printRefusals(file: string, refusals: readonly DevcontainerRefusal[]): void {
  process.stderr.write(refusals.map((refusal) => `${printableLine(file)}:${refusal.line ?? 1}:${refusal.column ?? 1}: ${printableLine(refusal.field)}: refused: ${printableLine(refusal.reason)}\n`).join(''));
}

/** Running tasks of this workspace whose live policy could not follow the file (kept their last good rules). */
function liveProblems(store: TaskStore, workspace: string): string[] {
  return store.all().filter((record) => !record.destroyedAt && record.workspace === workspace).flatMap((record) => {
    const live = refreshLiveRules(store, record);
    return live.error ? [`task ${record.id} keeps its last good policy: ${printableLine(live.error.split('\n')[0])}`] : [];
  });
}

export function registerPolicyCommands(program: Command): void {
  const policy = program.command('policy').description('sandbox policy (.airlock.json) and command rules: show, validate, accept, check');

  policy
    .command('show')
    .description('the policy a new task in this workspace gets, and which layer set each field')
    .option('--workspace <dir>', 'workspace folder', process.cwd())
    .option('--task <id>', "a running task's live rules instead (tightened by later changes to the file)")
    .option('--json', 'print JSON')
    .action(
      storeAction((store, flags: { workspace: string; task?: string; json?: boolean }) => {
        if (flags.task) {
          const record = store.resolve(flags.task);
          const live = record.destroyedAt ? readLiveState(store, record) : refreshLiveRules(store, record);
          if (flags.json) process.stdout.write(printableJson({ task: record.id, ...live }) + '\n');
          else process.stdout.write(`task ${record.id} live rules (checked ${printableLine(live.checkedAt)})${live.error ? `\nthe repository file is invalid; the last good rules stay:\n${printableLines(live.error)}` : ''}\n${printableJson(live.rules, 2)}\n`);
          return live.error ? 1 : 0;
        }
        const workspace = path.resolve(flags.workspace);
        let state: WorkspacePolicyState;
        try {
          state = workspaceState(store, workspace);
        } catch (error) {
          const problems = liveProblems(store, workspace);
          if (flags.json) process.stdout.write(printableJson({ workspace, error: describeError(error, cliWording), problems: error instanceof SourceFileError ? error.problems : undefined, tasks: problems }) + '\n');
          else process.stderr.write(`airlock: ${describeError(error, cliWording)}\n${problems.map((line) => `airlock: ${line}\n`).join('')}`);
          return 1;
        }
        const { effective, repo } = state;
        if (flags.json) {
          process.stdout.write(printableJson({ workspace, repository: repo && { file: repo.file, digest: repo.digest, accepted: state.accepted }, floors: state.floors.map((floor) => floor.source), policy: effective.policy, sources: effective.sources, loosenings: effective.loosenings, ignored: effective.ignored, refusals: effective.refusals, notes: effective.notes }) + '\n');
        } else process.stdout.write(formatPolicy(workspace, state));
        return 0;
      }),
    );

  policy
    .command('validate')
    .description('check a policy file (default ./.airlock.json), a devcontainer.json, or a machine floor; exits 1 with every problem')
    .argument('[file]', 'the file', POLICY_FILE)
    .option('--machine', 'check it as a machine floor')
    .action(
      storeAction((_store, file: string, flags: { machine?: boolean }) => {
        const absolute = path.resolve(file);
        if (flags.machine) {
          loadMachineFloor(absolute);
        } else if (/(^|[/\\])\.?devcontainer\.json$/.test(absolute)) {
          const plan = readDevcontainer(absolute, path.dirname(path.dirname(absolute)));
          for (const note of plan.notes) process.stdout.write(`${printableLine(file)}: note: ${printableLine(note)}\n`);
          if (plan.refusals.length) {
            printRefusals(file, plan.refusals);
            return 1;
          }
        } else {
          const result = validateDocument(readJsonc(absolute), policyFileSchema);
          if (!result.ok) throw new SourceFileError(file, result.problems);
          const devPath = result.value.devcontainer?.path;
          if (devPath) {
            const plan = readDevcontainer(path.resolve(path.dirname(absolute), devPath), path.dirname(absolute));
            printRefusals(devPath, plan.refusals);
            if (plan.refusals.length && result.value.devcontainer?.onRefused !== 'strip') return 1;
          }
        }
        process.stdout.write(`${printableLine(file)}: valid\n`);
        return 0;
      }),
    );

  policy
    .command('schema')
    .description("print the JSON Schema of .airlock.json (VS Code uses it for completion and hover)")
    .action(() => {
      process.stdout.write(JSON.stringify(policyJsonSchema(), null, 2) + '\n');
    });

  policy
    .command('accept')
    .description("accept this workspace's repository policy, loosenings included (asked again whenever it changes)")
    .option('--workspace <dir>', 'workspace folder', process.cwd())
    .option('--yes', 'accept without asking (for scripts); the loosenings are still printed')
    .action(
      storeAction(async (store, flags: { workspace: string; yes?: boolean }) => {
        const workspace = path.resolve(flags.workspace);
        const state = workspaceState(store, workspace);
        if (!state.repo) throw new AirlockError(`${workspace} has no ${POLICY_FILE}; there is nothing to accept`, { code: 'policy.noRepositoryPolicy', hint: 'Run this in the workspace folder, or pass --workspace.', field: '--workspace' });
        if (state.accepted) {
          process.stdout.write(`${printableLine(state.repo.file)}: already accepted (digest ${state.repo.digest.slice(0, 12)})\n`);
          return 0;
        }
        const { loosenings } = state.effective;
        const fresh = new Set(state.newLoosenings);
        const gated = state.effective.policy.setupCommands.filter((command) => command.layer === 'repo');
        const lines = [`repository policy ${state.repo.file}${state.acceptance ? ' (changed since you accepted it)' : ''}`];
        lines.push(loosenings.length ? 'Accepting lets it loosen your protection:' : 'It does not loosen anything.', ...loosenings.map((item) => `  ${fresh.has(item) && state.acceptance ? 'NEW ' : ''}${describeLoosening(item)}`));
        if (gated.length) lines.push('Its setup commands will run without passing the command rules:', ...gated.map((command) => `  ${command.field}: ${command.command}`));
        process.stdout.write(lines.map(printableLine).join('\n') + '\n');
        if (!flags.yes) {
          if (!process.stdin.isTTY) throw new AirlockError('accepting needs a yes: there is no terminal to ask on', { code: 'policy.confirmationNeeded', hint: 'Read the list above, then run again with --yes.', field: '--yes' });
          const prompt = readline.createInterface({ input: process.stdin, output: process.stdout });
          const answer = await prompt.question('Accept? [y/N] ').finally(() => prompt.close());
          if (!/^y(es)?$/i.test(answer.trim())) {
            process.stdout.write('not accepted\n');
            return 1;
          }
        }
        new PolicyAcceptances(store.root).accept(workspace, state.repo.digest, loosenings);
        process.stdout.write(`accepted (digest ${state.repo.digest.slice(0, 12)}); new tasks get this policy in full\n`);
        return 0;
      }),
    );

  policy
    .command('revoke')
    .description("withdraw your acceptance of this workspace's repository policy: its loosenings are ignored again")
    .option('--workspace <dir>', 'workspace folder', process.cwd())
    .action(
      storeAction((store, flags: { workspace: string }) => {
        const revoked = new PolicyAcceptances(store.root).revoke(path.resolve(flags.workspace));
        process.stdout.write(revoked ? 'acceptance withdrawn; new tasks ignore the loosenings again\n' : 'nothing was accepted for this workspace\n');
      }),
    );

  policy
    .command('check')
    .description('judge a command without running it; exits 0 allow, 1 ask, 2 deny. One argument is read as a shell command line, several as an argv')
    .argument('<cmd...>', 'the command, after --')
    .option('--task <id>', "use this task's rules (default: the built-in gates plus the rules given here)")
    .option('--cwd <dir>', 'working folder inside the task (default /workspace)')
    .option('--allow <pattern>', 'allow rule, e.g. "npm test" (repeatable)', collect)
    .option('--ask <pattern>', 'ask rule (repeatable)', collect)
    .option('--deny <pattern>', 'deny rule (repeatable)', collect)
    .addOption(new Option('--default <decision>', 'decision for commands no rule names').choices(['allow', 'ask']))
    .option('--json', 'print the verdict as JSON')
    .action(
      storeAction(async (store, argv: string[], flags: Record<string, unknown>) => {
        // A task's live rules: its own, tightened by later changes to the repository policy.
        const base = flags.task ? refreshLiveRules(store, store.resolve(flags.task as string)).rules.commands : {};
        const parsed = commandSettingsSchema.safeParse(base);
        if (!parsed.success) throw new Error(formatZodError(parsed.error, 'commands.'));
        const extra = (name: 'allow' | 'ask' | 'deny') => [...parsed.data[name], ...((flags[name] as string[] | undefined) ?? [])];
        const settings = commandSettingsSchema.safeParse({ ...parsed.data, allow: extra('allow'), ask: extra('ask'), deny: extra('deny'), default: (flags.default as string | undefined) ?? parsed.data.default });
        if (!settings.success) throw new Error(formatZodError(settings.error, '--'));
        const classifier = await CommandClassifier.load(settings.data);
        const options = { cwd: flags.cwd as string | undefined };
        const verdict = argv.length === 1 ? classifier.line(argv[0], options) : classifier.argv(argv, options);
        process.stdout.write(flags.json ? printableJson(verdict) + '\n' : formatVerdict(verdict));
        return EXIT_FOR[verdict.decision];
      }, 3),
    );
}
