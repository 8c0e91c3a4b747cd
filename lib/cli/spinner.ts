/** A spinner for waits without a measurable total (loading a model), only on a terminal. */
import ora from 'ora';

export async function withSpinner<T>(text: string, work: () => Promise<T>, stream: NodeJS.WriteStream = process.stderr): Promise<T> {
  const spinner = ora({ text, stream, isEnabled: stream.isTTY === true }).start();
  try {
    const r = await work();
    spinner.stop();
    return r;
  } catch (e) {
    spinner.stop();
    throw e;
  }
}
