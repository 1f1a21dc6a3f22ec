/** Output bytes a command may have sent to the host that the host's consumer has not yet taken. */
export const OUTPUT_WINDOW = 256 * 1024;
/** Stdin bytes the host may have sent for a command that are not yet in the command's pipe. */
export const INPUT_WINDOW = 256 * 1024;

/**
 * The in-container command runner, started once per host session with `node -e`. Keeping one
 * process alive inside the task turns each command into one spawn() instead of a full engine exec
 * round trip (create, attach, start, inspect), which is what keeps Airlock's per-command overhead
 * in the low milliseconds.
 *
 * Protocol: newline-delimited JSON both ways over the exec's stdin/stdout.
 *   host → run {id, argv, cwd, env, stdin} | in {id, d(base64)} | eof {id} | kill {id} | ack {id, n} | ping | bye
 *   sandbox → ready {pid} | out {id, fd, d} | inack {id, n} | exit {id, code, signal} | fail {id, code, message}
 * Flow control is per command, by credit, so one slow consumer never stalls the others: the runner
 * stops reading a command's stdout/stderr once OUTPUT_WINDOW bytes are unacknowledged (`ack` says
 * how many the host's consumer has taken), and the host sends no more stdin than INPUT_WINDOW
 * beyond what `inack` confirmed reached the command's pipe.
 * `env` in run is the command's whole environment: the runner itself starts with a clean one
 * (inBoxProgram), so nothing the task sets can reach the loader or node in this process.
 * Every command runs in its own session (setsid) with AIRLOCK_CMD=<id> in its environment; a kill
 * ends everything in that session or carrying that marker, so grandchildren die with their parent.
 * When the host side goes away (bye, stdin closes, or no ping for 30 s: gVisor does not always pass
 * the half-close on), every running command is killed and the runner exits.
 *
 * Plain ES2018 CommonJS on purpose: it runs on whatever node the image ships (Debian's is 18).
 */
export const SUPERVISOR_SOURCE = String.raw`
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const WINDOW = ${OUTPUT_WINDOW};
const running = new Map();
const send = (message) => process.stdout.write(JSON.stringify(message) + '\n');
// [state, session] from /proc/PID/stat; the command name may contain spaces and parentheses.
function statOf(pid) {
  try {
    const stat = fs.readFileSync('/proc/' + pid + '/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return [fields[0], Number(fields[3])];
  } catch (e) { return ['X', -1]; }
}
function carriesMarker(pid, marker) {
  try { return fs.readFileSync('/proc/' + pid + '/environ', 'latin1').split('\0').indexOf(marker) !== -1; } catch (e) { return false; }
}
function killTree(job) {
  // Dead processes print nothing more: what is left in the pipes is bounded, so stop holding it back.
  job.killed = true;
  flow(job);
  const marker = 'AIRLOCK_CMD=' + job.id;
  for (let pass = 0; pass < 20; pass++) {
    let found = 0;
    try { process.kill(-job.pid, 'SIGKILL'); found++; } catch (e) {}
    let pids = [];
    try { pids = fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number); } catch (e) {}
    for (const pid of pids) {
      if (pid === process.pid || pid === 1) continue;
      const [state, session] = statOf(pid);
      // Dead and dying processes are skipped: nothing to kill, and old gVisor builds can fault
      // on reading a zombie's environ.
      if (state === 'Z' || state === 'X') continue;
      if (session === job.pid || carriesMarker(pid, marker)) {
        try { process.kill(pid, 'SIGKILL'); found++; } catch (e) {}
      }
    }
    if (found === 0) return;
  }
}

// Reads a command's output only while the host has room for it (or once it is killed).
function flow(job) {
  const open = job.killed || job.unacked < WINDOW;
  if (open === job.flowing) return;
  job.flowing = open;
  for (const stream of [job.child.stdout, job.child.stderr]) { if (open) stream.resume(); else stream.pause(); }
  armDrain(job);
}
// Background processes may hold stdout open; like a shell, stop waiting for them shortly after the
// command exits, but only while its output is flowing: unread output is not dropped.
function armDrain(job) {
  clearTimeout(job.drainTimer);
  if (job.exit && !job.reported && job.flowing) job.drainTimer = setTimeout(() => report(job), 150);
}
function report(job) {
  if (job.reported || !job.exit) return;
  job.reported = true;
  clearTimeout(job.drainTimer);
  running.delete(job.id);
  send(job.exit);
}

function run(message) {
  let child;
  const env = Object.assign({}, message.env || {}, { AIRLOCK_CMD: message.id });
  try {
    child = spawn(message.argv[0], message.argv.slice(1), {
      cwd: message.cwd || '/workspace', env, detached: true,
      stdio: [message.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    send({ t: 'fail', id: message.id, code: 127, message: String(error && error.message) });
    return;
  }
  const job = { id: message.id, child, pid: child.pid, unacked: 0, flowing: true, killed: false, exit: null, reported: false, drainTimer: undefined };
  running.set(message.id, job);
  const forward = (fd) => (chunk) => {
    if (job.reported) return;
    send({ t: 'out', id: message.id, fd, d: chunk.toString('base64') });
    job.unacked += chunk.length;
    flow(job);
  };
  child.stdout.on('data', forward(1));
  child.stderr.on('data', forward(2));
  if (child.stdin) child.stdin.on('error', () => {});
  let open = 2;
  const closed = () => { if (--open === 0) report(job); };
  child.stdout.on('close', closed);
  child.stderr.on('close', closed);
  child.on('error', (error) => {
    const code = error.code === 'ENOENT' ? 127 : 126;
    job.exit = { t: 'fail', id: message.id, code, message: error.code === 'ENOENT' ? message.argv[0] + ': command not found' : String(error.message) };
    report(job);
  });
  child.on('exit', (code, signal) => {
    job.exit = { t: 'exit', id: message.id, code, signal };
    if (open === 0) return report(job);
    armDrain(job);
  });
}

// Confirmed once the bytes are in the command's pipe (or the pipe is gone): the host sends stdin
// only against these confirmations, so a command that does not read holds up only its own input.
function input(job, data) {
  job.child.stdin.write(data, () => send({ t: 'inack', id: job.id, n: data.length }));
}

function shutdown() {
  for (const job of running.values()) killTree(job);
  process.exit(0);
}
let lastHeard = Date.now();
setInterval(() => { if (Date.now() - lastHeard > 30000) shutdown(); }, 5000);

let buffered = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (text) => {
  buffered += text;
  let newline;
  while ((newline = buffered.indexOf('\n')) !== -1) {
    const line = buffered.slice(0, newline);
    buffered = buffered.slice(newline + 1);
    if (!line) continue;
    let message;
    try { message = JSON.parse(line); } catch (e) { continue; }
    lastHeard = Date.now();
    const job = running.get(message.id);
    if (message.t === 'bye') shutdown();
    else if (message.t === 'run') run(message);
    else if (message.t === 'in' && job && job.child.stdin) input(job, Buffer.from(message.d, 'base64'));
    else if (message.t === 'ack' && job) { job.unacked = Math.max(0, job.unacked - (Number(message.n) || 0)); flow(job); }
    else if (message.t === 'eof' && job && job.child.stdin) job.child.stdin.end();
    else if (message.t === 'kill' && job) killTree(job);
  }
});
process.stdin.on('end', shutdown);
process.on('SIGTERM', shutdown);
send({ t: 'ready', pid: process.pid });
`;
