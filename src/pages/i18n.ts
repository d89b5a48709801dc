import type { Context } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import type { AppEnv } from '../context';

/**
 * The pages' words, in English and Simplified Chinese. The English labels of form fields,
 * buttons and links are the accessible names the contract fixes for outside browser tests.
 * Chinese must have every key English has (the type says so).
 */
const en = {
  'nav.home': 'Home', 'nav.pricing': 'Pricing', 'nav.docs': 'Docs', 'nav.login': 'Log in', 'nav.signup': 'Sign up',
  'nav.dashboard': 'Dashboard', 'nav.keys': 'API keys', 'nav.logs': 'Logs', 'nav.wallet': 'Wallet', 'nav.settings': 'Settings',
  'nav.logout': 'Log out', 'nav.main': 'Main', 'lang.switch': '中文',
  'home.title': 'One API key for the models you use',
  'home.lead': 'OpenAI- and Anthropic-compatible API access, paid for from prepaid credit. Swap the base URL in any SDK, or in Claude Code, and go.',
  'home.cta': 'Create an account', 'home.trial': 'New accounts get {credit} of trial credit.',
  'home.f1': 'Pay as you go', 'home.f1.text': 'Prepaid credit, charged per token at the prices on the pricing page. Nothing is billed for failed calls.',
  'home.f2': 'Works with your tools', 'home.f2.text': 'The OpenAI and Anthropic SDKs, Claude Code and anything else that speaks their APIs.',
  'home.f3': 'See every call', 'home.f3.text': 'Logs with tokens, cost and latency for each request, and a usage chart by day and model.',
  'pricing.title': 'Pricing', 'pricing.lead': 'USD per 1M tokens. Cached input is prompt tokens the provider served from its cache; cache write is prompt tokens it stored there.',
  'pricing.model': 'Model', 'pricing.input': 'Input', 'pricing.cached': 'Cached input', 'pricing.cacheWrite': 'Cache write', 'pricing.output': 'Output',
  'pricing.none': 'No models are on sale yet.',
  'pricing.units': 'Images, audio and moderation', 'pricing.perImage': '/ image', 'pricing.perChars': '/ 1M characters',
  'pricing.perMinute': '/ minute of audio', 'pricing.imageTokens': 'image tokens in / out per 1M', 'pricing.audioTokens': 'audio tokens in / out per 1M',
  'docs.title': 'API documentation',
  'auth.email': 'Email', 'auth.password': 'Password', 'auth.signup.title': 'Create your account', 'auth.signup.button': 'Create account',
  'auth.login.title': 'Log in', 'auth.login.button': 'Log in', 'auth.have': 'Already have an account?', 'auth.new': 'New here?',
  'auth.bad': 'Wrong email or password.', 'auth.locked': 'Too many failed attempts for this email. Try again in {minutes} minutes.',
  'settings.locked': 'Too many wrong passwords. Try again in {minutes} minutes.',
  'auth.too_many_signups': 'Too many sign-ups from your network. Try again in an hour.', 'auth.invalid_email': 'Enter a valid email address.',
  'auth.short': 'The password must be {min} to {max} characters.', 'auth.turnstile': 'Please complete the challenge and try again.',
  'auth.forgot': 'Forgot password?', 'forgot.title': 'Reset your password', 'forgot.lead': 'Enter your account’s email and we will send you a link to set a new password.',
  'forgot.button': 'Send reset link', 'forgot.sent': 'If an account uses this email, a link to reset its password is on its way. It works once, for one hour.',
  'forgot.throttled': 'Too many requests. Try again in {minutes} minutes.', 'reset.title': 'Set a new password', 'reset.button': 'Set password',
  'reset.bad': 'This link is not valid any more: it was used, or it expired. Ask for a new one.', 'reset.done': 'Your password was set and every session signed out. Log in with it.',
  'verify.banner': 'Verify your email address: we sent a link to {email}. Your trial credit and API keys wait for it.',
  'verify.resend': 'Resend verification email', 'verify.sent': 'A new verification link is on its way to {email}.',
  'verify.unsent': 'E-mail cannot be sent from this site yet; ask the operator to verify your address.',
  'verify.done': 'Your email address is verified.', 'verify.credited': 'Your email address is verified, and your trial credit of {credit} is on your balance.',
  'verify.bad': 'This verification link is not valid any more: it was used, or it expired.', 'keys.unverified': 'Verify your email address before creating keys.',
  'mail.verify.subject': 'Verify your email for {site}',
  'mail.verify.body': 'Welcome to {site}.\n\nOpen this link to verify your email address{credit}:\n{link}\n\nIt works once, for {hours} hours. If you did not sign up, ignore this message.',
  'mail.verify.credit': ' and receive your trial credit of {credit}',
  'mail.reset.subject': 'Reset your {site} password',
  'twofa.title': 'Two-factor authentication', 'twofa.code': 'Authentication code', 'twofa.verify': 'Verify',
  'twofa.code.hint': 'The six digits your authenticator app shows, or one of your recovery codes.',
  'twofa.wrong': 'That code is not right.', 'twofa.expired': 'That sign-in took too long. Log in again.',
  'twofa.off.text': 'Ask for a code from an authenticator app at every sign-in, besides your password.',
  'twofa.turn_on': 'Turn on two-factor', 'twofa.scan': 'Scan this code with your authenticator app, or enter the key by hand, then give the six digits it shows.',
  'twofa.key': 'Key', 'twofa.confirm': 'Confirm', 'twofa.on': 'Two-factor authentication is on. {left} recovery codes left.',
  'twofa.codes': 'Your recovery codes. Each signs in once in place of a code; keep them somewhere safe. They are shown only now.',
  'twofa.turned_on': 'Two-factor authentication is on.', 'twofa.new_codes': 'New recovery codes', 'twofa.turn_off': 'Turn off two-factor',
  'twofa.turned_off': 'Two-factor authentication is off.', 'twofa.needs_vault': 'Two-factor authentication is not available on this site yet.',
  'oauth.continue': 'Continue with {provider}', 'oauth.failed.title': 'Sign-in did not complete',
  'oauth.failed': 'The sign-in could not be completed: it was cancelled, took too long, or was already used. Start again.',
  'oauth.unknown': 'This sign-in method is not offered here.',
  'oauth.no_email': '{provider} did not confirm a verified email address for this sign-in. Verify one with {provider}, or sign up with your email.',
  'methods.title': 'Sign-in methods', 'methods.text': 'Providers you can sign in with, besides your password.',
  'methods.link': 'Link {provider}', 'methods.unlink': 'Unlink {provider}', 'methods.linked': '{provider} is linked: you can sign in with it.',
  'methods.taken': 'That sign-in is linked to another account here, or this account has one of that provider already.',
  'methods.unlinked': 'Unlinked.', 'methods.last': 'This is your only way to sign in: set a password first.',
  'methods.no_password': 'You have no password: you sign in with a provider. To sign in with a password too, we can email you a link to set one.',
  'methods.send': 'Email me a link',
  'mail.exists.subject': 'Your {site} account',
  'mail.exists.body': 'Someone signed up at {site} with this email address, which has an account already.\n\nIf it was you, log in:\n{login}\n\nForgot your password? Set a new one:\n{forgot}\n\nIf it was not you, ignore this message: nothing changed.',
  'signup.check.title': 'Check your email',
  'signup.check': 'A link to verify {email} is on its way. Open it to receive your trial credit and create API keys; you can log in meanwhile.',
  'mail.reset.body': 'Someone asked to reset the password of your {site} account.\n\nOpen this link to set a new one:\n{link}\n\nIt works once, for one hour, and signs out every session. If it was not you, ignore this message: your password stays as it is.',
  'dash.title': 'Dashboard', 'dash.balance': 'Balance', 'dash.today': 'Spend today', 'dash.month': 'Spend this month',
  'dash.requests': 'Requests this month', 'dash.chart': 'Usage by day', 'dash.cost': 'Cost (USD)', 'dash.tokens': 'Tokens',
  'dash.empty': 'No usage in the last 30 days yet: create a key and make a call.', 'dash.topup.success': 'Thank you: your top-up is being credited.',
  'dash.topup.cancelled': 'The top-up was cancelled; nothing was charged.',
  'keys.title': 'API keys', 'keys.create': 'Create key', 'keys.name': 'Name', 'keys.rpm': 'Requests per minute (optional)',
  'keys.tpm': 'Tokens per minute (optional)', 'keys.models': 'Models (optional, comma-separated)', 'keys.spend': 'Spend limit in USD (optional)',
  'keys.new': 'Your new key. Copy it now: it is shown only this once.', 'keys.copy': 'Copy', 'keys.copied': 'Copied',
  'keys.prefix': 'Key', 'keys.created': 'Created', 'keys.status': 'Status', 'keys.revoke': 'Revoke', 'keys.active': 'Active',
  'keys.revoked': 'Revoked', 'keys.none': 'No keys yet.', 'keys.limits': 'Limits',
  'logs.title': 'Logs', 'logs.time': 'Time', 'logs.model': 'Model', 'logs.key': 'Key', 'logs.input': 'Input tokens',
  'logs.output': 'Output tokens', 'logs.cost': 'Cost', 'logs.status': 'Status', 'logs.latency': 'Latency', 'logs.filter': 'Filter',
  'logs.unit.images': 'images', 'logs.unit.characters': 'characters', 'logs.unit.seconds': 's of audio',
  'logs.any': 'Any', 'logs.from': 'From', 'logs.to': 'To', 'logs.csv': 'Export CSV', 'logs.next': 'Older', 'logs.first': 'Newest',
  'logs.none': 'No requests match.',
  'wallet.title': 'Wallet', 'wallet.amount': 'Amount', 'wallet.topup': 'Top up', 'wallet.code': 'Redemption code', 'wallet.redeem': 'Redeem',
  'wallet.history': 'History', 'wallet.kind': 'Kind', 'wallet.change': 'Change', 'wallet.after': 'Balance after', 'wallet.note': 'Note',
  'wallet.redeemed': 'Redeemed: {amount} added to your balance.', 'wallet.topup.range': 'Top-ups are {min} to {max} USD.',
  'wallet.stripe.off': 'Card top-ups are not set up on this site.',
  'settings.title': 'Settings', 'settings.password': 'Change password', 'settings.current': 'Current password',
  'settings.new': 'New password', 'settings.save': 'Change password', 'settings.changed': 'Your password was changed; other sessions were signed out.',
  'settings.wrong': 'The current password is wrong.', 'settings.everywhere': 'Sign out everywhere',
  'settings.everywhere.text': 'Ends every session of this account, on every device, this one included.',
  'error.title': 'Something went wrong', 'error.back': 'Back to the home page',
  'footer.contact': 'Contact',
};

