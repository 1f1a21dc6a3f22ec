import { printableLine } from '../ground/printable.js';
import type { ShellNode } from './shellParser.js';

/**
 * One word of a command as the shell would pass it, as far as we can know it before running:
 * - `exact`: the text, after quote removal and escapes;
 * - `glob`: an unquoted pattern the shell may expand to file names (or leave as is);
 * - `unknown`: built from an expansion or substitution. `many` when unquoted, because word
 *   splitting can turn it into any number of words, including none.
 */
export type Token = { kind: 'exact'; text: string } | { kind: 'glob'; text: string } | { kind: 'unknown'; text: string; many: boolean };

export const exact = (text: string): Token => ({ kind: 'exact', text });

/** Quote removal for an unquoted word: a backslash keeps the next character, `\<newline>` vanishes. */
function unescapeUnquoted(text: string): { text: string; glob: boolean; brace: boolean } {
  let out = '';
  let glob = false;
  let braceOpen = false;
  let brace = false;
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (char === '\\') {
      const next = text[index + 1];
      index++;
      if (next === undefined || next === '\n') continue;
      out += next;
      continue;
    }
    if (char === '*' || char === '?' || char === '[') glob = true;
    if (char === '{') braceOpen = true;
    if (braceOpen && (char === ',' || (char === '.' && text[index + 1] === '.'))) brace = true;
    out += char;
  }
  return { text: out, glob, brace };
}

/** Inside double quotes only `\$ \` \" \\` and `\<newline>` are escapes. */
function unescapeDoubleQuoted(text: string): string {
  return text.replace(/\\([$`"\\\n])/g, (_, char: string) => (char === '\n' ? '' : char));
}

/** bash's $'…' escapes. */
export function decodeAnsiC(body: string): string {
  const simple: Record<string, string> = { a: '\x07', b: '\b', e: '\x1b', E: '\x1b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', "'": "'", '"': '"', '?': '?' };
  return body.replace(/\\(x[0-9a-fA-F]{1,2}|u[0-9a-fA-F]{1,4}|U[0-9a-fA-F]{1,8}|[0-7]{1,3}|c.|.)/gs, (whole, code: string) => {
    if (code in simple) return simple[code];
    if (/^[0-7]+$/.test(code)) return String.fromCharCode(parseInt(code, 8) & 0xff);
    if (/^[xuU]/.test(code)) return String.fromCodePoint(Math.min(parseInt(code.slice(1), 16), 0x10ffff));
    if (code[0] === 'c') return String.fromCharCode(code.charCodeAt(1) & 0x1f);
    return whole;
  });
}

/**
 * Backquoted substitutions in text the grammar leaves as plain words (a `${X:-…}` operand, an unquoted
 * here-document body): bash still runs them. `open` when one is never closed.
 */
export function backquoted(text: string): { bodies: string[]; open: boolean } {
  const bodies: string[] = [];
  for (let index = 0; index < text.length; index++) {
    if (text[index] === '\\') {
      index++;
      continue;
    }
    if (text[index] !== '`') continue;
    let end = index + 1;
    while (end < text.length && text[end] !== '`') end += text[end] === '\\' ? 2 : 1;
    if (end >= text.length) return { bodies, open: true };
    // Inside backquotes a backslash escapes only $, ` and \.
    bodies.push(text.slice(index + 1, end).replace(/\\([$`\\])/g, '$1'));
    index = end;
  }
  return { bodies, open: false };
}

interface Piece {
  text: string;
  /** Known exactly? */
  known: boolean;
  /** Could split into several words (an unquoted expansion)? */
  splits: boolean;
  glob: boolean;
}

function piece(node: ShellNode): Piece {
  switch (node.type) {
    case 'word':
    case 'number': {
      const { text, glob, brace } = unescapeUnquoted(node.text);
      // Brace expansion turns one word into several: treat like an unquoted expansion.
      return brace ? { text: node.text, known: false, splits: true, glob: false } : { text, known: true, splits: false, glob };
    }
    case 'raw_string':
      return { text: node.text.slice(1, -1), known: true, splits: false, glob: false };
    case 'ansi_c_string':
      return { text: decodeAnsiC(node.text.slice(2, -1)), known: true, splits: false, glob: false };
    case 'string':
    case 'translated_string': {
      // tree-sitter drops newlines between string_content pieces, so the text comes from the node.
      const inner = node.type === 'translated_string' ? node.children.find((child) => child.type === 'string') : node;
      const literal = inner !== undefined && inner.children.every((child) => child.type === '"' || child.type === 'string_content');
      if (literal) return { text: unescapeDoubleQuoted(inner.text.slice(1, -1)), known: true, splits: false, glob: false };
      return { text: node.text, known: false, splits: false, glob: false };
    }
    case 'concatenation': {
      const parts = node.children.map(piece);
      const known = parts.every((part) => part.known);
      return { text: known ? parts.map((part) => part.text).join('') : node.text, known, splits: parts.some((part) => part.splits), glob: known && parts.some((part) => part.glob) };
    }
    case 'simple_expansion':
    case 'expansion':
    case 'command_substitution':
      return { text: node.text, known: false, splits: true, glob: false };
    default:
      // process substitutions (a /dev/fd path), arithmetic, anything newer than this code: one unknown word
      return { text: node.text, known: false, splits: false, glob: false };
  }
}

/** The token a word-like node gives, with brace expansion and `{`/`}` runs treated as unknown. */
export function wordToken(node: ShellNode): Token {
  const found = piece(node);
  if (node.type === 'concatenation') {
    // tree-sitter splits `{a,b}` into "{", "a,b", "}": look at the whole unquoted text too.
    const unquoted = node.children.filter((child) => child.type === 'word').map((child) => child.text).join('');
    if (unquoted.includes('{') && unquoted.includes('}') && /,|\.\./.test(unquoted)) return { kind: 'unknown', text: node.text, many: true };
  }
  if (!found.known) return { kind: 'unknown', text: found.text, many: found.splits };
  return found.glob ? { kind: 'glob', text: found.text } : exact(found.text);
}

/** How a token reads in messages: exact words as typed, the rest as their source text. */
export function renderTokens(tokens: Token[]): string {
  return tokens.map((token) => (token.kind === 'exact' ? quoteWord(token.text) : printableLine(token.text))).join(' ');
}

/** A word as a shell would read it back; control characters in $'…' so the result is one line. */
function quoteWord(text: string): string {
  if (/^[\w@%+=:,./-]+$/.test(text)) return text;
  if (/[\x00-\x1f\x7f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]/.test(text)) {
    return `$'${text.replace(/[\\']/g, (char) => `\\${char}`).replace(/[\x00-\x1f\x7f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]/g, (char) => (char === '\n' ? '\\n' : char === '\t' ? '\\t' : `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`))}'`;
  }
  return `'${text.replace(/'/g, `'\\''`)}'`;
}
