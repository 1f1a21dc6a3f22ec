import { parse as parseJsonc, type ParseError } from 'jsonc-parser';

/**
 * Files that usually change harmlessly (a dependency bump) but sometimes change what runs on the
 * host: they are judged by their before and after text. Each check returns the reasons it finds;
 * a file whose after text is not at hand (binary, too large, unreadable) is flagged, since what
 * cannot be read cannot be cleared. The path list of always-risky files is in hostRunFiles.ts.
 */
export type ContentCheck = (beforeText: string | undefined, afterText: string) => string[];

interface ContentRule {
  /** Matched against the base name. */
  name: RegExp;
  label: string;
  check: ContentCheck;
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => Boolean(value) && typeof value === 'object' && !Array.isArray(value);
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function parseJson(text: string | undefined): Json | undefined {
  if (text === undefined) return {};
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// package.json and composer.json

/** package.json fields whose change runs code on the next install, run, commit or editor start. */
const PACKAGE_EXECUTION_FIELDS = [
  // npm, yarn, pnpm and bun lifecycle and layout
  'scripts', 'bin', 'directories', 'config', 'workspaces', 'packageManager', 'devEngines', 'pnpm', 'overrides', 'resolutions', 'gypfile',
  'trustedDependencies', 'dependenciesMeta', 'patchedDependencies', 'bundleDependencies', 'bundledDependencies',
  // git hook runners configured in package.json
  'husky', 'simple-git-hooks', 'lint-staged', 'nano-staged', 'gitHooks', 'ghooks', 'pre-commit', 'precommit', 'pre-push', 'prepush', 'commitlint',
  // tool configs that name plugins, parsers, transforms or setup files that editors load
  'eslintConfig', 'prettier', 'stylelint', 'babel', 'jest', 'ava', 'mocha', 'c8', 'nyc', 'xo',
];

const DEPENDENCY_FIELDS = ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies'];

/**
 * A dependency spec that does not come from the configured registry by version: a URL, git, a
 * local path, a GitHub shorthand or an alias. Such a package is fetched from elsewhere and its
 * install scripts run with it. `workspace:` and `catalog:` name packages of this repository.
 */
function offRegistrySpec(spec: unknown): boolean {
  if (typeof spec !== 'string') return true;
  if (/^(workspace|catalog):/.test(spec)) return false;
  return /[:/\\]/.test(spec);
}

function packageJsonCheck(label: string, fields: readonly string[], dependencyFields: readonly string[]): ContentCheck {
  return (beforeText, afterText) => {
    const before = parseJson(beforeText) ?? {};
    const after = parseJson(afterText);
    if (!after) return [`${label} could not be parsed; it may hide script changes`];
    const reasons: string[] = [];
    const changed = fields.filter((field) => !same(before[field], after[field]));
    if (changed.length) reasons.push(`${label} changes ${changed.join(', ')} (runs on install or run)`);
    const offRegistry: string[] = [];
    for (const field of dependencyFields) {
      const was = isObject(before[field]) ? before[field] : {};
      const now = after[field];
      if (now === undefined) continue;
      if (!isObject(now)) {
        offRegistry.push(field);
        continue;
      }
      for (const [name, spec] of Object.entries(now)) if (!same(was[name], spec) && offRegistrySpec(spec)) offRegistry.push(`${name}@${String(spec)}`);
    }
    if (offRegistry.length) reasons.push(`${label} adds dependencies from outside the registry: ${offRegistry.join(', ')} (fetched and built on install)`);
    return reasons;
  };
}

// ---------------------------------------------------------------------------------------------
// lockfiles

/** Where packages come from when a lockfile is new: the public registries of each ecosystem. */
const PUBLIC_SOURCES = new Set([
  'https://registry.npmjs.org', 'https://registry.yarnpkg.com', 'https://pypi.org', 'https://files.pythonhosted.org',
  'registry+https://github.com', 'sparse+https://index.crates.io', 'https://rubygems.org', 'https://repo.packagist.org', 'https://api.nuget.org',
]);

/**
 * The sources a lockfile names: URL origins (scheme and host), ssh git hosts, and the local,
 * VCS and script protocols package managers understand (a `file:` or `exec:` package is built
 * from whatever that path or script produces).
 */
function sourcesOf(text: string): Set<string> {
  const found = new Set<string>();
  for (const match of text.matchAll(/\b([a-z][a-z0-9+.-]*):\/\/([^/\s"'#?,)}\]]+)/gi)) found.add(`${match[1].toLowerCase()}://${match[2].toLowerCase().replace(/^[^@]*@/, '')}`);
  for (const match of text.matchAll(/\bgit@([^:\s"']+):/gi)) found.add(`git@${match[1].toLowerCase()}`);
  for (const match of text.matchAll(/(?<![\w.-])(file|link|portal|exec|patch|git|github|gitlab|bitbucket|directory|editable|path)\s*[:=]\s*(?=["'{[]?\s*[\w.~/\\$])/gi)) found.add(`${match[1].toLowerCase()}:`);
  for (const match of text.matchAll(/\btype\s*[:=]\s*["']?(git|directory|file|url|legacy)\b/gi)) found.add(`type ${match[1].toLowerCase()}`);
  // npm writes git and file sources into "resolved" and "version" fields without a scheme separator we match above.
  for (const match of text.matchAll(/["'\s](git\+[a-z]+|github|gitlab|bitbucket|file|link|npm):(?!\/\/)/gi)) found.add(`${match[1].toLowerCase()}:`);
  found.delete('npm:');
  return found;
}

function newSources(label: string, beforeText: string | undefined, afterText: string): string[] {
  return reportNewSources(label, beforeText === undefined ? PUBLIC_SOURCES : sourcesOf(beforeText), sourcesOf(afterText));
}

function reportNewSources(label: string, before: ReadonlySet<string>, after: ReadonlySet<string>): string[] {
  const fresh = [...after].filter((source) => !before.has(source)).sort();
  return fresh.length ? [`${label} resolves packages from a new source: ${fresh.slice(0, 5).join(', ')}${fresh.length > 5 ? ` and ${fresh.length - 5} more` : ''} (fetched and run on install)`] : [];
}

/**
 * Lockfiles made of blank-line-separated entries (yarn.lock, pnpm-lock.yaml, Cargo.lock,
 * poetry.lock, uv.lock, pdm.lock): an entry with the same header, name and version whose hash or
 * resolution changed is the same package with other bytes, which no honest update produces.
 */
function entryKey(block: string[]): string {
  return [block[0], ...block.filter((line) => /^\s*"?(name|version)"?\s*[:= ]/.test(line))].map((line) => line.trim()).join('\n');
}
// Anchored so that poetry's `content-hash` (which changes with every dependency edit) is not a pin.
const PIN_LINE = /(^|[\s{,])"?(integrity|checksum|resolved|resolution|hash|sha1|sha256|sha512|tarball)"?\s*[:= ]/i;

function entriesOf(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const chunk of text.split(/\r?\n\s*\r?\n/)) {
    const block = chunk.split(/\r?\n/).filter((line) => line.trim() && !line.trim().startsWith('#'));
    if (!block.length) continue;
    const pins = block.filter((line) => PIN_LINE.test(line)).map((line) => line.trim()).sort().join('\n');
    if (pins) entries.set(entryKey(block), pins);
  }
  return entries;
}

function repinnedEntries(label: string, beforeText: string | undefined, afterText: string): string[] {
  if (beforeText === undefined) return [];
  const before = entriesOf(beforeText);
  const repinned = [...entriesOf(afterText)].filter(([key, pins]) => before.has(key) && before.get(key) !== pins).map(([key]) => key.split('\n')[0].replace(/:$/, ''));
  return repinned.length ? [`${label} changes the hash or source of ${repinned.slice(0, 3).join(', ')}${repinned.length > 3 ? ` and ${repinned.length - 3} more` : ''} without a version change`] : [];
}

/** go.sum and Gemfile.lock checksums: one `module version hash` record a line. */
function repinnedLines(label: string, beforeText: string | undefined, afterText: string): string[] {
  if (beforeText === undefined) return [];
  const HASH = /\s(h1:\S+|sha256=\S+)\s*$/;
  const pins = (text: string) => new Map(text.split(/\r?\n/).flatMap((line) => (HASH.test(line) ? [[line.replace(HASH, '').trim(), line.match(HASH)![1]] as const] : [])));
  const before = pins(beforeText);
  const repinned = [...pins(afterText)].filter(([key, hash]) => before.has(key) && before.get(key) !== hash).map(([key]) => key);
  return repinned.length ? [`${label} changes the checksum of ${repinned.slice(0, 3).join(', ')}${repinned.length > 3 ? ` and ${repinned.length - 3} more` : ''} without a version change`] : [];
}

function textLockfileCheck(label: string, lineRecords = false): ContentCheck {
  return (beforeText, afterText) => [...newSources(label, beforeText, afterText), ...(lineRecords ? repinnedLines : repinnedEntries)(label, beforeText, afterText)];
}

/** package-lock.json and npm-shrinkwrap.json: entries keyed by install path (v2/v3) or nested (v1). */
function npmLockEntries(lock: Json): Map<string, Json> {
  const entries = new Map<string, Json>();
  if (isObject(lock.packages)) for (const [key, value] of Object.entries(lock.packages)) if (isObject(value)) entries.set(key, value);
  const walk = (prefix: string, dependencies: unknown) => {
    if (!isObject(dependencies)) return;
    for (const [name, value] of Object.entries(dependencies)) {
      if (!isObject(value)) continue;
      const key = `${prefix}node_modules/${name}`;
      if (!entries.has(key)) entries.set(key, value);
      walk(`${key}/`, value.dependencies);
    }
  };
  walk('', lock.dependencies);
  return entries;
}

function npmLockfileCheck(label: string): ContentCheck {
  return (beforeText, afterText) => {
    const before = parseJson(beforeText) ?? {};
    const after = parseJson(afterText);
    if (!after) return [`${label} could not be parsed; it may hide a changed package source`];
    const was = npmLockEntries(before);
    const now = npmLockEntries(after);
    // Sources from the fields npm fetches from, not the whole text: faster on big lockfiles, and a
    // URL in a package's description or funding link is not a source.
    const sources = (entries: Map<string, Json>) => {
      const found = new Set<string>();
      for (const entry of entries.values()) {
        // A workspace link or a local folder: built from whatever is at that path.
        if (entry.link === true || (typeof entry.resolved === 'string' && !/^[a-z][a-z0-9+.-]*:/i.test(entry.resolved))) found.add('file:');
        for (const field of [entry.resolved, entry.version]) if (typeof field === 'string' && /[:/]/.test(field)) for (const source of sourcesOf(` ${field} `)) found.add(source);
      }
      return found;
    };
    const reasons = reportNewSources(label, beforeText === undefined ? PUBLIC_SOURCES : sources(was), sources(now));
    const repinned: string[] = [];
    const installScripts: string[] = [];
    for (const [key, entry] of now) {
      const old = was.get(key);
      const name = key.replace(/^.*node_modules\//, '') || '(root)';
      if (old && same(old.version, entry.version) && (!same(old.integrity, entry.integrity) || !same(old.resolved, entry.resolved))) repinned.push(name);
      if (entry.hasInstallScript === true && !(old?.hasInstallScript === true && same(old.version, entry.version))) installScripts.push(`${name}@${String(entry.version)}`);
    }
    if (repinned.length) reasons.push(`${label} changes the integrity or source of ${repinned.slice(0, 3).join(', ')}${repinned.length > 3 ? ` and ${repinned.length - 3} more` : ''} without a version change`);
    if (installScripts.length) reasons.push(`${label} adds packages with install scripts: ${installScripts.slice(0, 5).join(', ')}${installScripts.length > 5 ? ` and ${installScripts.length - 5} more` : ''} (they run on npm install)`);
    return reasons;
  };
}

// ---------------------------------------------------------------------------------------------
// TOML manifests (pyproject.toml, Cargo.toml, Pipfile) and go.mod, line by line

interface KeyedLine {
  /** The dotted key the line sets or continues (`tool.hatch.build.hooks.custom.path`). */
  key: string;
  line: string;
}

const normalizeKey = (raw: string) =>
  raw
    .split('.')
    .map((part) => part.trim().replace(/^["']|["']$/g, ''))
    .filter(Boolean)
    .join('.');

/** Bracket depth change of a TOML line, ignoring brackets in strings and comments. */
function bracketDelta(line: string): number {
  let depth = 0;
  let quote = '';
  for (let index = 0; index < line.length; index++) {
    const char = line[index];
    if (quote) {
      if (char === '\\' && quote === '"') index++;
      else if (char === quote) quote = '';
    } else if (char === '"' || char === "'") quote = char;
    else if (char === '#') break;
    else if (char === '[' || char === '{') depth++;
    else if (char === ']' || char === '}') depth--;
  }
  return depth;
}

/**
 * Every meaningful line with the full key it belongs to. Lines inside a multi-line array count
 * for the key that opened it and are never read as table headers (an element `["project"]` must
 * not pass for one). A multi-line string could hide or fake a header too, so a file with one is
 * not read line by line (the caller flags it whole).
 */
function tomlLines(text: string): KeyedLine[] | undefined {
  if (/"""|'''/.test(text)) return undefined;
  const out: KeyedLine[] = [];
  let table = '';
  let key = '';
  let depth = 0;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const header = depth === 0 ? /^\[\[?([^\]]+)\]\]?\s*(#.*)?$/.exec(line) : null;
    if (header) {
      table = normalizeKey(header[1]);
      key = table;
      out.push({ key, line });
      continue;
    }
    const assignment = depth === 0 ? /^((?:"[^"]*"|'[^']*'|[\w.\s-])+?)\s*=/.exec(line) : null;
    if (assignment) key = [table, normalizeKey(assignment[1])].filter(Boolean).join('.');
    // A line that is neither (a stray word at depth 0) belongs to no safe key.
    else if (depth === 0) key = `${table}.?`;
    out.push({ key, line });
    depth = Math.max(0, depth + bracketDelta(line));
  }
  return out;
}

/** Lines present on one side only (a multiset difference both ways). */
function changedLines(before: KeyedLine[], after: KeyedLine[]): KeyedLine[] {
  const count = new Map<string, number>();
  const id = (item: KeyedLine) => `${item.key}\0${item.line}`;
  for (const item of before) count.set(id(item), (count.get(id(item)) ?? 0) + 1);
  const added: KeyedLine[] = [];
  for (const item of after) {
    const left = count.get(id(item)) ?? 0;
    if (left > 0) count.set(id(item), left - 1);
    else added.push(item);
  }
  const removed = before.filter((item) => {
    const left = count.get(id(item)) ?? 0;
    if (left > 0) {
      count.set(id(item), left - 1);
      return true;
    }
    return false;
  });
  return [...added, ...removed];
}

const under = (key: string, prefix: string) => key === prefix || key.startsWith(`${prefix}.`);

interface TomlPolicy {
  /** Keys (and everything under them) whose change only affects metadata, dependencies or a tool that runs no code. */
  safe: readonly string[];
  /** Keys under a safe one that still run code. */
  unsafe: readonly string[];
  /** A changed line in a safe key that matches this points a dependency somewhere other than the registry. */
  offRegistry: RegExp;
}

function tomlCheck(label: string, policy: TomlPolicy): ContentCheck {
  return (beforeText, afterText) => {
    const before = tomlLines(beforeText ?? '');
    const after = tomlLines(afterText);
    if (!before || !after) return [`${label} has multi-line strings and is judged as a whole; check it by eye`];
    const risky = new Set<string>();
    const offRegistry = new Set<string>();
    for (const { key, line } of changedLines(before, after)) {
      const safe = policy.safe.some((prefix) => under(key, prefix)) && !policy.unsafe.some((prefix) => under(key, prefix));
      if (!safe) risky.add(key || '(top level)');
      else if (policy.offRegistry.test(line)) offRegistry.add(key);
    }
    const reasons: string[] = [];
    if (risky.size) reasons.push(`${label} changes ${[...risky].slice(0, 5).join(', ')}${risky.size > 5 ? ` and ${risky.size - 5} more` : ''} (build, tool or source settings that run code)`);
    if (offRegistry.size) reasons.push(`${label} points ${[...offRegistry].slice(0, 5).join(', ')} outside the registry (git, URL or local path, built on install)`);
    return reasons;
  };
}

const PYPROJECT: TomlPolicy = {
  safe: [
    'project', 'dependency-groups',
    'tool.poetry', 'tool.ruff', 'tool.black', 'tool.isort', 'tool.pyright', 'tool.basedpyright', 'tool.codespell', 'tool.pydocstyle', 'tool.yapf', 'tool.autopep8', 'tool.docformatter', 'tool.typos',
  ],
  // poetry sources and build scripts; project.entry-points are fine, but dynamic metadata can import the package.
  unsafe: ['tool.poetry.source', 'tool.poetry.build', 'tool.poetry.requires-plugins', 'tool.poetry.plugins', 'project.dynamic'],
  offRegistry: /(@\s*[a-z+]+:\/\/|\bgit\+|\bfile:|\b(path|url|git|develop|editable)\s*=|\.\.\/|"\.\/)/i,
};

const CARGO: TomlPolicy = {
  safe: ['package', 'dependencies', 'dev-dependencies', 'build-dependencies', 'target', 'features', 'bin', 'example', 'test', 'bench', 'badges', 'lints', 'profile', 'workspace.package', 'workspace.dependencies', 'workspace.lints', 'workspace.metadata'],
  // package.build names the build script, links and metabuild run native builds, target.*.runner and rustflags run programs.
  unsafe: ['package.build', 'package.links', 'package.metabuild', 'profile.release.build-override'],
  offRegistry: /\b(git|path|registry|registry-index|branch|rev)\s*=|\bbuild\s*=|\brunner\s*=|\blinker\s*=|\brustflags\s*=/i,
};

const PIPFILE: TomlPolicy = {
  safe: ['packages', 'dev-packages', 'requires'],
  unsafe: [],
  offRegistry: /(\b(path|file|git|ref|editable|index)\s*=|:\/\/)/i,
};

/** go.mod: `replace` points a module at other code, `toolchain` switches the go binary that runs. */
const goModCheck: ContentCheck = (beforeText, afterText) => {
  const directives = (text: string) => {
    const out: string[] = [];
    let block = '';
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.replace(/\/\/.*$/, '').trim();
      if (!line) continue;
      const open = /^(\w+)\s*\($/.exec(line);
      if (open) block = open[1]!;
      else if (line === ')') block = '';
      else out.push(block ? `${block} ${line}` : line);
    }
    return out;
  };
  const before = new Set(directives(beforeText ?? ''));
  const after = new Set(directives(afterText));
  const changed = [...[...after].filter((line) => !before.has(line)), ...[...before].filter((line) => !after.has(line))];
  const risky = [...new Set(changed.map((line) => line.split(/\s+/)[0]).filter((word) => ['replace', 'toolchain', 'godebug', 'tool'].includes(word)))];
  return risky.length ? [`go.mod changes ${risky.join(', ')} (other module code or another go toolchain runs on build)`] : [];
};

/** requirements.txt: pip options (other indexes, editable installs, find-links) and direct URLs or paths. */
const requirementsCheck: ContentCheck = (beforeText, afterText) => {
  const lines = (text: string) => new Set(text.split(/\r?\n/).map((line) => line.replace(/(^|\s)#.*$/, '').trim()).filter(Boolean));
  const before = lines(beforeText ?? '');
  const fresh = [...lines(afterText)].filter((line) => !before.has(line) && (/^-/.test(line) || /:\/\/|\bgit\+|\bfile:|\s@\s|^\.{0,2}\/|^[a-z]:\\/i.test(line)));
  return fresh.length ? [`requirements adds ${fresh.slice(0, 3).join(', ')}${fresh.length > 3 ? ` and ${fresh.length - 3} more` : ''} (another index, a URL or a local path, built on install)`] : [];
};

/** tsconfig.json and jsconfig.json: language-service plugins are loaded by the TypeScript server in the editor. */
const tsconfigCheck: ContentCheck = (beforeText, afterText) => {
  const read = (text: string | undefined) => {
    if (text === undefined) return {};
    const errors: ParseError[] = [];
    const value: unknown = parseJsonc(text, errors, { allowTrailingComma: true });
    return errors.length || !isObject(value) ? undefined : value;
  };
  const before = read(beforeText) ?? {};
  const after = read(afterText);
  if (!after) return ['tsconfig could not be parsed; it may hide a language-service plugin'];
  const options = (config: Json) => (isObject(config.compilerOptions) ? config.compilerOptions : {});
  const changed = [
    ...(!same(options(before).plugins, options(after).plugins) ? ['compilerOptions.plugins'] : []),
    ...(!same(before.extends, after.extends) ? ['extends'] : []),
  ];
  return changed.length ? [`tsconfig changes ${changed.join(', ')} (the editor's TypeScript server loads the plugins it names)`] : [];
};

export const CONTENT_RULES: readonly ContentRule[] = [
  { name: /^package\.json$/i, label: 'package.json', check: packageJsonCheck('package.json', PACKAGE_EXECUTION_FIELDS, DEPENDENCY_FIELDS) },
  { name: /^composer\.json$/i, label: 'composer.json', check: packageJsonCheck('composer.json', ['scripts', 'scripts-descriptions', 'repositories', 'config', 'extra', 'autoload', 'autoload-dev', 'bin'], []) },
  { name: /^(package-lock|npm-shrinkwrap)\.json$/i, label: 'the npm lockfile', check: npmLockfileCheck('the npm lockfile') },
  { name: /^(yarn\.lock|pnpm-lock\.yaml|cargo\.lock|poetry\.lock|uv\.lock|pdm\.lock|pylock(\..+)?\.toml)$/i, label: 'the lockfile', check: textLockfileCheck('the lockfile') },
  { name: /^(bun\.lockb?|pipfile\.lock|composer\.lock|packages\.lock\.json|gradle\.lockfile|flake\.lock)$/i, label: 'the lockfile', check: textLockfileCheck('the lockfile') },
  { name: /^(go\.sum|gemfile\.lock|gems\.locked)$/i, label: 'the lockfile', check: textLockfileCheck('the lockfile', true) },
  { name: /^pyproject\.toml$/i, label: 'pyproject.toml', check: tomlCheck('pyproject.toml', PYPROJECT) },
  { name: /^cargo\.toml$/i, label: 'Cargo.toml', check: tomlCheck('Cargo.toml', CARGO) },
  { name: /^pipfile$/i, label: 'Pipfile', check: tomlCheck('Pipfile', PIPFILE) },
  { name: /^go\.mod$/i, label: 'go.mod', check: goModCheck },
  { name: /^(requirements|constraints)([-_.][\w.-]*)?\.(txt|in)$/i, label: 'requirements', check: requirementsCheck },
  { name: /^(tsconfig([-_.][\w.-]*)?|jsconfig)\.json$/i, label: 'tsconfig', check: tsconfigCheck },
];

/** Reasons from the content rule for this path, if one applies; `afterText` undefined means the new content could not be read as text. */
export function contentRisk(rel: string, beforeText: string | undefined, afterText: string | undefined): string[] {
  const name = rel.slice(rel.lastIndexOf('/') + 1);
  const rule = CONTENT_RULES.find((candidate) => candidate.name.test(name));
  if (!rule) return [];
  if (afterText === undefined) return [`${rule.label} could not be read as text; it may hide a change that runs on install`];
  return rule.check(beforeText, afterText);
}
