import { type Command, Option } from 'commander';
import { CommandClassifier, commandSettingsSchema, describeFinding, formatZodError, printableLine, type Verdict } from '../core/index.js';
import { collect, storeAction } from './serviceAction.js';

/** `policy check` exits with the decision: 0 allow, 1 ask, 2 deny. */
const EXIT_FOR = { allow: 0, ask: 1, deny: 2 } as const;

export function formatVerdict(verdict: Verdict): string {
  const lines: string[] = [verdict.decision];
  for (const finding of verdict.findings) lines.push(`  ${finding.decision}: ${describeFinding(finding)}`);
  if (verdict.findings.length === 0) lines.push(verdict.commands.length ? `  no rule gates ${verdict.commands.join(', ')}` : '  nothing to run');
  return lines.map(printableLine).join('\n') + '\n';
}

export function registerPolicyCommands(program: Command): void {
  const policy = program.command('policy').description('command policy: what runs, what waits for a reviewer, what is refused');
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
        const base = flags.task ? (store.resolve(flags.task as string).options.commands ?? {}) : {};
        const parsed = commandSettingsSchema.safeParse(base);
        if (!parsed.success) throw new Error(formatZodError(parsed.error, 'commands.'));
        const extra = (name: 'allow' | 'ask' | 'deny') => [...parsed.data[name], ...((flags[name] as string[] | undefined) ?? [])];
        const settings = commandSettingsSchema.safeParse({ ...parsed.data, allow: extra('allow'), ask: extra('ask'), deny: extra('deny'), default: (flags.default as string | undefined) ?? parsed.data.default });
        if (!settings.success) throw new Error(formatZodError(settings.error, '--'));
        const classifier = await CommandClassifier.load(settings.data);
        const options = { cwd: flags.cwd as string | undefined };
        const verdict = argv.length === 1 ? classifier.line(argv[0], options) : classifier.argv(argv, options);
        process.stdout.write(flags.json ? JSON.stringify(verdict) + '\n' : formatVerdict(verdict));
        return EXIT_FOR[verdict.decision];
      }, 3),
    );
}
