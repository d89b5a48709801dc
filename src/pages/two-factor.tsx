import { raw } from 'hono/html';
import type { Enrolment } from '../auth/two-factor';
import type { T } from './i18n';

/** Where an owner's two-factor stands, for its settings section. */
export type TwoFactorState =
  | { kind: 'off' }
  | { kind: 'enrolling'; enrolment: Enrolment }
  | { kind: 'codes'; codes: string[] }
  | { kind: 'on'; left: number };

/**
 * The two-factor section of a settings page (the customer's and the operator's): turn on,
 * scan and confirm, see the recovery codes once, and — once on — new codes or off, each
 * behind a current code. Forms post to `${base}/begin`, `/confirm` and `/change`.
 */
export function TwoFactorSection(props: { t: T; base: string; state: TwoFactorState }) {
  const { t, base, state } = props;
  const codeField = <label>{t('twofa.code')}<input name="code" required autocomplete="one-time-code" inputmode="numeric" maxlength={100} /></label>;
  return (
    <section class="card stack" aria-labelledby="twofa-title">
      <h2 id="twofa-title">{t('twofa.title')}</h2>
      {state.kind === 'off' && (
        <>
          <p class="muted">{t('twofa.off.text')}</p>
          <form method="post" action={`${base}/begin`}><button type="submit">{t('twofa.turn_on')}</button></form>
        </>
      )}
      {state.kind === 'enrolling' && (
        <>
          <p>{t('twofa.scan')}</p>
          <div class="qr" role="img" aria-label="QR code">{raw(state.enrolment.qr)}</div>
          <p>{t('twofa.key')}: <code id="totp-key">{state.enrolment.secret}</code></p>
          <form class="stack" method="post" action={`${base}/confirm`}>
            {codeField}
            <button type="submit">{t('twofa.confirm')}</button>
          </form>
        </>
      )}
      {state.kind === 'codes' && (
        <>
          <p>{t('twofa.codes')}</p>
          <ul class="codes" aria-label="Recovery codes">{state.codes.map((code) => <li><code>{code}</code></li>)}</ul>
        </>
      )}
      {state.kind === 'on' && (
        <>
          <p>{t('twofa.on', { left: state.left })}</p>
          <form class="stack" method="post" action={`${base}/change`}>
            {codeField}
            <div class="actions">
              <button type="submit" name="action" value="codes" class="secondary">{t('twofa.new_codes')}</button>
              <button type="submit" name="action" value="off" class="danger">{t('twofa.turn_off')}</button>
            </div>
          </form>
        </>
      )}
    </section>
  );
}
