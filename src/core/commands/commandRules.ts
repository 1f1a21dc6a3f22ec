import * as path from 'node:path';
import picomatch from 'picomatch';
import type { Token } from './shellWords.js';

export const DECISIONS = ['allow', 'ask', 'deny'] as const;
export type Decision = (typeof DECISIONS)[number];

/** deny beats ask beats allow. */
export const strictness = (decision: Decision) => DECISIONS.indexOf(decision);
export const strictest = (decisions: Decision[], fallback: Decision = 'allow'): Decision => decisions.reduce((worst, next) => (strictness(next) > strictness(worst) ? next : worst), fallback);

/**
 * A rule over argv, written like a command: `git push`, `npm run publish-*`, `git clean -f`,
 * `vercel --prod`. Words are globs matched against the command's leading positional arguments
 * (so `git push` never matches `git pushd` and `git log --grep push`); option words must appear
 * anywhere in the command (`-f` is found in `-fdx`, `--prod` in `--prod=true`).
 */
export interface ArgvPattern {
  text: string;
  words: Array<(word: string) => boolean>;
  wordText: string[];
  shortFlags: string[];
  longFlags: string[];
}

export class PatternError extends Error {}

export function parseArgvPattern(text: string): ArgvPattern {
  const parts = text.trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) throw new PatternError('is empty; write a command such as "git push"');
  if (parts[0].startsWith('-')) throw new PatternError(`starts with an option ("${parts[0]}"); start with the command name, e.g. "git ${parts[0]}"`);
  const words: string[] = [];
  const shortFlags: string[] = [];
  const longFlags: string[] = [];
  for (const part of parts) {
    if (/^--[^-=]/.test(part)) longFlags.push(part);
    else if (/^-[A-Za-z0-9]+$/.test(part)) shortFlags.push(...part.slice(1));
    else if (part.startsWith('-')) throw new PatternError(`has an option "${part}" that is neither -x nor --name`);
    else words.push(part);
  }
  let matchers: Array<(word: string) => boolean>;
  try {
    matchers = words.map((word) => picomatch(word, { dot: true, nobrace: true, noextglob: true }));
  } catch (error) {
    throw new PatternError(`is not a valid pattern (${(error as Error).message})`);
  }
  return { text: parts.join(' '), words: matchers, wordText: words, shortFlags, longFlags };
}

/** A leading positional argument: known, one unknown word, or any number of unknown words. */
export type Positional = { kind: 'word'; text: string } | { kind: 'pattern'; text: string } | { kind: 'any'; many: boolean };

/** Options that take the next word as their value, per tool, so their value is not read as a subcommand. */
const VALUE_OPTIONS: Record<string, string[]> = {
  git: ['-C', '-c', '--git-dir', '--work-tree', '--namespace', '--super-prefix', '--config-env', '--exec-path', '--attr-source'],
  gem: ['--config-file'],
  npm: ['--prefix', '-w', '--workspace', '--registry', '--userconfig', '--cache', '--loglevel', '--tag', '--otp', '--access'],
  pnpm: ['-C', '--dir', '--filter', '-F', '--workspace-root', '--reporter', '--tag', '--otp', '--access'],
  yarn: ['--cwd', '--registry', '--tag', '--otp', '--access'],
  cargo: ['--manifest-path', '-p', '--package', '--config', '-Z', '--target-dir', '--registry', '--token', '--color'],
  docker: ['-H', '--host', '--context', '-c', '--config', '-l', '--log-level', '--tlscacert', '--tlscert', '--tlskey'],
  podman: ['--url', '--connection', '-c', '--root', '--runroot', '--log-level'],
  kubectl: ['-n', '--namespace', '--context', '--cluster', '--kubeconfig', '--user', '-s', '--server', '--token', '--as', '--as-group', '-l', '--selector', '-o', '--output', '-f', '--filename', '-k', '--kustomize'],
  helm: ['-n', '--namespace', '--kube-context', '--kubeconfig', '-f', '--values', '--set', '--set-string', '--version', '-o', '--output'],
  terraform: ['-chdir'],
  tofu: ['-chdir'],
  gh: ['-R', '--repo', '-H', '--hostname'],
  aws: ['--profile', '--region', '--output', '--endpoint-url', '--query', '--cli-input-json', '--ca-bundle', '--color'],
  gcloud: ['--project', '--account', '--configuration', '--format', '--verbosity', '--impersonate-service-account', '--region', '--zone'],
  az: ['--subscription', '-g', '--resource-group', '-o', '--output', '--query', '-n', '--name'],
  pulumi: ['-s', '--stack', '-C', '--cwd', '--config-file'],
  fly: ['-a', '--app', '-c', '--config', '-t', '--access-token'],
  flyctl: ['-a', '--app', '-c', '--config', '-t', '--access-token'],
  vercel: ['--scope', '--token', '-t', '-A', '--local-config', '--cwd', '-e', '--env', '-b', '--build-env'],
};

/** Options known to stand alone, so the cautious reading does not swallow the word after them. */
const FLAG_OPTIONS: Record<string, string[]> = {
  git: ['-p', '-P', '--paginate', '--no-pager', '--bare', '--no-replace-objects', '--literal-pathspecs', '--glob-pathspecs', '--noglob-pathspecs', '--icase-pathspecs', '--no-optional-locks', '--version', '--help', '-h', '-v', '-f', '--force', '-u', '--set-upstream', '-q', '--quiet', '-n', '--dry-run', '--tags', '--all', '--hard', '--soft', '--mixed'],
  npm: ['--silent', '-s', '--quiet', '-q', '--verbose', '-d', '--dry-run', '--json', '--global', '-g', '--yes', '-y', '--force', '-f', '--ws', '--workspaces', '--if-present', '--ignore-scripts'],
};

