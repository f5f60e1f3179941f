/**
 * Evidence: search by clinic/agent/kind/time, one bundle with its
 * verification status, one bundle's inclusion proof in its signed daily
 * checkpoint, chain heads and chain anomalies (gaps, forks), and the latest
 * drift result per check.
 */
import { EvidenceQuery, MspError } from "@msp/shared";
import type { z } from "zod";
import { type RouteDef, route } from "../api/route.js";
import type { EvidenceStore } from "../evidence/index.js";
import { BundleInclusionProof, type ProofSource } from "../worm/index.js";

const READ = ["admin", "operator", "auditor"] as const;

export interface EvidenceRouteDeps {
  evidence: EvidenceStore;
  /** Inclusion proofs over the WORM archive (the uploader). */
  proofs: ProofSource;
}

export function evidenceRoutes(deps: EvidenceRouteDeps): RouteDef[] {
  const clinic = (p: Record<string, string>) => p.clinic_id ?? "";
  return [
    route<undefined, z.output<typeof EvidenceQuery>>({
      method: "get",
      path: "/v1/clinics/:clinic_id/evidence",
      summary: "Search evidence bundles",
      tag: "evidence",
      access: READ,
      query: EvidenceQuery,
      handle: ({ params, query }) => {
        const page = deps.evidence.search({ ...query, client_id: clinic(params) });
        return { bundles: page.items, next_cursor: page.next_cursor };
      },
    }),
    route({
      method: "get",
      path: "/v1/clinics/:clinic_id/evidence/:bundle_id",
      summary: "Get an evidence bundle with its verification status",
      tag: "evidence",
      access: READ,
      handle: ({ params }) => {
        const id = params.bundle_id ?? "";
        if (!/^(EB-[A-Za-z0-9-]{1,80}|[0-9a-f]{64})$/.test(id))
          throw new MspError("invalid_input", "bundle id must be EB-... or a sha256");
        const found = deps.evidence.get(id, { client_id: clinic(params) });
        if (found === null) throw new MspError("not_found", `bundle ${id} not found`);
        return found;
      },
    }),
    route({
      method: "get",
      path: "/v1/clinics/:clinic_id/evidence/:agent_id/:seq/proof",
      summary: "Inclusion proof of a bundle in its signed daily checkpoint",
      tag: "evidence",
      access: READ,
      response: BundleInclusionProof,
      handle: ({ params }) => {
        const seq = params.seq ?? "";
        // Digits only: Number() would also take "1e3", " 7" or "0x10".
        if (!/^[1-9][0-9]{0,15}$/.test(seq))
          throw new MspError("invalid_input", "seq must be a positive integer");
        return deps.proofs.proof(clinic(params), params.agent_id ?? "", Number(seq));
      },
    }),
    route({
      method: "get",
      path: "/v1/clinics/:clinic_id/chains",
      summary: "Chain heads of a clinic's agents",
      tag: "evidence",
      access: READ,
      handle: ({ params }) => ({ chains: deps.evidence.chains(clinic(params)) }),
    }),
    route({
      method: "get",
      path: "/v1/clinics/:clinic_id/anomalies",
      summary: "Chain anomalies (gaps, forks, broken links)",
      tag: "evidence",
      access: READ,
      handle: ({ params }) => {
        const page = deps.evidence.anomalies({ client_id: clinic(params) });
        return { anomalies: page.items, next_cursor: page.next_cursor };
      },
    }),
    route({
      method: "get",
      path: "/v1/clinics/:clinic_id/drift",
      summary: "Latest drift result per agent and check",
      tag: "evidence",
      access: READ,
      handle: ({ params }) => ({ drift: deps.evidence.driftLatest({ client_id: clinic(params) }) }),
    }),
  ];
}
