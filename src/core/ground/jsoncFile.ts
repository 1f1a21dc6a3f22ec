import { findNodeAtLocation, type Node, type ParseError, parseTree, printParseErrorCode } from 'jsonc-parser';
import type { z } from 'zod';
import { AirlockError, type ErrorDetails } from './errors.js';
import { readUntrustedText, UNTRUSTED_LIMITS, UntrustedFileError } from './untrustedFile.js';

/** One problem in a JSON-with-comments file, at a 1-based line and column, naming the field. */
export interface SourceProblem {
  /** Dotted path of the field ("network.agent.allow.2"), or "" for the file as a whole. */
  field: string;
  message: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
}

export interface JsoncDocument {
  file: string;
  text: string;
  tree: Node | undefined;
  /** The parsed value; undefined when the text has syntax errors (a half-written file is never used). */
  value: unknown;
  problems: SourceProblem[];
}

/**
 * Thrown for a file that does not parse or validate (`file.invalid`), or that was refused before
 * it was read (`file.refused`); `problems` carry the positions for editors, and the action opens
 * the file at the first one.
 */
export class SourceFileError extends AirlockError {
  constructor(
    readonly file: string,
    readonly problems: SourceProblem[],
    { code = 'file.invalid', hint = `Fix ${problems.length === 1 ? 'this field' : 'these fields'} in ${file} and try again.` }: Partial<Pick<ErrorDetails, 'code' | 'hint'>> = {},
  ) {
    // One entry per problem: a key or value quoting a newline is shown as \n, never as a line of its own.
    super(problems.map((problem) => formatProblem(file, problem)), {
      code,
      hint,
      field: problems[0]?.field || file,
      actions: [{ kind: 'openFile', file, ...(problems[0] ? { line: problems[0].line, column: problems[0].column } : {}) }],
    });
  }
}

export function formatProblem(file: string, problem: SourceProblem): string {
  return `${file}:${problem.line}:${problem.column}: ${problem.field ? `${problem.field}: ` : ''}${problem.message}`;
}

export function formatProblems(file: string, problems: readonly SourceProblem[]): string {
  return problems.map((problem) => formatProblem(file, problem)).join('\n');
}

function position(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let index = text.indexOf('\n'); index >= 0 && index < offset; index = text.indexOf('\n', index + 1)) {
    line++;
    start = index + 1;
  }
  return { line, column: offset - start + 1 };
}

function span(text: string, offset: number, length: number): Pick<SourceProblem, 'line' | 'column' | 'endLine' | 'endColumn'> {
  const start = position(text, offset);
  const end = position(text, offset + Math.max(length, 1));
  return { line: start.line, column: start.column, endLine: end.line, endColumn: end.column };
}

const SYNTAX_MESSAGES: Record<string, string> = {
  InvalidSymbol: 'unexpected character',
  ValueExpected: 'a value is missing here',
  ColonExpected: 'a ":" is missing after the property name',
  CommaExpected: 'a "," is missing between entries',
  CloseBraceExpected: 'a "}" is missing (is the file complete?)',
  CloseBracketExpected: 'a "]" is missing (is the file complete?)',
  PropertyNameExpected: 'a property name in double quotes is expected',
  EndOfFileExpected: 'unexpected text after the end of the JSON value',
  UnexpectedEndOfString: 'a string is not closed',
  UnexpectedEndOfComment: 'a comment is not closed',
};

/** Parses JSON with comments and trailing commas, as VS Code does for its own settings files. */
export function parseJsonc(file: string, text: string): JsoncDocument {
  const errors: ParseError[] = [];
  const tree = parseTree(text, errors, { allowTrailingComma: true, disallowComments: false });
  const problems: SourceProblem[] = [];
  for (const error of errors) {
    const code = printParseErrorCode(error.error);
    const problem = { field: '', message: `not valid JSON: ${SYNTAX_MESSAGES[code] ?? code}`, ...span(text, error.offset, error.length) };
    // An unfinished file reports the same missing brace once per open level; once is enough.
    if (!problems.some((seen) => seen.message === problem.message && seen.line === problem.line && seen.column === problem.column)) problems.push(problem);
  }
  if (!tree) problems.splice(0, problems.length, { field: '', message: 'the file is empty; it must hold a JSON object', ...span(text, 0, 0) });
  if (tree && problems.length === 0) problems.push(...duplicateKeys(text, tree));
  const value = problems.length === 0 && tree ? nodeValue(tree) : undefined;
  return { file, text, tree, value, problems };
}

