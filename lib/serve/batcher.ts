/**
 * Dynamic batching for one model: requests with the same decoding options that arrive within a
 * window are decoded together in one batched call (up to maxBatch rows). One batch runs at a time
 * per model; requests that arrive meanwhile gather into the next batch. Generation itself runs in
 * the addon's worker threads (the calls are async), so the event loop stays free.
 *
 * A member that leaves (its client disconnected, its deadline passed) is dropped from a batch that
 * has not started; from a running batch it is answered at once and its row's result thrown away,
 * and the batch is aborted only when every member has left. Batch-mates never see it.
 */
import type { ChatModel, ChatReply } from '../core/chat-model';
import { GenerationAbortedError, type Conversation, type IterationState, type TokenEvent } from '../core/conversation';

/** What a row of a batch may report while it is decoded. */
export interface MemberHooks {
  /** IMR/FIB: this row's slot at each iteration (null = still [MASK]). */
  onIteration?: (iteration: number, slot: (string | null)[]) => void;
  /** ED: each produced token of this row, with the reply so far. */
  onToken?: (token: string, text: string) => void;
}

interface Member {
  conversation: Conversation;
  hooks: MemberHooks;
  signal?: AbortSignal;
  resolve: (r: ChatReply) => void;
  reject: (e: unknown) => void;
  settled: boolean;
  detach: () => void;
}

interface Group {
  key: string;
  options: Record<string, unknown>;
  members: Member[];
  due: boolean;
  started: boolean;
  timer?: NodeJS.Timeout;
}

/** A batched call: one reply per conversation, row hooks routed by row index. */
export type BatchRunner = (
  conversations: Conversation[],
  options: Record<string, unknown>,
  hooks: { onIteration: (row: number, iteration: number, slot: (string | null)[]) => void; onToken: (row: number, token: string, text: string) => void; signal: AbortSignal },
  wantIterations: boolean,
  wantTokens: boolean,
) => Promise<ChatReply[]>;

/** The batched call of a model: generate(conversations[]) where the variant has one, else one reply at a time (FIB). */
export function batchRunnerFor(model: ChatModel): BatchRunner {
  const m = model as ChatModel & {
    generate?: (c: Conversation[], o: object, h: object) => Promise<ChatReply[]>;
    decode?: (c: Conversation[], o: object, h: object, slots: { tokens: readonly (number | null)[] }[]) => Promise<ChatReply[]>;
  };
  if (model.variant !== 'fib' && typeof m.generate === 'function') {
    // `start` (IMR steering, see steer.ts) is in the options, so only rows with the same start state share a batch.
    return (convs, { start, ...options }, hooks, wantIterations, wantTokens) => {
      const h = {
        signal: hooks.signal,
        ...(wantIterations ? { onIteration: (s: IterationState) => s.slots.forEach((slot, row) => hooks.onIteration(row, s.iteration, slot)) } : {}),
        ...(wantTokens ? { onToken: (e: TokenEvent) => hooks.onToken(e.row, e.token, e.text) } : {}),
      };
      if (Array.isArray(start) && typeof m.decode === 'function') return m.decode(convs, options, h, convs.map(() => ({ tokens: start as (number | null)[] })));
      return m.generate!(convs, options, h);
    };
  }
  // FIB (and any other model): one reply at a time; FIB fills the request's templates when it gave some.
  const fib = model as ChatModel & { fill?: (c: Conversation, t: readonly string[], o: object, h: object) => Promise<ChatReply> };
  return async (convs, { templates, ...options }, hooks, wantIterations) => {
    const out: ChatReply[] = [];
    const one = (c: Conversation, h: object) => (Array.isArray(templates) && fib.fill ? fib.fill(c, templates as string[], options, h) : model.reply(c, options, h));
    for (let row = 0; row < convs.length; row++) {
      if (hooks.signal.aborted) throw new GenerationAbortedError('generation aborted');
      out.push(
        await one(convs[row], {
          signal: hooks.signal,
          ...(wantIterations ? { onIteration: (s: IterationState) => hooks.onIteration(row, s.iteration, s.slots[0]) } : {}),
        }),
      );
    }
    return out;
  };
}

export interface BatcherStats {
  /** Called with the rows of each batch when it starts. */
  onBatch?: (size: number) => void;
  /** Called when the number of waiting rows changes. */
  onQueueDepth?: (depth: number) => void;
}

const stableKey = (o: Record<string, unknown>) => JSON.stringify(Object.keys(o).sort().map((k) => [k, o[k]]));

export class Batcher {
  /** Groups not started yet, oldest first. */
  private readonly pending: Group[] = [];
  private running = false;
  private idleWaiters: (() => void)[] = [];
  private readonly run: BatchRunner;

