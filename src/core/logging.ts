// Logging: text lines in the reference's layout (`%d %.8X{request} [%.1l] %m`) written through
// sonic-boom, pino's asynchronous destination (reopened on SIGUSR1 for logrotate), and every
// entry at or above log_level copied into the log buffer served by /logs.
//
// SonicBoom is used directly rather than through pino.destination(): that one registers a
// synchronous flush at process exit, and sonic-boom's synchronous flush retries forever on a
// write error (a stdout pipe whose reader went away hung the proxy's shutdown). Here flushing is
// asynchronous and bounded, and a failed destination is abandoned.

import { openSync, closeSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import sonicBoomModule from 'sonic-boom';
import type { SonicBoom as SonicBoomInstance } from 'sonic-boom';
import type { Logger, LogLevel } from './logging-types.ts';
import { LEVEL_NUMBER, LogBuffer } from './log-buffer.ts';

export interface LogSinkOptions {
  /** File path, or STDOUT / SYSLOG / JOURNAL / JOURNALD (the latter two log to stdout here). */
  logFile: string;
  level: LogLevel;
  buffer: LogBuffer;
}

const CONTROL_CHARS = /[\u0000-\u0008\u000b-\u001f\u007f]/g;
const CONTROL_CHARS_TEST = /[\u0000-\u0008\u000b-\u001f\u007f]/;

// sonic-boom is CommonJS (`module.exports = SonicBoom`); its typings describe a named class.
const SonicBoom = sonicBoomModule as unknown as typeof SonicBoomInstance;

/** Batch small writes: one write(2) per 8 KiB instead of one per line under load. */
const BATCH_BYTES = 8 * 1024;

export class LogSink {
  readonly buffer: LogBuffer;
  readonly threshold: number;
  private readonly dest: SonicBoomInstance;
  private readonly toFile: boolean;
  /** Set when the destination failed (e.g. stdout is a pipe whose reader went away). */
  private broken = false;

  constructor(options: LogSinkOptions) {
    this.buffer = options.buffer;
    this.threshold = LEVEL_NUMBER[options.level];
    const target = options.logFile.toUpperCase();
    let toFile = !['STDOUT', 'SYSLOG', 'JOURNAL', 'JOURNALD'].includes(target);
    let fallbackReason: string | undefined;
    if (toFile) {
      try {
        // Opened synchronously once so an unwritable path is detected now, not on a later write.
        mkdirSync(dirname(options.logFile), { recursive: true });
        closeSync(openSync(options.logFile, 'a'));
      } catch (err) {
        // Reference behaviour: an unopenable log file falls back to stdout.
        toFile = false;
        fallbackReason = `cannot open log file ${options.logFile}: ${(err as Error).message}; logging to stdout`;
      }
    }
    this.dest = toFile
      ? new SonicBoom({ dest: options.logFile, append: true, minLength: BATCH_BYTES })
      : new SonicBoom({ fd: 1, minLength: 4096 });
    this.toFile = toFile;
    this.dest.on('error', () => {
      this.broken = true;
    });
    // Batched writes must still reach `tail -f` promptly when traffic is low.
    setInterval(() => void this.flush(), 500).unref();
    if (fallbackReason) this.write('WARN', fallbackReason, undefined);
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
    if (!this.broken) this.dest.write(`${this.lastIso} ${rid.padEnd(8)} [${level[0]}] ${text}\n`);
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

  /** Write out what is batched; resolves within `timeoutMs` whatever the destination does. */
  flush(timeoutMs = 1000): Promise<void> {
    return new Promise((resolve) => {
      if (this.broken) return resolve();
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      try {
        this.dest.flush(() => {
          clearTimeout(timer);
          resolve();
        });
      } catch {
        // not open yet or already closed
        clearTimeout(timer);
        resolve();
      }
    });
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
