import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Parser } from 'web-tree-sitter';
import { AirlockError } from '../ground/errors.js';

/**
 * A bash syntax tree as plain data. tree-sitter's nodes live in WASM memory and must be freed; the
 * classifier walks this copy instead, synchronously, and never holds WASM objects.
 */
export interface ShellNode {
  type: string;
  text: string;
  /** Set on ERROR and MISSING nodes: the parser could not read this part. */
  broken: boolean;
  /**
   * Followed directly by `\<newline>` and then its next sibling. tree-sitter ends a word there; bash
   * removes the pair and reads one word (`gi\<newline>t` is `git`).
   */
  continued: boolean;
  children: ShellNode[];
}

const GRAMMAR_FILE = 'tree-sitter-bash.wasm';
const RUNTIME_FILE = 'tree-sitter.wasm';

/**
 * The bundled CLI and extension carry both WASM files next to their .js (esbuild copies them);
 * from source they come from node_modules.
 */
function locate(file: string): string {
  const here = typeof __dirname === 'string' ? __dirname : process.cwd();
  const candidates = [path.join(here, file), path.join(here, '..', file)];
  try {
    candidates.push(require.resolve(file === GRAMMAR_FILE ? `tree-sitter-bash/${file}` : `web-tree-sitter/${file}`));
  } catch {
    // not resolvable from here (bundled without node_modules): the copies above must exist
  }
  const found = candidates.find((candidate) => fs.existsSync(candidate));
  if (!found) throw new AirlockError(`the shell parser's ${file} is missing (looked in ${candidates.join(', ')})`, { code: 'command.parserMissing', hint: 'Rebuild Airlock (`npm run build`); commands cannot be classified without it, so they are not run.' });
  return found;
}

let loading: Promise<Parser> | undefined;

function parser(): Promise<Parser> {
  loading ??= (async () => {
    // Loaded here, not at the top: the runtime's glue is large, and a front end that never
    // classifies a command (the editor at start, `airlock ls`) should not compile it.
    const { Language, Parser } = await import('web-tree-sitter');
    await Parser.init({ locateFile: () => locate(RUNTIME_FILE) });
    const language = await Language.load(locate(GRAMMAR_FILE));
    const instance = new Parser();
    instance.setLanguage(language);
    return instance;
  })();
  loading.catch(() => {
    loading = undefined;
  });
  return loading;
}

/** Loads the parser once; the classifier is synchronous after this. */
export async function loadShellParser(): Promise<(text: string) => ShellNode> {
  const instance = await parser();
  return (text: string) => {
    const tree = instance.parse(text);
    if (!tree) throw new AirlockError('the shell parser gave up on this command line', { code: 'command.unparsable', hint: 'Simplify the command.' });
    try {
      type TreeNode = NonNullable<ReturnType<typeof tree.rootNode.child>>;
      const continued = (node: TreeNode) => {
        const next = node.nextSibling;
        return next !== null && text.slice(node.endIndex, next.startIndex) === '\\\n';
      };
      const copy = (node: TreeNode): ShellNode => ({
        type: node.type,
        text: node.text,
        broken: node.type === 'ERROR' || node.isMissing,
        continued: continued(node),
        children: node.type === 'file_redirect' ? readWriteRedirect(node) : node.children.flatMap((child) => (child ? [copy(child)] : [])),
      });
      // tree-sitter-bash 0.25 has no `<>` (open for reading and writing, as in `exec 3<>/dev/tcp/…`):
      // it reads `<` then an ERROR holding `>`. Exactly that, with nothing between, is the operator.
      const readWriteRedirect = (node: TreeNode): ShellNode[] => {
        const out: ShellNode[] = [];
        const children = node.children.filter((child): child is TreeNode => child !== null);
        children.forEach((child, index) => {
          const before = children[index - 1];
          if (child.type === 'ERROR' && child.text === '>' && before?.type === '<' && before.endIndex === child.startIndex) {
            out[out.length - 1] = { type: '<>', text: '<>', broken: false, continued: false, children: [] };
          } else out.push(copy(child));
        });
        return out;
      };
      return copy(tree.rootNode);
    } finally {
      tree.delete();
    }
  };
}
