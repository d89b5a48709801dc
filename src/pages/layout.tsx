import type { Context } from 'hono';
import { raw } from 'hono/html';
import type { Child } from 'hono/jsx';
import { config } from '../config';
import type { AppEnv } from '../context';
import { pageLang, translator, type Lang, type T } from './i18n';
import { version } from '../../package.json';

/** What every page needs to render: the words, the site's name and where the visitor is. */
export interface Page {
  t: T;
  lang: Lang;
  site: string;
  contact: string;
  path: string;
  /** The language switch's target: this page in the other language. */
  switchHref: string;
}

export function pageOf(c: Context<AppEnv>): Page {
  const lang = pageLang(c);
  const cfg = config(c.env);
  const url = new URL(c.req.url);
  url.searchParams.set('lang', lang === 'en' ? 'zh' : 'en');
  return { t: translator(lang), lang, site: cfg.SITE_NAME, contact: cfg.CONTACT, path: url.pathname, switchHref: `${url.pathname}${url.search}` };
}

const PUBLIC_NAV = [['/pricing', 'nav.pricing'], ['/docs', 'nav.docs'], ['/login', 'nav.login'], ['/signup', 'nav.signup']] as const;
const CONSOLE_NAV = [
  ['/console', 'nav.dashboard'], ['/console/keys', 'nav.keys'], ['/console/logs', 'nav.logs'], ['/console/wallet', 'nav.wallet'],
  ['/console/settings', 'nav.settings'], ['/pricing', 'nav.pricing'], ['/docs', 'nav.docs'],
] as const;

/** The operator console's pages, in English only (DESIGN.md fixes these names). */
const OPERATOR_NAV = [
  ['/operator', 'Overview'], ['/operator/accounts', 'Accounts'], ['/operator/models', 'Models'], ['/operator/channels', 'Channels'],
  ['/operator/codes', 'Redemption codes'], ['/operator/usage', 'Usage'], ['/operator/operators', 'Operators'],
] as const;

/** A page of the public site, of the customer console (`signedIn`) or of the operator console
 *  (`operator`; signed in unless `signedIn={false}`: its sign-in page, with no links). */
export function Layout(props: { page: Page; title: string; signedIn?: boolean; operator?: boolean; children: Child }) {
  const { page, title, operator } = props;
  const { t } = page;
  const signedIn = props.signedIn ?? operator;
  const links: ReadonlyArray<readonly [string, string]> = operator ? (signedIn ? OPERATOR_NAV : [])
    : (signedIn ? CONSOLE_NAV : PUBLIC_NAV).map(([href, key]) => [href, t(key)] as const);
  const current = (href: string) => page.path === href || (operator && href !== '/operator' && page.path.startsWith(`${href}/`));
  return (
    <>
    {raw('<!DOCTYPE html>')}
    <html lang={page.lang === 'zh' && !operator ? 'zh-CN' : 'en'}>
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${title} · ${page.site}`}</title>
        <link rel="stylesheet" href="/assets/app.css" />
        <script src="/assets/app.js" defer></script>
      </head>
      <body>
        <header class="top">
          <div class="bar">
            <a class="brand" href={operator ? '/operator' : signedIn ? '/console' : '/'}>{operator ? `${page.site} · Operator` : page.site}</a>
            {(signedIn || !operator) && <nav aria-label={t('nav.main')}>
              <ul>
                {links.map(([href, label]) => (
                  <li><a href={href} aria-current={current(href) ? 'page' : undefined}>{label}</a></li>
                ))}
                {!operator && <li><a href={page.switchHref} hreflang={page.lang === 'en' ? 'zh-CN' : 'en'}>{t('lang.switch')}</a></li>}
                {signedIn && (
                  <li>
                    <form method="post" action={operator ? '/operator/logout' : '/logout'}>
                      <button type="submit" class="link-button">{operator ? 'Sign out' : t('nav.logout')}</button>
                    </form>
                  </li>
                )}
              </ul>
            </nav>}
          </div>
        </header>
        <main>{props.children}</main>
        <footer>
          {page.site}
          {page.contact && <> · {t('footer.contact')}: {page.contact}</>}
          {' · '}<span>Tokengate {version}</span>
        </footer>
      </body>
    </html>
    </>
  );
}

export function Notice(props: { kind: 'ok' | 'error'; children: Child }) {
  return <div class={`notice ${props.kind}`} role={props.kind === 'error' ? 'alert' : 'status'}>{props.children}</div>;
}
