/** Loads a chat checkpoint as the model its config.json says it is (chatbert.variant): ChatBERT-IMR, -ED or -RA. */
import * as path from 'node:path';
import { CONFIG_FILE, assertCheckpointDir, readJsonFile } from '../checkpoint';
import { EdChatModel } from '../ed/generate';
import { FibChatModel } from '../fib/fib';
import { ImrChatModel } from '../imr/generate';
import { RaChatModel } from '../ra/model';

/** FIB is not a checkpoint of its own: it is an IMR model filling templates. */
export type ChatModel = ImrChatModel | EdChatModel | RaChatModel | FibChatModel;

/** The chatbert.variant of a checkpoint directory's config.json, or undefined when it has none. */
export function checkpointVariant(dir: string): string | undefined {
  assertCheckpointDir(dir);
  const raw = readJsonFile(path.join(dir, CONFIG_FILE)) as { chatbert?: { variant?: unknown } } | null;
  const v = raw?.chatbert?.variant;
  return typeof v === 'string' ? v : undefined;
}

/**
 * An ED checkpoint gives an EdChatModel; any other goes to ImrChatModel, which says clearly when
 * the directory is not a ChatBERT-IMR checkpoint either.
 */
export async function loadChatModel(dir: string, options: { device?: string } = {}): Promise<ChatModel> {
  const variant = checkpointVariant(dir);
  if (variant === 'ed') return EdChatModel.load(dir, { device: options.device ?? 'auto' });
  if (variant === 'ra' || variant === 'rerank') return RaChatModel.load(dir, { device: options.device ?? 'auto' });
  return ImrChatModel.load(dir, { device: options.device ?? 'auto' });
}
