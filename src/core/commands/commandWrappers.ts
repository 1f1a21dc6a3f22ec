import type { StdinSource } from './commandLine.js';
import { toolName } from './commandRules.js';
import { type Token } from './shellWords.js';

/**
 * What a wrapper command runs. Wrappers (env, timeout, xargs, find -exec, sh -c…) are looked
 * through so `env FOO=1 git push` is judged as `git push`; when we cannot see what they run, they
 * say so (`opaque`) and the command is asked about, never allowed.
 */
export type Wrapped =
  | { kind: 'command'; tokens: Token[]; stdin: StdinSource; chdir?: boolean }
  | { kind: 'script'; text: string; stdin: StdinSource; chdir?: boolean }
  | { kind: 'opaque'; why: string };

/** Marks what a wrapper runs in another folder (env -C, sudo -D, find -execdir): relative paths are unknown there. */
const inOtherFolder = (wrapped: Wrapped[], chdir: boolean): Wrapped[] => (chdir ? wrapped.map((item) => (item.kind === 'opaque' ? item : { ...item, chdir: true })) : wrapped);

export interface WrapContext {
  stdin: StdinSource;
  /** Whether the caller's own stdin carries data (a pipe), not a person at a terminal. */
  callerStdinIsData: boolean;
}

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'rbash', 'fish']);
const INTERPRETER = /^(python[\d.]*|pypy[\d.]*|node|nodejs|perl[\d.]*|ruby[\d.]*|php[\d.]*|lua[\d.]*|tclsh|bun|deno)$/;
const UNKNOWN_INPUT: Token = { kind: 'unknown', text: '<input>', many: true };

interface OptionSpec {
  /** Options whose value is the next word (or glued: -n5, --opt=x). */
  values?: string[];
  /** Options after which no command runs at all (e.g. `command -v`). */
  inert?: string[];
}

type OptionScan = { operand: number; seen: Map<string, string | true> } | { opaque: string };

/** Skips the wrapper's own options; returns where its operands start. */
function scanOptions(tool: string, args: Token[], spec: OptionSpec): OptionScan {
  const values = new Set(spec.values ?? []);
  const seen = new Map<string, string | true>();
  let index = 0;
  for (; index < args.length; index++) {
    const token = args[index];
    if (token.kind === 'unknown') return { opaque: `${tool} has an argument the parser cannot see (${token.text}), so what it runs is unknown` };
    const text = token.text;
    if (text === '--') return { operand: index + 1, seen };
    if (!text.startsWith('-') || text === '-') return { operand: index, seen };
    // `nice -10` is an adjustment; elsewhere a digit is an option letter like any other (`xargs -0`)
    if (/^-\d+$/.test(text) && tool === 'nice') {
      seen.set('-n', text.slice(1));
      continue;
    }
    if (text.startsWith('--')) {
      const [name, glued] = text.split(/=(.*)/s, 2);
      if (values.has(name) && glued === undefined) {
        seen.set(name, args[index + 1]?.text ?? '');
        index++;
      } else seen.set(name, glued ?? true);
      continue;
    }
    // A cluster of short options; the first that takes a value takes the rest of the word or the next word.
    for (let at = 1; at < text.length; at++) {
      const name = `-${text[at]}`;
      if (values.has(name)) {
        const rest = text.slice(at + 1);
        if (rest) seen.set(name, rest);
        else {
          seen.set(name, args[index + 1]?.text ?? '');
          index++;
        }
        break;
      }
      seen.set(name, true);
    }
  }
  return { operand: index, seen };
}

const inertScan = (scan: OptionScan, spec: OptionSpec) => 'seen' in scan && (spec.inert ?? []).some((name) => scan.seen.has(name));

/** The wrapped command after the wrapper's options (and `skip` fixed operands such as timeout's duration). */
function after(tool: string, args: Token[], spec: OptionSpec, stdin: StdinSource, skip = 0): Wrapped[] {
  const scan = scanOptions(tool, args, spec);
  if ('opaque' in scan) return [{ kind: 'opaque', why: scan.opaque }];
  if (inertScan(scan, spec)) return [];
  const rest = args.slice(scan.operand + skip);
  if (args.slice(scan.operand, scan.operand + skip).some((token) => token.kind === 'unknown')) return [{ kind: 'opaque', why: `${tool} has an argument the parser cannot see, so what it runs is unknown` }];
  return rest.length ? [{ kind: 'command', tokens: rest, stdin }] : [];
}

