/**
 * How commands end on an error, by the usual conventions: exit code 2 for a usage error (a wrong
 * flag or argument), 1 for a failure, 130 after Ctrl+C; the message on stderr.
 */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function fail(e: unknown): never {
  process.stderr.write(`chatbert: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(e instanceof UsageError ? 2 : 1);
}
