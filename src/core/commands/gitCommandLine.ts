import type { Environment, StdinSource } from './commandLine.js';
import { exact, renderTokens, type Token } from './shellWords.js';
import type { ToolReading } from './toolSpellings.js';
import type { Wrapped } from './commandWrappers.js';

/**
 * git's own commands (`git --list-cmds=main,nohelpers` of 2.39, plus those added since and the
 * Perl/Tcl ones a distribution may ship). Any other subcommand word is an alias or a `git-NAME`
 * program from configuration the classifier cannot read, or `help.autocorrect` turning a typo into
 * one of these: asked about.
 */
const GIT_COMMANDS = new Set(
  (
    'add am annotate apply archimport archive backfill bisect blame branch bugreport bundle cat-file check-attr check-ignore check-mailmap check-ref-format checkout checkout-index cherry cherry-pick citool clean clone column ' +
    'commit commit-graph commit-tree config count-objects credential credential-cache credential-store cvsexportcommit cvsimport cvsserver daemon describe diagnose diff diff-files diff-index diff-pairs diff-tree difftool ' +
    'fast-export fast-import fetch fetch-pack filter-branch fmt-merge-msg for-each-ref for-each-repo format-patch fsck fsck-objects fsmonitor--daemon gc get-tar-commit-id grep gui hash-object help hook http-backend ' +
    'http-fetch http-push imap-send index-pack init init-db instaweb interpret-trailers last-modified log ls-files ls-remote ls-tree mailinfo mailsplit maintenance merge merge-base merge-file merge-index merge-octopus ' +
    'merge-one-file merge-ours merge-recursive merge-recursive-ours merge-recursive-theirs merge-resolve merge-subtree merge-tree mergetool mktag mktree multi-pack-index mv name-rev notes p4 pack-objects pack-redundant ' +
    'pack-refs patch-id pickaxe prune prune-packed pull push quiltimport range-diff read-tree rebase receive-pack reflog refs remote remote-ext remote-fd remote-ftp remote-ftps remote-http remote-https repack replace ' +
    'replay repo request-pull rerere reset restore rev-list rev-parse revert rm send-email send-pack shell shortlog show show-branch show-index show-ref sparse-checkout stage stash status stripspace submodule subtree svn ' +
    'switch symbolic-ref tag unpack-file unpack-objects update-index update-ref update-server-info upload-archive upload-pack var verify-commit verify-pack verify-tag version whatchanged worktree write-tree ' +
    // programs from other packages that agents use; `git lfs push` has its own rule
    'lfs'
  ).split(' '),
);

/** git.c handle_options: options before the subcommand, and whether the next word is their value. */
const TAKES_VALUE = new Set(['-C', '-c', '--git-dir', '--work-tree', '--namespace', '--super-prefix', '--config-env', '--attr-source']);
const STANDS_ALONE = new Set(['-p', '--paginate', '-P', '--no-pager', '--no-replace-objects', '--no-lazy-fetch', '--no-optional-locks', '--no-advice', '--bare', '--literal-pathspecs', '--no-literal-pathspecs', '--glob-pathspecs', '--noglob-pathspecs', '--icase-pathspecs']);
const GLUED = /^--(git-dir|work-tree|namespace|super-prefix|config-env|attr-source|exec-path)=/;
/** These print something and exit: no subcommand runs. */
const EXITS = /^--(exec-path|html-path|man-path|info-path|list-cmds(=.*)?)$/;

/** A setting given on the command line: `-c`, `--config-env`, or GIT_CONFIG_* variables. */
interface Setting {
  key: string;
  /** undefined: comes from something the parser cannot see. */
  value: string | undefined;
  from: string;
}

/** A key as git compares them: section and variable name case-insensitive, the subsection as written. */
function normalKey(key: string): string {
  const first = key.indexOf('.');
  const last = key.lastIndexOf('.');
  if (first === -1) return key.toLowerCase();
  return `${key.slice(0, first).toLowerCase()}${key.slice(first, last)}${key.slice(last).toLowerCase()}`;
}

