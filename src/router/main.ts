// `smart-proxy router`: one front door for several proxy instances (issue 13). Skeleton written by
// the lead; the router work fills it in.

/** Runs the router until it is stopped; resolves to the process exit code. */
export async function runRouter(argv: readonly string[]): Promise<number> {
  process.stderr.write(`smart-proxy router: not built yet (${argv.join(' ')})\n`);
  return 1;
}
