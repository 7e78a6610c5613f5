// Logging: text lines in the reference's layout (`%d %.8X{request} [%.1l] %m`) written through
// pino's asynchronous destination (reopened on SIGUSR1 for logrotate), and every entry at or
// above log_level copied into the log buffer served by /logs.

import pino from 'pino';
import type { Logger, LogLevel } from './logging-types.ts';
import { LEVEL_NUMBER, LogBuffer } from './log-buffer.ts';

type Destination = ReturnType<typeof pino.destination>;

export interface LogSinkOptions {
  /** File path, or STDOUT / SYSLOG / JOURNAL / JOURNALD (the latter two log to stdout here). */
  logFile: string;
  level: LogLevel;
  buffer: LogBuffer;
  /** Synchronous writes (tests and `check`). */
  sync?: boolean;
}

const CONTROL_CHARS = /[\u0000-\u0008\u000b-\u001f\u007f]/g;
const CONTROL_CHARS_TEST = /[\u0000-\u0008\u000b-\u001f\u007f]/;

export class LogSink {
  readonly buffer: LogBuffer;
  readonly threshold: number;
  private readonly dest: Destination;
  private readonly toFile: boolean;

  constructor(options: LogSinkOptions) {
    this.buffer = options.buffer;
    this.threshold = LEVEL_NUMBER[options.level];
    const target = options.logFile.toUpperCase();
    const stdout = ['STDOUT', 'SYSLOG', 'JOURNAL', 'JOURNALD'].includes(target);
    let dest: Destination;
    if (stdout) {
      dest = pino.destination({ dest: 1, sync: options.sync ?? false, minLength: options.sync ? 0 : 4096 });
    } else {
      try {
        dest = pino.destination({ dest: options.logFile, sync: true, mkdir: true, append: true });
        if (!options.sync) {
          // Opened synchronously so an unwritable path is detected now; writes are async from here.
          dest.end();
          // Batch small writes: one write(2) per 8 KiB instead of one per line under load.
          dest = pino.destination({ dest: options.logFile, sync: false, mkdir: true, append: true, minLength: 8 * 1024 });
        }
      } catch (err) {
        // Reference behaviour: an unopenable log file falls back to stdout.
        dest = pino.destination({ dest: 1, sync: options.sync ?? false });
        dest.write(`${new Date().toISOString()}          [W] cannot open log file ${options.logFile}: ${(err as Error).message}; logging to stdout\n`);
      }
    }
    this.dest = dest;
    this.toFile = !stdout;
    if (!options.sync) {
      // Batched writes must still reach `tail -f` promptly when traffic is low.
      setInterval(() => {
        try {
          this.dest.flush();
        } catch {
          /* destination not ready or closed */
        }
      }, 500).unref();
    }
  }

  // Two lines are logged per request, so the common path avoids regex replaces and re-formats
  // the timestamp only when the millisecond changes.
  private lastMs = 0;
  private lastIso = '';

  write(level: LogLevel, message: string, requestId: string | undefined, err?: unknown): void {
    if (LEVEL_NUMBER[level] < this.threshold) return;
    const now = Date.now();
    if (now !== this.lastMs) {
      this.lastMs = now;
      this.lastIso = new Date(now).toISOString();
    }
    const rid = requestId ? requestId.slice(0, 8) : '';
    const clean = CONTROL_CHARS_TEST.test(message) ? message.replace(CONTROL_CHARS, '?') : message;
    const text = clean.includes('\n') ? clean.replace(/\n/g, '\n  ') : clean;
    this.dest.write(`${this.lastIso} ${rid.padEnd(8)} [${level[0]}] ${text}\n`);
    const entry: Parameters<LogBuffer['push']>[0] = { timestamp: now / 1000, level, message: clean };
    if (rid) entry.request_id = rid;
    if (err instanceof Error && err.stack) {
      entry.backtrace = `${err.message}: ${err.stack.split('\n').slice(1).map((l) => l.trim()).join('\n')}`;
    }
    this.buffer.push(entry);
  }

  reopen(): void {
    if (this.toFile) this.dest.reopen();
  }

  flush(): void {
    try {
      this.dest.flushSync();
    } catch {
      /* not ready yet or stdout closed */
    }
  }
}

// A class rather than a bag of closures: one is created per request, so it should be cheap.
class ScopedLogger implements Logger {
  private readonly sink: LogSink;
  private readonly scope: string;
  private readonly prefix: string;
  private readonly requestId: string | undefined;

  constructor(sink: LogSink, scope: string, requestId: string | undefined) {
    this.sink = sink;
    this.scope = scope;
    this.prefix = scope ? `${scope}: ` : '';
    this.requestId = requestId;
  }
  debug(m: string): void {
    this.sink.write('DEBUG', this.prefix + m, this.requestId);
  }
  info(m: string): void {
    this.sink.write('INFO', this.prefix + m, this.requestId);
  }
  warn(m: string): void {
    this.sink.write('WARN', this.prefix + m, this.requestId);
  }
  error(m: string, err?: unknown): void {
    this.sink.write('ERROR', this.prefix + m, this.requestId, err);
  }
  withRequest(id: string): Logger {
    return new ScopedLogger(this.sink, this.scope, id);
  }
  child(s: string): Logger {
    return new ScopedLogger(this.sink, this.scope ? `${this.scope}/${s}` : s, this.requestId);
  }
}

export function createLogger(sink: LogSink, scope = '', requestId?: string): Logger {
  return new ScopedLogger(sink, scope, requestId);
}

/** A logger that drops everything (unit tests). */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  withRequest: () => silentLogger,
  child: () => silentLogger,
};
