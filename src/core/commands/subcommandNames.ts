import picomatch from 'picomatch';

/**
 * How a tool reads its subcommand word: its command names, its alias table, and which
 * abbreviations it accepts. Copied from the tools' own sources, so `npm pub` is read as npm reads it.
 */
export interface SubcommandTable {
  tool: string;
  commands: readonly string[];
  /** Spelling to command; every target is in `commands`. */
  aliases: Readonly<Record<string, string>>;
  /**
   * `npm`: npm's `abbrev` over names and aliases, then the alias table (lib/utils/cmd-list.js).
   * `prefix`: a prefix that starts exactly one command name (RubyGems' CommandManager#find_command).
   */
  abbreviations: 'npm' | 'prefix';
  /** npm reads `distTag` as `dist-tag`. */
  camelCase?: boolean;
  /** RubyGems reads `PUSH` as `push`. */
  lowercase?: boolean;
}

/** npm 11.19 lib/utils/cmd-list.js. */
export const NPM_COMMANDS: SubcommandTable = {
  tool: 'npm',
  abbreviations: 'npm',
  camelCase: true,
  commands: [
    'access', 'adduser', 'approve-scripts', 'audit', 'bugs', 'cache', 'ci', 'completion', 'config', 'dedupe', 'deny-scripts', 'deprecate', 'diff', 'dist-tag', 'docs', 'doctor', 'edit', 'exec', 'explain', 'explore',
    'find-dupes', 'fund', 'get', 'help', 'help-search', 'init', 'install', 'install-ci-test', 'install-scripts', 'install-test', 'link', 'll', 'login', 'logout', 'ls', 'org', 'outdated', 'owner', 'pack', 'ping',
    'pkg', 'prefix', 'profile', 'prune', 'publish', 'query', 'rebuild', 'repo', 'restart', 'root', 'run', 'sbom', 'search', 'set', 'shrinkwrap', 'stage', 'star', 'stars', 'start', 'stop', 'team', 'test', 'token',
    'trust', 'undeprecate', 'uninstall', 'unpublish', 'unstar', 'update', 'version', 'view', 'whoami',
  ],
  aliases: {
    author: 'owner', home: 'docs', issues: 'bugs', info: 'view', show: 'view', find: 'search', add: 'install', unlink: 'uninstall', remove: 'uninstall', rm: 'uninstall', r: 'uninstall',
    un: 'uninstall', rb: 'rebuild', list: 'ls', ln: 'link', create: 'init', i: 'install', it: 'install-test', cit: 'install-ci-test', u: 'update', up: 'update', c: 'config', s: 'search', se: 'search',
    tst: 'test', t: 'test', ddp: 'dedupe', v: 'view', 'run-script': 'run', 'clean-install': 'ci', 'clean-install-test': 'install-ci-test', x: 'exec', why: 'explain', la: 'll', verison: 'version', ic: 'ci',
    innit: 'init', in: 'install', ins: 'install', inst: 'install', insta: 'install', instal: 'install', isnt: 'install', isnta: 'install', isntal: 'install', isntall: 'install', 'install-clean': 'ci',
    'isntall-clean': 'ci', hlep: 'help', 'dist-tags': 'dist-tag', upgrade: 'update', udpate: 'update', rum: 'run', sit: 'install-ci-test', urn: 'run', ogr: 'org', 'add-user': 'adduser',
  },
};

/** RubyGems 3.x lib/rubygems/command_manager.rb: COMMANDS and ALIAS_COMMANDS. */
export const GEM_COMMANDS: SubcommandTable = {
  tool: 'gem',
  abbreviations: 'prefix',
  lowercase: true,
  commands: [
    'build', 'cert', 'check', 'cleanup', 'contents', 'dependency', 'environment', 'exec', 'fetch', 'generate_index', 'help', 'info', 'install', 'list', 'lock', 'mirror', 'open', 'outdated', 'owner', 'pristine',
    'push', 'query', 'rdoc', 'rebuild', 'search', 'server', 'signin', 'signout', 'sources', 'specification', 'stale', 'uninstall', 'unpack', 'update', 'which', 'yank',
  ],
  aliases: { i: 'install', login: 'signin', logout: 'signout' },
};

/** npm's `abbrev`: every prefix of a word that no other word in the list shares, and each word itself. */
export function abbreviations(words: readonly string[]): Map<string, string> {
  const list = [...new Set(words)].sort((a, b) => (a === b ? 0 : a > b ? 1 : -1));
  const out = new Map<string, string>();
  for (let index = 0; index < list.length; index++) {
    const current = list[index];
    const previous = list[index - 1] ?? '';
    const next = list[index + 1] ?? '';
    // the shortest prefix that neither neighbour in sorted order starts with
    let length = 1;
    while (length <= current.length && (next.startsWith(current.slice(0, length)) || previous.startsWith(current.slice(0, length)))) length++;
    for (; length <= current.length; length++) out.set(current.slice(0, length), current);
    out.set(current, current);
  }
  return out;
}

const abbreviationCache = new Map<SubcommandTable, Map<string, string>>();
const abbreviationsOf = (table: SubcommandTable) => {
  let found = abbreviationCache.get(table);
  if (!found) abbreviationCache.set(table, (found = abbreviations([...table.commands, ...Object.keys(table.aliases)])));
  return found;
};

/** Every spelling the table names (commands and aliases), with the command it stands for. */
const spellings = (table: SubcommandTable): Array<[string, string]> => [...table.commands.map((name): [string, string] => [name, name]), ...Object.entries(table.aliases)];

/**
 * The commands a typed subcommand word runs. One, as the tool reads it today; several when this
 * version of the tool refuses the word as ambiguous, because a version with fewer commands (or a
 * plugin more) reads it as one of them; none when nothing starts with it.
 */
export function resolveSubcommand(table: SubcommandTable, typed: string): string[] {
  let word = table.lowercase ? typed.toLowerCase() : typed;
  if (table.camelCase && /[A-Z]/.test(word)) word = word.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
  if (table.commands.includes(word)) return [word];
  if (Object.hasOwn(table.aliases, word)) return [table.aliases[word]];
  if (table.abbreviations === 'npm') {
    let found = abbreviationsOf(table).get(word);
    while (found !== undefined && Object.hasOwn(table.aliases, found)) found = table.aliases[found];
    if (found !== undefined) return [found];
  } else {
    const starting = table.commands.filter((name) => name.startsWith(word));
    if (starting.length === 1) return starting;
  }
  return [...new Set(spellings(table).filter(([spelling]) => spelling.startsWith(word) && word.length > 0).map(([, command]) => command))];
}

/** The commands an unquoted pattern in the subcommand's place could run, once the shell expands it to file names. */
export function resolveSubcommandPattern(table: SubcommandTable, pattern: string): string[] {
  const matches = picomatch(pattern, { dot: true, nobrace: true, noextglob: true });
  const found = new Set<string>();
  for (const [spelling] of spellings(table)) {
    for (let length = 1; length <= spelling.length; length++) {
      const prefix = spelling.slice(0, length);
      if (matches(prefix)) for (const command of resolveSubcommand(table, prefix)) found.add(command);
    }
  }
  return [...found];
}
