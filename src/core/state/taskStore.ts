import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { AuditLog } from '../audit/auditLog.js';
import { replaceFile } from '../ground/syncedWrite.js';
import { AirlockError } from '../ground/errors.js';
import { type TaskRecord, taskRecordSchema } from './taskRecord.js';
import { folderNames } from '../ground/folderNames.js';
import { processAlive } from '../ground/processAlive.js';

const TASK_ID = /^[a-z0-9]{4,32}$/;

const notAFolder = (where: string) =>
  new AirlockError(`${where} is not a folder (a symlink or a file); left as it is`, { code: 'state.notAFolder', hint: 'Look at what put it there before removing it by hand.' });

/** Host-side records, one folder per task: task.json, audit.jsonl, base snapshot files. */
export class TaskStore {
  constructor(readonly root: string) {}

  taskDir(id: string): string {
    if (!TASK_ID.test(id)) throw new AirlockError(`task id "${id}" is not valid`, { code: 'task.invalidId', hint: 'Use a task id as the task list shows it.', field: 'ID', actions: [{ kind: 'listTasks' }] });
    return path.join(this.root, 'tasks', id);
  }

  audit(id: string): AuditLog {
    return new AuditLog(path.join(this.taskDir(id), 'audit.jsonl'));
  }

  create(id: string): string {
    const dir = this.taskDir(id);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  save(record: TaskRecord): void {
    const file = path.join(this.taskDir(record.id), 'task.json');
    const temp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temp, JSON.stringify(record, null, 2), { mode: 0o600 });
    fs.renameSync(temp, file);
  }

  /**
   * Claims the recording of a task's end: created exclusively, so when two front ends (or a stop
   * and a gc) end the same task at once, exactly one writes its record and audit line.
   */
  claimEnd(id: string): boolean {
    const file = path.join(this.create(id), 'ended');
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    // A claimer killed before it wrote the record must not leave the end unrecorded for good.
    const claimer = Number(fs.readFileSync(file, 'utf8').trim());
    if (processAlive(claimer)) return false;
    fs.writeFileSync(file, `${process.pid}\n`, { mode: 0o600 });
    return true;
  }

  load(id: string): TaskRecord | undefined {
    let text: string;
    try {
      text = fs.readFileSync(path.join(this.taskDir(id), 'task.json'), 'utf8');
    } catch {
      return undefined;
    }
    return taskRecordSchema.parse(JSON.parse(text));
  }

  ids(): string[] {
    return folderNames(path.join(this.root, 'tasks')).filter((name) => TASK_ID.test(name)).sort();
  }

  all(): TaskRecord[] {
    return this.ids().flatMap((id) => {
      try {
        const record = this.load(id);
        return record ? [record] : [];
      } catch {
        return [];
      }
    });
  }

  /** Accepts a full id or a unique prefix, as the docker CLI does. */
  resolve(idOrPrefix: string): TaskRecord {
    // Every id starts with the empty string: an empty (or blank) id would read as "all of them".
    if (idOrPrefix.trim() === '') throw new AirlockError('the task id is empty', { code: 'task.emptyId', hint: 'Give a task id, or its first characters.', field: 'ID', actions: [{ kind: 'listTasks' }] });
    const matches = this.ids().filter((id) => id.startsWith(idOrPrefix));
    if (matches.length === 0) throw new AirlockError(`no task "${idOrPrefix}"`, { code: 'task.notFound', hint: 'See the task list for the ids there are.', field: 'ID', actions: [{ kind: 'listTasks' }] });
    const exact = matches.find((id) => id === idOrPrefix);
    if (!exact && matches.length > 1) throw new AirlockError(`task id "${idOrPrefix}" is ambiguous (${matches.join(', ')})`, { code: 'task.ambiguousId', hint: 'Give more characters of the id.', field: 'ID', actions: [{ kind: 'listTasks' }] });
    const record = this.load(exact ?? matches[0]);
    if (!record) throw new AirlockError(`task "${idOrPrefix}" has no readable record`, { code: 'task.unreadableRecord', hint: 'Clean up what ended tasks left behind to remove it.', field: 'ID', actions: [{ kind: 'collectGarbage' }] });
    return record;
  }

  /** Where a task's base snapshot lives: the manifest, and every copied file's bytes. */
  snapshotFiles(id: string): { manifestFile: string; contentFile: string; folderInodeFile: string } {
    const dir = this.taskDir(id);
    return { manifestFile: path.join(dir, 'manifest.bin'), contentFile: path.join(dir, 'base.bin'), folderInodeFile: path.join(dir, 'folders.json') };
  }

  /** Each copied folder's inode in the box right after the copy; undefined when none was taken. */
  folderInodes(id: string): Map<string, string> | undefined {
    try {
      const parsed = z.record(z.string(), z.string()).parse(JSON.parse(fs.readFileSync(this.snapshotFiles(id).folderInodeFile, 'utf8')));
      return new Map(Object.entries(parsed));
    } catch {
      return undefined;
    }
  }

  saveFolderInodes(id: string, inodes: ReadonlyMap<string, string>): void {
    replaceFile(this.snapshotFiles(id).folderInodeFile, JSON.stringify(Object.fromEntries(inodes)));
  }

  /** Where a task's change data lives: content blobs (container output and host backups) and undo records. */
  changeFiles(id: string): { blobDir: string; journalDir: string; changeSetDir: string; changeSetFile: string; blobWorkDir: string; reviewFile: string } {
    const dir = this.taskDir(id);
    // changes.json: where versions before named change sets kept the last one; removed on release.
    return { blobDir: path.join(dir, 'blobs'), journalDir: path.join(dir, 'applies'), changeSetDir: path.join(dir, 'changesets'), changeSetFile: path.join(dir, 'changes.json'), blobWorkDir: path.join(dir, 'blob-work'), reviewFile: path.join(dir, 'review.json') };
  }

  /** The egress gateway's control socket, its log, and the task's approval requests. */
  gatewayFiles(id: string): { socket: string; logFile: string; approvalsDir: string } {
    const dir = this.taskDir(id);
    return { socket: path.join(dir, 'gateway.sock'), logFile: path.join(dir, 'gateway.log'), approvalsDir: path.join(dir, 'approvals') };
  }

  /**
   * Deletes a task's whole folder: record, audit log, snapshot, change data, approvals. Only a real
   * folder directly inside the tasks folder is removed; a symlink there (or a tasks folder that is
   * one) is refused rather than followed, so nothing outside the state folder can be reached.
   * Returns false when there was no folder.
   */
  remove(id: string): boolean {
    const tasksDir = path.join(this.root, 'tasks');
    const dir = this.taskDir(id);
    if (path.dirname(dir) !== tasksDir || path.basename(dir) !== id) throw new AirlockError(`task id "${id}" is not valid`, { code: 'task.invalidId', hint: 'Use a task id as the task list shows it.', field: 'ID' });
    let entry: fs.Stats;
    try {
      if (!fs.lstatSync(tasksDir).isDirectory()) throw notAFolder(tasksDir);
      entry = fs.lstatSync(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
    if (!entry.isDirectory()) throw notAFolder(dir);
    // rmSync unlinks symlinks found inside without following them.
    fs.rmSync(dir, { recursive: true });
    return true;
  }

  /**
   * Drops the bulky base content of a destroyed task; the manifest, record and audit log stay, and
   * so do the blobs and undo records, so `airlock undo` still works after the task has gone.
   */
  dropSnapshot(id: string): void {
    fs.rmSync(this.snapshotFiles(id).contentFile, { force: true });
  }
}
