/** Loads a chat checkpoint as the model its config.json says it is (chatbert.variant): ChatBERT-IMR, -ED or -RA; `fib:DIR` is IMR filling templates. */
import * as path from 'node:path';
import { CONFIG_FILE, assertCheckpointDir, readJsonFile } from '../checkpoint';
import type { ChatModel } from '../core/chat-model';
import { resolveModelSpec, type ResolveModelOptions } from '../data/hub';
import { EdChatModel } from '../ed/generate';
import { FibChatModel } from '../fib/fib';
import { ImrChatModel } from '../imr/generate';
import { RaChatModel } from '../ra/model';

/** The chatbert.variant of a checkpoint directory's config.json, or undefined when it has none. */
export function checkpointVariant(dir: string): string | undefined {
  assertCheckpointDir(dir);
  const raw = readJsonFile(path.join(dir, CONFIG_FILE)) as { chatbert?: { variant?: unknown } } | null;
  const v = raw?.chatbert?.variant;
  return typeof v === 'string' ? v : undefined;
}

/**
 * An ED checkpoint gives an EdChatModel, an RA or re-ranker one a RaChatModel; any other goes to
 * ImrChatModel, which says clearly when the directory is not a ChatBERT-IMR checkpoint either.
 * `fib:DIR` loads the IMR model of DIR as ChatBERT-FIB. DIR may be `hf:ORG/NAME[@revision]` (downloaded
 * into the Hugging Face cache first; see lib/data/hub.ts).
 */
export async function loadChatModel(spec: string, options: { device?: string; onProgress?: ResolveModelOptions['onProgress'] } = {}): Promise<ChatModel> {
  const device = options.device ?? 'auto';
  if (spec.startsWith('fib:')) return new FibChatModel(await ImrChatModel.load(await resolveModelSpec(spec.slice(4), options), { device }));
  const dir = await resolveModelSpec(spec, options);
  const variant = checkpointVariant(dir);
  if (variant === 'ed') return EdChatModel.load(dir, { device });
  if (variant === 'ra' || variant === 'rerank') return RaChatModel.load(dir, { device });
  return ImrChatModel.load(dir, { device });
}
