/** ChatBERT-RA in the addon (native/binding/{bi_encoder,vector_index}.cpp): pooled encodings and exact inner-product search. */
import type { NativeDistilBertModel, NativeTokenBatch } from './model';
import type { NativeEdModel } from './ed';

export type RaPooling = 'cls' | 'mean';

/** Top-k rows per query, row-major [queries, k], best first; k = min(requested k, index size). */
export interface VectorSearchResult {
  ids: Int32Array;
  scores: Float32Array;
  k: number;
}

/** Exact maximum-inner-product index: an [N, dim] float32 tensor on a device (matmul + top-k, chunked). */
export interface NativeVectorIndex {
  /** Appends [n, dim] row-major vectors; resolves to the new size. */
  add(vectors: Float32Array): Promise<number>;
  search(queries: Float32Array, k: number, options?: { chunkRows?: number }): Promise<VectorSearchResult>;
  /** A copy of rows [start, start + count). */
  vectors(start?: number, count?: number): Promise<Float32Array>;
  /** One F32 tensor "vectors" [N, dim] (written atomically), metadata strings added to the header. */
  save(path: string, metadata?: Record<string, string>): Promise<void>;
  /** Replaces the contents with a file written by save (dim must match); resolves to the size. */
  load(path: string): Promise<number>;
  clear(): void;
  dispose(): void;
  readonly size: number;
  readonly dim: number;
  readonly device: string;
  readonly disposed: boolean;
}

/** A DistilBertModel (or an EdModel's encoder) seen as a bi-encoder: pooled vectors ([CLS] or masked mean), compared by dot product. */
export interface NativeBiEncoder {
  /** [batch * dim] pooled vectors. */
  encode(batch: NativeTokenBatch): Promise<Float32Array>;
  /** Encodes and appends to the index on its device; resolves to the index's new size. */
  encodeInto(index: NativeVectorIndex, batch: NativeTokenBatch): Promise<number>;
  /** Encodes the batch as queries and searches the index, without a round trip through JS. */
  search(index: NativeVectorIndex, batch: NativeTokenBatch, k: number, options?: { chunkRows?: number }): Promise<VectorSearchResult>;
  readonly pooling: RaPooling;
  readonly dim: number;
}

export interface RaAddon {
  BiEncoder: new (model: NativeDistilBertModel | NativeEdModel, options?: { pooling?: RaPooling }) => NativeBiEncoder;
  VectorIndex: new (options: { dim: number; device?: string }) => NativeVectorIndex;
}
