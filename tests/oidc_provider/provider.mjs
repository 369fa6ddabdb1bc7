// A real OpenID Connect provider for the sign-in tests: the certified `oidc-provider` package, with test
// users and groups the tests change between sign-ins. Never part of the app; bound to 127.0.0.1 only.
//
//   node provider.mjs <port>      prints "ready <issuer>" once it listens
//
// Clients register themselves (dynamic client registration, RFC 7591), so each test app gets a client
// with its own redirect URI. Test-only controls, JSON bodies:
//   POST /test/users   {"alice": {"password": "...", "email": "...", "groups": ["engineering"]}, ...}
//                      replaces the users; a user left out no longer exists (sign-in and refresh fail)
//   POST /test/tamper  {"mode": "claims"}: the next token response carries an ID token whose claims were
//                      changed after signing (its signature no longer matches), as a forger would send it
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const issuer = `http://127.0.0.1:${port}`;
let users = {};
let tamper = null;

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' };
}

const configuration = {
  jwks: { keys: [signingKey()] },
  cookies: { keys: [randomUUID()] },
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true },  // open registration: a test process is the only client
    rpInitiatedLogout: {
      enabled: true,
      // The confirmation real providers show (Keycloak's "Do you want to log out?").
      logoutSource: async (ctx, form) => {
        ctx.body = `<!DOCTYPE html><html><head><title>Signing out</title></head><body>${form}
          <button id="logout-yes" type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
          </body></html>`;
      },
    },
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
    groups: ['groups'],
  },
  pkce: { required: () => true },  // a client that does not send PKCE is refused
  // Refresh tokens without offline_access (as Keycloak issues them): the app re-checks its users with them.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  // Every refresh spends its token and issues a new one; a spent token used again revokes the grant (as
  // Keycloak's "Revoke Refresh Token" and Okta's rotation do): two app processes must not both spend one.
  rotateRefreshToken: () => true,
  // First-party clients: the requested scopes are granted without a consent page.
  loadExistingGrant: async (ctx) => {
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(ctx.oidc.requestParamScopes ? [...ctx.oidc.requestParamScopes].join(' ') : 'openid');
    await grant.save();
    return grant;
  },
  findAccount: async (ctx, id) => {
    const user = users[id];
    if (!user) return undefined;
    return {
      accountId: id,
      claims: async () => ({
        sub: id, email: user.email, email_verified: true, preferred_username: user.preferred_username || id, name: id,
        groups: user.groups || [],
      }),
    };
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { Session: 3600, Interaction: 600, Grant: 3600, RefreshToken: 3600, AccessToken: 600, IdToken: 600 },
};

const provider = new Provider(issuer, configuration);

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

function loginPage(uid, error) {
  return `<!DOCTYPE html><html><head><title>Test provider sign-in</title></head><body>
    <h1>Test provider</h1>${error ? `<p id="error">${escape(error)}</p>` : ''}
    <form method="post" action="/interaction/${escape(uid)}/login">
      <label>Username <input id="username" name="username" autofocus></label>
      <label>Password <input id="password" name="password" type="password"></label>
      <button id="sign-in" type="submit">Sign in</button>
    </form></body></html>`;
}

function forgeClaims(idToken) {
  const [header, payload, signature] = idToken.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  claims.groups = ['admins'];
  return [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.');
}

provider.use(async (ctx, next) => {
  const { req, res } = ctx;
  if (ctx.path === '/test/users' && ctx.method === 'POST') {
    users = JSON.parse(await readBody(req));
    ctx.body = { users: Object.keys(users) };
    return;
  }
  if (ctx.path === '/test/tamper' && ctx.method === 'POST') {
    tamper = JSON.parse(await readBody(req)).mode || null;
    ctx.body = { tamper };
    return;
  }
  const interaction = ctx.path.match(/^\/interaction\/([^/]+)(\/login)?$/);
  if (interaction) {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === 'login' && !interaction[2]) {
      ctx.type = 'html';
      ctx.body = loginPage(details.uid);
      return;
    }
    if (details.prompt.name === 'login' && ctx.method === 'POST') {
      const form = new URLSearchParams(await readBody(req));
      const user = users[form.get('username')];
      if (!user || user.password !== form.get('password')) {
        ctx.type = 'html';
        ctx.body = loginPage(details.uid, 'Unknown user or wrong password');
        return;
      }
      await provider.interactionFinished(req, res, { login: { accountId: form.get('username') } }, { mergeWithLastSubmission: false });
      ctx.respond = false;
      return;
    }
    // Consent: granted (loadExistingGrant covers it); anything else is finished as it is.
    const grant = await provider.Grant.find(details.grantId) || new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    grant.addOIDCScope(String(details.params.scope || 'openid'));
    await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
    ctx.respond = false;
    return;
  }
  await next();
  if (ctx.path === '/token' && tamper === 'claims' && ctx.body && ctx.body.id_token) {
    ctx.body = { ...ctx.body, id_token: forgeClaims(ctx.body.id_token) };
    tamper = null;
  }
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
