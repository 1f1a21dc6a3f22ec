import type { Environment, StdinSource } from './commandLine.js';
import { positionalIndexes, toolName } from './commandRules.js';
import type { Wrapped } from './commandWrappers.js';
import { readGit } from './gitCommandLine.js';
import { exact, renderTokens, type Token } from './shellWords.js';
import { GEM_COMMANDS, NPM_COMMANDS, resolveSubcommand, resolveSubcommandPattern, type SubcommandTable } from './subcommandNames.js';

/**
 * A command as its tool reads it. `rewrites`: the same command with aliases expanded and
 * abbreviations spelled out (`npm pub` is `npm publish`), judged in place of the typed words, several
 * when the typed word could be more than one. `also`: what the command runs besides itself (a pager
 * or `!` alias named by a setting on the line), judged too.
 */
export interface ToolReading {
  rewrites: Wrapped[];
  also: Wrapped[];
}

/** How the tool named `name` reads these words, when that differs from how they are typed. */
export function readToolCommand(name: string, args: Token[], environment: Environment, stdin: StdinSource): ToolReading | undefined {
  const tool = toolName(name);
  const rewrites = (readings: Token[][]): ToolReading | undefined => (readings.length ? { rewrites: dedupe(readings).map((tokens) => ({ kind: 'command', tokens: [exact(name), ...tokens], stdin, sameCommand: true })), also: [] } : undefined);
  switch (tool) {
    case 'git':
      return readGit(args, environment, stdin);
    case 'npm':
      return rewrites(subcommandReadings(tool, args, NPM_COMMANDS));
    case 'gem':
      return rewrites(subcommandReadings(tool, args, GEM_COMMANDS));
    case 'pnpm':
      return rewrites(pnpmReadings(args));
    case 'yarn':
      return rewrites(yarnReadings(args));
    case 'cargo':
      return cargoReading(name, args, environment, stdin);
    default:
      return undefined;
  }
}

const dedupe = (readings: Token[][]): Token[][] => [...new Map(readings.map((tokens) => [renderTokens(tokens), tokens])).values()];

/** Where the subcommand word may be: the first positional word in either reading of unknown options. */
const subcommandIndexes = (tool: string, args: Token[]): number[] => [...new Set([false, true].map((cautious) => positionalIndexes(tool, args, cautious)[0]).filter((index) => index !== undefined))];

const replaced = (args: Token[], index: number, words: Token[]): Token[] => [...args.slice(0, index), ...words, ...args.slice(index + 1)];

/** The subcommand word spelled out through the tool's alias table and abbreviations. */
function subcommandReadings(tool: string, args: Token[], table: SubcommandTable): Token[][] {
  const readings: Token[][] = [];
  for (const index of subcommandIndexes(tool, args)) {
    const token = args[index];
    if (token.kind === 'unknown') continue;
    const commands = token.kind === 'glob' ? resolveSubcommandPattern(table, token.text) : resolveSubcommand(table, token.text);
    if (token.kind === 'exact' && commands.length === 1 && commands[0] === token.text) continue;
    readings.push(...commands.map((command) => replaced(args, index, [exact(command)])));
  }
  return readings;
}

/** `pnpm recursive|multi|m CMD` is `pnpm -r CMD`. */
function pnpmReadings(args: Token[]): Token[][] {
  return subcommandIndexes('pnpm', args)
    .filter((index) => args[index].kind === 'exact' && ['recursive', 'multi', 'm'].includes(args[index].text) && index + 1 < args.length)
    .map((index) => replaced(args, index, [exact('--recursive')]));
}

/** yarn's workspace runners run a yarn command: `yarn workspace NAME CMD`, `yarn workspaces foreach [opts] CMD`, `yarn workspaces run CMD`. */
function yarnReadings(args: Token[]): Token[][] {
  const readings: Token[][] = [];
  for (const index of subcommandIndexes('yarn', args)) {
    const word = args[index];
    if (word.kind !== 'exact') continue;
    if (word.text === 'workspace' && args.length > index + 2) readings.push([...args.slice(0, index), ...args.slice(index + 2)]);
    if (word.text !== 'workspaces') continue;
    const verb = args[index + 1];
    if (verb?.kind !== 'exact') continue;
    if (verb.text === 'run' && args.length > index + 2) readings.push([...args.slice(0, index), ...args.slice(index + 2)]);
    if (verb.text === 'foreach') {
      let at = index + 2;
      const values = ['--from', '--include', '--exclude', '-j', '--jobs'];
      while (at < args.length && args[at].kind === 'exact' && args[at].text.startsWith('-')) at += values.includes(args[at].text) ? 2 : 1;
      if (at < args.length) readings.push([...args.slice(0, index), ...args.slice(at)]);
    }
  }
  return readings;
}