/** Settings whose value git runs as a command (through the shell), by key. */
const COMMAND_KEYS = [
  /^core\.(pager|editor|sshcommand|askpass|gitproxy|fsmonitor|alternaterefscommand)$/,
  /^sequence\.editor$/,
  /^pager\..+$/,
  /^diff\.external$/,
  /^diff\..+\.(command|textconv)$/,
  /^filter\..+\.(clean|smudge|process)$/,
  /^merge\..+\.driver$/,
  /^(merge|diff)tool\..+\.cmd$/,
  /^gpg\.(.+\.)?program$/,
  /^credential\.(.+\.)?helper$/,
  /^interactive\.difffilter$/,
  /^uploadpack\.packobjectshook$/,
  /^sendemail\.(sendmailcmd|smtpserver|tocmd|cccmd)$/,
  /^remote\..+\.(uploadpack|receivepack)$/,
  /^(browser|man)\..+\.cmd$/,
];

const BOOLEAN = /^(true|false|yes|no|on|off|1|0|)$/i;

/** The command a command-valued setting runs, as a script; undefined when the value is a plain switch. */
function settingScript(key: string, value: string): string | undefined {
  if ((key.startsWith('pager.') || key === 'core.fsmonitor') && BOOLEAN.test(value)) return undefined;
  if (/^credential\./.test(key)) {
    if (value === '') return undefined;
    if (value.startsWith('!')) return value.slice(1);
    // a bare name is `git credential-NAME`; a path runs as it is
    return value.startsWith('/') ? value : `git credential-${value}`;
  }
  return value;
}

/** git's split_cmdline: words split on blanks, with '…', "…" and backslash quoting. Undefined when a quote is left open. */
export function splitGitCommandLine(text: string): string[] | undefined {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (quote) {
      if (char === quote) quote = undefined;
      else if (char === '\\' && quote === '"' && index + 1 < text.length) word = (word ?? '') + text[++index];
      else word = (word ?? '') + char;
    } else if (/\s/.test(char)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (char === '"' || char === "'") {
      quote = char;
      word ??= '';
    } else if (char === '\\' && index + 1 < text.length) word = (word ?? '') + text[++index];
    else word = (word ?? '') + char;
  }
  if (quote) return undefined;
  if (word !== undefined) words.push(word);
  return words;
}

const only = (values: readonly Token[] | undefined): string | undefined => (values && values.length === 1 && values[0].kind === 'exact' ? values[0].text : undefined);

/** GIT_CONFIG_COUNT / GIT_CONFIG_KEY_n / GIT_CONFIG_VALUE_n and GIT_CONFIG_PARAMETERS set on the line. */
function environmentSettings(environment: Environment): Setting[] | 'unknown' {
  const settings: Setting[] = [];
  if (environment.has('GIT_CONFIG_PARAMETERS')) return 'unknown';
  const countValues = environment.get('GIT_CONFIG_COUNT');
  if (!countValues) return settings;
  const count = only(countValues);
  if (count === undefined || !/^\d{1,3}$/.test(count)) return 'unknown';
  for (let index = 0; index < Number(count); index++) {
    const key = only(environment.get(`GIT_CONFIG_KEY_${index}`));
    const value = environment.get(`GIT_CONFIG_VALUE_${index}`);
    if (key === undefined) return 'unknown';
    settings.push({ key: normalKey(key), value: only(value), from: `GIT_CONFIG_VALUE_${index}` });
  }
  return settings;
}

/** Variables git runs as commands. */
const COMMAND_VARIABLES = ['GIT_PAGER', 'GIT_EDITOR', 'GIT_SEQUENCE_EDITOR', 'GIT_SSH_COMMAND', 'GIT_SSH', 'GIT_ASKPASS', 'GIT_EXTERNAL_DIFF', 'GIT_PROXY_COMMAND'];

interface GitLine {
  /** Where the subcommand word is in args, or undefined when none runs. */
  subcommand: number | undefined;
  settings: Setting[];
  /** A setting the parser cannot see: its key is unknown, so it could be any of them. */
  unknownSetting?: string;
}

