import type { ShellNode } from './shellParser.js';
import { type Token, wordToken } from './shellWords.js';

/**
 * Where a command's standard input comes from, as far as the script says: the caller's own
 * input, a pipe or file (data we cannot see), or a here-document/here-string we can read.
 */
export type StdinSource = { kind: 'inherited' } | { kind: 'data'; from: string } | { kind: 'literal'; text: string };

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
}

const ARGUMENT_SKIP = new Set(['variable_assignment', 'file_redirect', 'heredoc_redirect', 'herestring_redirect', 'command_name']);

function heredocText(redirect: ShellNode): StdinSource {
  const start = redirect.children.find((child) => child.type === 'heredoc_start');
  const body = redirect.children.find((child) => child.type === 'heredoc_body');
  if (!body) return { kind: 'literal', text: '' };
  const quoted = start !== undefined && /['"\\]/.test(start.text);
  const expands = body.children.some((child) => child.type !== 'heredoc_content');
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

function commandOf(node: ShellNode, stdin: StdinSource): SimpleCommand | undefined {
  const name = node.children.find((child) => child.type === 'command_name');
  if (!name || name.children.length === 0) return undefined;
  let source = stdin;
  const tokens: Token[] = [wordToken(name.children[0])];
  for (const child of node.children) {
    if (child.type.endsWith('_redirect')) source = redirectStdin(child) ?? source;
    if (ARGUMENT_SKIP.has(child.type) || !child.type.match(/^[a-z_]+$/)) {
      // `$"…"` arrives as a `$` token then a string: the string alone stands for the word
      continue;
    }
    tokens.push(wordToken(child));
  }
  return { tokens, stdin: source, text: node.text };
}

/** Every simple command in the script, with the stdin each one reads. */
export function readScript(root: ShellNode): ScriptReading {
  const reading: ScriptReading = { commands: [], broken: [], changesDirectory: false };
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
          const first = command.tokens[0];
          if (first.kind !== 'exact' || ['cd', 'pushd', 'popd'].includes(first.text)) reading.changesDirectory = true;
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
      default:
        for (const child of node.children) visit(child, stdin);
    }
  };
  visit(root, { kind: 'inherited' });
  return reading;
}
