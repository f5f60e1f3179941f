/**
 * Evidence on the control plane: the ingest pipeline (verify on worker
 * threads, dedup, store in SQLite, signed cumulative receipts) and the read
 * side the API and packets query. Apply `EVIDENCE_MIGRATIONS` with
 * control-plane/src/db `migrate` before creating either.
 */
export type { AgentIdentity, ChainHead, StoredRow } from "./chain.js";
export {
  type Ack,
  createIngest,
  type Ingest,
  type IngestOptions,
  type IngestOutcome,
  type IngestStats,
} from "./ingest.js";
export { EVIDENCE_MIGRATIONS } from "./schema.js";
export {
  type Anomaly,
  AnomalyQuery,
  type BundleSummary,
  type ChainSummary,
  CountQuery,
  createEvidenceStore,
  type DriftLatest,
  type EvidenceKeys,
  type EvidenceStore,
  type Page,
  SearchQuery,
  type StoredBundle,
  type Verification,
} from "./store.js";
