import type { StdinSource } from './commandLine.js';
import { toolName } from './commandRules.js';
import { exact, type Token } from './shellWords.js';

/**
 * What a wrapper command runs. Wrappers (env, timeout, xargs, find -exec, sh -c…) are looked
 * through so `env FOO=1 git push` is judged as `git push`; when we cannot see what they run, they
 * say so (`opaque`) and the command is asked about, never allowed.
 */
export type Wrapped =
  | {
      kind: 'command';
      tokens: Token[];
      stdin: StdinSource;
      chdir?: boolean;
      /** The same command in other words (`npm pub` as `npm publish`, `python -m twine` as `twine`): a rule allowing the typed words allows it too. */
      sameCommand?: boolean;
      /** Variables the wrapper sets for what it runs (`env NAME=value …`). */
      assignments?: Array<[string, Token]>;
    }
  | { kind: 'script'; text: string; stdin: StdinSource; chdir?: boolean; assignments?: Array<[string, Token]> }
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

/** `python -m MODULE ARGS…` runs the module's command line, as its own command (`python -m twine upload`). */
function pythonModule(args: Token[], stdin: StdinSource): Wrapped[] | undefined {
  for (let index = 0; index < args.length; index++) {
    const token = args[index];
    if (token.kind !== 'exact' || !/^-[^-]/.test(token.text)) return undefined;
    for (let at = 1; at < token.text.length; at++) {
      const letter = token.text[at];
      if (letter === 'c') return undefined;
      if (letter === 'm' || letter === 'W' || letter === 'X') {
        const glued = token.text.slice(at + 1);
        const value = glued ? exact(glued) : args[index + 1];
        if (!glued) index++;
        if (letter !== 'm') break;
        if (!value) return [];
        if (value.kind !== 'exact') return [{ kind: 'opaque', why: `python -m runs a module the parser cannot see (${value.text})` }];
        return [{ kind: 'command', tokens: [value, ...args.slice(index + 1)], stdin, sameCommand: true }];
      }
    }
  }
  return undefined;
}

