// The engine's public surface for the front ends (CLI, VS Code extension, later the MCP server).
export { AirlockError, CancelledError, describeError } from './errors.js';
export { DEFAULT_IMAGE, DEFAULT_SECRET_FILE_PATTERNS, parseTaskOptions, type TaskOptions, type TaskOptionsInput } from './config/taskOptions.js';
export { parseByteSize } from './config/byteSize.js';
export { connectEngine, type EngineConnection } from './engine/locateEngine.js';
export { describeEndpoint } from './engine/engineEndpoint.js';
export { formatDoctor, runDoctor, type DoctorReport } from './engine/doctor.js';
export { stateDir } from './stateDir.js';
export { TaskStore } from './task/taskStore.js';
export { TaskService, type TaskStatus, type CommandRequest, type GcReport } from './task/taskService.js';
export type { TaskRecord } from './task/taskRecord.js';
export type { ExecResult } from './exec/execTypes.js';
export { ChangeService, DEFAULT_MAX_FILE_BYTES, formatChanges, undoTask, type DiffOptions, type TaskChanges } from './changes/changeService.js';
export { summarizeChange, type ChangeSet, type FileChange } from './changes/changeSet.js';
export type { ApplyReport, ApplySelection, UndoReport } from './changes/applyChanges.js';