/**
 * A key given twice is refused: a reviewer reading the first and a parser taking the last would see
 * two different policies.
 */
function duplicateKeys(text: string, node: Node, path: string[] = []): SourceProblem[] {
  const problems: SourceProblem[] = [];
  if (node.type === 'object') {
    const seen = new Set<string>();
    for (const property of node.children ?? []) {
      const [key, value] = property.children ?? [];
      const name = String(key?.value);
      if (seen.has(name)) problems.push({ field: [...path, name].join('.'), message: 'this key appears more than once; give it once', ...span(text, key.offset, key.length) });
      seen.add(name);
      if (value) problems.push(...duplicateKeys(text, value, [...path, name]));
    }
  } else if (node.type === 'array') {
    (node.children ?? []).forEach((child, index) => problems.push(...duplicateKeys(text, child, [...path, String(index)])));
  }
  return problems;
}

/** Like jsonc-parser's getNodeValue, but a repeated key is kept as the last one, as JSON.parse does. */
function nodeValue(node: Node): unknown {
  switch (node.type) {
    case 'object':
      return Object.fromEntries((node.children ?? []).map((property) => [property.children![0].value as string, property.children![1] ? nodeValue(property.children![1]) : undefined]));
    case 'array':
      return (node.children ?? []).map(nodeValue);
    default:
      return node.value;
  }
}

export interface JsoncReadOptions {
  /** Larger files are refused unread. */
  maxBytes?: number;
  /** The file's real path must stay inside this folder (a repository's own files). */
  within?: string;
}

/**
 * Reads a JSON-with-comments file that a repository (or an administrator) wrote; undefined when it
 * does not exist. A file that is not a regular file, is too large or leads out of `within` is a
 * SourceFileError at 1:1, so editors mark the file and a running task keeps its last good rules.
 */
export function readJsoncIfPresent(file: string, { maxBytes = UNTRUSTED_LIMITS.policyFile, within }: JsoncReadOptions = {}): JsoncDocument | undefined {
  let text: string | undefined;
  try {
    text = readUntrustedText(file, { maxBytes, within, what: file });
  } catch (error) {
    throw asSourceFileError(file, error);
  }
  return text === undefined ? undefined : parseJsonc(file, text);
}

/** A refused read as a problem at 1:1 of the refused file, the way editors and `policy show` report files. */
export function asSourceFileError(file: string, error: unknown): unknown {
  if (!(error instanceof UntrustedFileError)) return error;
  return new SourceFileError(file, [{ field: '', message: `${error.reason}; Airlock did not read it`, line: 1, column: 1, endLine: 1, endColumn: 1 }], { code: error.code, hint: error.hint });
}

export function readJsonc(file: string, options: JsoncReadOptions = {}): JsoncDocument {
  const document = readJsoncIfPresent(file, options);
  if (!document) throw new AirlockError(`${file}: cannot be read (ENOENT)`, { code: 'file.missing', hint: 'Check that the file exists and is readable.', field: file });
  return document;
}

/** Where a field sits in the file: the value itself, or the nearest enclosing value that exists. */
export function locate(document: Pick<JsoncDocument, 'text' | 'tree'>, path: ReadonlyArray<string | number>, { key = false } = {}): Pick<SourceProblem, 'line' | 'column' | 'endLine' | 'endColumn'> {
  if (!document.tree) return span(document.text, 0, 0);
  for (let depth = path.length; depth >= 0; depth--) {
    const node = findNodeAtLocation(document.tree, path.slice(0, depth));
    if (!node) continue;
    // For an unknown key, point at the key itself rather than its value.
    const target = key && depth === path.length && node.parent?.type === 'property' ? node.parent.children![0] : node;
    return span(document.text, target.offset, target.length);
  }
  return span(document.text, 0, 0);
}

type Shape = Record<string, unknown>;

