import { Hono } from 'hono';
import { requireCustomer } from '../../auth/session';
import type { AppEnv } from '../../context';
import { dashboard } from './dashboard';
import { keys } from './keys';
import { logs } from './logs';
import { settings } from './settings';
import { wallet } from './wallet';

/** The customer console, behind a signed-in session: one route file per page. */
export const consolePages = new Hono<AppEnv>();
consolePages.use('*', requireCustomer);
consolePages.route('/', dashboard);
consolePages.route('/keys', keys);
consolePages.route('/', logs);
consolePages.route('/wallet', wallet);
consolePages.route('/settings', settings);
