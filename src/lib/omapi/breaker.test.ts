// The circuit breaker of the OMAPI client, on a clock the test moves (no sockets, no waiting).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CircuitBreaker } from './breaker.ts';

test('breaker: closed lets calls through; a failure opens it; after the open period one trial goes', () => {
  let now = 1_000;
  const b = new CircuitBreaker({ openMs: 10_000, now: () => now });
  assert.equal(b.admit(), undefined);
  b.succeeded();
  assert.equal(b.state, 'closed');

  assert.equal(b.admit(), undefined);
  b.failed();
  assert.equal(b.state, 'open');
  // Refused at once, with the time until the trial.
  assert.equal(b.admit(), 10_000);
  now += 4_000;
  assert.equal(b.admit(), 6_000);

  now += 6_000;
  assert.equal(b.admit(), undefined, 'the trial');
  assert.equal(b.state, 'half-open');
  // While the trial runs every other call is refused.
  assert.ok((b.admit() ?? 0) > 0);
  b.failed();
  assert.equal(b.state, 'open');
  assert.equal(b.admit(), 10_000);

  now += 10_000;
  assert.equal(b.admit(), undefined, 'the next trial');
  b.succeeded();
  assert.equal(b.state, 'closed');
  assert.equal(b.admit(), undefined);
  assert.equal(b.admit(), undefined);
});
