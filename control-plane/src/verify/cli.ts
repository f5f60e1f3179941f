#!/usr/bin/env node
/**
 * `msp-verify`: the auditor's offline verifier as a command. Thin: it parses
 * flags strictly, builds a read-only S3 object store when asked, and prints
 * the report of `verifyEvidenceSet`. Exit codes: 0 the set verifies, 1 it
 * does not, 2 usage error (bad flags, unreadable key file, no such directory).
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { isMspError, readSecretFile } from "@msp/shared";
import { formatReport, type VerifyOptions, verifyEvidenceSet } from "./index.js";

const HELP = `msp-verify: verify an exported evidence set offline

Usage: msp-verify <dir> [options]

Checks every bundle's ed25519 signature (tweetnacl), its sha256 against the
manifest, each agent's prev_hash chain, each bundle's inclusion in its day's
signed checkpoint, and names every withheld bundle by agent and seq. With S3
read credentials it also checks each object version is locked in COMPLIANCE
mode at least until created_at + the retention period.

Options:
  --control-plane-key B64    the control plane's ed25519 public key you pinned
                             (without it the manifest's key is used, and said so)
  --retention-years N        required retention (default 6, HIPAA 164.316(b)(2)(i))
  --json                     print the machine-readable report
  --s3-bucket B              the WORM bucket (enables the retention check)
  --s3-endpoint URL          S3-compatible endpoint (path-style addressing)
  --s3-region R              region (default us-east-1)
  --s3-access-key-file F     file holding the access key id
  --s3-secret-key-file F     file holding the secret access key
  --help                     this text

Exit: 0 verified, 1 verification failed, 2 usage error.
`;

/** Where the command writes; `process.stdout`/`stderr` in the binary, buffers in tests. */
export interface CliOutput {
  out(text: string): void;
  err(text: string): void;
}

/** Runs the command; returns the exit code. */
export async function main(argv: readonly string[], io: CliOutput): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    io.err(`msp-verify: ${(e as Error).message}\nRun 'msp-verify --help' for usage.\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    io.err("msp-verify: give exactly one evidence directory\nRun 'msp-verify --help' for usage.\n");
    return 2;
  }
  const options: VerifyOptions = {};
  try {
    if (values["control-plane-key"] !== undefined)
      options.controlPlanePublicKey = values["control-plane-key"];
    if (values["retention-years"] !== undefined) {
      const n = Number(values["retention-years"]);
      options.retentionYears = n;
    }
    if (values["s3-bucket"] !== undefined) {
      const keyFile = values["s3-access-key-file"];
      const secretFile = values["s3-secret-key-file"];
      if ((keyFile === undefined) !== (secretFile === undefined)) {
        throw new Error("give both --s3-access-key-file and --s3-secret-key-file, or neither");
      }
      // The SDK loads only when S3 is asked for: offline checks start faster.
      const { createS3ObjectStore } = await import("../worm/s3.js");
      options.objectStore = createS3ObjectStore({
        bucket: values["s3-bucket"],
        region: values["s3-region"] ?? "us-east-1",
        forcePathStyle: values["s3-endpoint"] !== undefined,
        ...(values["s3-endpoint"] === undefined ? {} : { endpoint: values["s3-endpoint"] }),
        ...(keyFile === undefined || secretFile === undefined
          ? {}
          : {
              credentials: {
                accessKeyId: readSecretFile(keyFile, "S3 access key id"),
                secretAccessKey: readSecretFile(secretFile, "S3 secret access key"),
              },
            }),
      });
    } else if (values["s3-endpoint"] !== undefined || values["s3-access-key-file"] !== undefined) {
      throw new Error("--s3-* options need --s3-bucket");
    }
    const report = await verifyEvidenceSet(positionals[0] as string, options);
    io.out(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return report.ok ? 0 : 1;
  } catch (e) {
    const message = isMspError(e) ? e.message : (e as Error).message;
    io.err(`msp-verify: ${message}\n`);
    return 2;
  }
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      "control-plane-key": { type: "string" },
      "retention-years": { type: "string" },
      json: { type: "boolean" },
      "s3-bucket": { type: "string" },
      "s3-endpoint": { type: "string" },
      "s3-region": { type: "string" },
      "s3-access-key-file": { type: "string" },
      "s3-secret-key-file": { type: "string" },
      help: { type: "boolean" },
    },
  });
}

// Run only when executed as the binary, not when a test imports main().
function invokedDirectly(): boolean {
  const invoked = process.argv[1];
  if (invoked === undefined) return false;
  try {
    // realpath: npm's bin entry is a symlink to this file.
    return realpathSync(invoked) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}
if (invokedDirectly()) {
  main(process.argv.slice(2), {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`msp-verify: ${(e as Error).message}\n`);
      process.exitCode = 2;
    },
  );
}