function shell(tool: string, args: Token[], context: WrapContext): Wrapped[] {
  const scan = scanOptions(tool, args, { values: ['-o', '+o', '-O', '+O', '--rcfile', '--init-file'] });
  if ('opaque' in scan) return [{ kind: 'opaque', why: scan.opaque }];
  const operand = args[scan.operand];
  if (scan.seen.has('-c')) {
    if (!operand) return [{ kind: 'opaque', why: `${tool} -c without a command string` }];
    if (operand.kind !== 'exact') return [{ kind: 'opaque', why: `${tool} -c runs a string the parser cannot see (${operand.text})` }];
    return [{ kind: 'script', text: operand.text, stdin: context.stdin }];
  }
  if (operand && !scan.seen.has('-s')) return operand.kind === 'exact' ? [] : [{ kind: 'opaque', why: `${tool} runs a script named by an expansion (${operand.text})` }];
  return readsStdin(tool, context, true);
}

/** A shell or interpreter that takes its program from standard input. */
function readsStdin(tool: string, context: WrapContext, parseable: boolean): Wrapped[] {
  const { stdin } = context;
  if (stdin.kind === 'literal') return parseable ? [{ kind: 'script', text: stdin.text, stdin: { kind: 'inherited' } }] : [{ kind: 'opaque', why: `${tool} runs a program from a here-document` }];
  if (stdin.kind === 'data') return [{ kind: 'opaque', why: `${tool} runs whatever arrives on ${stdin.from}` }];
  return context.callerStdinIsData ? [{ kind: 'opaque', why: `${tool} runs whatever arrives on its standard input` }] : [];
}

function interpreter(tool: string, args: Token[], context: WrapContext): Wrapped[] {
  const code = ['-c', '-e', '-E', '-r', '-p', '-m', '--eval', '--print', '--command', '--module'];
  if (args.some((token) => token.kind === 'exact' && (code.includes(token.text) || code.some((option) => option.length === 2 && token.text.startsWith(option) && !token.text.startsWith('--'))))) return [];
  const operands = args.filter((token) => token.kind !== 'exact' || !token.text.startsWith('-') || token.text === '-');
  if (operands.length > 0 && !(operands[0].kind === 'exact' && operands[0].text === '-')) return [];
  return readsStdin(tool, context, false);
}

function findExec(args: Token[], stdin: StdinSource): Wrapped[] {
  const found: Wrapped[] = [];
  for (let index = 0; index < args.length; index++) {
    const token = args[index];
    if (token.kind === 'exact' && ['-exec', '-execdir', '-ok', '-okdir'].includes(token.text)) {
      const end = args.findIndex((candidate, at) => at > index && candidate.kind === 'exact' && (candidate.text === ';' || candidate.text === '+'));
      const inner = args.slice(index + 1, end === -1 ? undefined : end).map((word): Token => (word.kind === 'exact' && word.text.includes('{}') ? { kind: 'unknown', text: '{}', many: false } : word));
      // -execdir and -okdir run in the folder of each file found
      if (inner.length) found.push({ kind: 'command', tokens: inner, stdin, chdir: token.text.endsWith('dir') });
      if (end === -1) break;
      index = end;
    }
  }
  return found;
}

/** A `-c STRING` option (su, runuser, script, flock), or the remaining words as a command. */
function commandOption(tool: string, args: Token[], spec: OptionSpec, stdin: StdinSource, skip = 0): Wrapped[] {
  const index = args.findIndex((token) => token.kind === 'exact' && (token.text === '-c' || token.text === '--command' || token.text === '--call'));
  if (index !== -1) {
    const value = args[index + 1];
    return value?.kind === 'exact' ? [{ kind: 'script', text: value.text, stdin }] : [{ kind: 'opaque', why: `${tool} -c runs a string the parser cannot see` }];
  }
  const glued = args.find((token) => token.kind === 'exact' && token.text.startsWith('--command='));
  if (glued) return [{ kind: 'script', text: glued.text.slice('--command='.length), stdin }];
  return after(tool, args, spec, stdin, skip);
}

