/**
 * Monthly compliance packets: generate (content, Markdown, HTML, PDF), sign,
 * store and archive one clinic-month, and list or read stored packets.
 *
 * A packet is a directory under `<data_dir>/packets/<clinic>/<packet_id>/`
 * with packet.json (every figure and the full bundle manifest), packet.md,
 * packet.html, packet.pdf (when Chromium is available) and signature.json:
 * the sha256 and size of each output, signed with the control plane's
 * ed25519 key over its RFC 8785 canonical form. Every file is queued for WORM
 * upload in the same transaction that records the packet, so the uploader
 * archives it with the evidence. Files are written before the row: a crash
 * between the two leaves an unlisted directory, never a listed packet
 * without files.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  ClinicId,
  type Clock,
  canonicalBytes,
  MspError,
  parseWith,
  type SigningKey,
  sha256Hex,
  signBytes,
  toMspError,
} from "@msp/shared";
import type { Db } from "../db/index.js";
import { addYears, createWormObjectQueue } from "../worm/index.js";
import { buildContent } from "./content.js";
import { renderHtml } from "./html.js";
import { renderMarkdown } from "./markdown.js";
import { Month, monthRange } from "./month.js";
import { type PdfOptions, renderPdf } from "./pdf.js";

export { buildContent, type PacketContent } from "./content.js";
export { packetFactsSink, type StoredEvidence } from "./facts-table.js";
export { renderHtml } from "./html.js";
export { renderMarkdown, SECTION_TITLES } from "./markdown.js";
export { PACKET_MIGRATIONS } from "./migrations.js";
export { DEFAULT_CHROMIUM, renderPdf } from "./pdf.js";
export {
  type ControlPosture,
  type ControlStatus,
  computePosture,
  type EvidenceRef,
  type Posture,
} from "./posture.js";

/** The files of a packet, in signing order. */
export const PACKET_FILES = {
  "packet.json": "application/json",
  "packet.md": "text/markdown; charset=utf-8",
  "packet.html": "text/html; charset=utf-8",
  "packet.pdf": "application/pdf",
  "signature.json": "application/json",
} as const;
export type PacketFileName = keyof typeof PACKET_FILES;

/** One output's digest, as the signed manifest lists it. */
export interface PacketFile {
  name: PacketFileName;
  sha256: string;
  bytes: number;
}

/** A stored packet as the API lists it. */
export interface PacketRecord {
  packet_id: string;
  client_id: string;
  month: string;
  generated_at: string;
  generated_by: string;
  files: PacketFile[];
  /** Why there is no PDF (e.g. Chromium missing), or null. */
  pdf_error: string | null;
  signature_sha256: string;
  key_id: string;
  /** WORM object key and version (null while the upload is pending) of each file. */
  worm: { name: string; key: string; state: string; version_id: string | null }[];
}

/** The signed manifest stored as signature.json. */
export interface PacketSignature {
  format: "msp-compliance-packet-signature-v1";
  packet_id: string;
  client_id: string;
  month: string;
  generated_at: string;
  files: PacketFile[];
  signature: { alg: "ed25519"; key_id: string; value: string };
}

/** Options of {@link createPacketService}. */
export interface PacketServiceOptions {
  db: Db;
  /** Packets are written under `<dataDir>/packets`. */
  dataDir: string;
  signingKey: SigningKey;
  clock: Clock;
  /** Display name of a clinic, or undefined when it does not exist. */
  clinicName(clinicId: string): string | undefined;
  /** Whole years the WORM copies are locked for (the deployment's retention). */
  retentionYears: number;
  /** Wakes the WORM uploader after packet files were queued. */
  onQueued?: () => void;
  pdf?: PdfOptions;
}

/** Packet generation and storage. */
export interface PacketService {
  /** Generates, signs, stores and queues a packet; throws `invalid_input` / `not_found` for bad input. */
  generate(input: { clinicId: string; month: string; generatedBy: string }): Promise<PacketRecord>;
  /** A clinic's packets, newest first. */
  list(clinicId: string): PacketRecord[];
  /** One packet of a clinic, or undefined. */
  get(clinicId: string, packetId: string): PacketRecord | undefined;
  /** One file of a packet; `not_found` when the packet or file does not exist. */
  readFile(
    clinicId: string,
    packetId: string,
    name: string,
  ): Promise<{ body: Buffer; contentType: string; sha256: string }>;
}

interface Row {
  packet_id: string;
  client_id: string;
  month: string;
  generated_at: string;
  generated_by: string;
  files: string;
  pdf_error: string | null;
  signature_sha256: string;
  key_id: string;
  worm_keys: string;
}

/** The WORM object key of one packet file. */
export const packetObjectKey = (clinicId: string, month: string, packetId: string, name: string) =>
  `packets/${clinicId}/${month}/${packetId}/${name}`;