  constructor(
    readonly model: ChatModel,
    readonly windowMs = 5,
    readonly maxBatch = 32,
    private readonly stats: BatcherStats = {},
  ) {
    if (!(maxBatch >= 1)) throw new RangeError(`maxBatch must be >= 1, got ${maxBatch}`);
    this.run = batchRunnerFor(model);
  }

  /** Rows waiting for a batch to start. */
  get queued(): number {
    return this.pending.reduce((n, g) => n + g.members.length, 0);
  }

  /** True while nothing waits or runs. */
  get idle(): boolean {
    return !this.running && this.pending.length === 0;
  }

  /** Resolves when nothing waits or runs. */
  whenIdle(): Promise<void> {
    return this.idle ? Promise.resolve() : new Promise((r) => this.idleWaiters.push(r));
  }

  /** One reply to a conversation, decoded in a batch with others of the same options. Rejects with the signal's reason when it aborts. */
  submit(conversation: Conversation, options: Record<string, unknown>, hooks: MemberHooks = {}, signal?: AbortSignal): Promise<ChatReply> {
    if (signal?.aborted) return Promise.reject(signal.reason ?? new GenerationAbortedError('generation aborted'));
    return new Promise<ChatReply>((resolve, reject) => {
      const key = stableKey(options);
      let group = this.pending.find((g) => g.key === key && g.members.length < this.maxBatch);
      if (!group) {
        group = { key, options, members: [], due: this.windowMs <= 0, started: false };
        const g = group;
        if (!g.due)
          g.timer = setTimeout(() => {
            g.due = true;
            this.pump();
          }, this.windowMs);
        this.pending.push(group);
      }
      const g = group;
      const member: Member = { conversation, hooks, signal, resolve, reject, settled: false, detach: () => undefined };
      if (signal) {
        const onAbort = () => this.leave(g, member, signal.reason ?? new GenerationAbortedError('generation aborted'));
        signal.addEventListener('abort', onAbort, { once: true });
        member.detach = () => signal.removeEventListener('abort', onAbort);
      }
      g.members.push(member);
      if (g.members.length >= this.maxBatch) {
        g.due = true;
        clearTimeout(g.timer);
      }
      this.stats.onQueueDepth?.(this.queued);
      queueMicrotask(() => this.pump());
    });
  }

  private settle(m: Member, ok: boolean, value: unknown): void {
    if (m.settled) return;
    m.settled = true;
    m.detach();
    if (ok) m.resolve(value as ChatReply);
    else m.reject(value);
  }

  /** A member leaves: out of a waiting group, or answered now while its batch runs on for the others. */
  private leave(g: Group, m: Member, reason: unknown): void {
    this.settle(m, false, reason);
    if (!g.started) {
      g.members.splice(g.members.indexOf(m), 1);
      if (g.members.length === 0) {
        clearTimeout(g.timer);
        this.pending.splice(this.pending.indexOf(g), 1);
        this.checkIdle();
      }
      this.stats.onQueueDepth?.(this.queued);
    } else if (g.members.every((x) => x.settled)) {
      batchAborts.get(g)?.abort();
    }
  }

  private checkIdle(): void {
    if (this.idle) for (const w of this.idleWaiters.splice(0)) w();
  }

  private pump(): void {
    if (this.running) return;
    const i = this.pending.findIndex((g) => g.due);
    if (i < 0) return;
    const [g] = this.pending.splice(i, 1);
    g.started = true;
    clearTimeout(g.timer);
    this.stats.onQueueDepth?.(this.queued);
    const members = g.members;
    if (members.length === 0) return this.pump();
    this.running = true;
    const abort = new AbortController();
    batchAborts.set(g, abort);
    this.stats.onBatch?.(members.length);
    const wantIterations = members.some((m) => m.hooks.onIteration);
    const wantTokens = members.some((m) => m.hooks.onToken);
    const run = async () => {
      try {
        const replies = await this.run(
          members.map((m) => m.conversation),
          g.options,
          {
            signal: abort.signal,
            onIteration: (row, iteration, slot) => void (!members[row]?.settled && members[row]?.hooks.onIteration?.(iteration, slot)),
            onToken: (row, token, text) => void (!members[row]?.settled && members[row]?.hooks.onToken?.(token, text)),
          },
          wantIterations,
          wantTokens,
        );
        members.forEach((m, row) => this.settle(m, true, replies[row]));
      } catch (e) {
        for (const m of members) this.settle(m, false, e);
      }
    };
    void run().finally(() => {
      batchAborts.delete(g);
      this.running = false;
      this.checkIdle();
      this.pump();
    });
  }
}

const batchAborts = new WeakMap<Group, AbortController>();