/** What the named command wraps, or undefined when it is not a wrapper. */
export function unwrap(name: string, args: Token[], context: WrapContext): Wrapped[] | undefined {
  const tool = toolName(name);
  const { stdin } = context;
  if (SHELLS.has(tool)) return shell(tool, args, context);
  if (INTERPRETER.test(tool) && tool !== 'bun') return interpreter(tool, args, context);
  if (PACKAGE_RUNNER_VERBS[tool]) return packageRunner(tool, args, stdin);
  switch (tool) {
    case 'eval':
      return args.length ? [{ kind: 'opaque', why: 'eval runs a string as code' }] : [];
    case 'source':
    case '.': {
      const file = args[0];
      return file && file.kind !== 'exact' ? [{ kind: 'opaque', why: `${tool} runs code from ${file.text}, which the parser cannot see` }] : [];
    }
    case 'env': {
      const scan = scanOptions(tool, args, { values: ['-u', '--unset', '-C', '--chdir', '-S', '--split-string'] });
      if ('opaque' in scan) return [{ kind: 'opaque', why: scan.opaque }];
      let index = scan.operand;
      while (index < args.length && args[index].kind === 'exact' && /^[A-Za-z_][A-Za-z0-9_]*=/.test(args[index].text)) index++;
      if (args[index]?.kind === 'unknown') return [{ kind: 'opaque', why: `env has an argument the parser cannot see (${args[index].text})` }];
      const split = scan.seen.get('-S') ?? scan.seen.get('--split-string');
      const rest = args.slice(index);
      const chdir = scan.seen.has('-C') || scan.seen.has('--chdir');
      if (typeof split === 'string') {
        if (rest.length === 0) return inOtherFolder([{ kind: 'script', text: split, stdin }], chdir);
        if (/^[\w@%+=:,./\s-]*$/.test(split)) return inOtherFolder([{ kind: 'command', tokens: [...split.trim().split(/\s+/).map((text): Token => ({ kind: 'exact', text })), ...rest], stdin }], chdir);
        return [{ kind: 'opaque', why: 'env -S with quoting the parser does not follow' }];
      }
      return inOtherFolder(rest.length ? [{ kind: 'command', tokens: rest, stdin }] : [], chdir);
    }
    case 'command':
      return after(tool, args, { inert: ['-v', '-V'] }, stdin);
    case 'builtin':
    case 'nohup':
    // Reserved words: tree-sitter reads `time if …`, `time while …; do …`, `time { …; }` and
    // `time ! …` as commands named by the reserved word, so what follows it is the command.
    case 'then':
    case 'if':
    case 'elif':
    case 'else':
    case 'while':
    case 'until':
    case 'do':
    case '{':
    case '!':
      return after(tool, args, {}, stdin);
    case 'coproc': {
      // `coproc NAME { …; }` arrives as words too: the command follows the `{`.
      const brace = args.findIndex((token) => token.kind === 'exact' && token.text === '{');
      return after(tool, brace === 0 || brace === 1 ? args.slice(brace + 1) : args, {}, stdin);
    }
    case 'exec':
      return after(tool, args, { values: ['-a'] }, stdin);
    case 'nice':
      return after(tool, args, { values: ['-n', '--adjustment'] }, stdin);
    case 'setsid':
      return after(tool, args, {}, stdin);
    case 'time':
      return after(tool, args, { values: ['-f', '--format', '-o', '--output'] }, stdin);
    case 'stdbuf':
      return after(tool, args, { values: ['-i', '-o', '-e', '--input', '--output', '--error'] }, stdin);
    case 'ionice':
      return after(tool, args, { values: ['-c', '--class', '-n', '--classdata'], inert: ['-p', '--pid', '-P', '--pgid', '-u', '--uid'] }, stdin);
    case 'taskset': {
      const scan = scanOptions(tool, args, {});
      if ('seen' in scan && (scan.seen.has('-p') || scan.seen.has('--pid'))) return [];
      return after(tool, args, {}, stdin, 1);
    }
    case 'timeout':
      return after(tool, args, { values: ['-s', '--signal', '-k', '--kill-after'] }, stdin, 1);
    case 'sudo':
    case 'doas': {
      const spec = { values: ['-u', '--user', '-g', '--group', '-h', '--host', '-p', '--prompt', '-C', '--close-from', '-D', '--chdir', '-r', '--role', '-t', '--type', '-U', '--other-user', '-T', '--command-timeout'], inert: ['-e', '--edit', '-l', '--list', '-v', '--validate', '-k', '-K'] };
      const wrapped = after(tool, args, spec, stdin);
      const scan = scanOptions(tool, args, spec);
      if (wrapped.length === 0 && 'seen' in scan && (scan.seen.has('-s') || scan.seen.has('-i'))) return readsStdin(tool, context, true);
      return inOtherFolder(wrapped, 'seen' in scan && (scan.seen.has('-D') || scan.seen.has('--chdir')));
    }
    case 'xargs': {
      const spec = { values: ['-a', '--arg-file', '-d', '--delimiter', '-E', '-I', '-L', '--max-lines', '-n', '--max-args', '-P', '--max-procs', '-s', '--max-chars', '--process-slot-var'] };
      const wrapped = after(tool, args, spec, stdin);
      const scan = scanOptions(tool, args, spec);
      const replace = 'seen' in scan ? replaceString(args, scan) : undefined;
      // xargs adds words from its input: unknown, any number; with -I it puts them in place of a string instead.
      const withInput = (tokens: Token[]): Token[] => (replace === undefined ? [...tokens, UNKNOWN_INPUT] : tokens.map((token) => (token.kind === 'exact' && token.text.includes(replace) ? { kind: 'unknown', text: token.text, many: false } : token)));
      return (wrapped.length ? wrapped : [{ kind: 'command' as const, tokens: [{ kind: 'exact' as const, text: 'echo' }], stdin }]).map((inner) => (inner.kind === 'command' ? { ...inner, tokens: withInput(inner.tokens) } : inner));
    }
    case 'find':
      return findExec(args, stdin);
    case 'watch': {
      const scan = scanOptions(tool, args, { values: ['-n', '--interval', '-d', '--differences', '-q', '--equexit'] });
      if ('opaque' in scan) return [{ kind: 'opaque', why: scan.opaque }];
      const rest = args.slice(scan.operand);
      if (rest.some((token) => token.kind !== 'exact')) return [{ kind: 'opaque', why: 'watch runs a command the parser cannot see' }];
      // watch hands its words, joined by spaces, to `sh -c` (unless -x).
      return scan.seen.has('-x') || scan.seen.has('--exec') ? [{ kind: 'command', tokens: rest, stdin }] : rest.length ? [{ kind: 'script', text: rest.map((token) => token.text).join(' '), stdin }] : [];
    }
    case 'trap': {
      const action = args.find((token) => !(token.kind === 'exact' && token.text.startsWith('-')));
      if (!action || args.length < 2) return [];
      return action.kind === 'exact' ? [{ kind: 'script', text: action.text, stdin }] : [{ kind: 'opaque', why: 'trap runs a string the parser cannot see' }];
    }
    case 'su':
    case 'runuser':
      return commandOption(tool, args, { values: ['-u', '--user', '-g', '--group', '-G', '--supp-group', '-s', '--shell', '-w', '--whitelist-environment'] }, stdin, Number.MAX_SAFE_INTEGER);
    case 'script':
      return commandOption(tool, args, { values: ['-E', '--echo', '-I', '--log-in', '-O', '--log-out', '-T', '--log-timing', '-B', '--log-io', '-m', '--logging-format', '-o', '--output-limit'] }, stdin, Number.MAX_SAFE_INTEGER);
    case 'flock':
      return commandOption(tool, args, { values: ['-w', '--timeout', '-E', '--conflict-exit-code'] }, stdin, 1);
    case 'busybox':
    case 'toybox':
      return after(tool, args, {}, stdin);
    case 'npx':
    case 'pnpx':
    case 'bunx':
      return commandOption(tool, args, { values: ['-p', '--package', '--node-options', '--registry', '--cache'] }, stdin);
    default:
      return undefined;
  }
}

