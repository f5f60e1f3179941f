/**
 * The HIPAA Security Rule control catalog (45 CFR Part 164, Subpart C and
 * 164.316). Every citation anywhere in the project (runbooks, baselines,
 * bundles, packets) must be one of these, so a packet can list every control
 * and say "not covered" where no evidence exists.
 */

/** Safeguard family, as the rule groups its sections. */
export type SafeguardFamily = "administrative" | "physical" | "technical" | "documentation";

/** Whether the citation is a standard, a required or an addressable implementation specification. */
export type Specification = "standard" | "required" | "addressable";

/** One control of the catalog. */
export interface HipaaControl {
  readonly citation: string;
  readonly title: string;
  readonly family: SafeguardFamily;
  readonly specification: Specification;
}

/** The catalog, in rule order. */
export const HIPAA_CONTROLS: readonly HipaaControl[] = [
  {
    citation: "164.308(a)(1)(ii)(D)",
    title: "Information system activity review",
    family: "administrative",
    specification: "required",
  },
  {
    citation: "164.308(a)(4)(ii)(C)",
    title: "Access establishment and modification",
    family: "administrative",
    specification: "addressable",
  },
  {
    citation: "164.308(a)(5)(ii)(B)",
    title: "Protection from malicious software",
    family: "administrative",
    specification: "addressable",
  },
  {
    citation: "164.308(a)(5)(ii)(C)",
    title: "Log-in monitoring",
    family: "administrative",
    specification: "addressable",
  },
  {
    citation: "164.308(a)(7)(ii)(A)",
    title: "Data backup plan",
    family: "administrative",
    specification: "required",
  },
  {
    citation: "164.308(a)(7)(ii)(B)",
    title: "Disaster recovery plan",
    family: "administrative",
    specification: "required",
  },
  {
    citation: "164.308(a)(7)(ii)(D)",
    title: "Testing and revision procedures",
    family: "administrative",
    specification: "addressable",
  },
  {
    citation: "164.310(d)(1)",
    title: "Device and media controls",
    family: "physical",
    specification: "standard",
  },
  {
    citation: "164.310(d)(2)(iv)",
    title: "Data backup and storage",
    family: "physical",
    specification: "addressable",
  },
  { citation: "164.312(a)(1)", title: "Access control", family: "technical", specification: "standard" },
  {
    citation: "164.312(a)(2)(iv)",
    title: "Encryption and decryption",
    family: "technical",
    specification: "addressable",
  },
  { citation: "164.312(b)", title: "Audit controls", family: "technical", specification: "standard" },
  { citation: "164.312(c)(1)", title: "Integrity", family: "technical", specification: "standard" },
  {
    citation: "164.312(c)(2)",
    title: "Mechanism to authenticate electronic protected health information",
    family: "technical",
    specification: "addressable",
  },
  {
    citation: "164.312(d)",
    title: "Person or entity authentication",
    family: "technical",
    specification: "standard",
  },
  {
    citation: "164.312(e)(1)",
    title: "Transmission security",
    family: "technical",
    specification: "standard",
  },
  {
    citation: "164.312(e)(2)(ii)",
    title: "Encryption (in transmission)",
    family: "technical",
    specification: "addressable",
  },
  { citation: "164.316(b)(1)", title: "Documentation", family: "documentation", specification: "standard" },
  {
    citation: "164.316(b)(2)(i)",
    title: "Documentation time limit (retain 6 years)",
    family: "documentation",
    specification: "required",
  },
];

/** Every citation, for schema enums. */
export const HIPAA_CITATIONS = HIPAA_CONTROLS.map((c) => c.citation) as [string, ...string[]];

const byCitation = new Map(HIPAA_CONTROLS.map((c) => [c.citation, c]));

/** The control for a citation, or undefined when it is not in the catalog. */
export function hipaaControl(citation: string): HipaaControl | undefined {
  return byCitation.get(citation);
}

/** HIPAA documentation retention, 164.316(b)(2)(i): six years from creation or last effective date. */
export const HIPAA_RETENTION_YEARS = 6;
