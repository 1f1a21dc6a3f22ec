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

export function reviewUri({ key, side, path }: ReviewLocation): vscode.Uri {
  return vscode.Uri.from({ scheme: REVIEW_SCHEME, path: `/${key}/${side}/${path}` });
}

/** The location a review URI names, or undefined for anything else (another scheme, a made-up path). */
export function parseReviewUri(uri: vscode.Uri): ReviewLocation | undefined {
  if (uri.scheme !== REVIEW_SCHEME) return undefined;
  const match = /^\/([^/]+)\/([^/]+)\/(.+)$/.exec(uri.path);
  if (!match || !SIDES.has(match[2])) return undefined;
  return { key: match[1], side: match[2] as ReviewSide, path: match[3] };
}
