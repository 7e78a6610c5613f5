// `npm test`: type-check, lint, then every unit test (src/**/*.test.ts) and cross-process test
// (test/**/*.test.ts) with Node's test runner. Exits non-zero if any step fails.

import { spawnSync } from 'node:child_process';

const node = process.execPath;
const steps: [string, string[]][] = [
  ['type-check', [node, 'node_modules/typescript/bin/tsc', '--noEmit', '-p', '.']],
  ['lint', [node, 'node_modules/eslint/bin/eslint.js', '--max-warnings=0', '.']],
  ['tests', [node, '--test', '--test-timeout=600000', ...process.argv.slice(2).concat(process.argv.length > 2 ? [] : ['src/**/*.test.ts', 'test/**/*.test.ts'])]],
];

for (const [name, [cmd, ...args]] of steps) {
  if (process.env.SKIP_CHECKS === '1' && name !== 'tests') continue;
  process.stdout.write(`\n== ${name}\n`);
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) {
    process.stdout.write(`\n${name} failed (exit ${r.status ?? r.signal})\n`);
    process.exit(r.status ?? 1);
  }
}
