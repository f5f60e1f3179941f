/**
 * Keeps the CA on disk so a restart signs with the same CA the agents pinned:
 * `ca.key` (PKCS#8 PEM, mode 0600) and `ca.crt` (PEM) in one directory (0700).
 *
 * A key readable by group or others is refused, as ssh and `loadSigningKey`
 * do: whoever reads it can mint client certificates for any agent of any
 * clinic. Files are written to a temporary name, fsynced and then hard-linked
 * into place, so a crash never leaves half a file and two processes starting
 * at once cannot overwrite each other's CA. A key saved without its
 * certificate (a crash between the two writes) gets a fresh certificate,
 * since no leaf can have been issued yet.
 */
import { randomBytes } from "node:crypto";
import { link, mkdir, open, readFile, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { type Clock, MspError } from "@msp/shared";
import {
  type CertificateAuthority,
  newCaKeyAndCertificate,
  openCertificateAuthority,
  selfSignedCaCertificatePem,
} from "./authority.js";

/** Options for {@link loadOrCreateCertificateAuthority}. */
export interface CertificateAuthorityStoreOptions {
  /** Directory holding `ca.key` and `ca.crt`; created (0700) when missing. */
  dir: string;
  clock: Clock;
  /** CN for a newly created CA; an existing CA keeps the name it was made with. */
  commonName: string;
}

/** File names inside the CA directory. */
export const CA_KEY_FILE = "ca.key";
export const CA_CERT_FILE = "ca.crt";

const isMissing = (e: unknown) => (e as NodeJS.ErrnoException).code === "ENOENT";

/** Writes `text` to `path` only if it does not exist yet: temp file, fsync, hard link. False if it existed. */
async function writeOnce(path: string, text: string, mode: number): Promise<boolean> {
  try {
    return await linkNew(path, text, mode);
  } catch (e) {
    throw new MspError("config_invalid", `cannot write ${path}`, { cause: e });
  }
}

async function linkNew(path: string, text: string, mode: number): Promise<boolean> {
  const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  const handle = await open(tmp, "wx", mode);
  try {
    await handle.writeFile(text);
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  } finally {
    await unlink(tmp);
  }
}

/** Makes the new directory entries durable, so a power cut cannot undo a CA the agents already pinned. */
async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (e) {
    throw new MspError("config_invalid", `cannot sync CA directory ${dir}`, { cause: e });
  }
}

async function readKey(path: string): Promise<string | null> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (e) {
    if (isMissing(e)) return null;
    throw new MspError("config_invalid", `cannot read CA key ${path}`, { cause: e });
  }
  if ((mode & 0o077) !== 0) {
    throw new MspError(
      "config_invalid",
      `CA key ${path} has mode ${(mode & 0o777).toString(8)}; it must not be readable by group or others (chmod 600)`,
    );
  }
  return readOptional(path);
}

async function readOptional(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    if (isMissing(e)) return null;
    throw new MspError("config_invalid", `cannot read ${path}`, { cause: e });
  }
}

/**
 * Loads the CA from `dir`, creating it on first start. Throws `config_invalid`
 * for a key with loose permissions, a certificate without its key, or files
 * that do not form a valid, unexpired CA.
 */
export async function loadOrCreateCertificateAuthority(
  options: CertificateAuthorityStoreOptions,
): Promise<CertificateAuthority> {
  const { dir, clock } = options;
  const keyPath = join(dir, CA_KEY_FILE);
  const certPath = join(dir, CA_CERT_FILE);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new MspError("config_invalid", `cannot create CA directory ${dir}`, { cause: e });
  }
  let keyPem = await readKey(keyPath);
  if (keyPem === null) {
    if ((await readOptional(certPath)) !== null) {
      throw new MspError(
        "config_invalid",
        `${certPath} exists without ${CA_KEY_FILE}; restore the key or remove both`,
      );
    }
    const fresh = newCaKeyAndCertificate(options);
    // Losing a race to another process is fine: its key is on disk and is read back here.
    await writeOnce(keyPath, fresh.keyPem, 0o600);
    await syncDir(dir);
    keyPem = await readKey(keyPath);
    if (keyPem === fresh.keyPem) await writeOnce(certPath, fresh.certificatePem, 0o644);
  }
  if (keyPem === null) throw new MspError("config_invalid", `CA key ${keyPath} vanished while starting`);
  let certificatePem = await readOptional(certPath);
  if (certificatePem === null) {
    await writeOnce(certPath, selfSignedCaCertificatePem(keyPem, options.commonName, clock.now()), 0o644);
    certificatePem = await readOptional(certPath);
  }
  await syncDir(dir);
  if (certificatePem === null)
    throw new MspError("config_invalid", `CA certificate ${certPath} vanished while starting`);
  return openCertificateAuthority({ keyPem, certificatePem, clock });
}