/** cargo's own commands (`cargo --list` of 1.95 without externals); aliases cannot shadow them. */
const CARGO_COMMANDS = new Set(
  'add bench build check clean config doc fetch fix generate-lockfile git-checkout help info init install locate-project login logout metadata new owner package pkgid publish read-manifest remove report run rustc rustdoc search test tree uninstall update vendor verify-project version yank'.split(' '),
);
/** Widely used cargo-* tools that build, check, format or test; anything else unknown is asked about. */
const CARGO_EXTERNALS = new Set('clippy fmt miri nextest watch audit deny expand llvm-cov udeps outdated machete tarpaulin insta criterion bloat hack sort make semver-checks mutants careful binstall'.split(' '));
const CARGO_BUILTIN_ALIASES: Record<string, string> = { b: 'build', c: 'check', d: 'doc', r: 'run', t: 'test', rm: 'remove' };
const CARGO_VALUES = new Set(['--config', '-Z', '--color', '-C', '--explain']);

type AliasSource = { words: string[] } | { unknown: string };

/** An alias value: a TOML string (split on blanks) or array of strings; a variable's value is split on blanks. */
function aliasWords(value: string, toml: boolean): string[] | undefined {
  if (!toml) return value.trim().split(/\s+/).filter(Boolean);
  const text = value.trim();
  const string = /^"((?:[^"\\]|\\.)*)"$|^'([^']*)'$/s.exec(text);
  if (string) return (string[1] ?? string[2]).trim().split(/\s+/).filter(Boolean);
  const array = /^\[(.*)\]$/s.exec(text);
  if (!array) return undefined;
  const items = [...array[1].matchAll(/\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)')\s*(,|$)/gs)];
  const rebuilt = items.map((item) => item[0]).join('');
  return rebuilt.trim() === array[1].trim() ? items.map((item) => item[1] ?? item[2]) : undefined;
}

/**
 * `cargo NAME`: NAME is an alias from `--config alias.NAME=…` or CARGO_ALIAS_NAME on the line, or a
 * built-in alias (b, c, d, r, t, rm); user aliases win over built-in ones, never over commands.
 */
function cargoReading(name: string, args: Token[], environment: Environment, stdin: StdinSource): ToolReading | undefined {
  const configs: Token[] = [];
  let at = 0;
  for (; at < args.length; at++) {
    const token = args[at];
    if (token.kind !== 'exact' || !token.text.startsWith('-') || token.text === '-') break;
    if (token.text === '--explain' || token.text === '--list' || token.text === '-V' || token.text === '--version') return undefined;
    if (token.text.startsWith('--config=')) configs.push(exact(token.text.slice('--config='.length)));
    else if (CARGO_VALUES.has(token.text)) {
      if (token.text === '--config' && args[at + 1]) configs.push(args[at + 1]);
      at++;
    }
  }
  const word = args[at];
  if (!word || word.kind !== 'exact' || CARGO_COMMANDS.has(word.text)) return undefined;
  const command = word.text;
  let alias: AliasSource | undefined;
  for (const config of configs) {
    if (config.kind !== 'exact') {
      alias = { unknown: `--config ${config.text}` };
      continue;
    }
    const keyValue = /^\s*([A-Za-z0-9_-]+|"[^"]*"|'[^']*')\s*\.\s*([A-Za-z0-9_-]+|"[^"]*"|'[^']*')\s*=(.*)$/s.exec(config.text);
    const unquote = (part: string) => part.replace(/^["']|["']$/g, '');
    if (!keyValue) {
      // a file, or a key=value form this reading does not follow: it may define the alias
      if (!/^\s*[A-Za-z0-9_-]+\s*(\.\s*[A-Za-z0-9_"'-]+\s*)*=/.test(config.text) || /^\s*alias\b/.test(config.text)) alias = { unknown: `--config ${config.text}` };
      continue;
    }
    if (unquote(keyValue[1]) !== 'alias' || unquote(keyValue[2]) !== command) continue;
    const words = aliasWords(keyValue[3], true);
    alias = words ? { words } : { unknown: `--config ${config.text}` };
  }
  const variable = `CARGO_ALIAS_${command.toUpperCase().replace(/-/g, '_')}`;
  for (const value of environment.get(variable) ?? []) alias = value.kind === 'exact' ? { words: aliasWords(value.text, false) ?? [] } : { unknown: `${variable}=${value.text}` };
  if (alias && 'unknown' in alias) return { rewrites: [], also: [{ kind: 'opaque', why: `cargo ${command} may be an alias from ${alias.unknown}, which the parser cannot read` }] };
  const words = alias?.words ?? (Object.hasOwn(CARGO_BUILTIN_ALIASES, command) ? [CARGO_BUILTIN_ALIASES[command]] : undefined);
  // Neither cargo's nor a common external: it may be an alias the task wrote into .cargo/config.toml.
  if (!words && !CARGO_EXTERNALS.has(command)) return { rewrites: [], also: [{ kind: 'opaque', why: `cargo ${command} is not a cargo command; it may be an alias from a .cargo/config.toml the parser does not read` }] };
  if (!words || words.length === 0) return undefined;
  return { rewrites: [{ kind: 'command', tokens: [exact(name), ...args.slice(0, at), ...words.map(exact), ...args.slice(at + 1)], stdin, sameCommand: true }], also: [] };
}
