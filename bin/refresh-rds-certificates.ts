/**
 * Rewrites lambdas/engine/postgres/rds-root-certificates.ts, the Amazon RDS root CAs that `verify-full` trusts by
 * default (lambdas/shared/lambda-environment.ts), from AWS's three published trust bundles: commercial regions,
 * GovCloud and China. Maintainers run it when AWS opens a region or adds CAs, then the module's test:
 *
 *     npx tsx bin/refresh-rds-certificates.ts
 *     npx vitest run test/lambdas/engine/postgres/rds-root-certificates.test.ts
 *
 * (Where the machine cannot reach AWS, download the three bundles some other way and name the files, in the
 * order commercial, GovCloud, China: `npx tsx bin/refresh-rds-certificates.ts aws.pem gov.pem cn.pem`.)
 *
 * The test fails while a region RDS lists (botocore's endpoint data) has no root in the module, so a region
 * AWS opened since the last refresh shows up there.
 *
 * Every certificate of every bundle is parsed and checked: a self-signed certificate must be a CA whose
 * signature verifies with its own key and, unless it has expired, whose subject names an RDS region (`Amazon
 * RDS <region> Root CA <key> G<n>`), or the refresh stops. Valid roots are kept; intermediates and expired
 * certificates are left out and listed (the roots are the trust anchors: AWS's commercial bundle holds nothing
 * else). What is kept is deduplicated (by SHA-256
 * fingerprint), sorted by subject, written back as PEM from the parsed DER, and the module's header names the
 * sources and the day. The checking and the writing are the exported functions below, which the module's test
 * drives on the vendored certificates, so they stay in step with what is committed.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** AWS's published RDS trust bundles, one per partition (each names every root of its partition). */
export const RDS_BUNDLE_SOURCES = [
  { partition: 'aws', name: 'commercial regions', url: 'https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem' },
  { partition: 'aws-us-gov', name: 'GovCloud', url: 'https://truststore.pki.us-gov-west-1.rds.amazonaws.com/global/global-bundle.pem' },
  { partition: 'aws-cn', name: 'China', url: 'https://rds-truststore.s3.cn-north-1.amazonaws.com.cn/global/global-bundle.pem' },
] as const;

export const RDS_ROOT_CERTIFICATES_MODULE = join(fileURLToPath(new URL('..', import.meta.url)), 'lambdas', 'engine', 'postgres', 'rds-root-certificates.ts');

/**
 * `Amazon RDS us-east-1 Root CA RSA2048 G1`, and AWS's pre-release stages `Amazon RDS Beta us-east-1 Root CA …` and
 * `Amazon RDS Preview us-east-2 Root CA …`, which the commercial bundle carries too.
 */
const ROOT_NAME = /^Amazon RDS (?:(Beta|Preview) )?([a-z]{2}(?:-[a-z]+)+-\d+) Root CA (\w+) (G\d+)$/;

export interface RdsRootName {
  region: string;
  /** AWS's pre-release environments; undefined for a region's own root. */
  stage?: 'Beta' | 'Preview';
  /** `RSA2048`, `RSA4096`, `ECC384`. */
  key: string;
  generation: string;
}

/** What a root's common name says, or undefined when it names no RDS region. */
export function rdsRootName(commonName: string): RdsRootName | undefined {
  const m = ROOT_NAME.exec(commonName);
  if (!m) return undefined;
  return { region: m[2], stage: m[1] as RdsRootName['stage'], key: m[3], generation: m[4] };
}

export interface RdsRoot extends RdsRootName {
  commonName: string;
  /** Canonical PEM: the DER re-encoded, 64 characters a line, no trailing newline. */
  pem: string;
  fingerprint256: string;
  validTo: Date;
}

export interface RdsRootSelection {
  /** Sorted by common name (then fingerprint), without duplicates. */
  roots: RdsRoot[];
  /** Certificates left out and why: intermediates, expired or not yet valid roots. */
  skipped: string[];
}

/** The PEM certificate blocks of a bundle, in order. */
export function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

function commonName(subjectOrIssuer: string): string {
  return /^CN=(.*)$/m.exec(subjectOrIssuer)?.[1] ?? subjectOrIssuer.replace(/\n/g, ', ');
}

