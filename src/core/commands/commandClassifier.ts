import { WORKSPACE_PATH } from '../ground/sandboxPaths.js';
import { BUILTIN_ASK_RULES, builtinGate } from './builtinGates.js';
import { type Environment, NO_ENVIRONMENT, readScript, type SimpleCommand, type StdinSource, withAssignments } from './commandLine.js';
import { type ArgvPattern, type Decision, matchPattern, parseArgvPattern, strictest, toolName } from './commandRules.js';
import type { CommandSettings } from './commandSettings.js';
import { unwrap, type Wrapped } from './commandWrappers.js';
import { loadShellParser, type ShellNode } from './shellParser.js';
import { exact, renderTokens } from './shellWords.js';
import { readToolCommand } from './toolSpellings.js';

/** Where a rule came from, for the message that names it. */
export type RuleSource = 'built-in' | 'task' | 'classifier';

export interface CompiledRule {
  pattern: ArgvPattern;
  decision: Decision;
  source: RuleSource;
  why?: string;
}

/** One reason for a decision: which command, which rule, and why. */
export interface Finding {
  decision: Decision;
  command: string;
  rule: string;
  source: RuleSource;
  why: string;
}

export interface Verdict {
  decision: Decision;
  /** Why: the rules that asked, denied or allowed, strictest first. */
  findings: Finding[];
  /** Every simple command seen, wrappers and nested scripts included. */
  commands: string[];
}

export interface ClassifyOptions {
  /** Working folder inside the task (default /workspace). */
  cwd?: string;
  home?: string;
  /** True when the command's standard input is data (a pipe or file), not a person. */
  stdinIsData?: boolean;
}

const MAX_DEPTH = 6;

/** Wrappers that also act on their own (`find -delete`, `-fprint`): under default ask they need a rule of their own too. */
const ACTS_ON_ITS_OWN = new Set(['find']);

export function compileRules(settings: Pick<CommandSettings, 'allow' | 'ask' | 'deny'>, source: RuleSource): CompiledRule[] {
  return (['deny', 'ask', 'allow'] as const).flatMap((decision) => settings[decision].map((text) => ({ pattern: parseArgvPattern(text), decision, source })));
}

// Compiled on first use, not when the core is imported: most CLI commands never classify anything.
let builtinRules: CompiledRule[] | undefined;
const builtins = (): CompiledRule[] => (builtinRules ??= BUILTIN_ASK_RULES.map(({ pattern, why }) => ({ pattern: parseArgvPattern(pattern), decision: 'ask' as const, source: 'built-in' as const, why })));

/** A rule as a person reads it in a message. */
export function describeFinding(finding: Finding): string {
  const rule = finding.source === 'classifier' ? finding.why : `${finding.source === 'built-in' ? 'built-in' : finding.source} ${finding.decision} rule "${finding.rule}"${finding.why ? ` (${finding.why})` : ''}`;
  return `${finding.command}: ${rule}`;
}

/**
 * Judges command lines and argv against built-in gates and a task's rules, looking at every simple
 * command a real bash parse finds, through wrappers and nested shells. What it cannot see through
 * is asked about, never allowed. This is the early-warning layer: the sandbox (no credentials, no
 * route) is what makes the gated actions fail when nobody approves them.
 */
export class CommandClassifier {
  private constructor(
    private readonly parse: (text: string) => ShellNode,
    private readonly rules: CompiledRule[],
    private readonly fallback: Decision,
  ) {}

  static async load(settings: Pick<CommandSettings, 'allow' | 'ask' | 'deny' | 'default'>, source: RuleSource = 'task'): Promise<CommandClassifier> {
    return new CommandClassifier(await loadShellParser(), [...builtins(), ...compileRules(settings, source)], settings.default);
  }

  /** A command line as a terminal or agent would type it. */
  line(text: string, options: ClassifyOptions = {}): Verdict {
    const run = new Judgement(this.parse, this.rules, this.fallback, options);
    const decision = run.script(text, { kind: 'inherited' }, 0);
    return run.verdict(decision);
  }

  /** An argv, as `airlock exec ID -- CMD ARGS…` passes it (no shell in between). */
  argv(argv: string[], options: ClassifyOptions = {}): Verdict {
    const run = new Judgement(this.parse, this.rules, this.fallback, options);
    const tokens = argv.map(exact);
    const decision = run.command({ tokens, stdin: { kind: 'inherited' }, text: renderTokens(tokens) }, 0, true);
    return run.verdict(decision);
  }
}

/** One classification: the findings it collects on the way. */
class Judgement {
  private readonly findings: Finding[] = [];
  private readonly commands: string[] = [];
  private readonly cwd: string;
  private readonly home: string;

  constructor(
    private readonly parse: (text: string) => ShellNode,
    private readonly rules: CompiledRule[],
    private readonly fallback: Decision,
    private readonly options: ClassifyOptions,
  ) {
    this.cwd = options.cwd ?? WORKSPACE_PATH;
    this.home = options.home ?? '/home/airlock';
  }

  verdict(decision: Decision): Verdict {
    const order: Decision[] = ['deny', 'ask', 'allow'];
    const findings = [...this.findings].sort((a, b) => order.indexOf(a.decision) - order.indexOf(b.decision));
    return { decision, findings, commands: this.commands };
  }

  private note(decision: Decision, command: string, rule: string, source: RuleSource, why: string): Decision {
    this.findings.push({ decision, command, rule, source, why });
    return decision;
  }

