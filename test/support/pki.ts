/**
 * Real X.509 certificates for mTLS tests, made with the `openssl` CLI in a
 * temporary directory: a CA, a server certificate for 127.0.0.1/localhost,
 * agent client certificates bound to agent and clinic, and the bad ones the
 * refusal tests need (expired, issued by a second untrusted CA, self-signed).
 *
 * The certificates are real so that the TLS stack does the checking exactly as
 * in production; EC P-256 keys keep a full set under a second.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A certificate with its private key, as files (for configs and child processes) and as PEM text. */
export interface CertPair {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

/** Who a client certificate says it is: subject CN=agent_id, O=client_id, SAN URI binding both. */
export interface AgentIdentity {
  agent_id: string;
  client_id: string;
}

/** Everything a test needs; `cleanup()` removes the directory. */
export interface TestPki {
  dir: string;
  /** The trusted CA that the server and agents pin. */
  ca: CertPair;
  /** Server certificate for 127.0.0.1 and localhost, issued by `ca`. */
  server: CertPair;
  /** Issues a valid client certificate from `ca`; the name keeps files apart. */
  issueClient(name: string, who: AgentIdentity): CertPair;
  /** A client certificate from `ca` whose validity ended in 2020. */
  expiredClient(who: AgentIdentity): CertPair;
  /** A second CA nobody trusts. */
  foreignCa: CertPair;
  /** A client certificate issued by `foreignCa` (otherwise well-formed). */
  foreignClient(who: AgentIdentity): CertPair;
  /** A server certificate issued by `foreignCa`, for agents that must refuse it. */
  foreignServer: CertPair;
  /** A self-signed client certificate carrying a well-formed identity. */
  selfSignedClient(who: AgentIdentity): CertPair;
  cleanup(): void;
}

/** The SAN URI that binds a certificate to one agent of one clinic; the server reads identity from it. */
export function agentSanUri(who: AgentIdentity): string {
  return `urn:msp:clinic:${who.client_id}:agent:${who.agent_id}`;
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

function pair(dir: string, name: string): CertPair {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  return { certFile, keyFile, cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") };
}

function subjectOf(who: AgentIdentity): string {
  return `/O=${who.client_id}/CN=${who.agent_id}`;
}

function clientExt(who: AgentIdentity): string {
  return [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature",
    "extendedKeyUsage=clientAuth",
    `subjectAltName=URI:${agentSanUri(who)}`,
    "",
  ].join("\n");
}

/** Creates a self-signed CA named `name` (files `<name>.crt` / `<name>.key`). */
function makeCa(dir: string, name: string, cn: string): CertPair {
  openssl(
    [
      "req",
      "-x509",
      ...EC,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.crt`,
      "-days",
      "2",
      "-subj",
      `/CN=${cn}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
    dir,
  );
  return pair(dir, name);
}

/** Issues `<name>.crt` from a fresh key and CSR, signed by `ca` with the extensions in `ext`. */
function issue(dir: string, ca: string, name: string, subject: string, ext: string): CertPair {
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(["req", "-new", ...EC, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject], dir);
  openssl(
    [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.crt`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
      "-days",
      "2",
      "-sha256",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.crt`,
    ],
    dir,
  );
  return pair(dir, name);
}

/**
 * Issues an already-expired certificate. `openssl x509 -req` cannot set a start
 * date in the past, so this goes through `openssl ca` with a minimal config and
 * explicit `-startdate/-enddate`.
 */
function issueExpired(dir: string, name: string, who: AgentIdentity): CertPair {
  const caDir = join(dir, `${name}-ca`);
  mkdirSync(join(caDir, "new"), { recursive: true });
  writeFileSync(join(caDir, "index.txt"), "");
  writeFileSync(join(caDir, "serial"), "1000\n");
  writeFileSync(
    join(caDir, "ca.cnf"),
    [
      "[ca]",
      "default_ca = d",
      "[d]",
      `database = ${join(caDir, "index.txt")}`,
      `new_certs_dir = ${join(caDir, "new")}`,
      `serial = ${join(caDir, "serial")}`,
      "default_md = sha256",
      "policy = p",
      "unique_subject = no",
      "[p]",
      "organizationName = supplied",
      "commonName = supplied",
      "",
    ].join("\n"),
  );
  writeFileSync(join(dir, `${name}.ext`), clientExt(who));
  openssl(
    ["req", "-new", ...EC, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subjectOf(who)],
    dir,
  );
  openssl(
    [
      "ca",
      "-config",
      join(caDir, "ca.cnf"),
      "-batch",
      "-notext",
      "-preserveDN",
      "-cert",
      "ca.crt",
      "-keyfile",
      "ca.key",
      "-startdate",
      "20200101000000Z",
      "-enddate",
      "20200102000000Z",
      "-extfile",
      `${name}.ext`,
      "-in",
      `${name}.csr`,
      "-out",
      `${name}.crt`,
    ],
    dir,
  );
  return pair(dir, name);
}

/** Builds the CA, the server certificate and the foreign CA; client certificates are issued on demand. */
export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "msp-pki-"));
  const ca = makeCa(dir, "ca", "MSP Test CA");
  const serverExt = [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature",
    "extendedKeyUsage=serverAuth",
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
    "",
  ].join("\n");
  const server = issue(dir, "ca", "server", "/CN=localhost", serverExt);
  const foreignCa = makeCa(dir, "foreign-ca", "Untrusted CA");
  const foreignServer = issue(dir, "foreign-ca", "foreign-server", "/CN=localhost", serverExt);
  let counter = 0;
  const unique = (base: string) => `${base}-${++counter}`;

  return {
    dir,
    ca,
    server,
    foreignCa,
    foreignServer,
    issueClient: (name, who) => issue(dir, "ca", unique(`client-${name}`), subjectOf(who), clientExt(who)),
    expiredClient: (who) => issueExpired(dir, unique("expired"), who),
    foreignClient: (who) =>
      issue(dir, "foreign-ca", unique("foreign-client"), subjectOf(who), clientExt(who)),
    selfSignedClient: (who) => {
      const name = unique("self-signed");
      writeFileSync(join(dir, `${name}.ext`), clientExt(who));
      openssl(
        [
          "req",
          "-x509",
          ...EC,
          "-keyout",
          `${name}.key`,
          "-out",
          `${name}.crt`,
          "-days",
          "2",
          "-subj",
          subjectOf(who),
          "-addext",
          `subjectAltName=URI:${agentSanUri(who)}`,
          "-addext",
          "extendedKeyUsage=clientAuth",
        ],
        dir,
      );
      return pair(dir, name);
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
