/** ChatBERT-RA (retrieval): the bi-encoder chat model, its candidate pool and its input layout. */
export { RaChatModel, isRaCheckpoint, type RaReply, type RaLoadOptions, type EncodeOptions } from './model';
export { raSettings, type RaReplyOptions } from './options';
export { CandidatePool, PoolError, POOL_TEXTS_FILE, POOL_VECTORS_FILE, fileFingerprint, hasPool, type PoolInfo } from './pool';
export { type RaMeta, raMeta, raContextIds, raCandidateIds, candidateKey, checkRaFits } from './format';
export { CrossEncoder, crossInputIds, rerankMeta, type RerankMeta } from './reranker';