/** The string xargs replaces with its input: `-I R`, `-i[R]`, `--replace[=R]` (R defaults to `{}`). */
function replaceString(args: Token[], scan: { operand: number; seen: Map<string, string | true> }): string | undefined {
  const named = scan.seen.get('-I') ?? scan.seen.get('--replace');
  if (named !== undefined) return named === true ? '{}' : named;
  if (!scan.seen.has('-i')) return undefined;
  // `-i` glues its optional value to the option: whatever follows the `i` in its cluster
  const cluster = args.slice(0, scan.operand).find((token) => token.kind === 'exact' && /^-[^-]*i/.test(token.text));
  return (cluster && cluster.text.slice(cluster.text.indexOf('i') + 1)) || '{}';
}

/** `npm exec`, `npm x`, `pnpm exec|dlx`, `yarn dlx|exec`, `bun x`: package runners whose words after the verb are a command. */
const PACKAGE_RUNNER_VERBS: Record<string, string[]> = { npm: ['exec', 'x'], pnpm: ['exec', 'dlx'], yarn: ['dlx', 'exec'], bun: ['x'] };

function packageRunner(tool: string, args: Token[], stdin: StdinSource): Wrapped[] | undefined {
  const verbs = PACKAGE_RUNNER_VERBS[tool];
  const verb = args.findIndex((token) => !(token.kind === 'exact' && token.text.startsWith('-')));
  if (!verbs || verb === -1 || args[verb].kind !== 'exact' || !verbs.includes(args[verb].text)) return undefined;
  return commandOption(tool, args.slice(verb + 1), { values: ['-p', '--package', '-w', '--workspace'] }, stdin);
}
