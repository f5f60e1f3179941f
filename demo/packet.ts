/**
 * The monthly compliance packet for the demo clinic, made by the real
 * `msp-cp packet` command: Markdown, HTML, and a PDF when Debian's Chromium
 * is installed at /usr/bin/chromium (without it the demo says why there is
 * no PDF). The demo checks every file against the packet's signed manifest
 * (signature.json) with the control plane's public key, then uploads the
 * files the command queued into WORM.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  type ControlPlaneConfig,
  canonicalBytes,
  keyIdOf,
  sha256Hex,
  verifyBytes,
} from "../shared/dist/index.js";
import { runNodeOk } from "./children.js";
import { DemoError } from "./errors.js";
import { uploadQueued } from "./offline.js";
import { COMMANDS } from "./result.js";
import { CLINIC } from "./site.js";
import type { Steps } from "./steps.js";

/** Where Debian installs Chromium; the packet renderer uses exactly this path. */
const CHROMIUM = "/usr/bin/chromium";

/** The packet part of the result. */
export interface PacketOutcome {
  packet_id: string;
  dir: string;
  markdown: string;
  html: string;
  /** Null when no PDF was made; then `pdf_skipped_reason` says why. */
  pdf: string | null;
  pdf_skipped_reason: string | null;
  signature: string;
  /** WORM files of the packet's objects. */
  worm: string[];
}

interface PacketRecord {
  packet_id: string;
  month: string;
  files: { name: string; sha256: string; bytes: number }[];
  pdf_error: string | null;
  worm: { name: string; key: string }[];
}

interface PacketSignature {
  packet_id: string;
  files: { name: string; sha256: string; bytes: number }[];
  signature: { alg: string; key_id: string; value: string };
}

/** Generates, checks and archives the packet of the month of `day`. */
export function buildPacket(
  steps: Steps,
  o: { config: ControlPlaneConfig; configFile: string; day: string; cpPublicKey: string; home: string },
): Promise<PacketOutcome> {
  return steps.run("msp-cp packet: monthly compliance packet, signed", async () => {
    const month = o.day.slice(0, 7);
    const out = await runNodeOk({
      script: COMMANDS.cp,
      args: ["packet", "--config", o.configFile, "--clinic", CLINIC, "--month", month],
      what: "msp-cp packet",
      home: o.home,
    });
    const record = JSON.parse(out) as PacketRecord;
    const dir = join(o.config.data_dir, "packets", CLINIC, record.packet_id);
    const signatureFile = join(dir, "signature.json");
    const signed = JSON.parse(readFileSync(signatureFile, "utf8")) as PacketSignature;
    const { signature, ...unsigned } = signed;
    const cpKey = Buffer.from(o.cpPublicKey, "base64");
    if (
      signature.key_id !== keyIdOf(cpKey) ||
      !verifyBytes(o.cpPublicKey, canonicalBytes(unsigned), Buffer.from(signature.value, "base64"))
    ) {
      throw new DemoError(`${signatureFile} does not verify against the control-plane key`);
    }
    for (const f of signed.files) {
      const body = readFileSync(join(dir, f.name));
      if (sha256Hex(body) !== f.sha256 || body.length !== f.bytes)
        throw new DemoError(`${join(dir, f.name)} differs from its signed digest`);
    }
    const has = (name: string) => signed.files.some((f) => f.name === name);
    if (!has("packet.md") || !has("packet.html"))
      throw new DemoError("the packet lacks its Markdown or HTML");
    let pdfSkipped: string | null = null;
    if (!has("packet.pdf")) {
      if (existsSync(CHROMIUM)) {
        throw new DemoError(
          `${CHROMIUM} is installed but the PDF failed: ${record.pdf_error ?? "no reason given"}`,
        );
      }
      pdfSkipped = `${CHROMIUM} is not installed (Debian package chromium); ${record.pdf_error ?? ""}`.trim();
    }
    const worm = await uploadQueued(
      o.config,
      record.worm.map((w) => w.key),
    );
    const value: PacketOutcome = {
      packet_id: record.packet_id,
      dir,
      markdown: join(dir, "packet.md"),
      html: join(dir, "packet.html"),
      pdf: pdfSkipped === null ? join(dir, "packet.pdf") : null,
      pdf_skipped_reason: pdfSkipped,
      signature: signatureFile,
      worm: [...worm.values()],
    };
    const wormDir = join(
      o.config.worm.kind === "local" ? o.config.worm.dir : "",
      "objects",
      "packets",
      CLINIC,
      month,
    );
    return {
      value,
      lines: [
        `${record.packet_id} for ${month}: ${signed.files.length} files signed by key ${signature.key_id} (valid)`,
        `Markdown  ${value.markdown}`,
        `HTML      ${value.html}`,
        value.pdf === null ? `PDF       skipped: ${pdfSkipped}` : `PDF       ${value.pdf}`,
        `WORM      ${worm.size} objects under ${wormDir}`,
      ],
    };
  });
}