/** Creates the packet service over a migrated database. */
export function createPacketService(opts: PacketServiceOptions): PacketService {
  const { db, clock, signingKey } = opts;
  const root = join(opts.dataDir, "packets");
  const insertPacket = db.prepare(
    `INSERT INTO packets (packet_id, client_id, month, generated_at, generated_by, files, pdf_error,
       signature_sha256, key_id, worm_keys)
     VALUES (@packet_id, @client_id, @month, @generated_at, @generated_by, @files, @pdf_error,
       @signature_sha256, @key_id, @worm_keys)`,
  );
  const worm = createWormObjectQueue(db, () => clock.now());

  const record = (r: Row): PacketRecord => ({
    packet_id: r.packet_id,
    client_id: r.client_id,
    month: r.month,
    generated_at: r.generated_at,
    generated_by: r.generated_by,
    files: JSON.parse(r.files) as PacketFile[],
    pdf_error: r.pdf_error,
    signature_sha256: r.signature_sha256,
    key_id: r.key_id,
    worm: (JSON.parse(r.worm_keys) as { name: string; key: string }[]).map((w) => {
      const o = worm.state(w.key);
      return { ...w, state: o?.state ?? "missing", version_id: o?.version_id ?? null };
    }),
  });

  const store = db.transaction(
    (row: Row, objects: { key: string; body: Buffer; type: string }[], at: Date) => {
      const retainUntil = addYears(at, opts.retentionYears);
      for (const o of objects) {
        worm.enqueue({
          client_id: row.client_id,
          kind: "packet",
          key: o.key,
          body: o.body,
          content_type: o.type,
          retain_until: retainUntil,
        });
      }
      insertPacket.run(row);
    },
  );

  const get = (clinicId: string, packetId: string): PacketRecord | undefined => {
    const row = db
      .prepare("SELECT * FROM packets WHERE client_id = ? AND packet_id = ?")
      .get(clinicId, packetId) as Row | undefined;
    return row === undefined ? undefined : record(row);
  };

  return {
    async generate(input) {
      const clinicId = parseWith(ClinicId, input.clinicId, "clinic id");
      const month = parseWith(Month, input.month, "month");
      const name = opts.clinicName(clinicId);
      if (name === undefined) throw new MspError("not_found", `clinic ${clinicId} not found`);
      const at = clock.now();
      // A month in progress is allowed (the packet states its period and when it was made);
      // one that has not started has no evidence to report and is refused.
      if (monthRange(month).from > at.toISOString()) {
        throw new MspError("invalid_input", `month ${month} has not started yet`, { details: { month } });
      }
      const content = buildContent(db, { clinicId, clinicName: name, month, generatedAt: at });
      const json = Buffer.from(`${JSON.stringify(content, null, 2)}\n`);
      const html = renderHtml(content);
      const outputs: [PacketFileName, Buffer][] = [
        ["packet.json", json],
        ["packet.md", Buffer.from(renderMarkdown(content))],
        ["packet.html", Buffer.from(html)],
      ];
      let pdfError: string | null = null;
      try {
        outputs.push(["packet.pdf", await renderPdf(html, opts.pdf)]);
      } catch (e) {
        pdfError = toMspError(e).message;
      }
      const packetId = `CP-${month.replace("-", "")}-${sha256Hex(json).slice(0, 16)}`;
      const files: PacketFile[] = outputs.map(([n, body]) => ({
        name: n,
        sha256: sha256Hex(body),
        bytes: body.length,
      }));
      const unsigned = {
        format: "msp-compliance-packet-signature-v1" as const,
        packet_id: packetId,
        client_id: clinicId,
        month,
        generated_at: at.toISOString(),
        files,
      };
      const signature: PacketSignature = {
        ...unsigned,
        signature: {
          alg: "ed25519",
          key_id: signingKey.keyId,
          value: signBytes(signingKey, canonicalBytes(unsigned)).toString("base64"),
        },
      };
      const sigBody = Buffer.from(`${JSON.stringify(signature, null, 2)}\n`);
      outputs.push(["signature.json", sigBody]);

      const dir = join(root, clinicId, packetId);
      const staging = `${dir}.partial`;
      await mkdir(staging, { recursive: true, mode: 0o700 });
      for (const [n, body] of outputs) await writeFile(join(staging, n), body, { mode: 0o600 });
      await rename(staging, dir);

      const objects = outputs.map(([n, body]) => ({
        key: packetObjectKey(clinicId, month, packetId, n),
        body,
        type: PACKET_FILES[n],
      }));
      const row: Row = {
        packet_id: packetId,
        client_id: clinicId,
        month,
        generated_at: at.toISOString(),
        generated_by: input.generatedBy,
        files: JSON.stringify(files),
        pdf_error: pdfError,
        signature_sha256: sha256Hex(sigBody),
        key_id: signingKey.keyId,
        worm_keys: JSON.stringify(objects.map((o, i) => ({ name: outputs[i]?.[0], key: o.key }))),
      };
      store(row, objects, at);
      opts.onQueued?.();
      return record(row);
    },

    list(clinicId) {
      const id = parseWith(ClinicId, clinicId, "clinic id");
      return (
        db
          .prepare("SELECT * FROM packets WHERE client_id = ? ORDER BY generated_at DESC, packet_id DESC")
          .all(id) as Row[]
      ).map(record);
    },

    get,

    async readFile(clinicId, packetId, name) {
      const packet = get(clinicId, packetId);
      if (packet === undefined) throw new MspError("not_found", `packet ${packetId} not found`);
      const file = packet.files.find((f) => f.name === name);
      const sigName = name === "signature.json";
      if (file === undefined && !sigName)
        throw new MspError("not_found", `packet ${packetId} has no file ${name}`);
      const body = await readFile(join(root, clinicId, packetId, name));
      const sha256 = sha256Hex(body);
      const expected = sigName ? packet.signature_sha256 : file?.sha256;
      if (sha256 !== expected) {
        throw new MspError(
          "integrity_mismatch",
          `stored file ${name} of packet ${packetId} no longer matches its sha256`,
        );
      }
      return { body, contentType: PACKET_FILES[name as PacketFileName], sha256 };
    },
  };
}
