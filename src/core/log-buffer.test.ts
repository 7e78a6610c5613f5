import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LogBuffer, type LogEntry } from './log-buffer.ts';

const entry = (n: number, level: LogEntry['level'] = 'INFO'): LogEntry => ({ timestamp: n, level, message: `m${n}` });

test('main ring keeps the newest entries; evicted errors move to the error ring', () => {
  const b = new LogBuffer(3, 2);
  b.push(entry(1, 'ERROR'));
  b.push(entry(2));
  b.push(entry(3, 'FATAL'));
  b.push(entry(4)); // evicts 1 (ERROR) → tail
  b.push(entry(5)); // evicts 2 (INFO) → dropped
  b.push(entry(6)); // evicts 3 (FATAL) → tail
  assert.deepEqual(b.entries().map((e) => e.message), ['m1', 'm3', 'm4', 'm5', 'm6']);
  b.push(entry(7, 'ERROR'));
  b.push(entry(8));
  b.push(entry(9));
  b.push(entry(10)); // evicts 7 (ERROR) → tail, which drops m1
  assert.deepEqual(b.entries().map((e) => e.message), ['m3', 'm7', 'm8', 'm9', 'm10']);
});

test('from_timestamp filters inclusively', () => {
  const b = new LogBuffer(10, 2);
  for (let i = 1; i <= 5; i++) b.push(entry(i));
  assert.deepEqual(b.entries(3).map((e) => e.timestamp), [3, 4, 5]);
  assert.equal(b.entries(0).length, 5);
});