/** The property names an object schema allows at `path`, for "unknown field" messages. */
function allowedKeys(schema: z.ZodType, path: ReadonlyArray<PropertyKey>): string[] {
  let current: unknown = schema;
  const unwrap = (value: unknown): unknown => {
    let inner = value as { def?: { type?: string; innerType?: unknown; in?: unknown; element?: unknown; valueType?: unknown; options?: unknown[] } };
    for (let guard = 0; guard < 16 && inner?.def; guard++) {
      const { type } = inner.def;
      if (type === 'optional' || type === 'default' || type === 'nullable' || type === 'prefault' || type === 'readonly' || type === 'catch') inner = inner.def.innerType as typeof inner;
      else if (type === 'pipe') inner = inner.def.in as typeof inner;
      else break;
    }
    return inner;
  };
  for (const step of path) {
    const node = unwrap(current) as { def?: { type?: string; element?: unknown; valueType?: unknown }; shape?: Shape };
    if (node?.def?.type === 'object' && node.shape && typeof step === 'string') current = node.shape[step];
    else if (node?.def?.type === 'array') current = node.def.element;
    else if (node?.def?.type === 'record') current = node.def.valueType;
    else return [];
  }
  const node = unwrap(current) as { def?: { type?: string }; shape?: Shape };
  return node?.def?.type === 'object' && node.shape ? Object.keys(node.shape) : [];
}

function describeIssue(issue: z.core.$ZodIssue, schema: z.ZodType): string {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${issue.expected === 'array' ? 'a list' : issue.expected === 'object' ? 'an object' : `a ${issue.expected}`}${issue.input === undefined ? ' (it is missing)' : `, got ${Array.isArray(issue.input) ? 'a list' : issue.input === null ? 'null' : typeof issue.input}`}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}`;
    case 'too_big':
      return issue.origin === 'array' ? `at most ${issue.maximum} entries are allowed` : issue.origin === 'string' ? `at most ${issue.maximum} characters are allowed` : `must be at most ${issue.maximum}`;
    case 'too_small':
      return issue.origin === 'array' ? `at least ${issue.minimum} entries are needed` : issue.origin === 'string' ? (issue.minimum === 1 ? 'must not be empty' : `at least ${issue.minimum} characters are needed`) : issue.inclusive === false ? `must be more than ${issue.minimum}` : `must be at least ${issue.minimum}`;
    case 'invalid_key':
      return `"${String(issue.path[issue.path.length - 1])}" is not allowed as a name here: ${issue.issues[0]?.message ?? 'invalid name'}`;
    case 'unrecognized_keys': {
      const allowed = allowedKeys(schema, issue.path);
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((key) => `"${key}"`).join(', ')}${allowed.length ? ` (allowed here: ${allowed.join(', ')})` : ''}`;
    }
    default:
      return issue.message;
  }
}

/** Validates a parsed document; every problem names its field, line and column and what is allowed. */
export function validateDocument<T extends z.ZodType>(document: JsoncDocument, schema: T): { ok: true; value: z.output<T> } | { ok: false; problems: SourceProblem[] } {
  if (document.problems.length > 0) return { ok: false, problems: document.problems };
  const result = schema.safeParse(document.value, { reportInput: true });
  if (result.success) return { ok: true, value: result.data };
  const problems = result.error.issues.flatMap((issue) => {
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
    return keys.map((key) => {
      const path = key === undefined ? issue.path : [...issue.path, key];
      const field = path.map(String).join('.');
      const message = describeIssue(key === undefined || issue.code !== 'unrecognized_keys' ? issue : { ...issue, keys: [key] }, schema);
      return { field, message, ...locate(document, path as Array<string | number>, { key: key !== undefined || issue.code === 'invalid_key' }) };
    });
  });
  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  return { ok: false, problems };
}

/** Reads and validates a file, throwing one readable SourceFileError with every problem. */
export function loadJsonc<T extends z.ZodType>(file: string, schema: T, options: JsoncReadOptions = {}): { document: JsoncDocument; value: z.output<T> } {
  const document = readJsonc(file, options);
  const result = validateDocument(document, schema);
  if (!result.ok) throw new SourceFileError(file, result.problems);
  return { document, value: result.value };
}
