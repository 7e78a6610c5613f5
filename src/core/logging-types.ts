// The logger every module and provider receives. Kept as an interface so that modules never
// depend on pino directly and tests can pass a silent or capturing logger.

export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'FATAL' | 'UNKNOWN';

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  /** `err` adds a backtrace to the log buffer entry. */
  error(message: string, err?: unknown): void;
  /** A logger whose lines carry the given request id (first 8 characters shown). */
  withRequest(requestId: string): Logger;
  /** A logger whose messages are prefixed with `<scope>: `. */
  child(scope: string): Logger;
}
