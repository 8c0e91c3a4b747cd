/** A spinner for waits without a measurable total (loading a model), only on a terminal. */
import ora from 'ora';

export async function withSpinner<T>(text: string, work: () => Promise<T>, stream: NodeJS.WriteStream = process.stderr): Promise<T> {
  // Off a terminal ora would still print the text once; logs and pipes get nothing instead.
  if (stream.isTTY !== true) return work();
  // discardStdin off: ora would pause stdin when it stops, and a REPL reading stdin would end.
  const spinner = ora({ text, stream, discardStdin: false, isEnabled: process.env.TERM !== 'dumb' }).start();
  try {
    const r = await work();
    spinner.stop();
    return r;
  } catch (e) {
    spinner.stop();
    throw e;
  }
}
