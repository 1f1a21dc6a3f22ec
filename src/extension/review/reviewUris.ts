import * as vscode from 'vscode';

/** The scheme of the review's documents: the base snapshot's side, the proposed side, and a conflict's marked text. */
export const REVIEW_SCHEME = 'airlock-review';

export type ReviewSide = 'base' | 'proposed' | 'marked';
const SIDES: ReadonlySet<string> = new Set<ReviewSide>(['base', 'proposed', 'marked']);

export interface ReviewLocation {
  /** Names the open review: the task id, or `<task>@<request>` for a review of an agent's request. */
  key: string;
  side: ReviewSide;
  /** The file's path in the workspace, `/`-separated. */
  path: string;
}

/**
 * The path is the file's own, so VS Code's views show its folder as they do for the workspace's
 * files (`src`, not an id); which review and side it is rides in the query.
 */
export function reviewUri({ key, side, path }: ReviewLocation): vscode.Uri {
  return vscode.Uri.from({ scheme: REVIEW_SCHEME, path: `/${path}`, query: new URLSearchParams({ review: key, side }).toString() });
}

/** The location a review URI names, or undefined for anything else (another scheme, a made-up query). */
export function parseReviewUri(uri: vscode.Uri): ReviewLocation | undefined {
  if (uri.scheme !== REVIEW_SCHEME || uri.path.length < 2) return undefined;
  const query = new URLSearchParams(uri.query);
  const key = query.get('review');
  const side = query.get('side');
  if (!key || !side || !SIDES.has(side)) return undefined;
  return { key, side: side as ReviewSide, path: uri.path.slice(1) };
}
