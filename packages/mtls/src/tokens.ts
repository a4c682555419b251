// Service-account tokens for the files-mode controller — the credential kube mode gets from
// Kubernetes (a projected, bound service-account token with audience `istio-ca`, verified by
// TokenReview; shared spec ztunnel.md §2.3). Without an API server, the controller verifies
// tokens it signed itself: ES256 JWTs carrying the same claims a bound token carries
// (`sub` = `system:serviceaccount:<ns>:<sa>`, `kubernetes.io.node.name` for a node agent),
// signed by a key kept beside the CA (mode 0600, created once, never regenerated silently).
// `ambientctl token create` mints them for an operator; ztunnel and the waypoint send them as
// `authorization: Bearer` on the CA RPC and on xDS, exactly as they send a Kubernetes token.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { MtlsError } from './errors.js';

/** The audience Istio's chart requests for ztunnel's projected token; the CA checks it. */
export const TOKEN_AUDIENCE = 'istio-ca';
export const TOKEN_ISSUER = 'ambient-controller';
export const TOKEN_KEY_FILE = 'token-signing-key.pem';
/** A token longer than this is refused before any parsing (Kubernetes tokens are ≈ 1 KB). */
const MAX_TOKEN_BYTES = 8 * 1024;

/** What a verified token says about its holder — TokenReview's answer, from either source. */
export interface TokenReview {
  authenticated: boolean;
  /** `system:serviceaccount:<ns>:<sa>` */
  username?: string;
  /** The node a node agent's token is bound to (Kubernetes: `authentication.kubernetes.io/node-name`). */
  nodeName?: string;
  /** The pod a bound token belongs to (Kubernetes: `authentication.kubernetes.io/pod-name`, `pod-uid`). */
  pod?: { name: string; uid: string };
  /** Why the token was refused (never echoes the token). */
  error?: string;
}

export interface TokenReviewer {
  review(token: string): Promise<TokenReview>;
}

export interface TokenSubject {
  namespace: string;
  serviceAccount: string;
  /** Set for a node agent (ztunnel): the only node whose pods it may obtain certificates for. */
  node?: string;
}

export class TokenIssuer implements TokenReviewer {
  private readonly publicKey: KeyObject;

  private constructor(private readonly key: KeyObject) {
    this.publicKey = createPublicKey(key);
  }

  /**
   * Loads the signing key from `file`, or creates it there (EC P-256, mode 0600). Two
   * processes creating it at once agree: the second one's exclusive create fails and it
   * reads the first one's key.
   */
  static loadOrCreate(file: string): TokenIssuer {
    if (!existsSync(file)) {
      mkdirSync(path.dirname(file), { recursive: true });
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      try {
        writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    return TokenIssuer.load(file);
  }

  static load(file: string): TokenIssuer {
    let key: KeyObject;
    try {
      key = createPrivateKey(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new MtlsError(
        'CA_STATE',
        `cannot read the token signing key ${file}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    return new TokenIssuer(key);
  }

  /** A token for a service account (and, for a node agent, its node), valid for `ttlSeconds`. */
  sign(subject: TokenSubject, ttlSeconds: number): Promise<string> {
    const k8s: Record<string, unknown> = {
      namespace: subject.namespace,
      serviceaccount: { name: subject.serviceAccount },
      ...(subject.node ? { node: { name: subject.node } } : {}),
    };
    return new SignJWT({ 'kubernetes.io': k8s })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setSubject(`system:serviceaccount:${subject.namespace}:${subject.serviceAccount}`)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
      .sign(this.key);
  }

  async review(token: string): Promise<TokenReview> {
    if (token.length > MAX_TOKEN_BYTES) return { authenticated: false, error: 'token too long' };
    try {
      const { payload } = await jwtVerify(token, this.publicKey, {
        issuer: TOKEN_ISSUER,
        audience: TOKEN_AUDIENCE,
        algorithms: ['ES256'],
        requiredClaims: ['exp', 'sub'],
      });
      const sub = payload.sub ?? '';
      if (!/^system:serviceaccount:[^:]+:[^:]+$/.test(sub))
        return { authenticated: false, error: 'token subject is not a service account' };
      const node = (payload['kubernetes.io'] as { node?: { name?: unknown } } | undefined)?.node?.name;
      return {
        authenticated: true,
        username: sub,
        ...(typeof node === 'string' && node !== '' ? { nodeName: node } : {}),
      };
    } catch (err) {
      const reason =
        err instanceof joseErrors.JWTExpired
          ? 'token expired'
          : err instanceof joseErrors.JWTClaimValidationFailed
            ? `token claim ${err.claim} invalid`
            : 'token signature or format invalid';
      return { authenticated: false, error: reason };
    }
  }
}

/** `system:serviceaccount:<ns>:<sa>` → `{namespace, serviceAccount}`; undefined for other users. */
export function serviceAccountOf(
  username: string | undefined,
): { namespace: string; serviceAccount: string } | undefined {
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username ?? '');
  return m ? { namespace: m[1]!, serviceAccount: m[2]! } : undefined;
}

/** The bearer token of an `authorization` header value ('' when there is none). */
export function bearerToken(header: string | undefined): string {
  const m = /^Bearer[ \t]+(\S+)\s*$/i.exec(header ?? '');
  return m ? m[1]! : '';
}