/**
 * The command's leading positional words. Unknown options are read two ways, standing alone or
 * taking the next word, because we cannot know which; callers take the stricter result.
 */
export function positionals(tool: string, args: Token[], cautious: boolean): Positional[] {
  return positionalIndexes(tool, args, cautious).map((index): Positional => {
    const token = args[index];
    return token.kind === 'unknown' ? { kind: 'any', many: token.many } : token.kind === 'glob' ? { kind: 'pattern', text: token.text } : { kind: 'word', text: token.text };
  });
}

/** Where the positional words are in args, in the same reading as `positionals`. */
export function positionalIndexes(tool: string, args: Token[], cautious: boolean): number[] {
  const values = new Set(VALUE_OPTIONS[tool] ?? []);
  const flags = new Set(FLAG_OPTIONS[tool] ?? []);
  const out: number[] = [];
  let optionsEnded = false;
  for (let index = 0; index < args.length; index++) {
    const token = args[index];
    if (token.kind === 'unknown') {
      out.push(index);
      continue;
    }
    const text = token.text;
    if (!optionsEnded && token.kind === 'exact' && text === '--') {
      optionsEnded = true;
      continue;
    }
    if (!optionsEnded && text.length > 1 && text.startsWith('-')) {
      if (text.includes('=')) continue;
      const next = args[index + 1];
      const takesValue = values.has(text) || (cautious && !flags.has(text) && (text.startsWith('--') || text.length === 2) && next?.kind === 'exact' && !next.text.startsWith('-'));
      if (takesValue) index++;
      continue;
    }
    out.push(index);
  }
  return out;
}

/** How sure a pattern matches: certainly, only if unknown words turn out a certain way, or not at all. */
export type MatchStrength = 'sure' | 'maybe' | 'no';

function wordsMatch(pattern: ArgvPattern, items: Positional[]): MatchStrength {
  // Backtracking over `any` items, which may stand for none, one or several pattern words.
  const memo = new Map<string, MatchStrength>();
  const go = (w: number, p: number): MatchStrength => {
    if (w === pattern.words.length) return 'sure';
    if (p === items.length) return 'no';
    const key = `${w}:${p}`;
    const cached = memo.get(key);
    if (cached) return cached;
    const item = items[p];
    let result: MatchStrength;
    if (item.kind === 'word') {
      result = pattern.words[w](item.text) ? go(w + 1, p + 1) : 'no';
    } else {
      const could = item.kind === 'any' || picomatch.isMatch(pattern.wordText[w], item.text, { dot: true }) || pattern.words[w](item.text);
      const options: MatchStrength[] = [];
      if (could) options.push(go(w + 1, p + 1));
      if (item.kind === 'any' && item.many) options.push(go(w, p + 1), could ? go(w + 1, p) : 'no');
      result = options.some((option) => option !== 'no') ? 'maybe' : 'no';
    }
    memo.set(key, result);
    return result;
  };
  return go(1, 0);
}

/** Tools whose option parser takes any unique prefix of a long option (git's parse-options: `--har` is `--hard`). */
const ABBREVIATES_LONG_OPTIONS = new Set(['git']);

function flagsMatch(pattern: ArgvPattern, args: Token[], tool: string): MatchStrength {
  if (pattern.shortFlags.length === 0 && pattern.longFlags.length === 0) return 'sure';
  const shorts = new Set<string>();
  const longs = new Set<string>();
  for (const token of args) {
    if (token.kind !== 'exact') continue;
    if (token.text === '--') break;
    if (/^--[^-]/.test(token.text)) longs.add(token.text.split('=')[0]);
    else if (/^-[^-]/.test(token.text)) for (const letter of token.text.slice(1)) shorts.add(letter);
  }
  // a prefix may stand for the pattern's option; when it could stand for another too, git refuses it, so reading it as ours is only stricter
  const abbreviates = ABBREVIATES_LONG_OPTIONS.has(tool);
  const hasLong = (flag: string) => longs.has(flag) || (abbreviates && [...longs].some((typed) => typed.length >= 3 && flag.startsWith(typed)));
  const present = pattern.shortFlags.every((letter) => shorts.has(letter)) && pattern.longFlags.every(hasLong);
  if (present) return 'sure';
  return args.some((token) => token.kind === 'unknown') ? 'maybe' : 'no';
}

/** The command's name as rules see it: the last path part, so /usr/bin/git is git. */
export const toolName = (word: string) => path.posix.basename(word);

/**
 * How a pattern matches a command whose name is known. `surely`: in some reading of its options,
 * with no unknown word involved (enough for a deny or ask rule); `always`: in every reading (what
 * an allow rule needs); `possibly`: if unknown words turn out a certain way.
 */
export interface PatternMatch {
  surely: boolean;
  always: boolean;
  possibly: boolean;
}

export function matchPattern(pattern: ArgvPattern, name: string, args: Token[]): PatternMatch {
  const none = { surely: false, always: false, possibly: false };
  if (!pattern.words[0](toolName(name)) && !pattern.words[0](name)) return none;
  const flags = flagsMatch(pattern, args, toolName(name));
  if (flags === 'no') return none;
  const readings = [false, true].map((cautious) => wordsMatch(pattern, positionals(toolName(name), args, cautious)));
  const sureFlags = flags === 'sure';
  return {
    surely: sureFlags && readings.includes('sure'),
    always: sureFlags && readings.every((found) => found === 'sure'),
    possibly: readings.some((found) => found !== 'no'),
  };
}
