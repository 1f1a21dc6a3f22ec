import type { ShellNode } from './shellParser.js';
import { backquoted, type Token, wordToken } from './shellWords.js';

/**
 * Where a command's standard input comes from, as far as the script says: the caller's own
 * input, a pipe or file (data we cannot see), or a here-document/here-string we can read.
 */
export type StdinSource = { kind: 'inherited' } | { kind: 'data'; from: string } | { kind: 'literal'; text: string };

/**
 * Variables a command may see, name to every value the script gives it. Read loosely on purpose
 * (any assignment anywhere in the script counts, exported or not, in any order): it only ever adds
 * readings of a command (`CARGO_ALIAS_P=publish cargo p`), never removes one.
 */
export type Environment = ReadonlyMap<string, readonly Token[]>;

export const NO_ENVIRONMENT: Environment = new Map();

/** Both environments: every value of each name. */
export function withAssignments(environment: Environment, assignments: ReadonlyArray<readonly [string, Token]>): Environment {
  if (assignments.length === 0) return environment;
  const merged = new Map(environment);
  for (const [name, value] of assignments) merged.set(name, [...(merged.get(name) ?? []), value]);
  return merged;
}

/** One simple command found anywhere in a script: in lists, pipelines, subshells, substitutions, function bodies… */
export interface SimpleCommand {
  tokens: Token[];
  stdin: StdinSource;
  /** The command's source text, for messages. */
  text: string;
}

export interface ScriptReading {
  commands: SimpleCommand[];
  /** Parts the parser could not read; never treated as harmless. */
  broken: string[];
  /** The script changes directory somewhere, so relative paths are not relative to the start folder. */
  changesDirectory: boolean;
  /** Backquoted commands the grammar left inside plain text; bash runs them, so they are judged as scripts. */
  substitutions: string[];
  /** Every `NAME=value` in the script: command prefixes, plain assignments, `export`/`local`/`declare`. */
  assignments: Array<[string, Token]>;
}

const ARGUMENT_SKIP = new Set(['variable_assignment', 'file_redirect', 'heredoc_redirect', 'herestring_redirect', 'command_name']);

