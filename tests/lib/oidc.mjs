// A real OpenID provider on loopback for the sign-in tests: `oidc-provider` (an OpenID Certified
// implementation) with the client the test stack is configured with (xtask: OIDC_LOCAL_*). Its
// development login page accepts any login; the login becomes the subject, and the e-mail is
// that login, verified unless it starts with "unverified".
import Provider from 'oidc-provider';
import { BASE } from './helpers.mjs';

export const OIDC_PORT = Number(process.env.ATELIER_OIDC_PORT ?? 18798);

export async function startProvider() {
  const issuer = `http://127.0.0.1:${OIDC_PORT}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: 'atelier-test',
      client_secret: 'atelier-test-oidc-secret',
      redirect_uris: [`${BASE}/api/auth/oidc/local/callback`],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    }],
    async findAccount(_ctx, sub) {
      return {
        accountId: sub,
        async claims() {
          return { sub, email: sub, email_verified: !sub.startsWith('unverified'), name: sub.split('@')[0] };
        },
      };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    pkce: { methods: ['S256'], required: () => true },
    cookies: { keys: ['atelier-test-cookie-key'] },
    features: { devInteractions: { enabled: true } },
  });
  const server = provider.listen(OIDC_PORT, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { issuer, close: () => new Promise((r) => server.close(r)) };
}

/** Signs in on the provider's development pages (login, then consent) as `login`. */
export async function providerLogin(page, login) {
  await page.waitForURL(new RegExp(`^http://127\\.0\\.0\\.1:${OIDC_PORT}/`));
  await page.locator('input[name=login]').fill(login);
  await page.locator('input[name=password]').fill('any password');
  await page.locator('button[type=submit]').click();
  // Consent (first time for this client and account).
  const consent = page.locator('button[type=submit]', { hasText: 'Continue' });
  await consent.waitFor();
  await consent.click();
}

/** The provider's development pages @import a web font from Google; nothing may leave loopback,
 * so browsers that visit them resolve no name but loopback ones (no DNS query is made; the
 * font fails at once). Pass these to the launch next to CHROMIUM_FLAGS. */
export const LOOPBACK_ONLY = ['--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost'];

/** Whether a console message is the provider's pages' failed font (reported at the font's URL,
 * or at the page's). */
export const fromProvider = (m) => {
  const u = m.location()?.url ?? '';
  return u.startsWith(`http://127.0.0.1:${OIDC_PORT}/`) || u.startsWith('https://fonts.googleapis.com/');
};