  /** `cwdKnown` false: an outer script changed folder first (`cd /etc && bash -c 'rm -rf x'`). */
  script(text: string, stdin: StdinSource, depth: number, cwdKnown = true, outer: Environment = NO_ENVIRONMENT): Decision {
    if (depth > MAX_DEPTH) return this.note('ask', text, 'nesting', 'classifier', `shells nested more than ${MAX_DEPTH} deep`);
    const reading = readScript(this.parse(text));
    const known = cwdKnown && !reading.changesDirectory;
    const environment = withAssignments(outer, reading.assignments);
    const decisions: Decision[] = reading.broken.map((part) => this.note('ask', text, 'parse', 'classifier', part ? `the shell parser cannot read "${part.slice(0, 60)}"` : 'the command line is incomplete'));
    for (const command of reading.commands) {
      decisions.push(this.command({ ...command, stdin: command.stdin.kind === 'inherited' ? stdin : command.stdin }, depth, known, environment));
    }
    for (const substitution of reading.substitutions) decisions.push(this.script(substitution, stdin, depth + 1, known, environment));
    return strictest(decisions);
  }

  /**
   * `allowedAs`: this is another spelling of a command an allow rule named (`npm pub` read as
   * `npm publish`), so it is allowed unless a deny or ask rule names it.
   */
  command(command: SimpleCommand, depth: number, cwdKnown: boolean, environment: Environment = NO_ENVIRONMENT, allowedAs = false): Decision {
    const rendered = renderTokens(command.tokens);
    if (depth > MAX_DEPTH) return this.note('ask', rendered, 'nesting', 'classifier', `commands nested more than ${MAX_DEPTH} deep`);
    this.commands.push(rendered);
    const [name, ...args] = command.tokens;
    if (name.kind !== 'exact') return this.note('ask', rendered, 'command name', 'classifier', name.kind === 'glob' ? `the command name "${name.text}" is a file pattern` : `the command name comes from ${name.text}, which the parser cannot see`);
    const gated: Decision[] = [];
    const possible: CompiledRule[] = [];
    let allowed = allowedAs;
    for (const rule of this.rules) {
      const match = matchPattern(rule.pattern, name.text, args);
      if (rule.decision === 'allow') {
        if (match.always && !allowed) {
          allowed = true;
          this.note('allow', rendered, rule.pattern.text, rule.source, rule.why ?? '');
        }
      } else if (match.surely) gated.push(this.note(rule.decision, rendered, rule.pattern.text, rule.source, rule.why ?? ''));
      else if (match.possibly) possible.push(rule);
    }
    if (possible.length) {
      // One finding for all the rules an unknown word could turn this into.
      const named = possible.slice(0, 3).map((rule) => `"${rule.pattern.text}"`).join(', ') + (possible.length > 3 ? ` and ${possible.length - 3} more` : '');
      gated.push(this.note('ask', rendered, possible[0].pattern.text, 'classifier', `words the parser cannot see could make this ${named}`));
    }
    const gate = builtinGate(toolName(name.text), args, { cwd: this.cwd, home: this.home, workspace: WORKSPACE_PATH, cwdKnown });
    if (gate) gated.push(this.note('ask', rendered, gate.rule, 'built-in', gate.why));
    const judge = (item: Wrapped, inner: Environment = environment): Decision =>
      item.kind === 'opaque'
        ? this.note('ask', rendered, 'opaque', 'classifier', item.why)
        : item.kind === 'script'
          ? this.script(item.text, item.stdin, depth + 1, cwdKnown && !item.chdir, withAssignments(inner, item.assignments ?? []))
          : this.command({ tokens: item.tokens, stdin: item.stdin, text: renderTokens(item.tokens) }, depth + 1, cwdKnown && !item.chdir, withAssignments(inner, item.assignments ?? []), allowed && item.sameCommand === true);
    // The tool's own reading of its words (aliases, abbreviations) decides, as well as the words as typed.
    const reading = readToolCommand(name.text, args, environment, command.stdin);
    // What a setting or variable runs (GIT_SSH_COMMAND…) is judged without them: it would find itself again.
    const also = (reading?.also ?? []).map((item) => judge(item, NO_ENVIRONMENT));
    if (reading?.rewrites.length) return strictest([...gated, ...also, ...reading.rewrites.map((item) => judge(item))]);
    const wrapped = unwrap(name.text, args, { stdin: command.stdin, callerStdinIsData: Boolean(this.options.stdinIsData) });
    if (wrapped && wrapped.length > 0) {
      // A wrapper is transparent: the commands it runs decide, plus any rule naming the wrapper itself.
      const inner = wrapped.map((item) => judge(item));
      const own = ACTS_ON_ITS_OWN.has(toolName(name.text)) ? [this.unmatched(rendered, allowed)] : [];
      return strictest([...gated, ...also, ...inner, ...own]);
    }
    if (gated.length) return strictest([...gated, ...also]);
    return strictest([...also, this.unmatched(rendered, allowed)]);
  }

  /** A command no deny or ask rule named: allowed by a rule, or by the default. */
  private unmatched(rendered: string, allowed: boolean): Decision {
    if (allowed || this.fallback === 'allow') return 'allow';
    return this.note('ask', rendered, 'default', 'task', 'no allow rule names this command, and the default is ask');
  }
}
