// A stand-in for systemd's notify socket: a unix datagram socket, made by python3 (Node has no
// AF_UNIX datagram sockets), with SO_PASSCRED on, so that each datagram comes with the sender's
// PID as the kernel saw it (SCM_CREDENTIALS) — the same data systemd uses to decide whether
// NotifyAccess=main accepts a message. Every datagram is printed as one JSON line.

import { join } from 'node:path';
import { requireCommand, startDaemon, stopDaemon, waitForDaemon, type Daemon } from '../lib/procs.ts';

const RECORDER = String.raw`
import json, os, socket, struct, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(path)
print(json.dumps({"listening": path}), flush=True)
while True:
    data, ancillary, flags, address = s.recvmsg(65536, socket.CMSG_SPACE(12))
    pid = None
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid, uid, gid = struct.unpack("iii", payload[:12])
    print(json.dumps({"pid": pid, "message": data.decode("utf-8", "replace")}), flush=True)
`;

export interface NotifyRecord {
  /** The sender's PID from the kernel's credentials. */
  pid: number;
  /** The datagram's lines, e.g. ['READY=1', 'STATUS=…']. */
  lines: string[];
}

export interface NotifyStandIn {
  socketPath: string;
  daemon: Daemon;
  records(): NotifyRecord[];
  stop(): Promise<void>;
}

export async function startNotifyStandIn(dir: string): Promise<NotifyStandIn> {
  const python = requireCommand('python3');
  const socketPath = join(dir, 'notify.sock');
  const daemon = startDaemon('notify-standin', python, ['-u', '-c', RECORDER, socketPath], dir);
  await waitForDaemon(daemon, 'the stand-in notify socket', () => daemon.log().includes('"listening"'));
  return {
    socketPath,
    daemon,
    records: () =>
      daemon
        .log()
        .split('\n')
        .filter((l) => l.startsWith('{"pid"'))
        .map((l) => JSON.parse(l) as { pid: number; message: string })
        .map((r) => ({ pid: r.pid, lines: r.message.split('\n') })),
    stop: () => stopDaemon(daemon),
  };
}
