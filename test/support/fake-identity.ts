import { createHash, createSign, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';

/**
 * A fake identity provider on 127.0.0.1, both an OpenID Connect provider (issuer
 * `${url}/oidc`: discovery, authorize, token, userinfo, jwks) and GitHub's OAuth app flow
 * (`/login/oauth/authorize`, `/login/oauth/access_token`, and the API under `/api/v3`, as
 * GitHub Enterprise Server lays it out), with the shapes OpenID Connect Discovery and Core
 * and GitHub's REST docs publish. It enforces what a real one does: the registered client
 * and secret, the redirect URI, PKCE (S256) and single-use codes. Its authorize step is a
 * consent page with an "Authorize" button; the user it signs in is whoever POST
 * /__user {sub, email, email_verified} named last.
 */
export interface FakeUser {
  sub: string;
  email: string;
  email_verified: boolean;
}

export const FAKE_CLIENT = { id: 'tokengate-client', secret: 'fake-client-secret-0123456789' };

interface Grant {
  kind: 'oidc' | 'github';
  redirectUri: string;
  challenge: string;
  nonce: string | null;
  user: FakeUser;
  used: boolean;
}

const b64url = (b: Buffer) => b.toString('base64url');

export async function startFakeIdentity(): Promise<{ url: string; server: Server; setUser: (u: FakeUser) => Promise<void> }> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig', alg: 'RS256' };
  const grants = new Map<string, Grant>();
  const tokens = new Map<string, FakeUser>();
  let user: FakeUser = { sub: '1', email: 'someone@example.com', email_verified: true };
  let base = '';

  const idToken = (g: Grant) => {
    const now = Math.floor(Date.now() / 1000);
    const head = b64url(Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'k1' })));
    const body = b64url(Buffer.from(JSON.stringify({
      iss: `${base}/oidc`, sub: g.user.sub, aud: FAKE_CLIENT.id, iat: now, exp: now + 300, nonce: g.nonce, email: g.user.email, email_verified: g.user.email_verified,
    })));
    return `${head}.${body}.${b64url(createSign('RSA-SHA256').update(`${head}.${body}`).sign(privateKey))}`;
  };

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const json = (status: number, value: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    const bearer = /^Bearer (.+)$/i.exec(String(req.headers.authorization ?? ''))?.[1];
    const path = url.pathname;

    if (req.method === 'POST' && path === '/__user') {
      user = JSON.parse(body) as FakeUser;
      return void res.end();
    }
    if (path === '/oidc/.well-known/openid-configuration') {
      return void json(200, {
        issuer: `${base}/oidc`, authorization_endpoint: `${base}/oidc/authorize`, token_endpoint: `${base}/oidc/token`,
        userinfo_endpoint: `${base}/oidc/userinfo`, jwks_uri: `${base}/oidc/jwks`, response_types_supported: ['code'],
        subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'], code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'], scopes_supported: ['openid', 'email', 'profile'],
      });
    }
    if (path === '/oidc/jwks') return void json(200, { keys: [jwk] });

    if (req.method === 'GET' && (path === '/oidc/authorize' || path === '/login/oauth/authorize')) {
      const q = url.searchParams;
      const kind = path.startsWith('/oidc') ? 'oidc' : 'github';
      if (q.get('client_id') !== FAKE_CLIENT.id || !q.get('redirect_uri') || !q.get('state') || q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge')) {
        return void res.writeHead(400, { 'content-type': 'text/plain' }).end('bad authorization request');
      }
      if (kind === 'oidc' && (q.get('response_type') !== 'code' || !q.get('scope')?.split(' ').includes('openid') || !q.get('nonce'))) {
        return void res.writeHead(400, { 'content-type': 'text/plain' }).end('bad authentication request');
      }
      if (q.get('approve') !== '1') {
        const approve = new URL(url);
        approve.searchParams.set('approve', '1');
        const escaped = approve.pathname + approve.search.replace(/&/g, '&amp;');
        return void res.writeHead(200, { 'content-type': 'text/html' })
          .end(`<!doctype html><title>Authorize</title><h1>Authorize ${kind === 'oidc' ? 'Fake IdP' : 'Fake GitHub'}</h1><p>Signed in as ${user.email}</p><a href="${escaped}" role="button">Authorize</a>`);
      }
      const code = b64url(randomBytes(20));
      grants.set(code, { kind, redirectUri: q.get('redirect_uri')!, challenge: q.get('code_challenge')!, nonce: q.get('nonce'), user, used: false });
      const back = new URL(q.get('redirect_uri')!);
      back.searchParams.set('code', code);
      back.searchParams.set('state', q.get('state')!);
      return void res.writeHead(302, { location: back.toString() }).end();
    }

    if (req.method === 'POST' && (path === '/oidc/token' || path === '/login/oauth/access_token')) {
      const form = new URLSearchParams(body);
      const basic = /^Basic (.+)$/i.exec(String(req.headers.authorization ?? ''))?.[1];
      const [id, secret] = basic ? Buffer.from(basic, 'base64').toString().split(':').map(decodeURIComponent) : [form.get('client_id'), form.get('client_secret')];
      if (id !== FAKE_CLIENT.id || secret !== FAKE_CLIENT.secret) return void json(401, { error: 'invalid_client' });
      const grant = grants.get(form.get('code') ?? '');
      const verifier = form.get('code_verifier') ?? '';
      if (form.get('grant_type') !== 'authorization_code' || !grant || grant.used || grant.redirectUri !== form.get('redirect_uri')
        || b64url(createHash('sha256').update(verifier).digest()) !== grant.challenge) {
        if (grant) grant.used = true; // a code tried twice is spent for everyone
        return void json(400, { error: 'invalid_grant', error_description: 'The code is not valid.' });
      }
      grant.used = true;
      const access = b64url(randomBytes(20));
      tokens.set(access, grant.user);
      if (grant.kind === 'github') return void json(200, { access_token: `gho_${access}`, scope: 'read:user,user:email', token_type: 'bearer' });
      return void json(200, { access_token: access, token_type: 'Bearer', expires_in: 3600, scope: 'openid email profile', id_token: idToken(grant) });
    }

    const signedIn = bearer ? tokens.get(bearer.replace(/^gho_/, '')) : undefined;
    if (path === '/oidc/userinfo') {
      if (!signedIn) return void json(401, { error: 'invalid_token' });
      return void json(200, { sub: signedIn.sub, email: signedIn.email, email_verified: signedIn.email_verified });
    }
    if (path === '/api/v3/user') {
      if (!signedIn) return void json(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
      return void json(200, { login: signedIn.email.split('@')[0], id: Number(signedIn.sub), type: 'User', email: null });
    }
    if (path === '/api/v3/user/emails') {
      if (!signedIn) return void json(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
      return void json(200, [{ email: signedIn.email, primary: true, verified: signedIn.email_verified, visibility: 'private' }]);
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const setUser = async (u: FakeUser) => void (await fetch(`${base}/__user`, { method: 'POST', body: JSON.stringify(u) }));
  return { url: base, server, setUser };
}