/** git's global options, read as git.c reads them; undefined at an option git refuses (then nothing runs). */
function readGlobalOptions(args: Token[], environment: Environment): GitLine | undefined {
  const fromEnvironment = environmentSettings(environment);
  const line: GitLine = { subcommand: undefined, settings: fromEnvironment === 'unknown' ? [] : fromEnvironment };
  if (fromEnvironment === 'unknown') line.unknownSetting = 'GIT_CONFIG_* variables';
  for (let index = 0; index < args.length; index++) {
    const token = args[index];
    if (token.kind !== 'exact') {
      // an unknown word: the subcommand may be here or later; the caller's pattern match covers it
      return { ...line, subcommand: token.kind === 'glob' ? index : undefined };
    }
    const text = token.text;
    if (!text.startsWith('-') || ['-v', '--version', '-h', '--help'].includes(text)) return { ...line, subcommand: index };
    if (EXITS.test(text)) return { ...line, subcommand: undefined };
    if (STANDS_ALONE.has(text) || GLUED.test(text)) {
      if (text.startsWith('--config-env=')) addConfigEnv(line, text.slice('--config-env='.length), environment);
      continue;
    }
    if (!TAKES_VALUE.has(text)) return undefined;
    const value = args[++index];
    if (value === undefined) return undefined;
    if (text === '-c') {
      if (value.kind !== 'exact') line.unknownSetting = `-c ${value.text}`;
      else {
        const at = value.text.indexOf('=');
        line.settings.push({ key: normalKey(at === -1 ? value.text : value.text.slice(0, at)), value: at === -1 ? 'true' : value.text.slice(at + 1), from: '-c' });
      }
    } else if (text === '--config-env') {
      if (value.kind !== 'exact') line.unknownSetting = `--config-env ${value.text}`;
      else addConfigEnv(line, value.text, environment);
    }
  }
  return line;
}

function addConfigEnv(line: GitLine, spec: string, environment: Environment): void {
  const at = spec.lastIndexOf('=');
  if (at <= 0) return;
  const variable = spec.slice(at + 1);
  line.settings.push({ key: normalKey(spec.slice(0, at)), value: only(environment.get(variable)), from: `$${variable}` });
}

/** The last value a key is given (git's last one wins), or undefined. */
const lastSetting = (settings: Setting[], key: string): Setting | undefined => settings.filter((setting) => setting.key === key).at(-1);

/**
 * `git` as git reads it: a subcommand that is an alias given on the line (`-c alias.p=push p`,
 * `--config-env=alias.p=VAR`) is expanded (a `!` alias is a shell command); command-valued settings
 * and variables on the line (core.pager, core.sshCommand, GIT_SSH_COMMAND…) are what git runs besides
 * itself; any other subcommand git does not have is asked about.
 */
export function readGit(args: Token[], environment: Environment, stdin: StdinSource): ToolReading | undefined {
  const line = readGlobalOptions(args, environment);
  if (!line) return undefined;
  const also: Wrapped[] = [];
  if (line.unknownSetting) also.push({ kind: 'opaque', why: `git is given a setting the parser cannot see (${line.unknownSetting}), which may run a command` });
  for (const setting of line.settings) {
    if (!COMMAND_KEYS.some((pattern) => pattern.test(setting.key))) continue;
    if (setting.value === undefined) {
      also.push({ kind: 'opaque', why: `git's ${setting.key} comes from ${setting.from}, which the parser cannot see, and git runs it as a command` });
      continue;
    }
    const script = settingScript(setting.key, setting.value);
    if (script !== undefined) also.push({ kind: 'script', text: script, stdin });
  }
  for (const variable of COMMAND_VARIABLES) {
    for (const value of environment.get(variable) ?? []) {
      also.push(value.kind === 'exact' ? { kind: 'script', text: value.text, stdin } : { kind: 'opaque', why: `${variable} comes from ${value.text}, which the parser cannot see, and git runs it as a command` });
    }
  }
  const at = line.subcommand;
  const word = at === undefined ? undefined : args[at];
  if (at === undefined || word === undefined || word.kind !== 'exact') return also.length ? { rewrites: [], also } : undefined;
  const name = word.text;
  // a name no alias can have (config names are a letter, then letters, digits and dashes) is refused by git
  if (name.startsWith('-') || GIT_COMMANDS.has(name) || !/^[A-Za-z][A-Za-z0-9-]*$/.test(name)) {
    also.push(...subcommandRuns(name, args.slice(at + 1), stdin));
    return also.length ? { rewrites: [], also } : undefined;
  }
  // git looks aliases up case-insensitively; one that shadows a git command is ignored, as above
  const alias = lastSetting(line.settings, `alias.${name.toLowerCase()}`);
  if (!alias) return { rewrites: [], also: [...also, { kind: 'opaque', why: `"${name}" is not a git command: a git alias or git-${name} program from configuration the classifier cannot read` }] };
  if (alias.value === undefined) return { rewrites: [], also: [...also, { kind: 'opaque', why: `git alias "${name}" comes from ${alias.from}, which the parser cannot see` }] };
  const rest = args.slice(at + 1);
  if (alias.value.startsWith('!')) {
    // git runs `sh -c '<alias> "$@"' <alias> ARGS…`
    const script = rest.length ? `${alias.value.slice(1)} ${renderTokens(rest)}` : alias.value.slice(1);
    return { rewrites: [], also: [...also, { kind: 'script', text: script, stdin }] };
  }
  const words = splitGitCommandLine(alias.value);
  if (words === undefined || words.length === 0) return { rewrites: [], also: [...also, { kind: 'opaque', why: `git alias "${name}" cannot be read (${alias.value})` }] };
  // the settings stay on the expanded line (git keeps them), so the next reading sees them too
  return { rewrites: [{ kind: 'command', tokens: [exact('git'), ...args.slice(0, at), ...words.map(exact), ...rest], stdin, sameCommand: true }], also: [] };
}

