/** How every command ends on an error: the message on stderr, exit code 1. */
export function fail(e: unknown): never {
  process.stderr.write(`chatbert: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}
