import * as vscode from 'vscode';
import type { TaskReview } from '../../core/index.js';
import { parseReviewUri, REVIEW_SCHEME, reviewUri, type ReviewLocation } from './reviewUris.js';

/**
 * How the file system finds a review and the marked text of a conflict. `review` may have to open
 * it first: after a reload VS Code restores the review's editors before anything else asks for it.
 */
export interface ReviewLookup {
  review(key: string): Promise<TaskReview | undefined>;
  markedText(key: string, path: string): Buffer | undefined;
}

/**
 * Serves the review's two sides to VS Code's diff editors: the base snapshot (read-only) and the
 * proposed bytes, which the reviewer may change (a hunk's revert arrow, typing) and save. A save
 * goes to the task's store on the host as the reviewer's version of the file; nothing written here
 * reaches the box, and nothing reaches the workspace until Apply.
 */
export class ReviewFileSystem implements vscode.FileSystemProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
  readonly onDidChangeFile = this.changed.event;
  /** Per document, a version that moves when its content does: VS Code re-reads a file whose mtime moved. */
  private readonly versions = new Map<string, number>();
  private readonly registration: vscode.Disposable;

  constructor(private readonly lookup: ReviewLookup) {
    this.registration = vscode.workspace.registerFileSystemProvider(REVIEW_SCHEME, this, { isCaseSensitive: true });
  }

  /** The review's content for these paths changed (a refresh, an edit, an undo): open editors re-read it. */
  contentChanged(key: string, paths: readonly string[]): void {
    const events: vscode.FileChangeEvent[] = [];
    for (const path of paths) {
      for (const side of ['base', 'proposed', 'marked'] as const) {
        const uri = reviewUri({ key, side, path });
        this.versions.set(uri.toString(), (this.versions.get(uri.toString()) ?? 0) + 1);
        events.push({ type: vscode.FileChangeType.Changed, uri });
      }
    }
    if (events.length) this.changed.fire(events);
  }

  private async locate(uri: vscode.Uri): Promise<{ location: ReviewLocation; review: TaskReview }> {
    const location = parseReviewUri(uri);
    const review = location && (await this.lookup.review(location.key));
    if (!location || !review || !review.item(location.path)) throw vscode.FileSystemError.FileNotFound(uri);
    return { location, review };
  }

  private async bytes(uri: vscode.Uri): Promise<Uint8Array> {
    const { location, review } = await this.locate(uri);
    const { side, path, key } = location;
    // A side that does not exist (an added file's base, a deleted file's proposal) reads as empty.
    const content = side === 'base' ? review.base(path) : side === 'proposed' ? review.proposed(path) : this.lookup.markedText(key, path);
    return content ?? new Uint8Array();
  }

  async stat(uri: vscode.Uri): Promise<vscode.FileStat> {
    const { location, review } = await this.locate(uri);
    const editable = location.side === 'proposed' && review.item(location.path)?.editable === true;
    const version = this.versions.get(uri.toString()) ?? 0;
    return { type: vscode.FileType.File, ctime: 0, mtime: version, size: await this.size(uri, version), ...(editable ? {} : { permissions: vscode.FilePermission.Readonly }) };
  }

  /** VS Code stats a document often; a 10 MB side is read once per version, not per stat. */
  private readonly sizes = new Map<string, { version: number; size: number }>();

  private async size(uri: vscode.Uri, version: number): Promise<number> {
    const known = this.sizes.get(uri.toString());
    if (known?.version === version) return known.size;
    return (await this.readFile(uri)).byteLength;
  }

  async readFile(uri: vscode.Uri): Promise<Uint8Array> {
    const bytes = await this.bytes(uri);
    this.sizes.set(uri.toString(), { version: this.versions.get(uri.toString()) ?? 0, size: bytes.byteLength });
    return bytes;
  }

  async writeFile(uri: vscode.Uri, content: Uint8Array): Promise<void> {
    const { location, review } = await this.locate(uri);
    if (location.side !== 'proposed' || !review.item(location.path)?.editable) throw vscode.FileSystemError.NoPermissions(uri);
    review.saveProposed(location.path, Buffer.from(content));
    this.versions.set(uri.toString(), (this.versions.get(uri.toString()) ?? 0) + 1);
  }

  watch(): vscode.Disposable {
    // Changes are announced by contentChanged for every open review, whoever watches.
    return new vscode.Disposable(() => undefined);
  }

  readDirectory(uri: vscode.Uri): never {
    throw vscode.FileSystemError.FileNotADirectory(uri);
  }

  createDirectory(uri: vscode.Uri): never {
    throw vscode.FileSystemError.NoPermissions(uri);
  }

  delete(uri: vscode.Uri): never {
    throw vscode.FileSystemError.NoPermissions(uri);
  }

  rename(uri: vscode.Uri): never {
    throw vscode.FileSystemError.NoPermissions(uri);
  }

  dispose(): void {
    this.registration.dispose();
    this.changed.dispose();
  }
}
