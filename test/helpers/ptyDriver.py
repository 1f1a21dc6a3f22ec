#!/usr/bin/env python3
"""Runs a command on a real pseudo-terminal for the tests (node has no PTY of its own).

stdin bytes go to the terminal, the terminal's output comes out on stdout, and lines on fd 3
("resize ROWS COLS") resize it as a terminal window would (TIOCSWINSZ, which sends SIGWINCH).
Exits with the command's exit code.
"""
import fcntl, os, pty, select, signal, struct, sys, termios

def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))

pid, master = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
set_size(master, 24, 80)
control = 3
inputs = [master, 0, control]
control_buffer = b''
status = None
while True:
    try:
        ready, _, _ = select.select(inputs, [], [], 0.2)
    except InterruptedError:
        continue
    if master in ready:
        try:
            data = os.read(master, 65536)
        except OSError:
            data = b''
        if not data:
            break
        os.write(1, data)
    if 0 in ready:
        data = os.read(0, 65536)
        if data:
            os.write(master, data)
        else:
            inputs.remove(0)
    if control in ready:
        data = os.read(control, 4096)
        if not data:
            inputs.remove(control)
        control_buffer += data
        while b'\n' in control_buffer:
            line, control_buffer = control_buffer.split(b'\n', 1)
            words = line.split()
            if len(words) == 3 and words[0] == b'resize':
                set_size(master, int(words[1]), int(words[2]))
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        # Drain what is left after the command has ended.
        try:
            while True:
                data = os.read(master, 65536)
                if not data:
                    break
                os.write(1, data)
        except OSError:
            pass
        break
if status is None:
    _, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status) if hasattr(os, 'waitstatus_to_exitcode') else (status >> 8))
