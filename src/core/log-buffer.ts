// The in-memory log buffer behind GET /logs (spec logs.md §2): a main ring; ERROR+ entries it
// evicts move to a second ring so failures stay visible after a burst of INFO lines.

import type { LogLevel } from './logging-types.ts';

export const LEVEL_NUMBER: Record<LogLevel, number> = { DEBUG: 0, INFO: 1, WARN: 2, ERROR: 3, FATAL: 4, UNKNOWN: 5 };

export interface LogEntry {
  timestamp: number;
  level: LogLevel;
  message: string;
  request_id?: string;
  backtrace?: string;
}

class Ring<T> {
  private readonly items: (T | undefined)[];
  private start = 0;
  private count = 0;
  readonly capacity: number;
  constructor(capacity: number) {
    this.capacity = capacity;
    this.items = new Array<T | undefined>(capacity);
  }
  /** Push and return the evicted item, if any. */
  push(item: T): T | undefined {
    if (this.count < this.capacity) {
      this.items[(this.start + this.count) % this.capacity] = item;
      this.count++;
      return undefined;
    }
    const evicted = this.items[this.start];
    this.items[this.start] = item;
    this.start = (this.start + 1) % this.capacity;
    return evicted;
  }
  toArray(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.items[(this.start + i) % this.capacity] as T);
    return out;
  }
}

export class LogBuffer {
  private readonly main: Ring<LogEntry>;
  private readonly tail: Ring<LogEntry>;
  readonly size: number;
  readonly tailSize: number;

  constructor(size: number, tailSize: number) {
    this.size = size;
    this.tailSize = tailSize;
    this.main = new Ring(size);
    this.tail = new Ring(tailSize);
  }

  push(entry: LogEntry): void {
    const evicted = this.main.push(entry);
    if (evicted && LEVEL_NUMBER[evicted.level] >= LEVEL_NUMBER.ERROR) this.tail.push(evicted);
  }

  /** Error-ring entries then main-ring entries, oldest first, with timestamp >= from. */
  entries(fromTimestamp = 0): LogEntry[] {
    const all = this.tail.toArray().concat(this.main.toArray());
    return fromTimestamp > 0 ? all.filter((e) => e.timestamp >= fromTimestamp) : all;
  }
}