/** Subcommands that run a command of their own: `rebase -x`, `bisect run`, `submodule foreach`, `filter-branch --*-filter`, `difftool -x`… */
function subcommandRuns(name: string, rest: Token[], stdin: StdinSource): Wrapped[] {
  const found: Wrapped[] = [];
  const script = (value: Token | undefined, option: string) => {
    if (value === undefined) return;
    found.push(value.kind === 'exact' ? { kind: 'script', text: value.text, stdin } : { kind: 'opaque', why: `git ${name} ${option} runs a command the parser cannot see (${value.text})` });
  };
  /** `--opt CMD`, `--opt=CMD`, and `-xCMD` for a one-letter form. */
  const optionValues = (long: RegExp, short?: string) => {
    for (let index = 0; index < rest.length; index++) {
      const token = rest[index];
      if (token.kind !== 'exact') continue;
      if (token.text === '--') break;
      const glued = /^(--[a-z-]+)=(.*)$/s.exec(token.text);
      if (glued && long.test(glued[1])) script(exact(glued[2]), glued[1]);
      else if (long.test(token.text) || token.text === short) script(rest[++index], token.text);
      else if (short && token.text.startsWith(short) && token.text.length > 2) script(exact(token.text.slice(2)), short);
    }
  };
  switch (name) {
    case 'rebase':
      optionValues(/^--exec$/, '-x');
      break;
    case 'difftool':
      optionValues(/^--extcmd$/, '-x');
      break;
    case 'filter-branch':
      optionValues(/^--(env|tree|index|parent|msg|commit|tag-name)-filter$/);
      break;
    case 'push':
    case 'fetch':
    case 'pull':
    case 'ls-remote':
    case 'archive':
    case 'clone':
      // a local path's "remote" side runs here, as a command
      optionValues(/^--(receive-pack|upload-pack|exec)$/, name === 'clone' ? '-u' : undefined);
      break;
    case 'bisect':
      if (rest[0]?.kind === 'exact' && rest[0].text === 'run' && rest.length > 1) found.push({ kind: 'command', tokens: rest.slice(1), stdin });
      break;
    case 'submodule': {
      const foreach = rest.findIndex((token) => token.kind === 'exact' && token.text === 'foreach');
      if (foreach === -1) break;
      let index = foreach + 1;
      while (rest[index]?.kind === 'exact' && ['--recursive', '-q', '--quiet'].includes(rest[index].text)) index++;
      const command = rest.slice(index);
      // one word is run by the shell; several are the command's words
      if (command.length === 1) script(command[0], 'foreach');
      else if (command.length > 1) found.push({ kind: 'command', tokens: command, stdin });
      break;
    }
  }
  return found;
}