function canonicalPem(cert: X509Certificate): string {
  const base64 = cert.raw.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----`;
}

/**
 * Checks every certificate of the bundles and keeps the valid RDS roots. Throws on a certificate that cannot
 * be parsed, on a self-signed certificate that is not a CA, whose signature does not verify or whose subject
 * names no RDS region, and on bundles with no certificate at all: a refresh never quietly trusts less, or
 * something else, than AWS published.
 */
export function selectRdsRoots(bundles: readonly string[], now: Date = new Date()): RdsRootSelection {
  const byFingerprint = new Map<string, RdsRoot>();
  const skipped: string[] = [];
  for (const [index, bundle] of bundles.entries()) {
    const blocks = pemBlocks(bundle);
    if (blocks.length === 0) throw new Error(`bundle ${index + 1} holds no PEM certificate`);
    for (const block of blocks) {
      let cert: X509Certificate;
      try {
        cert = new X509Certificate(block);
      } catch (error) {
        throw new Error(`bundle ${index + 1}: a certificate does not parse: ${(error as Error).message}`);
      }
      const name = commonName(cert.subject);
      if (!cert.checkIssued(cert)) {
        skipped.push(`${name}: not a root (issued by ${commonName(cert.issuer)})`);
        continue;
      }
      if (!cert.ca) throw new Error(`${name}: self-signed but not a CA certificate`);
      if (!cert.verify(cert.publicKey)) throw new Error(`${name}: its self-signature does not verify`);
      const validFrom = new Date(cert.validFrom);
      const validTo = new Date(cert.validTo);
      if (!(validTo > now)) {
        skipped.push(`${name}: expired ${cert.validTo}`);
        continue;
      }
      if (validFrom > now) {
        skipped.push(`${name}: not valid before ${cert.validFrom}`);
        continue;
      }
      const parsed = rdsRootName(name);
      // Node writes the comma of the organization escaped (`O=Amazon Web Services\, Inc.`).
      if (!parsed || !/^O=Amazon Web Services\\?, Inc\.$/m.test(cert.subject) || !/^OU=Amazon RDS$/m.test(cert.subject)) {
        throw new Error(`a root whose subject names no Amazon RDS region: ${cert.subject.replace(/\n/g, ', ')}`);
      }
      if (!byFingerprint.has(cert.fingerprint256)) {
        byFingerprint.set(cert.fingerprint256, { ...parsed, commonName: name, pem: canonicalPem(cert), fingerprint256: cert.fingerprint256, validTo });
      }
    }
  }
  const roots = [...byFingerprint.values()].sort((a, b) => compare(a.commonName, b.commonName) || compare(a.fingerprint256, b.fingerprint256));
  return { roots, skipped };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The header's last provenance line. */
export const LEFT_OUT = 'Intermediates and expired certificates are left out: the roots are the trust anchors.';

export interface ModuleHeader {
  /** The day of the refresh, `YYYY-MM-DD`. */
  refreshed: string;
  /** Lines saying how the bundles were obtained (comment text, no `*\/`). */
  provenance: readonly string[];
}

/** The text of lambdas/engine/postgres/rds-root-certificates.ts. */
export function renderRdsRootCertificatesModule(roots: readonly RdsRoot[], header: ModuleHeader): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(header.refreshed)) throw new Error(`refreshed must be YYYY-MM-DD (got ${header.refreshed})`);
  const regions = new Set(roots.filter((r) => !r.stage).map((r) => r.region));
  const lines = [
    '// Generated by bin/refresh-rds-certificates.ts: do not edit by hand, run `npx tsx bin/refresh-rds-certificates.ts`.',
    '/**',
    " * The Amazon RDS root CAs that `verify-full` trusts by default, beside Node's public roots",
    ' * (lambdas/shared/lambda-environment.ts): every valid self-signed root of the trust bundles AWS publishes:',
    ' *',
    ...RDS_BUNDLE_SOURCES.map((s) => ` * - ${s.url} (${s.name})`),
    ' *',
    ` * Refreshed ${header.refreshed}: ${roots.length} roots, of ${regions.size} regions and AWS's Beta and Preview stages.`,
    ...header.provenance.map((line) => ` * ${line}`.trimEnd()),
    ' */',
    '',
    '/** The day these certificates were taken from the bundles. */',
    `export const RDS_ROOT_CERTIFICATES_REFRESHED = '${header.refreshed}';`,
    '',
    '/** PEM, one root each, sorted by subject. */',
    'export const RDS_ROOT_CERTIFICATES: readonly string[] = [',
    ...roots.flatMap((r) => [`  // ${r.commonName} (until ${r.validTo.toISOString().slice(0, 10)})`, `  \`${r.pem}\`,`]),
    '];',
    '',
  ];
  return lines.join('\n');
}

async function download(url: string): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'error' });
  } catch (error) {
    const cause = (error as { cause?: Error }).cause;
    throw new Error(`${url}: ${(error as Error).message}${cause ? ` (${cause.message})` : ''}`);
  }
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.text();
}

/**
 * Downloads the three bundles, or, given three file names (the bundles downloaded some other way, in the
 * order of RDS_BUNDLE_SOURCES), reads them.
 */
async function main(files: string[]): Promise<void> {
  if (files.length !== 0 && files.length !== RDS_BUNDLE_SOURCES.length) {
    throw new Error(`give no file, or the ${RDS_BUNDLE_SOURCES.length} bundles in this order: ${RDS_BUNDLE_SOURCES.map((s) => s.name).join(', ')}`);
  }
  const now = new Date();
  const day = now.toISOString().slice(0, 10);
  const provenance: string[] = [
    files.length ? `Read by bin/refresh-rds-certificates.ts on ${day} from copies of those bundles:` : `Downloaded by bin/refresh-rds-certificates.ts on ${day}:`,
  ];
  const bundles: string[] = [];
  for (const [i, source] of RDS_BUNDLE_SOURCES.entries()) {
    const text = files.length ? readFileSync(files[i], 'utf8') : await download(source.url);
    const { roots, skipped } = selectRdsRoots([text], now);
    if (roots.length === 0) throw new Error(`${files[i] ?? source.url} holds no valid RDS root`);
    const regions = [...new Set(roots.filter((r) => !r.stage).map((r) => r.region))];
    provenance.push(`- ${source.name}: ${pemBlocks(text).length} certificates, ${roots.length} roots kept (${regions.length} regions).`);
    process.stderr.write(`${files[i] ?? source.url}: ${roots.length} roots kept, regions ${regions.join(' ')}\n`);
    for (const line of skipped) process.stderr.write(`  left out: ${line}\n`);
    bundles.push(text);
  }
  const { roots } = selectRdsRoots(bundles, now);
  provenance.push(LEFT_OUT);
  writeFileSync(RDS_ROOT_CERTIFICATES_MODULE, renderRdsRootCertificatesModule(roots, { refreshed: day, provenance }));
  process.stderr.write(`wrote ${roots.length} roots to ${RDS_ROOT_CERTIFICATES_MODULE}; now run its test\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`refresh-rds-certificates: ${(error as Error).message}\n`);
    process.exit(1);
  });
}