export type MessageKey = keyof typeof en;

const zh: Record<MessageKey, string> = {
  'nav.home': '首页', 'nav.pricing': '价格', 'nav.docs': '文档', 'nav.login': '登录', 'nav.signup': '注册',
  'nav.dashboard': '概览', 'nav.keys': 'API 密钥', 'nav.logs': '日志', 'nav.wallet': '钱包', 'nav.settings': '设置',
  'nav.logout': '退出登录', 'nav.main': '主导航', 'lang.switch': 'English',
  'home.title': '一个 API 密钥，用上你需要的模型',
  'home.lead': '兼容 OpenAI 与 Anthropic 的 API，预付费按量计费。在任意 SDK 或 Claude Code 中替换 base URL 即可使用。',
  'home.cta': '创建账户', 'home.trial': '新账户赠送 {credit} 试用额度。',
  'home.f1': '按量付费', 'home.f1.text': '预付额度，按价格页的价格逐 token 计费。失败的调用不收费。',
  'home.f2': '兼容你的工具', 'home.f2.text': 'OpenAI 与 Anthropic 官方 SDK、Claude Code，以及任何使用这两种 API 的工具。',
  'home.f3': '每次调用都可查', 'home.f3.text': '每个请求的 token、费用与延迟日志，以及按天、按模型的用量图表。',
  'pricing.title': '价格', 'pricing.lead': '单位：美元 / 百万 token。缓存输入指由服务商缓存命中的提示 token；缓存写入指写入服务商缓存的提示 token。',
  'pricing.model': '模型', 'pricing.input': '输入', 'pricing.cached': '缓存输入', 'pricing.cacheWrite': '缓存写入', 'pricing.output': '输出',
  'pricing.none': '暂无在售模型。',
  'pricing.units': '图片、音频与审核', 'pricing.perImage': '/ 张', 'pricing.perChars': '/ 百万字符',
  'pricing.perMinute': '/ 分钟音频', 'pricing.imageTokens': '图片 token 输入 / 输出（每百万）', 'pricing.audioTokens': '音频 token 输入 / 输出（每百万）',
  'docs.title': 'API 文档',
  'auth.email': '邮箱', 'auth.password': '密码', 'auth.signup.title': '创建账户', 'auth.signup.button': '创建账户',
  'auth.login.title': '登录', 'auth.login.button': '登录', 'auth.have': '已有账户？', 'auth.new': '还没有账户？',
  'auth.bad': '邮箱或密码错误。', 'auth.locked': '该邮箱失败次数过多，请 {minutes} 分钟后再试。',
  'settings.locked': '密码错误次数过多，请 {minutes} 分钟后再试。',
  'auth.too_many_signups': '来自您网络的注册过多，请一小时后再试。', 'auth.invalid_email': '请输入有效的邮箱地址。',
  'auth.short': '密码长度须为 {min} 到 {max} 个字符。', 'auth.turnstile': '请完成人机验证后重试。',
  'auth.forgot': '忘记密码？', 'forgot.title': '重置密码', 'forgot.lead': '输入账户邮箱，我们会发送一个设置新密码的链接。',
  'forgot.button': '发送重置链接', 'forgot.sent': '如果有账户使用此邮箱，重置链接已发出。链接仅可使用一次，一小时内有效。',
  'forgot.throttled': '请求过多，请 {minutes} 分钟后再试。', 'reset.title': '设置新密码', 'reset.button': '设置密码',
  'reset.bad': '此链接已失效：已被使用或已过期。请重新申请。', 'reset.done': '密码已设置，所有会话均已退出。请使用新密码登录。',
  'verify.banner': '请验证您的邮箱：验证链接已发送至 {email}。验证后才会发放试用额度并可创建密钥。',
  'verify.resend': '重新发送验证邮件', 'verify.sent': '新的验证链接已发送至 {email}。',
  'verify.unsent': '本站尚无法发送邮件，请联系运营者为您验证邮箱。',
  'verify.done': '您的邮箱已验证。', 'verify.credited': '您的邮箱已验证，{credit} 试用额度已到账。',
  'verify.bad': '此验证链接已失效：已被使用或已过期。', 'keys.unverified': '请先验证邮箱，再创建密钥。',
  'mail.verify.subject': '验证您在 {site} 的邮箱',
  'mail.verify.body': '欢迎使用 {site}。\n\n打开此链接验证您的邮箱{credit}：\n{link}\n\n链接仅可使用一次，{hours} 小时内有效。如果您没有注册，请忽略此邮件。',
  'mail.verify.credit': '并领取 {credit} 试用额度',
  'mail.reset.subject': '重置您在 {site} 的密码',
  'twofa.title': '两步验证', 'twofa.code': '验证码', 'twofa.verify': '验证',
  'twofa.code.hint': '身份验证器应用显示的六位数字，或您的一个恢复码。',
  'twofa.wrong': '验证码不正确。', 'twofa.expired': '登录耗时过长，请重新登录。',
  'twofa.off.text': '每次登录时，除密码外还需输入身份验证器应用中的验证码。',
  'twofa.turn_on': '开启两步验证', 'twofa.scan': '用身份验证器应用扫描此二维码，或手动输入密钥，然后填写应用显示的六位数字。',
  'twofa.key': '密钥', 'twofa.confirm': '确认', 'twofa.on': '两步验证已开启，剩余 {left} 个恢复码。',
  'twofa.codes': '您的恢复码。每个恢复码可代替验证码登录一次，请妥善保存。恢复码仅显示这一次。',
  'twofa.turned_on': '两步验证已开启。', 'twofa.new_codes': '生成新的恢复码', 'twofa.turn_off': '关闭两步验证',
  'twofa.turned_off': '两步验证已关闭。', 'twofa.needs_vault': '本站暂不支持两步验证。',
  'oauth.continue': '使用 {provider} 继续', 'oauth.failed.title': '登录未完成',
  'oauth.failed': '登录无法完成：已取消、超时或已被使用。请重新开始。',
  'oauth.unknown': '本站未提供此登录方式。',
  'oauth.no_email': '{provider} 未确认此次登录的已验证邮箱。请先在 {provider} 验证邮箱，或使用邮箱注册。',
  'methods.title': '登录方式', 'methods.text': '除密码外，您可以用这些服务登录。',
  'methods.link': '关联 {provider}', 'methods.unlink': '取消关联 {provider}', 'methods.linked': '已关联 {provider}，可用其登录。',
  'methods.taken': '该登录已关联本站的另一个账户，或此账户已关联同一服务。',
  'methods.unlinked': '已取消关联。', 'methods.last': '这是您唯一的登录方式：请先设置密码。',
  'methods.no_password': '您没有设置密码，目前通过第三方服务登录。如需同时使用密码登录，我们可以发送设置密码的链接到您的邮箱。',
  'methods.send': '发送链接',
  'mail.exists.subject': '您在 {site} 的账户',
  'mail.exists.body': '有人使用此邮箱在 {site} 注册，而此邮箱已有账户。\n\n如果是您本人，请登录：\n{login}\n\n忘记密码？设置新密码：\n{forgot}\n\n如果不是您本人操作，请忽略此邮件，账户没有任何变化。',
  'signup.check.title': '请查收邮件',
  'signup.check': '验证 {email} 的链接已发出。打开链接即可领取试用额度并创建 API 密钥；在此之前您也可以先登录。',
  'mail.reset.body': '有人申请重置您在 {site} 的账户密码。\n\n打开此链接设置新密码：\n{link}\n\n链接仅可使用一次，一小时内有效，并会退出所有会话。如果不是您本人操作，请忽略此邮件，密码不会改变。',
  'dash.title': '概览', 'dash.balance': '余额', 'dash.today': '今日消费', 'dash.month': '本月消费',
  'dash.requests': '本月请求数', 'dash.chart': '每日用量', 'dash.cost': '费用（美元）', 'dash.tokens': 'Token 数',
  'dash.empty': '最近 30 天还没有用量：创建一个密钥并发起调用吧。', 'dash.topup.success': '感谢充值，额度正在到账。',
  'dash.topup.cancelled': '充值已取消，未产生扣款。',
  'keys.title': 'API 密钥', 'keys.create': '创建密钥', 'keys.name': '名称', 'keys.rpm': '每分钟请求数（可选）',
  'keys.tpm': '每分钟 token 数（可选）', 'keys.models': '模型（可选，逗号分隔）', 'keys.spend': '消费上限，美元（可选）',
  'keys.new': '你的新密钥。请立即复制：它只显示这一次。', 'keys.copy': '复制', 'keys.copied': '已复制',
  'keys.prefix': '密钥', 'keys.created': '创建时间', 'keys.status': '状态', 'keys.revoke': '吊销', 'keys.active': '有效',
  'keys.revoked': '已吊销', 'keys.none': '还没有密钥。', 'keys.limits': '限制',
  'logs.title': '日志', 'logs.time': '时间', 'logs.model': '模型', 'logs.key': '密钥', 'logs.input': '输入 token',
  'logs.output': '输出 token', 'logs.cost': '费用', 'logs.status': '状态', 'logs.latency': '延迟', 'logs.filter': '筛选',
  'logs.unit.images': '张图片', 'logs.unit.characters': '个字符', 'logs.unit.seconds': '秒音频',
  'logs.any': '全部', 'logs.from': '起始日期', 'logs.to': '结束日期', 'logs.csv': '导出 CSV', 'logs.next': '更早', 'logs.first': '最新',
  'logs.none': '没有符合条件的请求。',
  'wallet.title': '钱包', 'wallet.amount': '金额', 'wallet.topup': '充值', 'wallet.code': '兑换码', 'wallet.redeem': '兑换',
  'wallet.history': '账单记录', 'wallet.kind': '类型', 'wallet.change': '变动', 'wallet.after': '变动后余额', 'wallet.note': '备注',
  'wallet.redeemed': '兑换成功：余额增加 {amount}。', 'wallet.topup.range': '充值金额为 {min} 到 {max} 美元。',
  'wallet.stripe.off': '本站未开通银行卡充值。',
  'settings.title': '设置', 'settings.password': '修改密码', 'settings.current': '当前密码',
  'settings.new': '新密码', 'settings.save': '修改密码', 'settings.changed': '密码已修改，其他会话已退出。',
  'settings.wrong': '当前密码错误。', 'settings.everywhere': '在所有设备上退出',
  'settings.everywhere.text': '结束此账户在所有设备上的全部会话，包括当前会话。',
  'error.title': '出错了', 'error.back': '返回首页',
  'footer.contact': '联系方式',
};