function interpreter(tool: string, args: Token[], context: WrapContext): Wrapped[] {
  if (/^(python|pypy)/.test(tool)) {
    const module = pythonModule(args, context.stdin);
    if (module) return module;
  }
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

/**
 * The string a `-c` option gives, in getopt's spellings (`-c S`, `-cS`, `-qc S`, `--command=S`).
 * `permutes`: the tool reads options anywhere before `--` (GNU getopt: su, runuser, script);
 * otherwise only before its first operand.
 */
function commandString(args: Token[], spec: OptionSpec, long: string[], permutes: boolean): { value: Token | undefined } | undefined {
  const values = new Set(spec.values ?? []);
  for (let index = 0; index < args.length; index++) {
    const token = args[index];
    if (token.kind !== 'exact') {
      if (permutes) continue;
      return undefined;
    }
    const text = token.text;
    if (text === '--') return undefined;
    if (text.startsWith('--')) {
      const [name, glued] = text.split(/=(.*)/s, 2);
      if (long.includes(name)) return { value: glued !== undefined ? exact(glued) : args[index + 1] };
      if (values.has(name) && glued === undefined) index++;
      continue;
    }
    if (!/^-[^-]/.test(text)) {
      if (permutes) continue;
      return undefined;
    }
    for (let at = 1; at < text.length; at++) {
      const letter = `-${text[at]}`;
      if (letter === '-c') {
        const rest = text.slice(at + 1);
        return { value: rest ? exact(rest) : args[index + 1] };
      }
      if (values.has(letter)) {
        if (at === text.length - 1) index++;
        break;
      }
    }
  }
  return undefined;
}

/** A `-c STRING` option (su, runuser, script, npx), or the remaining words as a command. */
function commandOption(tool: string, args: Token[], spec: OptionSpec, stdin: StdinSource, skip = 0, permutes = true): Wrapped[] {
  const found = commandString(args, spec, ['--command', '--call', '--session-command'], permutes);
  if (found) return found.value?.kind === 'exact' ? [{ kind: 'script', text: found.value.text, stdin }] : [{ kind: 'opaque', why: `${tool} -c runs a string the parser cannot see` }];
  return after(tool, args, spec, stdin, skip);
}

/** What the named command wraps, or undefined when it is not a wrapper. */
export function unwrap(name: string, args: Token[], context: WrapContext): Wrapped[] | undefined {
  const tool = toolName(name);
  const { stdin } = context;
  if (SHELLS.has(tool)) return shell(tool, args, context);
  if (INTERPRETER.test(tool) && tool !== 'bun') return interpreter(tool, args, context);
  if (PACKAGE_RUNNER_VERBS[tool]) return packageRunner(tool, args, stdin);
  if (Object.hasOwn(RUNNERS, tool)) return runner(tool, args, RUNNERS[tool], context);
  switch (tool) {
    case 'eval':
      // eval joins its words with spaces and runs that: literal words are a script the parser can
      // read (Claude Code wraps every command in `eval '…'`); anything computed stays unseen.
      if (!args.length) return [];
      return args.every((token) => token.kind === 'exact') ? [{ kind: 'script', text: args.map((token) => token.text).join(' '), stdin }] : [{ kind: 'opaque', why: 'eval runs a string the parser cannot see' }];
    case 'source':
    case '.': {
      const file = args[0];
      return file && file.kind !== 'exact' ? [{ kind: 'opaque', why: `${tool} runs code from ${file.text}, which the parser cannot see` }] : [];
    }
    case 'env': {
      const scan = scanOptions(tool, args, { values: ['-u', '--unset', '-C', '--chdir', '-S', '--split-string'] });
      if ('opaque' in scan) return [{ kind: 'opaque', why: scan.opaque }];
      let index = scan.operand;
      const assignments: Array<[string, Token]> = [];
      while (index < args.length && args[index].kind === 'exact' && /^[A-Za-z_][A-Za-z0-9_]*=/.test(args[index].text)) {
        const [variable, value] = args[index].text.split(/=(.*)/s, 2);
        assignments.push([variable, { kind: 'exact', text: value ?? '' }]);
        index++;
      }
      if (args[index]?.kind === 'unknown') return [{ kind: 'opaque', why: `env has an argument the parser cannot see (${args[index].text})` }];
      const split = scan.seen.get('-S') ?? scan.seen.get('--split-string');
      const rest = args.slice(index);
      const chdir = scan.seen.has('-C') || scan.seen.has('--chdir');
      if (typeof split === 'string') {
        if (rest.length === 0) return inOtherFolder([{ kind: 'script', text: split, stdin, assignments }], chdir);
        if (/^[\w@%+=:,./\s-]*$/.test(split)) return inOtherFolder([{ kind: 'command', tokens: [...split.trim().split(/\s+/).map((text): Token => ({ kind: 'exact', text })), ...rest], stdin, assignments }], chdir);
        return [{ kind: 'opaque', why: 'env -S with quoting the parser does not follow' }];
      }
      return inOtherFolder(rest.length ? [{ kind: 'command', tokens: rest, stdin, assignments }] : [], chdir);
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
    case 'runuser': {
      const spec = { values: ['-u', '--user', '-g', '--group', '-G', '--supp-group', '-s', '--shell', '-w', '--whitelist-environment'] };
      // `runuser -u USER [--] CMD ARGS…` runs CMD itself; otherwise words after the user go to the user's shell
      const scan = scanOptions(tool, args, spec);
      const direct = tool === 'runuser' && 'seen' in scan && (scan.seen.has('-u') || scan.seen.has('--user'));
      return commandOption(tool, args, spec, stdin, direct ? 0 : Number.MAX_SAFE_INTEGER);
    }
    case 'script':
      return commandOption(tool, args, { values: ['-E', '--echo', '-I', '--log-in', '-O', '--log-out', '-T', '--log-timing', '-B', '--log-io', '-m', '--logging-format', '-o', '--output-limit'] }, stdin, Number.MAX_SAFE_INTEGER);
    case 'flock': {
      // `flock [opts] FILE -c STRING` or `flock [opts] FILE CMD ARGS…`; `flock [opts] FD` runs nothing
      const spec = { values: ['-w', '--timeout', '-E', '--conflict-exit-code'] };
      const scan = scanOptions(tool, args, spec);
      if ('opaque' in scan) return [{ kind: 'opaque', why: scan.opaque }];
      return commandOption(tool, args.slice(scan.operand + 1), spec, stdin, 0, false);
    }
    case 'busybox':
    case 'toybox':
      return after(tool, args, {}, stdin);
    case 'parallel':
      return parallel(args, context);
    case 'expect': {
      // Tcl can spawn or exec anything: its code is not read here
      const found = commandString(args, {}, [], false);
      if (found) return [{ kind: 'opaque', why: 'expect -c runs Tcl code, which can start any command' }];
      const scan = scanOptions(tool, args, { values: ['-f', '-D'] });
      if ('opaque' in scan) return [{ kind: 'opaque', why: scan.opaque }];
      if (scan.seen.has('-f') || args[scan.operand]) return [];
      return readsStdin(tool, context, false);
    }
    case 'sg': {
      // `sg GROUP [-c] COMMAND`: the command is one string for /bin/sh
      const rest = args.filter((token) => !(token.kind === 'exact' && token.text === '-c')).slice(1);
      if (rest.length === 0) return [];
      return rest.every((token) => token.kind === 'exact') ? [{ kind: 'script', text: rest.map((token) => token.text).join(' '), stdin }] : [{ kind: 'opaque', why: 'sg runs a command the parser cannot see' }];
    }
    case 'tmux': {
      const verb = args.find((token) => !(token.kind === 'exact' && token.text.startsWith('-')));
      if (verb && (verb.kind !== 'exact' || TMUX_RUNS.has(verb.text))) return [{ kind: 'opaque', why: 'tmux runs or types a shell command the classifier does not read' }];
      return [];
    }
    case 'screen': {
      if (args.some((token) => token.kind === 'exact' && /^-[XQ]/.test(token.text))) return [{ kind: 'opaque', why: 'screen -X sends commands to a session the classifier does not read' }];
      return after(tool, args, { values: ['-S', '-c', '-e', '-h', '-p', '-T', '-s', '-Logfile'], inert: ['-r', '-R', '-x', '-ls', '-list', '-wipe'] }, stdin);
    }
    case 'npx':
    case 'pnpx':
    case 'bunx':
      return commandOption(tool, args, { values: ['-p', '--package', '--node-options', '--registry', '--cache'] }, stdin, 0, false);
    default:
      return undefined;
  }
}

/** tmux commands that run a shell command or type into a pane. */
const TMUX_RUNS = new Set(['new', 'new-session', 'new-window', 'neww', 'split-window', 'splitw', 'send-keys', 'send', 'run-shell', 'run', 'respawn-pane', 'respawnp', 'respawn-window', 'respawnw', 'if-shell', 'if', 'pipe-pane', 'pipep', 'display-popup', 'popup', 'command-prompt', 'source-file', 'source']);

/**
 * Commands that run another command after their own options (and `skip` fixed operands), some only
 * behind a verb (`uv run`, `bundle exec`). `separator`: the command is what follows `--`
 * (`op run -- CMD`); without one nothing runs unless `separator` is 'optional'. `script`: options
 * whose value is a shell command (`nix-shell --run`, `doppler run --command`).
 */
interface RunnerSpec extends OptionSpec {
  verbs?: string[][];
  skip?: number;
  separator?: 'required' | 'optional';
  script?: string[];
  /** Runs in another root or folder: relative paths are unknown there. */
  chdir?: boolean;
}

const PYTHON_RUN_VALUES = ['-p', '--python', '--with', '-w', '--with-editable', '--with-requirements', '--from', '--index', '--index-url', '--extra-index-url', '--default-index', '-f', '--find-links', '--extra', '--group', '--only-group', '--package', '--env-file', '--directory', '--project', '--config-file', '--cache-dir', '--color', '--resolution', '--prerelease', '--exclude-newer', '--python-preference', '-P', '--upgrade-package', '--refresh-package', '--reinstall-package', '--keyring-provider', '--index-strategy', '--link-mode', '-C', '--config-setting', '--allow-insecure-host', '--spec', '--pip-args', '-e', '--environment'];
const RUN_VERB = [['run']];
const EXEC_VERB = [['exec']];

const RUNNERS: Record<string, RunnerSpec> = {
  unbuffer: {},
  catchsegv: {},
  valgrind: {},
  'dbus-run-session': { values: ['--config-file', '--dbus-daemon'] },
  'xvfb-run': { values: ['-n', '--server-num', '-s', '--server-args', '-e', '--error-file', '-f', '--auth-file', '-p', '--xauth-protocol', '-w', '--wait'] },
  pkexec: { values: ['--user'] },
  fakeroot: { values: ['-l', '--lib', '--faked', '-s', '-i'] },
  strace: { values: ['-e', '-o', '-s', '-u', '-E', '-a', '-b', '-I', '-O', '-P', '-S', '-X', '-U'], inert: ['-p', '--attach'] },
  ltrace: { values: ['-e', '-o', '-s', '-u', '-a', '-n', '-A', '-D', '-F', '-l', '-w', '-x'], inert: ['-p'] },
  setpriv: { values: ['--reuid', '--regid', '--ruid', '--euid', '--rgid', '--egid', '--groups', '--inh-caps', '--ambient-caps', '--bounding-set', '--securebits', '--selinux-label', '--apparmor-profile', '--landlock-access', '--landlock-rule', '--pdeathsig'] },
  nsenter: { values: ['-t', '--target', '-S', '--setuid', '-G', '--setgid'], chdir: true },
  unshare: { values: ['-S', '--setuid', '-G', '--setgid', '-R', '--root', '-w', '--wd', '--propagation', '--map-user', '--map-group', '--map-users', '--map-groups'], chdir: true },
  prlimit: { inert: ['-p', '--pid'] },
  chrt: { skip: 1, inert: ['-p', '--pid'] },
  chroot: { values: ['--userspec', '--groups'], skip: 1, chdir: true },
  'systemd-run': { values: ['-u', '--unit', '-p', '--property', '--description', '--slice', '-E', '--setenv', '--uid', '--gid', '--nice', '-D', '--working-directory', '-M', '--machine', '-H', '--host', '--on-calendar', '--on-active', '--timer-property', '--path-property', '--socket-property'] },
  corepack: { verbs: [['npm'], ['npx'], ['pnpm'], ['pnpx'], ['yarn'], ['yarnpkg']] },
  uvx: { values: PYTHON_RUN_VALUES },
  uv: { verbs: [['run'], ['tool', 'run']], values: PYTHON_RUN_VALUES },
  pipx: { verbs: RUN_VERB, values: PYTHON_RUN_VALUES },
  poetry: { verbs: RUN_VERB, values: ['-C', '--directory', '-P', '--project'] },
  pdm: { verbs: RUN_VERB, values: ['-p', '--project', '-c', '--config'] },
  pipenv: { verbs: RUN_VERB },
  rye: { verbs: RUN_VERB, values: ['--pyproject'] },
  hatch: { verbs: RUN_VERB, values: ['-e', '--env'] },
  pixi: { verbs: RUN_VERB, values: ['-e', '--environment', '--manifest-path'] },
  conda: { verbs: RUN_VERB, values: ['-n', '--name', '-p', '--prefix', '--cwd'] },
  mamba: { verbs: RUN_VERB, values: ['-n', '--name', '-p', '--prefix', '--cwd'] },
  micromamba: { verbs: RUN_VERB, values: ['-n', '--name', '-p', '--prefix', '--cwd'] },
  bundle: { verbs: EXEC_VERB, values: ['--gemfile'] },
  bundler: { verbs: EXEC_VERB, values: ['--gemfile'] },
  rbenv: { verbs: EXEC_VERB },
  pyenv: { verbs: EXEC_VERB },
  nodenv: { verbs: EXEC_VERB },
  goenv: { verbs: EXEC_VERB },
  asdf: { verbs: EXEC_VERB },
  mise: { verbs: [['exec'], ['x']], separator: 'required' },
  rtx: { verbs: [['exec'], ['x']], separator: 'required' },
  direnv: { verbs: EXEC_VERB, skip: 1, chdir: true },
  'aws-vault': { verbs: EXEC_VERB, skip: 1, separator: 'optional', values: ['-d', '--duration', '-t', '--mfa-token', '-r', '--region'] },
  op: { verbs: RUN_VERB, separator: 'required' },
  doppler: { verbs: RUN_VERB, separator: 'required', script: ['--command'] },
  infisical: { verbs: RUN_VERB, separator: 'required', script: ['--command'] },
  dotenvx: { verbs: RUN_VERB, separator: 'required' },
  chamber: { verbs: EXEC_VERB, separator: 'required' },
  dotenv: { values: ['-e', '-v', '-c'], separator: 'optional' },
  'env-cmd': { values: ['-f', '--file', '-e', '--environments', '-r', '--rc-file'] },
  'cross-env': {},
  'nix-shell': { values: ['-p', '--packages', '-I', '--arg', '--argstr', '-A', '--attr'], script: ['--run', '--command'] },
  nix: { verbs: [['develop'], ['shell']], script: [] },
  sops: { verbs: [['exec-env']], skip: 1, script: [] },
};

/** Where a runner's verb starts: the first word equal to it with only options (and their values) before it. */
function verbIndex(args: Token[], verb: string[]): number {
  for (let index = 0; index < args.length; index++) {
    const token = args[index];
    if (token.kind !== 'exact') return -1;
    if (token.text === verb[0] && verb.every((word, at) => args[index + at]?.kind === 'exact' && args[index + at].text === word)) {
      const before = args.slice(0, index);
      // every word before is an option or the value right after one
      if (before.every((word, at) => (word.kind === 'exact' && word.text.startsWith('-')) || (at > 0 && before[at - 1].kind === 'exact' && before[at - 1].text.startsWith('-')))) return index;
      return -1;
    }
  }
  return -1;
}

function runner(tool: string, args: Token[], spec: RunnerSpec, context: WrapContext): Wrapped[] | undefined {
  const { stdin } = context;
  let rest = args;
  if (spec.verbs) {
    const found = spec.verbs.map((verb) => [verbIndex(args, verb), verb.length] as const).find(([index]) => index !== -1);
    if (!found) return undefined;
    // corepack's verb is the package manager itself: it is the command
    if (tool === 'corepack') return [{ kind: 'command', tokens: args.slice(found[0]), stdin }];
    rest = args.slice(found[0] + found[1]);
  }
  const scripts = commandStrings(tool, rest, spec, stdin);
  if (scripts.length) return scripts;
  // `nix develop -c CMD…`, `sops exec-env FILE 'CMD'`
  if (tool === 'nix') {
    const at = rest.findIndex((token) => token.kind === 'exact' && (token.text === '-c' || token.text === '--command'));
    return at !== -1 && rest.length > at + 1 ? [{ kind: 'command', tokens: rest.slice(at + 1), stdin }] : [];
  }
  if (tool === 'sops') {
    const command = rest[1];
    if (!command) return [];
    return command.kind === 'exact' ? [{ kind: 'script', text: command.text, stdin }] : [{ kind: 'opaque', why: 'sops exec-env runs a command the parser cannot see' }];
  }
  if (tool === 'cross-env') {
    // NAME=value words, then the command
    const at = rest.findIndex((token) => !(token.kind === 'exact' && /^[A-Za-z_][A-Za-z0-9_]*=/.test(token.text)));
    return at === -1 ? [] : after(tool, rest.slice(at), spec, stdin);
  }
  if (spec.separator) {
    const at = rest.findIndex((token) => token.kind === 'exact' && token.text === '--');
    if (at !== -1) return inOtherFolder(rest.length > at + 1 ? [{ kind: 'command', tokens: rest.slice(at + 1), stdin }] : [], Boolean(spec.chdir));
    if (spec.separator === 'required') return [];
  }
  return inOtherFolder(after(tool, rest, spec, stdin, spec.skip ?? 0), Boolean(spec.chdir));
}

/** Values of a runner's script options (`--run CMD`, `--command=CMD`), as scripts. */
function commandStrings(tool: string, args: Token[], spec: RunnerSpec, stdin: StdinSource): Wrapped[] {
  const names = spec.script ?? [];
  const found: Wrapped[] = [];
  for (let index = 0; index < args.length; index++) {
    const token = args[index];
    if (token.kind !== 'exact' || token.text === '--') break;
    const [name, glued] = token.text.split(/=(.*)/s, 2);
    if (!names.includes(name)) continue;
    const value = glued !== undefined ? exact(glued) : args[++index];
    if (value) found.push(value.kind === 'exact' ? { kind: 'script', text: value.text, stdin } : { kind: 'opaque', why: `${tool} ${name} runs a command the parser cannot see` });
  }
  return found;
}

/**
 * GNU parallel: its command words, joined, are a shell command, with each input in place of `{}`
 * (or appended). With no command, each input is itself a command.
 */
function parallel(args: Token[], context: WrapContext): Wrapped[] {
  const { stdin } = context;
  const spec = { values: ['-a', '--arg-file', '-d', '--delimiter', '-E', '-I', '-j', '--jobs', '-P', '-S', '--sshlogin', '-C', '--colsep', '--joblog', '--results', '--tmpdir', '-n', '--max-args', '-N', '-L', '--timeout', '--delay', '--memfree', '--load', '--basefile', '--workdir', '--wd', '--env', '--tagstring', '--retries', '--halt', '--sshloginfile', '--slf'] };
  const scan = scanOptions('parallel', args, spec);
  if ('opaque' in scan) return [{ kind: 'opaque', why: scan.opaque }];
  const rest = args.slice(scan.operand);
  const separator = rest.findIndex((token) => token.kind === 'exact' && /^:{3,4}\+?$/.test(token.text));
  const command = separator === -1 ? rest : rest.slice(0, separator);
  const inputs = separator === -1 ? [] : rest.slice(separator);
  if (command.length === 0) {
    // no command: each input is one, from ::: words or from a file or standard input
    if (inputs.length === 0 || scan.seen.has('-a') || scan.seen.has('--arg-file') || inputs.some((token) => token.kind === 'exact' && token.text.startsWith('::::'))) return [{ kind: 'opaque', why: 'parallel runs commands it reads from its input' }];
    return inputs.filter((token) => !(token.kind === 'exact' && /^:{3}\+?$/.test(token.text))).map((token): Wrapped => (token.kind === 'exact' ? { kind: 'script', text: token.text, stdin } : { kind: 'opaque', why: 'parallel runs a command the parser cannot see' }));
  }
  if (command.some((token) => token.kind !== 'exact')) return [{ kind: 'opaque', why: 'parallel runs a command the parser cannot see' }];
  const text = command.map((token) => token.text).join(' ');
  // the input arrives in place of a replacement string ({}, {.}, {1}…) or at the end: unknown words
  const replaced = text.replace(/\{[^{}\s]*\}/g, '$PARALLEL_INPUT');
  return [{ kind: 'script', text: replaced === text ? `${text} $PARALLEL_INPUT` : replaced, stdin }];
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
  return commandOption(tool, args.slice(verb + 1), { values: ['-p', '--package', '-w', '--workspace'] }, stdin, 0, false);
}
