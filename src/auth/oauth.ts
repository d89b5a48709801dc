import * as oauth from 'oauth4webapi';
import { config, type Config, type Env } from '../config';

/**
 * Sign-in with GitHub, Google or an OpenID Connect provider, through oauth4webapi (the
 * authorization code flow with PKCE and state, and a nonce for OIDC): this module speaks
 * the protocol and answers who the provider says the customer is; routes/oauth.tsx decides
 * what that identity may open. Google and the generic provider are OIDC (discovery, ID
 * token, userinfo); GitHub is plain OAuth 2.0, asked for the user and their verified
 * primary address through its API. An http:// provider is allowed only on loopback (tests,
 * a provider run beside `npm run dev`).
 */
export type ProviderId = 'github' | 'google' | 'oidc';

export interface Provider {
  id: ProviderId;
  /** On the buttons: "Continue with …". */
  name: string;
  client: oauth.Client;
  secret: string;
  /** GitHub: fixed endpoints. OIDC: the issuer, discovered. */
  server: () => Promise<oauth.AuthorizationServer>;
  scope: string;
  oidc: boolean;
  /** GitHub's API base (the user and their addresses). */
  api?: string;
}

/** Who the provider says signed in: its stable subject, and an address only if it vouches it is verified. */
export interface Identity {
  provider: ProviderId;
  subject: string;
  email: string | null;
}

/** What the start of a flow must keep for its callback (in a short-lived cookie). */
export interface Pending {
  state: string;
  verifier: string;
  nonce: string | null;
}

const loopback = (url: string) => ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname);
const insecure = (url: string) => (loopback(url) ? { [oauth.allowInsecureRequests]: true } : {});

// Discovery documents, once per isolate and issuer (a failed one is asked again next time).
const discovered = new Map<string, Promise<oauth.AuthorizationServer>>();

function discover(issuerUrl: string): Promise<oauth.AuthorizationServer> {
  let found = discovered.get(issuerUrl);
  if (!found) {
    const issuer = new URL(issuerUrl);
    found = oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure(issuerUrl) }).then((r) => oauth.processDiscoveryResponse(issuer, r));
    found.catch(() => discovered.delete(issuerUrl));
    discovered.set(issuerUrl, found);
  }
  return found;
}

function github(cfg: Config): Provider | null {
  if (!cfg.GITHUB_CLIENT_ID || !cfg.GITHUB_CLIENT_SECRET) return null;
  const base = cfg.GITHUB_URL.replace(/\/$/, '');
  const server: oauth.AuthorizationServer = {
    issuer: base, authorization_endpoint: `${base}/login/oauth/authorize`, token_endpoint: `${base}/login/oauth/access_token`,
  };
  return {
    id: 'github', name: 'GitHub', client: { client_id: cfg.GITHUB_CLIENT_ID }, secret: cfg.GITHUB_CLIENT_SECRET, server: async () => server,
    scope: 'read:user user:email', oidc: false, api: base === 'https://github.com' ? 'https://api.github.com' : `${base}/api/v3`,
  };
}

function oidcProvider(id: 'google' | 'oidc', name: string, issuer: string | undefined, clientId: string | undefined, secret: string | undefined): Provider | null {
  if (!issuer || !clientId || !secret) return null;
  return { id, name, client: { client_id: clientId }, secret, server: () => discover(issuer), scope: 'openid email profile', oidc: true };
}

/** The providers this deployment offers, in button order. */
export function providers(env: Env): Provider[] {
  const cfg = config(env);
  return [
    github(cfg),
    oidcProvider('google', 'Google', 'https://accounts.google.com', cfg.GOOGLE_CLIENT_ID, cfg.GOOGLE_CLIENT_SECRET),
    oidcProvider('oidc', cfg.OIDC_NAME, cfg.OIDC_ISSUER, cfg.OIDC_CLIENT_ID, cfg.OIDC_CLIENT_SECRET),
  ].filter((p): p is Provider => p !== null);
}

export const providerOf = (env: Env, id: string): Provider | null => providers(env).find((p) => p.id === id) ?? null;

export const redirectUri = (env: Env, provider: ProviderId) => `${config(env).PUBLIC_URL.replace(/\/$/, '')}/auth/${provider}/callback`;

/** Where to send the browser, and what its callback must find again. */
export async function authorizationUrl(env: Env, p: Provider): Promise<{ url: string; pending: Pending }> {
  const server = await p.server();
  const verifier = oauth.generateRandomCodeVerifier();
  const pending: Pending = { state: oauth.generateRandomState(), verifier, nonce: p.oidc ? oauth.generateRandomNonce() : null };
  const url = new URL(server.authorization_endpoint!);
  url.search = new URLSearchParams({
    client_id: p.client.client_id, redirect_uri: redirectUri(env, p.id), response_type: 'code', scope: p.scope, state: pending.state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    ...(pending.nonce ? { nonce: pending.nonce } : {}),
  }).toString();
  return { url: url.toString(), pending };
}

/**
 * The callback: the state checked, the code exchanged (with the PKCE verifier, so a code
 * caught in transit is useless), the ID token's issuer, audience, expiry and nonce checked
 * by oauth4webapi, and the identity read. Throws on any failure.
 */
export async function identityFromCallback(env: Env, p: Provider, callback: URL, pending: Pending): Promise<Identity> {
  const server = await p.server();
  const endpoint = server.token_endpoint!;
  const params = oauth.validateAuthResponse(server, p.client, callback, pending.state);
  const response = await oauth.authorizationCodeGrantRequest(
    server, p.client, oauth.ClientSecretPost(p.secret), params, redirectUri(env, p.id), pending.verifier, insecure(endpoint),
  );
  const tokens = await oauth.processAuthorizationCodeResponse(server, p.client, response, p.oidc ? { expectedNonce: pending.nonce!, requireIdToken: true } : {});
  return p.oidc ? oidcIdentity(p, server, tokens) : githubIdentity(p, tokens.access_token);
}

async function oidcIdentity(p: Provider, server: oauth.AuthorizationServer, tokens: oauth.TokenEndpointResponse): Promise<Identity> {
  const claims = oauth.getValidatedIdTokenClaims(tokens)!;
  let { email, email_verified } = claims as { email?: unknown; email_verified?: unknown };
  if (server.userinfo_endpoint) {
    const info = await oauth.processUserInfoResponse(server, p.client, claims.sub,
      await oauth.userInfoRequest(server, p.client, tokens.access_token, insecure(server.userinfo_endpoint)));
    ({ email, email_verified } = info);
  }
  const vouched = typeof email === 'string' && (email_verified === true || email_verified === 'true');
  return { provider: p.id, subject: claims.sub, email: vouched ? (email as string).toLowerCase() : null };
}

async function githubIdentity(p: Provider, token: string): Promise<Identity> {
  const get = async <T>(path: string): Promise<T> => {
    const res = await oauth.protectedResourceRequest(token, 'GET', new URL(`${p.api}${path}`),
      new Headers({ accept: 'application/vnd.github+json', 'user-agent': 'tokengate' }), null, insecure(p.api!));
    if (!res.ok) throw new Error(`GitHub ${path}: HTTP ${res.status}`);
    return res.json() as Promise<T>;
  };
  const [user, emails] = await Promise.all([
    get<{ id: number }>('/user'),
    get<Array<{ email: string; primary: boolean; verified: boolean }>>('/user/emails'),
  ]);
  const primary = emails.find((e) => e.primary && e.verified);
  return { provider: 'github', subject: String(user.id), email: primary ? primary.email.toLowerCase() : null };
}