export type Lang = 'en' | 'zh';
const MESSAGES: Record<Lang, Record<MessageKey, string>> = { en, zh };

export type T = (key: MessageKey, vars?: Record<string, string | number>) => string;

export const translator = (lang: Lang): T => (key, vars) =>
  MESSAGES[lang][key].replace(/\{(\w+)\}/g, (_, name: string) => String(vars?.[name] ?? ''));

/** `?lang=` (the switch, remembered in a cookie), else the cookie, else Accept-Language. */
export function pageLang(c: Context<AppEnv>): Lang {
  const asked = c.req.query('lang');
  if (asked === 'en' || asked === 'zh') {
    setCookie(c, 'lang', asked, { path: '/', sameSite: 'Lax', maxAge: 365 * 86_400 });
    return asked;
  }
  const remembered = getCookie(c, 'lang');
  if (remembered === 'en' || remembered === 'zh') return remembered;
  return preferredLang(c.req.header('accept-language') ?? '');
}

/** The first of the visitor's languages (by q) that is English or Chinese. */
export function preferredLang(header: string): Lang {
  const ranked = header
    .split(',')
    .map((part) => {
      const [tag = '', ...params] = part.trim().toLowerCase().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      return { tag, q: q ? Number(q.slice(2)) || 0 : 1 };
    })
    .filter((l) => l.q > 0)
    .sort((a, b) => b.q - a.q);
  for (const { tag } of ranked) {
    if (tag === 'zh' || tag.startsWith('zh-')) return 'zh';
    if (tag === 'en' || tag.startsWith('en-')) return 'en';
  }
  return 'en';
}
