import { Hono } from 'hono';
import { requireOperator } from '../../auth/operator';
import type { AppEnv } from '../../context';
import { accountsPage } from './accounts';
import { channelKeysPage } from './channel-keys';
import { channelsPage } from './channels';
import { codesPage } from './codes';
import { modelsPage } from './models';
import { operatorsPage } from './operators';
import { overviewPage } from './overview';
import { operatorSignin } from './signin';
import { usagePage } from './usage';

/** The operator console at /operator: sign-in, then one route file per page, each calling
 *  the same actions as the admin API (admin/actions.ts). */
export const operatorPages = new Hono<AppEnv>();
// Sign-in and sign-out answer before the session check below, which guards everything else.
operatorPages.route('/', operatorSignin);
operatorPages.use('*', requireOperator);
operatorPages.route('/', overviewPage);
operatorPages.route('/accounts', accountsPage);
operatorPages.route('/models', modelsPage);
operatorPages.route('/channels', channelsPage);
operatorPages.route('/channels', channelKeysPage);
operatorPages.route('/codes', codesPage);
operatorPages.route('/', usagePage);
operatorPages.route('/operators', operatorsPage);