/** A here-document's body, and whether its delimiter is quoted (then the body is taken as is). */
function heredocOf(redirect: ShellNode): { body: ShellNode | undefined; quoted: boolean } {
  const start = redirect.children.find((child) => child.type === 'heredoc_start');
  return { body: redirect.children.find((child) => child.type === 'heredoc_body'), quoted: start !== undefined && /['"\\]/.test(start.text) };
}

function heredocText(redirect: ShellNode): StdinSource {
  const { body, quoted } = heredocOf(redirect);
  if (!body) return { kind: 'literal', text: '' };
  // The grammar does not parse backquotes in a body: look for them in its text.
  const backquotes = backquoted(body.text);
  const expands = body.children.some((child) => child.type !== 'heredoc_content') || backquotes.bodies.length > 0 || backquotes.open;
  return quoted || !expands ? { kind: 'literal', text: body.text } : { kind: 'data', from: 'a here-document with expansions' };
}

/** The stdin a redirect gives, or undefined when the redirect leaves stdin alone. */
function redirectStdin(redirect: ShellNode): StdinSource | undefined {
  if (redirect.type === 'heredoc_redirect') return heredocText(redirect);
  if (redirect.type === 'herestring_redirect') {
    const word = redirect.children.find((child) => !child.type.startsWith('<'));
    const token = word ? wordToken(word) : undefined;
    return token?.kind === 'exact' ? { kind: 'literal', text: `${token.text}\n` } : { kind: 'data', from: 'a here-string with expansions' };
  }
  if (redirect.type === 'file_redirect') {
    const operator = redirect.children.find((child) => !child.type.match(/^(file_descriptor|word|string|raw_string|concatenation|number|simple_expansion|expansion|command_substitution|process_substitution)$/));
    const descriptor = redirect.children.find((child) => child.type === 'file_descriptor')?.text;
    if (operator && /^<(?!<)|^<>$/.test(operator.type) && (descriptor === undefined || descriptor === '0')) return { kind: 'data', from: 'a file' };
  }
  return undefined;
}

/** Two halves of a word tree-sitter split at `\<newline>`, as the one word bash reads. */
function joined(first: ShellNode, second: ShellNode): ShellNode {
  const parts = (node: ShellNode) => (node.type === 'concatenation' ? node.children : [node]);
  return { type: 'concatenation', text: first.text + second.text, broken: false, continued: second.continued, children: [...parts(first), ...parts(second)] };
}

function commandOf(node: ShellNode, stdin: StdinSource): SimpleCommand | undefined {
  const name = node.children.find((child) => child.type === 'command_name');
  if (!name || name.children.length === 0) return undefined;
  let source = stdin;
  const words: ShellNode[] = [];
  let joinNext = false;
  for (const child of node.children) {
    if (child.type.endsWith('_redirect')) source = redirectStdin(child) ?? source;
    if (child !== name && (ARGUMENT_SKIP.has(child.type) || !child.type.match(/^[a-z_]+$/))) {
      // `$"…"` arrives as a `$` token then a string: the string alone stands for the word
      joinNext = false;
      continue;
    }
    const word = child === name ? { ...name.children[0], continued: name.continued } : child;
    const previous = joinNext ? words.pop() : undefined;
    words.push(previous ? joined(previous, word) : word);
    joinNext = word.continued;
  }
  return { tokens: words.map(wordToken), stdin: source, text: node.text };
}

const CHANGE_DIRECTORY = ['cd', 'pushd', 'popd'];

/** A command that changes folder (also as `builtin cd` or `command cd`), or whose name we cannot see. */
function changesDirectory(tokens: Token[]): boolean {
  const word = tokens.find((token, index) => !(token.kind === 'exact' && (['builtin', 'command'].includes(token.text) || (index > 0 && token.text.startsWith('-')))));
  return word !== undefined && (word.kind !== 'exact' || CHANGE_DIRECTORY.includes(word.text));
}

/** Backquotes in text the grammar did not parse, as scripts to judge; one left open cannot be read. */
function noteBackquotes(text: string, reading: ScriptReading): void {
  const { bodies, open } = backquoted(text);
  reading.substitutions.push(...bodies);
  if (open) reading.broken.push(text);
}

/** Every simple command in the script, with the stdin each one reads. */
export function readScript(root: ShellNode): ScriptReading {
  const reading: ScriptReading = { commands: [], broken: [], changesDirectory: false, substitutions: [], assignments: [] };
  const visit = (node: ShellNode, stdin: StdinSource): void => {
    if (node.broken) {
      reading.broken.push(node.text);
      return;
    }
    switch (node.type) {
      case 'command': {
        const command = commandOf(node, stdin);
        if (command) {
          reading.commands.push(command);
          if (changesDirectory(command.tokens)) reading.changesDirectory = true;
        }
        for (const child of node.children) visit(child, { kind: 'inherited' });
        return;
      }
      case 'pipeline': {
        // `a | b`: b reads a pipe. tree-sitter also hangs `| b` under a here-document's redirect,
        // as a pipeline that starts with the `|`.
        let piped = false;
        for (const child of node.children) {
          if (child.type === '|' || child.type === '|&') piped = true;
          else visit(child, piped ? { kind: 'data', from: 'a pipe' } : stdin);
        }
        return;
      }
      case 'redirected_statement': {
        const redirects = node.children.filter((child) => child.type.endsWith('_redirect'));
        const own = redirects.map(redirectStdin).filter((found): found is StdinSource => found !== undefined).at(-1) ?? stdin;
        for (const child of node.children) visit(child, child.type.endsWith('_redirect') ? stdin : own);
        return;
      }
      case 'variable_assignment': {
        const name = node.children.find((child) => child.type === 'variable_name');
        const value = node.children.find((child) => child !== name && !/^\+?=$/.test(child.type));
        // `+=` appends to a value the script may not show
        const appends = node.children.some((child) => child.type === '+=');
        if (name) reading.assignments.push([name.text, appends ? { kind: 'unknown', text: node.text, many: false } : value ? wordToken(value) : { kind: 'exact', text: '' }]);
        for (const child of node.children) visit(child, stdin);
        return;
      }
      case 'expansion':
        // tree-sitter leaves a backquote in `${X:-…}` or `${X/…/…}` as a plain word or regex
        for (const child of node.children) if (child.type === 'word' || child.type === 'regex') noteBackquotes(child.text, reading);
        for (const child of node.children) visit(child, stdin);
        return;
      case 'heredoc_redirect': {
        // …and backquotes in an unquoted here-document body as plain text
        const { body, quoted } = heredocOf(node);
        if (body && !quoted) noteBackquotes(body.text, reading);
        for (const child of node.children) visit(child, stdin);
        return;
      }
      default:
        for (const child of node.children) visit(child, stdin);
    }
  };
  visit(root, { kind: 'inherited' });
  return reading;
}
