// `npm test`: type-check, lint, the settings docs check, then the two tiers with Node's test runner.
// `npm run test:fast` (or `node scripts/test.ts --fast`): the unit tier alone, well under a minute.
//
// - unit tier, src/**/*.test.ts: pure code and in-process route tests (fastify inject); no root, no
//   daemon, no socket (scripts/unit-guard.ts makes a listen() fail);
// - integration tier, test/**/*.test.ts: real daemons, real sockets and TLS, the whole binary.
//
// Other arguments are test files to run instead (integration tier rules). Exits non-zero if a step fails.

import { spawnSync } from 'node:child_process';

const node = process.execPath;
const args = process.argv.slice(2);
const fast = args.includes('--fast');
const files = args.filter((a) => a !== '--fast');

// A hung test fails within minutes, not ten: each test has a deadline (tests that wait for a slow
// daemon, such as Puppet Server, set a longer one of their own).
const UNIT_TIMEOUT_MS = 30_000;
const INTEGRATION_TIMEOUT_MS = 180_000;

const unit: [string, string[]] = ['unit tests', [node, '--import', './scripts/unit-guard.ts', '--test', `--test-timeout=${UNIT_TIMEOUT_MS}`, 'src/**/*.test.ts']];
const steps: [string, string[]][] = fast
  ? [unit]
  : files.length > 0
    ? [['tests', [node, '--test', `--test-timeout=${INTEGRATION_TIMEOUT_MS}`, ...files]]]
    : [
        ['type-check', [node, 'node_modules/typescript/bin/tsc', '--noEmit', '-p', '.']],
        ['lint', [node, 'node_modules/eslint/bin/eslint.js', '--max-warnings=0', '.']],
        ['settings docs', [node, 'scripts/settings-docs.ts', '--check']],
        unit,
        ['integration tests', [node, '--test', `--test-timeout=${INTEGRATION_TIMEOUT_MS}`, 'test/**/*.test.ts']],
      ];

for (const [name, [cmd, ...rest]] of steps) {
  if (process.env.SKIP_CHECKS === '1' && !name.includes('tests')) continue;
  process.stdout.write(`\n== ${name}\n`);
  const r = spawnSync(cmd, rest, { stdio: 'inherit' });
  if (r.status !== 0) {
    process.stdout.write(`\n${name} failed (exit ${r.status ?? r.signal})\n`);
    process.exit(r.status ?? 1);
  }
}
